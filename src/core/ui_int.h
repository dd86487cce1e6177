/* Inside the local UI source (ui_local.c, ui_series.c, ui_compare.c): what they share, and the
 * pieces the unit tests reach directly. */
#ifndef RP_UI_INT_H
#define RP_UI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "metrics.h"
#include "record.h"
#include "store.h"

struct cJSON;

/* The run id names, read as `show` reads it (status as of now): 0 with *r and *dir (owned)
 * filled; not found (ui_err_not_found) for anything but an existing run's id ("rp_0007"). */
int ui_load_run(const struct rp_store *st, const char *id, struct rp_run *r, char **dir, struct rp_err *err);

/* A table row of a run from its record (docs/ui.md's ROW), its tags as annotated; values holds
 * every param and each metric's last value. */
struct cJSON *ui_row_from_record(const char *dir, const struct rp_run *r);

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

/* ui_compare.c: the compare op over the store. */
int ui_compare_runs(const struct rp_store *st, char **ids, size_t n, struct cJSON **out, struct rp_err *err);

#endif
