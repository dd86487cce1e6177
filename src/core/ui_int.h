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
#include "ui_parts.h"

struct cJSON;

/* The run id names, read as `show` reads it (status as of now): 0 with *r and *dir (owned)
 * filled; not found (ui_err_not_found) for anything but an existing run's id ("rp_0007"). */
int ui_load_run(const struct rp_store *st, const char *id, struct rp_run *r, char **dir, struct rp_err *err);

/* A table row of a run from its record (docs/ui.md's ROW), its tags as annotated; values holds
 * every param and each metric's last value. */
struct cJSON *ui_row_from_record(const char *dir, const struct rp_run *r);

/* ui_compare.c: the compare op over the store. */
int ui_compare_runs(const struct rp_store *st, char **ids, size_t n, struct cJSON **out, struct rp_err *err);

#endif
