/* runpilot pull: fetch a project's runs from the team server into $RUNPILOT_HOME/remote/
 * (src/server/sync_client.c), for `list --remote`. Local runs are never touched. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "store.h"
#include "sync_client.h"
#include "util.h"

const char usage_pull[] =
	"usage: runpilot pull [UID...] [--server URL] [--project P] [--where EXPR]\n"
	"\n"
	"Fetch the project's runs (all, those EXPR holds for on the server, or those UIDs) into\n"
	"$RUNPILOT_HOME/remote/<host:port>/<project>/<uid>/: run.json, metrics.json (the series),\n"
	"manifest.json (the run's files, which stay on the server) and content_hash. A run whose\n"
	"content did not change is not written again; local runs are never touched. Then\n"
	"`runpilot list --remote` lists them. The token is RUNPILOT_TOKEN's, else the one\n"
	"`runpilot login URL` kept.\n"
	"\n"
	"  --server URL      the server (default: sync.server in runpilot.yaml)\n"
	"  --project P       its project (default: sync.project in runpilot.yaml)\n"
	"  --where EXPR      only the runs EXPR holds for (docs/where.md), evaluated by the server\n";

int cmd_pull(int argc, char **argv, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'}, {"project", required_argument, NULL, 'p'},
		{"where", required_argument, NULL, 'w'},  {NULL, 0, NULL, 0}};
	const char *server = NULL, *project = NULL, *where = NULL;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'p': project = optarg; break;
		case 'w': where = optarg; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot pull --help`)", argv[optind - 1]);
		}
	}
	struct rp_store st;
	if (store_open(&st, true, err) < 0)
		return -1;
	struct sync_target t;
	char *os = NULL, *op = NULL, *token = NULL;
	unsigned fetched = 0;
	int rc = sync_resolve(server, project, true, st.home, &t, &os, &op, &token, err);
	if (rc == 0)
		rc = sync_pull(st.home, &t, (const char *const *)argv + optind, (size_t)(argc - optind), where, NULL, NULL,
			       &fetched, err);
	if (rc == 0) {
		char *dir = sync_remote_dir(st.home, t.server, t.project);
		printf("pulled %u run%s into %s\n", fetched, fetched == 1 ? "" : "s", dir);
		free(dir);
	}
	sync_resolve_free(os, op, token);
	store_close(&st);
	return rc;
}
