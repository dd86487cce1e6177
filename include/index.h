/* The run index: $RUNPILOT_HOME/index.db (SQLite, WAL), a cache of the run directories so that
 * reading history stays fast at 100,000 runs. The directories stay the source of truth: deleting
 * index.db loses nothing.
 *
 * Kept in step two ways. The supervisor upserts its run's row each time it writes run.json after
 * the first (the "running" record and the final one; the first is left to readers, off the start
 * path). Readers check cheaply that the set of run directories is the one the index knows (runs/'s
 * mtime and link count, chained by each supervisor from before its mkdir to after it) and
 * reconcile when it is not; rows still "running" are checked against their run.json each time. An
 * index that is missing, corrupt or of another schema is rebuilt. A store whose index cannot be
 * written is read by scanning, as before the index. */
#ifndef RP_INDEX_H
#define RP_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "record.h"
#include "store.h"
#include "util.h"

struct cJSON;
struct rp_index;

/* runs/'s state, to tell whether run directories came or went. */
struct runs_stamp {
	long long mtime_ns;
	long long nlink;
};
/* The stamp now; all zero if runs/ cannot be read. */
void index_runs_stamp(const struct rp_store *st, struct runs_stamp *out);

/* Open the index for reading, in step with the directories: created, rebuilt or reconciled as
 * needed. Returns 0 with *out NULL when the index cannot be used here: the caller scans. That is
 * silent for a store or index.db that is not writable; when SQLite fails (a file system without
 * the locks it needs), err->msg says why (err->kind stays RP_ERR_NONE), for a warning. */
int index_open(const struct rp_store *st, struct rp_index **out, struct rp_err *err);
void index_close(struct rp_index *ix);

/* Rebuild from the directories (`runpilot reindex`); progress (may be NULL) is called now and
 * then with runs done and the total. */
int index_rebuild(const struct rp_store *st, void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
		  struct rp_err *err);

/* The supervisor: its run's row, after writing run.json. before/after: runs/'s stamp around its
 * mkdir (both zero: unknown). Never fails the run: a failure leaves the index to readers. */
void index_note_run(const struct rp_store *st, const char *run_dir, const struct rp_run *r,
		    const struct runs_stamp *before, const struct runs_stamp *after);

/* The ids of rows whose run directory is gone (deleted behind the index's back), read without
 * bringing the index in step (which would drop them unseen); none when there is no index. */
int index_rows_without_dir(const struct rp_store *st, struct strvec *ids, struct rp_err *err);
/* The index as it is on disk, for fsck: each row's id, status and name (NULL when none), read
 * without changing anything; *in_step: whether it holds that it knows every run directory now
 * (else readers add what it lacks). 1 when there is no index; -1 with why in err when index.db
 * cannot be read as one (not a database, damaged, another schema). */
int index_read_rows(const struct rp_store *st, void (*row)(void *ctx, const char *id, const char *status, const char *name),
		    void *ctx, bool *in_step, struct rp_err *err);
/* Forget runs (moved away by rm): their rows go, runs/'s new stamp is taken. */
void index_forget_runs(const struct rp_store *st, char **ids, size_t n);

/* The one run named name: 0 with id filled, 1 when no run or several have that name (the
 * caller reports it), -1 on error. */
int index_find_name(struct rp_index *ix, const char *name, char id[RP_ID_MAX], struct rp_err *err);
/* The run whose uid is uid, as index_find_name. */
int index_find_uid(struct rp_index *ix, const char *uid, char id[RP_ID_MAX], struct rp_err *err);

/* A selection of runs. Zero values select everything. */
struct index_query {
	char **statuses;          /* any of these */
	size_t nstatuses;
	char **tags;              /* all of these */
	size_t ntags;
	const char *name_glob;
	double since, until;      /* on the start time (the creation time before the start); 0: open */
	const char *where;        /* a --where expression (where.h) */
	const char *sort;         /* started, created, duration, name, id, status, params.K, metrics.M; '-' prefix: descending */
	long limit;               /* the last N of the order (0: all) */
	bool count;               /* count every match for *total (else *total may stop at the limit) */
};

/* One run as the index knows it: what a table of runs needs, without reading run.json. */
struct index_row {
	char id[RP_ID_MAX];
	char *name, *status, *reason, *fingerprint;
	double created, started, duration;   /* < 0: unknown */
	bool has_exit_code;
	int exit_code, signal;
	bool unreadable;          /* status "unreadable", reason the problem */
	struct strvec tags;       /* index_page only: its tags */
	struct cJSON *values;     /* index_page only: the columns asked, {"params.lr": 0.01, ...}; a
				   * metric as its last value (null: NaN), absent when the run has none */
};

/* The runs selected, in order (oldest first unless sorted otherwise); *total is how many matched
 * before the limit when q->count is set (else at least *n). Running rows show their status as of now (lost when the supervisor is gone). */
int index_select(struct rp_index *ix, const struct index_query *q, struct index_row **rows, size_t *n,
		 size_t *total, struct rp_err *err);
void index_rows_free(struct index_row *rows, size_t n);

/* One page of a table of runs, by key: the sort value and the run's number, never an offset. */
struct index_page_query {
	const char *where;        /* a --where expression (where.h); NULL or "": every run */
	const char *sort;         /* index_query's fields; NULL or "": "-id" (newest first). Runs
				   * without the value come last, whatever the direction */
	const char *after;        /* the previous page's *next (opaque); NULL: the first page */
	long limit;               /* rows at most (>= 1) */
	char **columns;           /* params.K and metrics.M for each row's values */
	size_t ncolumns;
};
/* The page's rows (status as of now, tags, values) and *next, the cursor of the page after it
 * (NULL at the end; owned). A cursor that is not one this sort gave, a bad sort or column or
 * --where: RP_ERR_USAGE. */
int index_page(struct rp_index *ix, const struct index_page_query *q, struct index_row **rows, size_t *n,
	       char **next, struct rp_err *err);
/* How many runs where selects (NULL or "": all), by status: {"success": n, ...}; running rows
 * as of now. Remembered on the handle while the index does not change. */
int index_counts(struct rp_index *ix, const char *where, struct cJSON **out, struct rp_err *err);
/* The param keys and metric names the index knows: {"params": [...], "metrics": [...]}, sorted.
 * Remembered as index_counts. */
int index_columns(struct rp_index *ix, struct cJSON **out, struct rp_err *err);
/* What index_counts and index_columns remember, shared by handles (a server's pool of them, one
 * per thread): each handle that sees the index changed makes all of them forget. A handle has
 * a memo of its own until given one; index_close lets go of it. */
struct index_memo;
struct index_memo *index_memo_new(void);
void index_memo_share(struct rp_index *ix, struct index_memo *m);
void index_memo_free(struct index_memo *m);
/* How many times the memo forgot what it remembered (for tests). */
unsigned long long index_memo_generation(struct index_memo *m);
/* A handle kept open (a server's): in step with the directories again, as index_open leaves it. */
int index_refresh(struct rp_index *ix, struct rp_err *err);

#endif
