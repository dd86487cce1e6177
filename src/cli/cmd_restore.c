/* runpilot restore: bring runs back from the trash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "index.h"
#include "store.h"
#include "util.h"

const char usage_restore[] =
	"usage: runpilot restore RUN...\n"
	"\n"
	"Move runs that `runpilot rm` put in the trash back into the store, under their ids\n"
	"(rp_0007, or the number). A run whose id was taken meanwhile stays in the trash.\n";

int cmd_restore(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot restore RUN...)");
	if (argv[1][0] == '-')
		return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (usage: runpilot restore RUN...)", argv[1]);
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	int rc = 0;
	size_t done = 0;
	for (int i = 1; i < argc && rc == 0; i++) {
		char id[RP_ID_MAX];
		if (store_id_number(argv[i]) >= 0)
			snprintf(id, sizeof id, "%s", argv[i]);
		else if (strspn(argv[i], "0123456789") == strlen(argv[i]) && *argv[i])
			store_format_id(strtol(argv[i], NULL, 10), id);
		else {
			rc = rp_err_set(err, RP_ERR_USAGE, "restore '%s': name runs in the trash by id (rp_0007) or number", argv[i]);
			break;
		}
		rc = store_restore_run(&st, id, err);
		if (rc == 0)
			done++;
	}
	/* the next reader sees runs/ changed and indexes what came back */
	if (done)
		fprintf(stderr, "runpilot: restored %zu run%s\n", done, done == 1 ? "" : "s");
	store_close(&st);
	return rc < 0 ? -1 : 0;
}
