/* runpilot tag: add and remove a run's tags after it ran (annotations.json; the record is kept). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "cmds.h"
#include "index.h"
#include "runs.h"
#include "util.h"

const char usage_tag[] =
	"usage: runpilot tag RUN [+]TAG... -TAG...\n"
	"\n"
	"Add (TAG or +TAG) and remove (-TAG) tags of a run after it ran. They are kept beside run.json\n"
	"in annotations.json (the record itself is never rewritten); list, show, --tag and --where\n"
	"see the run's tags as annotated.\n";

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 64)
		return false;
	for (; *t; t++)
		if (!isalnum((unsigned char)*t) && !strchr("._-:/", *t))
			return false;
	return true;
}

/* The run's row again, now that its annotations changed (readers do not watch that file). */
static void reindex_run(const struct rp_store *st, const char *dir)
{
	struct rp_run raw;
	if (record_read(dir, &raw, NULL) == 0) {
		index_note_run(st, dir, &raw, NULL, NULL);
		record_free(&raw);
	}
}

int annotate_run(const char *ref, void (*change)(struct rp_annotations *a, void *ctx), void *ctx, struct rp_err *err)
{
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(ref, &st, &r, &dir, err) < 0)
		return -1;
	struct rp_annotations a;
	int rc = annotations_read(dir, &a, err);
	if (rc == 0) {
		change(&a, ctx);
		rc = annotations_write(dir, &a, err);
	}
	if (rc == 0)
		reindex_run(&st, dir);
	annotations_free(&a);
	record_free(&r);
	free(dir);
	store_close(&st);
	return rc;
}

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
	for (int i = 2; i < argc; i++) {
		const char *t = argv[i][0] == '+' || argv[i][0] == '-' ? argv[i] + 1 : argv[i];
		if (!valid_tag(t))
			return rp_err_set(err, RP_ERR_USAGE,
					  "tag '%s' may only use letters, digits and '._-:/' (at most 64); -TAG removes one",
					  argv[i]);
	}
	struct tag_changes c = {argv + 2, argc - 2};
	return annotate_run(argv[1], apply_tags, &c, err) < 0 ? -1 : 0;
}
