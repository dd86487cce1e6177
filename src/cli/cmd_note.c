/* runpilot note: a line of text about a run, after it ran (annotations.json). */
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "cmds.h"
#include "util.h"

const char usage_note[] =
	"usage: runpilot note RUN TEXT\n"
	"\n"
	"Set the run's note (\"\" removes it): shown by show, searchable with --where 'note ~ \"*text*\"'.\n"
	"Kept in annotations.json beside run.json; the record itself is never rewritten.\n";

static void set_note(struct rp_annotations *a, void *ctx)
{
	free(a->note);
	a->note = *(const char *)ctx ? xstrdup(ctx) : NULL;
}

int cmd_note(int argc, char **argv, struct rp_err *err)
{
	if (argc != 3)
		return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot note RUN TEXT");
	if (annotations_check_note(argv[2], err) < 0)
		return -1;
	return annotate_run(argv[1], set_note, argv[2], err) < 0 ? -1 : 0;
}
