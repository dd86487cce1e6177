/* runpilot reindex: rebuild the run index (index.db) from the run directories. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "index.h"
#include "util.h"

const char usage_reindex[] =
	"usage: runpilot reindex\n"
	"\n"
	"Rebuild the run index ($RUNPILOT_HOME/index.db) from the run directories. The index is a\n"
	"cache that list and the other readers keep in step by themselves; this forces a full\n"
	"rebuild (after editing run.json files by hand, say). Nothing else in the store changes.\n";

/* "reindex: [#####.....] 5000/10000 runs" on a terminal, redrawn in place. */
static void show_progress(void *ctx, size_t done, size_t total)
{
	(void)ctx;
	int width = 30, filled = total ? (int)((double)done / (double)total * width) : width;
	fprintf(stderr, "\rreindex: [%.*s%.*s] %zu/%zu runs", filled, "##############################",
		width - filled, "..............................", done, total);
	fflush(stderr);
}

int cmd_reindex(int argc, char **argv, struct rp_err *err)
{
	const struct cli_flag flags[] = {{NULL, 0, NULL}};
	if (cli_parse(argc, argv, flags, 0, "runpilot reindex", err) < 0)
		return -1;
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	bool tty = isatty(STDERR_FILENO);
	double t0 = now_monotonic();
	int rc = index_rebuild(&st, tty ? show_progress : NULL, NULL, err);
	if (tty)
		fputc('\n', stderr);
	if (rc == 0)
		fprintf(stderr, "runpilot: reindexed %s in %.2f s\n", st.runs_dir, now_monotonic() - t0);
	store_close(&st);
	return rc < 0 ? -1 : 0;
}
