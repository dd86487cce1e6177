/* runpilot tag: add and remove a run's tags after it ran (annotations.json; the record is kept). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "cmds.h"
#include "util.h"

const char usage_tag[] =
	"usage: runpilot tag RUN [+]TAG... -TAG...\n"
	"\n"
	"Add (TAG or +TAG) and remove (-TAG) tags of a run after it ran. They are kept beside run.json\n"
	"in annotations.json (the record itself is never rewritten); list, show, --tag and --where\n"
	"see the run's tags as annotated.\n";

struct tag_changes {
	char **v;
	int n;
};

static void apply_tags(struct rp_annotations *a, void *ctx)
{
	struct tag_changes *c = ctx;
	for (int i = 0; i < c->n; i++)
		annotations_tag(a, c->v[i]);
}

int cmd_tag(int argc, char **argv, struct rp_err *err)
{
	if (argc < 3)
		return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot tag RUN [+]TAG... -TAG...");
	for (int i = 2; i < argc; i++)
		if (annotations_check_tag(argv[i], err) < 0)
			return -1;
	struct tag_changes c = {argv + 2, argc - 2};
	return annotate_run(argv[1], apply_tags, &c, err) < 0 ? -1 : 0;
}
