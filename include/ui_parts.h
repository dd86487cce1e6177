/* What every UI source (ui_source.h) answers the same way, whatever it reads from: the local
 * store (src/core/ui_local.c) and the team server's database (src/server/ui_pg.c). One code for
 * a series' downsampling, a log's window, an output path's check and compare's answer, so the
 * two sources give the same JSON for the same runs. */
#ifndef RP_UI_PARTS_H
#define RP_UI_PARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "metrics.h"
#include "record.h"

struct cJSON;

/* Which points of a series (sorted by step) a chart gets: all of them when n <= max_points, else
 * max_points / 2 buckets of consecutive points, each giving its lowest and highest value (one
 * point when they are the same one), in step order. NaN counts for neither unless a bucket holds
 * nothing else. Fills keep (n entries of room) with indexes; returns how many. */
size_t ui_downsample(const double *values, size_t n, size_t max_points, size_t *keep);

/* One metric's series as the metric op answers it (steps from..to, NaN: open). */
struct cJSON *ui_series_json(const struct mx_series *s, double from, double to, int max_points);

/* Does path name something inside a directory without leaving it: relative, no "..", "." or
 * empty segment, no NUL (len: its length as received)? */
bool ui_output_path_ok(const char *path, size_t len);

/* The log op's answer from fd (an open log of size bytes; -1: none, an empty log): the window
 * from offset (negative: the last -offset bytes, from a line start), at most max bytes (0: 64
 * KiB; at most 1 MiB). id names the run in an error. */
int ui_log_answer(int fd, long long size, bool running, long long offset, size_t max, const char *id,
		  struct cJSON **out, struct rp_err *err);

/* One run of a compare: its record (environment, params), the id it is shown by ("run",
 * "against"), its table row (ROW, values holding every param and metric; taken by
 * ui_compare_answer) and its fingerprint's per-file list (FP_FILES_NAME; NULL: none). */
struct ui_compare_side {
	const struct rp_run *r;
	const char *label;
	struct cJSON *row;
	const struct cJSON *files;
};
/* A fingerprint's per-file list (its name in a run: UI_FILES_NAME, fingerprint.h's FP_FILES_NAME)
 * read from path; NULL when it cannot be (a broken list only costs compare the file names). */
#define UI_FILES_NAME "files.json"
struct cJSON *ui_files_load(const char *path);

/* compare's answer (ui_source.h) for n sides, 1 <= n <= UI_COMPARE_TABLE_MAX. */
struct cJSON *ui_compare_answer(struct ui_compare_side *sides, size_t n);

/* The annotate op's change ({"tags": ["+a", "-b"], "note": "..."}) checked as `runpilot tag` and
 * `runpilot note` check theirs: 0 with *tags and *note (NULL when absent) pointing into it, or an
 * RP_ERR_USAGE error. */
int ui_annotation_change(const struct cJSON *change, const struct cJSON **tags, const struct cJSON **note,
			 struct rp_err *err);

#endif
