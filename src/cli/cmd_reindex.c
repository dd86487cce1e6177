/* runpilot reindex: rebuild the run index (index.db) from the run directories. */
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "index.h"
#include "progress.h"
#include "util.h"

const char usage_reindex[] =
	"usage: runpilot reindex\n"
	"\n"
	"Rebuild the run index ($RUNPILOT_HOME/index.db) from the run directories. The index is a\n"
	"cache that list and the other readers keep in step by themselves; this forces a full\n"
	"rebuild (after editing run.json files by hand, say). Nothing else in the store changes.\n";

static void show_progress(void *ctx, size_t done, size_t total)
{
	progress_callback(ctx, done, total);
}

int cmd_reindex(int argc, char **argv, struct rp_err *err)
{
	const struct cli_flag flags[] = {{NULL, 0, NULL}};
	if (cli_parse(argc, argv, flags, 0, "runpilot reindex", err) < 0)
		return -1;
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	struct progress bar;
	progress_begin(&bar, "reindex", 0, true);
	double t0 = now_monotonic();
	int rc = index_rebuild(&st, bar.on ? show_progress : NULL, &bar, err);
	progress_end(&bar);
	if (rc == 0)
		fprintf(stderr, "runpilot: reindexed %s in %.2f s\n", st.runs_dir, now_monotonic() - t0);
	store_close(&st);
	return rc < 0 ? -1 : 0;
}
