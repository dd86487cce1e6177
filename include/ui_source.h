/* What the web UI reads (and the one thing it changes: annotations), behind one interface: the
 * local run store and its index now (ui_source_local_open), the team server's database later. The
 * web layer (src/web/) knows only this interface; every answer is a cJSON object it sends as it
 * is, in the shapes docs/ui.md gives for each route.
 *
 * A source is shared by the server's worker threads: each call may come from any of them at once,
 * so an implementation keeps per-thread state (a database connection) to itself.
 *
 * Errors follow err.h: RP_ERR_USAGE for what the request asked wrongly (a bad --where, an unknown
 * sort key, a bad cursor: 400), ui_err_not_found() for a run, metric or output that does not
 * exist (404), RP_ERR_RUNTIME for the work failing (500). */
#ifndef RP_UI_SOURCE_H
#define RP_UI_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct cJSON;

#define UI_PAGE_MAX 500          /* runs in one page of the table */
#define UI_POINTS_MAX 1000       /* points of one series sent for a chart */
#define UI_COMPARE_CHART_MAX 20  /* runs whose curves compare overlays */
#define UI_COMPARE_TABLE_MAX 100 /* runs compare's table takes */

/* An error of kind RP_ERR_USAGE whose message starts with this is a "not found" (404). */
#define UI_NOT_FOUND_PREFIX "not found: "
bool ui_err_is_not_found(const struct rp_err *err);
int ui_err_not_found(struct rp_err *err, const char *what, const char *name);

/* One page of the runs table. */
struct ui_runs_query {
	const char *where;    /* a --where expression (where.h); NULL or "": every run */
	const char *sort;     /* id (default), started, created, duration, name, status, params.K,
			       * metrics.M; a '-' prefix: descending (default "-id": newest first) */
	const char *after;    /* the previous page's "next" cursor (opaque); NULL: the first page */
	long limit;           /* 1..UI_PAGE_MAX; 0: 50 */
	char **columns;       /* params.K and metrics.M to add to each row's "values" */
	size_t ncolumns;
};

/* An open output file, for a download. */
struct ui_output {
	int fd;               /* owned by the caller: close it */
	off_t size;
	char *name;           /* its base name, for Content-Disposition (owned: free it) */
};

struct ui_source;
struct ui_source_ops {
	/* {"runs": [...], "next": cursor|null, "counts": {status: n}, "columns": {"params": [...],
	 * "metrics": [...]}} */
	int (*runs)(struct ui_source *s, const struct ui_runs_query *q, struct cJSON **out, struct rp_err *err);
	/* {"run": run.json as annotated, status as of now, "outputs": [{path, size, mtime}],
	 * "log_size": n} */
	int (*run)(struct ui_source *s, const char *id, struct cJSON **out, struct rp_err *err);
	/* One metric's series between steps from..to (inclusive; NAN: open), downsampled to at most
	 * max_points by min/max buckets: {"name", "steps": [], "values": [], "count", "downsampled"} */
	int (*metric)(struct ui_source *s, const char *id, const char *name, double from, double to,
		      int max_points, struct cJSON **out, struct rp_err *err);
	/* The log from byte offset (negative: the last -offset bytes, starting at a line), at most
	 * max bytes: {"text", "offset", "next", "size", "running"}; "next" is where to go on. */
	int (*log)(struct ui_source *s, const char *id, long long offset, size_t max, struct cJSON **out,
		   struct rp_err *err);
	/* An output by its path inside the run's outputs/: resolved only within it (no "..", no
	 * absolute path, no symlink leaving it); a directory or anything else not a regular file is
	 * not found. */
	int (*output)(struct ui_source *s, const char *id, const char *path, struct ui_output *out,
		      struct rp_err *err);
	/* {"runs": [rows], "params": {"differing": {k: [v per run]}, "same": {k: v}}, "metrics":
	 * [names], "environment": [{component, differs, changes: [...]}]}; n ≤ UI_COMPARE_TABLE_MAX */
	int (*compare)(struct ui_source *s, char **ids, size_t n, struct cJSON **out, struct rp_err *err);
	/* Tags and note, through the same code as `runpilot tag` and `runpilot note`: change is
	 * {"tags": ["+a", "-b"], "note": "..."} (either may be absent). Answers as run(). */
	int (*annotate)(struct ui_source *s, const char *id, const struct cJSON *change, struct cJSON **out,
			struct rp_err *err);
	void (*close)(struct ui_source *s);
};

struct ui_source {
	const struct ui_source_ops *ops;
};

/* The local store (store_open: $RUNPILOT_HOME, else ~/.runpilot), read as `list` and `show` read it. */
int ui_source_local_open(struct ui_source **out, struct rp_err *err);

#endif
