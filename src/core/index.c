/* index.c: the run index (index.h) over SQLite. Every statement binds its values; the only SQL
 * built at run time is the selection's shape (which filters, which order) and a --where
 * expression's, whose values are bound too (where.h). */
#include "index.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "annotations.h"
#include "index_schema.h"
#include "metrics.h"
#include "runs.h"
#include "where.h"

#define INDEX_FILE "index.db"
#define INDEX_LOCK_FILE "index.lock"
#define BUSY_TIMEOUT_MS 10000
/* How long a connection waits for an index being replaced, and a replacement for the
 * connections open now to close. */
#define LOCK_WAIT_S 10.0

#define CACHE_SLOTS 16

/* Answers remembered while the index stays the same (index_counts, index_columns), for one
 * handle or shared by a pool of them (index_memo_share). */
struct cache_slot {
	char *key;
	cJSON *value;
	unsigned long long gen;   /* the memo's generation it was computed in */
};

#define MEMO_PENDING 16

struct index_memo {
	pthread_mutex_t lock;
	pthread_cond_t done;      /* an answer being computed was remembered, or given up */
	char *pending[MEMO_PENDING]; /* keys some handle is computing now: others wait for it */
	unsigned long long gen;   /* moves on each time a handle sees the index changed */
	char files[160];          /* index.db and its WAL as of the generation (files_version()) */
	struct cache_slot slot[CACHE_SLOTS];
	unsigned next;            /* the slot to reuse next */
	int users;                /* handles sharing it */
};

struct rp_index {
	sqlite3 *db;
	int lock_fd;             /* index.lock, held shared while db is open */
	const struct rp_store *st;
	char cache_version[96];  /* the index as this handle last saw it (cache_version()) */
	struct index_memo *memo; /* NULL until first used */
};

/* ---- small SQLite helpers ---- */

static int db_fail(sqlite3 *db, struct rp_err *err, const char *what)
{
	return rp_err_set(err, RP_ERR_RUNTIME, "index: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec_sql(sqlite3 *db, const char *sql, struct rp_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	rp_err_set(err, RP_ERR_RUNTIME, "index: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* A real, NULL for "unknown" (< 0 or 0 as the record's "not yet") and for NaN. */
static void bind_time(sqlite3_stmt *s, int i, double v)
{
	if (v > 0 && !isnan(v))
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static void bind_real(sqlite3_stmt *s, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_double(s, i, v);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* ---- stamps ---- */

void index_runs_stamp(const struct rp_store *st, struct runs_stamp *out)
{
	struct stat sb;
	memset(out, 0, sizeof *out);
	if (stat(st->runs_dir, &sb) == 0) {
		out->mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
		out->nlink = (long long)sb.st_nlink;
	}
}

static void stamp_text(const struct runs_stamp *s, char out[48])
{
	snprintf(out, 48, "%lld:%lld", s->mtime_ns, s->nlink);
}

/* run.json's size and mtime: a row is out of step when they differ. */
static void record_stamp(const char *run_dir, char out[48])
{
	char *p = path_join(run_dir, "run.json");
	struct stat sb;
	if (stat(p, &sb) == 0)
		snprintf(out, 48, "%lld:%lld", (long long)sb.st_size,
			 (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec);
	else
		snprintf(out, 48, "none");
	free(p);
}

/* ---- meta ---- */

static char *meta_get(sqlite3 *db, const char *key)
{
	sqlite3_stmt *s = prepare(db, "SELECT value FROM meta WHERE key = ?");
	if (!s)
		return NULL;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	char *v = NULL;
	if (sqlite3_step(s) == SQLITE_ROW && col_text(s, 0))
		v = xstrdup(col_text(s, 0));
	sqlite3_finalize(s);
	return v;
}

static int meta_set(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *s = prepare(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(s);
	return rc;
}

/* ---- one run's rows ---- */

/* A connection's statements for writing runs, prepared once: a rebuild writes 100,000 runs. */
enum { W_DEL_PARAMS, W_DEL_TAGS, W_DEL_METRICS, W_DEL_RUN, W_RUN, W_PARAM, W_TAG, W_METRIC, W_COUNT };

static const char *const writer_sql[W_COUNT] = {
	[W_DEL_PARAMS] = "DELETE FROM params WHERE run_id = ?",
	[W_DEL_TAGS] = "DELETE FROM tags WHERE run_id = ?",
	[W_DEL_METRICS] = "DELETE FROM metrics WHERE run_id = ?",
	[W_DEL_RUN] = "DELETE FROM runs WHERE id = ?",
	[W_RUN] = "INSERT OR REPLACE INTO runs (id, num, uid, name, status, reason, created, started, ended, "
		  "duration, runner, image, fingerprint, exit_code, signal, stamp, fp_config, fp_code, fp_runtime, "
		  "fp_packages, fp_env, note, sweep) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[W_PARAM] = "INSERT OR REPLACE INTO params (run_id, key, num, text) VALUES (?, ?, ?, ?)",
	[W_TAG] = "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?, ?)",
	[W_METRIC] = "INSERT OR REPLACE INTO metrics (run_id, name, last, min, max, count, last_step) "
		     "VALUES (?, ?, ?, ?, ?, ?, ?)",
};

struct writer {
	sqlite3 *db;
	sqlite3_stmt *st[W_COUNT];
	bool fresh;               /* an empty index being filled: nothing to delete first */
};

static int writer_init(struct writer *w, sqlite3 *db, bool fresh)
{
	memset(w, 0, sizeof *w);
	w->db = db;
	w->fresh = fresh;
	return 0;
}

/* Statement i, prepared the first time it is needed (a supervisor's one run needs few). */
static sqlite3_stmt *stmt(struct writer *w, int i)
{
	if (!w->st[i])
		w->st[i] = prepare(w->db, writer_sql[i]);
	return w->st[i];
}

static void writer_free(struct writer *w)
{
	for (int i = 0; i < W_COUNT; i++)
		sqlite3_finalize(w->st[i]);
}

/* Run statement i with its values bound by the caller; resets it for the next use. */
static int run_stmt(struct writer *w, int i)
{
	if (!w->st[i])
		return -1;
	int rc = sqlite3_step(w->st[i]);
	sqlite3_reset(w->st[i]);
	sqlite3_clear_bindings(w->st[i]);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void delete_run_rows(struct writer *w, const char *id, bool runs_too)
{
	for (int i = W_DEL_PARAMS; i <= (runs_too ? W_DEL_RUN : W_DEL_METRICS); i++) {
		if (!stmt(w, i))
			continue;
		sqlite3_bind_text(w->st[i], 1, id, -1, SQLITE_STATIC);
		run_stmt(w, i);
	}
}

static const char *json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* An RFC 3339 time of run.json as epoch seconds; 0 when absent. */
static double json_time(const cJSON *o, const char *key)
{
	double t;
	const char *s = json_str(o, key);
	return s && parse_rfc3339(s, &t) == 0 ? t : 0;
}

static int insert_params(struct writer *w, const char *id, const cJSON *params)
{
	for (const cJSON *p = cJSON_IsObject(params) ? params->child : NULL; p; p = p->next) {
		sqlite3_stmt *s = stmt(w, W_PARAM);
		if (!s)
			return -1;
		if (!p->string)
			continue;
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, p->string, -1, SQLITE_STATIC);
		char *text = NULL;
		if (cJSON_IsNumber(p)) {
			sqlite3_bind_double(s, 3, p->valuedouble);
			text = cJSON_PrintUnformatted(p);
		} else if (cJSON_IsBool(p)) {
			sqlite3_bind_double(s, 3, cJSON_IsTrue(p) ? 1 : 0);
		} else {
			sqlite3_bind_null(s, 3);
		}
		const char *t = text ? text : cJSON_IsBool(p) ? (cJSON_IsTrue(p) ? "true" : "false")
				 : cJSON_IsString(p) ? p->valuestring : "";
		sqlite3_bind_text(s, 4, t, -1, SQLITE_TRANSIENT);
		free(text);
		if (run_stmt(w, W_PARAM) < 0)
			return -1;
	}
	return 0;
}

static int insert_tags(struct writer *w, const char *id, const cJSON *tags)
{
	for (const cJSON *t = cJSON_IsArray(tags) ? tags->child : NULL; t; t = t->next) {
		if (!cJSON_IsString(t))
			continue;
		if (!stmt(w, W_TAG))
			return -1;
		sqlite3_bind_text(w->st[W_TAG], 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(w->st[W_TAG], 2, t->valuestring, -1, SQLITE_STATIC);
		if (run_stmt(w, W_TAG) < 0)
			return -1;
	}
	return 0;
}

static int insert_metrics(struct writer *w, const char *id, const cJSON *metrics)
{
	for (const cJSON *m = cJSON_IsObject(metrics) ? metrics->child : NULL; m; m = m->next) {
		sqlite3_stmt *s = stmt(w, W_METRIC);
		if (!s)
			return -1;
		double last, min, max;
		if (!m->string || !mx_value_from_json(cJSON_GetObjectItemCaseSensitive(m, "last"), &last))
			continue;
		if (!mx_value_from_json(cJSON_GetObjectItemCaseSensitive(m, "min"), &min))
			min = NAN;
		if (!mx_value_from_json(cJSON_GetObjectItemCaseSensitive(m, "max"), &max))
			max = NAN;
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, m->string, -1, SQLITE_STATIC);
		bind_real(s, 3, last);
		bind_real(s, 4, min);
		bind_real(s, 5, max);
		sqlite3_bind_int64(s, 6, (sqlite3_int64)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "count")));
		sqlite3_bind_int64(s, 7,
				   (sqlite3_int64)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "last_step")));
		if (run_stmt(w, W_METRIC) < 0)
			return -1;
	}
	return 0;
}

/* The fingerprint's component hashes into the run's row (parameters first..first+4). */
static void bind_components(sqlite3_stmt *s, int first, const cJSON *environment)
{
	static const char *const names[] = {"config", "code", "runtime", "packages", "env"};
	const cJSON *comps = cJSON_GetObjectItemCaseSensitive(environment, "components");
	for (int i = 0; i < 5; i++)
		bind_text(s, first + i, json_str(cJSON_GetObjectItemCaseSensitive(comps, names[i]), "hash"));
}

/* A run's tags and note as its annotations.json has them (index.h: rows hold what users see). */
static void apply_annotations(const char *run_dir, cJSON *record)
{
	struct rp_annotations a;
	struct rp_err ignored = {0};
	if (annotations_read(run_dir, &a, &ignored) == 0)
		annotations_apply_json(&a, record);
	annotations_free(&a);
}

/* The run's row and its params, tags, metrics and components from its run.json (as JSON),
 * replacing what was there. j is NULL for a run directory whose record cannot be read (problem
 * says why). */
static int upsert_json(struct writer *w, const char *id, const char *stamp, const cJSON *j, const char *problem)
{
	if (!w->fresh)
		delete_run_rows(w, id, false);
	sqlite3_stmt *s = stmt(w, W_RUN);
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, store_id_number(id));
	if (j) {
		const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "environment");
		const char *status = json_str(j, "status");
		const cJSON *dur = cJSON_GetObjectItemCaseSensitive(j, "duration_s");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "exit_code");
		const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signal");
		bind_text(s, 3, json_str(j, "uid"));
		bind_text(s, 4, json_str(j, "name"));
		bind_text(s, 5, status ? status : "unreadable");
		bind_text(s, 6, json_str(j, "reason"));
		bind_time(s, 7, json_time(j, "created_at"));
		bind_time(s, 8, json_time(j, "started_at"));
		bind_time(s, 9, json_time(j, "ended_at"));
		if (cJSON_IsNumber(dur) && dur->valuedouble >= 0 && status && strcmp(status, "running") && strcmp(status, "queued"))
			sqlite3_bind_double(s, 10, dur->valuedouble);
		bind_text(s, 11, json_str(cJSON_GetObjectItemCaseSensitive(j, "runner"), "type"));
		bind_text(s, 12, json_str(j, "image"));
		bind_text(s, 13, json_str(env, "fingerprint"));
		if (cJSON_IsNumber(code))
			sqlite3_bind_int(s, 14, code->valueint);
		if (cJSON_IsNumber(sig))
			sqlite3_bind_int(s, 15, sig->valueint);
		bind_components(s, 17, env);
		bind_text(s, 22, json_str(j, "note"));
		bind_text(s, 23, json_str(cJSON_GetObjectItemCaseSensitive(j, "sweep"), "id"));
	} else {
		sqlite3_bind_text(s, 5, "unreadable", -1, SQLITE_STATIC);
		bind_text(s, 6, problem);
	}
	sqlite3_bind_text(s, 16, stamp, -1, SQLITE_STATIC);
	if (run_stmt(w, W_RUN) < 0)
		return -1;
	if (!j)
		return 0;
	return insert_params(w, id, cJSON_GetObjectItemCaseSensitive(j, "params")) < 0 ||
			       insert_tags(w, id, cJSON_GetObjectItemCaseSensitive(j, "tags")) < 0 ||
			       insert_metrics(w, id, cJSON_GetObjectItemCaseSensitive(j, "metrics")) < 0
		       ? -1
		       : 0;
}

static int upsert_run(struct writer *w, const char *id, const char *run_dir, const struct rp_run *r)
{
	char stamp[48];
	record_stamp(run_dir, stamp);
	cJSON *j = record_to_json(r);
	apply_annotations(run_dir, j);
	int rc = upsert_json(w, id, stamp, j, NULL);
	cJSON_Delete(j);
	return rc;
}

struct tbuf_read {
	char *p;
	size_t len, cap;
};

/* One run directory read for the index, without touching the index (a rebuild reads them on a
 * second thread while the first writes). */
struct parsed {
	const char *id;
	char stamp[48];
	cJSON *j;                 /* its run.json, when it is a record */
	char *problem;            /* or why it is not one */
	bool no_record;           /* no run.json at all */
};

/* A file into a buffer kept from one call to the next (a rebuild reads 100,000 of them: fresh
 * buffers of a few KiB each made malloc consolidate its heap over and over). */
static int read_into(const char *path, struct tbuf_read *b, struct rp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot read %s", path);
	b->len = 0;
	for (;;) {
		if (b->cap - b->len < 4096) {
			b->cap = b->cap ? b->cap * 2 : 16384;
			b->p = xrealloc(b->p, b->cap);
		}
		ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return rp_err_sys(err, "cannot read %s", path);
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	close(fd);
	return 0;
}

static void parse_dir_buf(const struct rp_store *st, const char *id, struct parsed *out, struct tbuf_read *buf)
{
	memset(out, 0, sizeof *out);
	out->id = id;
	char *dir = store_run_dir(st, id);
	char *path = path_join(dir, "run.json");
	struct rp_err why = {0};
	record_stamp(dir, out->stamp);
	if (read_into(path, buf, &why) == 0) {
		const char *text = buf->p;
		size_t len = buf->len;
		/* what record_read would refuse is unreadable here too, with its words */
		cJSON *j = cJSON_ParseWithLength(text, len);
		enum rp_status status;
		out->problem = !j ? xasprintf("%s is not valid JSON", path)
			       : !cJSON_IsObject(j) ? xasprintf("%s: run.json is not a JSON object", path)
			       : status_parse(json_str(j, "status"), &status) < 0
				       ? xasprintf("%s: run.json has no valid status", path)
				       : NULL;
		if (out->problem) {
			cJSON_Delete(j);
		} else {
			apply_annotations(dir, j);
			out->j = j;
		}
	} else {
		out->no_record = why.sys_errno == ENOENT;
		if (!out->no_record)
			out->problem = xstrdup(why.msg);
	}
	free(path);
	free(dir);
}

static void parse_dir(const struct rp_store *st, const char *id, struct parsed *out)
{
	struct tbuf_read buf = {0};
	parse_dir_buf(st, id, out, &buf);
	free(buf.p);
}

static void parsed_free(struct parsed *p)
{
	cJSON_Delete(p->j);
	free(p->problem);
	p->j = NULL;
	p->problem = NULL;
}

/* A parsed directory into the index. Returns 1 for a run being set up right now (nothing
 * indexed yet). */
static int index_parsed(struct writer *w, const struct rp_store *st, const struct parsed *p)
{
	if (!p->no_record)
		return upsert_json(w, p->id, p->stamp, p->j, p->problem);
	/* no run.json: runs.c tells a run being set up from one whose supervisor died */
	char *dir = store_run_dir(st, p->id);
	struct rp_run r;
	struct rp_err e = {0};
	int rc = 0, res = runs_read_dir(dir, &r, &e);
	if (res == RUNS_READ_OK) {
		rc = upsert_run(w, p->id, dir, &r);
		record_free(&r);
	} else if (res == RUNS_READ_BROKEN) {
		rc = upsert_json(w, p->id, p->stamp, NULL, e.msg[0] ? e.msg : "no run.json");
	} else {
		if (!w->fresh)
			delete_run_rows(w, p->id, true);
		rc = 1;
	}
	free(dir);
	return rc;
}

static int index_one_dir(struct writer *w, const struct rp_store *st, const char *id)
{
	struct parsed p;
	parse_dir(st, id, &p);
	int rc = index_parsed(w, st, &p);
	parsed_free(&p);
	return rc;
}

#define PARSE_BATCH 512
/* Parsing costs more than writing: two threads parse the next batch while this one writes. */
#define PARSE_THREADS 2
#define PARSE_SHARE (PARSE_BATCH / PARSE_THREADS)

/* A share of a batch of directories parsed on a thread of its own. */
struct parse_batch {
	const struct rp_store *st;
	char **ids;
	struct parsed *out;       /* PARSE_SHARE slots */
	size_t n;
	struct tbuf_read *buf;    /* kept by the caller from batch to batch */
};

/* Parses into out, first freeing what its slots held (the batch before last, already written):
 * the thread that allocates the trees frees them, so threads never contend for one heap. */
static void *parse_batch_thread(void *arg)
{
	struct parse_batch *b = arg;
	for (size_t i = 0; i < PARSE_SHARE; i++)
		parsed_free(&b->out[i]);
	for (size_t i = 0; i < b->n; i++)
		parse_dir_buf(b->st, b->ids[i], &b->out[i], b->buf);
	return NULL;
}

/* Parse ids[0..n) into out (PARSE_BATCH slots), a share to each thread; threaded[k] says
 * whether share k runs on a thread (else it ran here already). */
static void parse_batch_start(const struct rp_store *st, char **ids, size_t n, struct parsed *out,
			      struct tbuf_read *bufs, struct parse_batch *shares, pthread_t *threads, bool *threaded)
{
	for (int k = 0; k < PARSE_THREADS; k++) {
		size_t from = (size_t)k * PARSE_SHARE;
		size_t cnt = n > from ? (n - from < PARSE_SHARE ? n - from : PARSE_SHARE) : 0;
		shares[k] = (struct parse_batch){st, ids + from, out + from, cnt, &bufs[k]};
		threaded[k] = pthread_create(&threads[k], NULL, parse_batch_thread, &shares[k]) == 0;
		if (!threaded[k])
			parse_batch_thread(&shares[k]);
	}
}

static void parse_batch_wait(pthread_t *threads, const bool *threaded)
{
	for (int k = 0; k < PARSE_THREADS; k++)
		if (threaded[k])
			pthread_join(threads[k], NULL);
}

/* ---- opening ---- */

static char *index_path(const struct rp_store *st)
{
	return path_join(st->home, INDEX_FILE);
}

/* index.lock: every connection to index.db holds it shared while it is open; replacing or
 * removing the file (and its -wal and -shm, which SQLite names after the path) holds it
 * exclusive, so no connection ever spans two files. The fd, or -1 with err. */
static int index_lock(const struct rp_store *st, int how, struct rp_err *err)
{
	char *p = path_join(st->home, INDEX_LOCK_FILE);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return rp_err_sys(err, "index: cannot open %s", INDEX_LOCK_FILE);
	double until = now_monotonic() + LOCK_WAIT_S;
	while (flock(fd, how | LOCK_NB) < 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || now_monotonic() > until) {
			int e = errno;
			close(fd);
			errno = e;
			return rp_err_set(err, RP_ERR_RUNTIME, "index: %s", how == LOCK_EX ?
					  "still in use by other runpilot commands: not replaced" :
					  "being replaced for too long");
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return fd;
}

static void close_db(sqlite3 *db, int *lock_fd)
{
	sqlite3_close(db);
	close_fd(lock_fd);
}

/* The caller holds index.lock exclusive. */
static void remove_index_files(const struct rp_store *st)
{
	char *p = index_path(st);
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		char *f = xasprintf("%s%s", p, suffix[i]);
		unlink(f);
		free(f);
	}
	free(p);
}

/* Open index.db with index.lock held shared (*lock_fd, released by close_db). */
static int open_db(const struct rp_store *st, bool create, sqlite3 **out, int *lock_fd, struct rp_err *err)
{
	*out = NULL;
	*lock_fd = index_lock(st, LOCK_SH, err);
	if (*lock_fd < 0)
		return -1;
	char *p = index_path(st);
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(p, &db, flags, NULL);
	free(p);
	if (rc != SQLITE_OK) {
		int e = db ? sqlite3_extended_errcode(db) : rc;
		close_db(db, lock_fd);
		return rp_err_set(err, RP_ERR_RUNTIME, "index: cannot open: %s", sqlite3_errstr(e));
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* WAL: readers never wait for a supervisor's write. No fsync at all: it is a cache, and
	 * one a power loss broke is rebuilt (a broken file fails to open or to query: both rebuild). */
	if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;", err) < 0) {
		close_db(db, lock_fd);
		return -1;
	}
	*out = db;
	return 0;
}

/* Remove a broken index's files, once no connection has them open. */
static void remove_broken_index(const struct rp_store *st)
{
	struct rp_err ignored = {0};
	int fd = index_lock(st, LOCK_EX, &ignored);
	if (fd < 0)
		return;
	remove_index_files(st);
	close(fd);
}

/* Is this an index of the schema this runpilot writes? */
static bool schema_current(sqlite3 *db)
{
	char *v = meta_get(db, "schema_version");
	char want[16];
	snprintf(want, sizeof want, "%d", INDEX_SCHEMA_VERSION);
	bool ok = v && !strcmp(v, want);
	free(v);
	return ok;
}

/* ---- keeping in step ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory into an empty index: while this thread writes one batch, another reads and
 * parses the next (the two halves of the work cost about the same). 1 when every directory is
 * indexed, 0 when some run is being set up right now. */
static int index_all(struct writer *w, const struct rp_store *st, const struct strvec *dirs,
		     void (*progress)(void *ctx, size_t done, size_t total), void *ctx)
{
	struct parsed *cur = xcalloc(PARSE_BATCH, sizeof *cur), *next = xcalloc(PARSE_BATCH, sizeof *next);
	struct tbuf_read bufs[PARSE_THREADS] = {{0}};
	struct parse_batch shares[PARSE_THREADS];
	pthread_t threads[PARSE_THREADS];
	bool threaded[PARSE_THREADS];
	size_t cur_n = dirs->n < PARSE_BATCH ? dirs->n : PARSE_BATCH;
	parse_batch_start(st, dirs->v, cur_n, cur, bufs, shares, threads, threaded);
	parse_batch_wait(threads, threaded);
	size_t done = 0;
	int complete = 1;
	while (cur_n) {
		size_t pos = done + cur_n;
		size_t next_n = dirs->n - pos < PARSE_BATCH ? dirs->n - pos : PARSE_BATCH;
		parse_batch_start(st, dirs->v + pos, next_n, next, bufs, shares, threads, threaded);
		for (size_t i = 0; i < cur_n; i++)
			if (index_parsed(w, st, &cur[i]) == 1)
				complete = 0;
		parse_batch_wait(threads, threaded);
		done += cur_n;
		if (progress)
			progress(ctx, done, dirs->n);
		struct parsed *swap = cur;
		cur = next;
		next = swap;
		cur_n = next_n;
	}
	for (size_t i = 0; i < PARSE_BATCH; i++) {
		parsed_free(&cur[i]);
		parsed_free(&next[i]);
	}
	free(cur);
	free(next);
	for (int k = 0; k < PARSE_THREADS; k++)
		free(bufs[k].p);
	return complete;
}

/* Bring the rows in step with the directories: add what is new, drop what is gone (all: every
 * directory read again, into an empty index). Returns 1 when every directory is accounted for,
 * 0 when some run is being set up right now (its row comes later). */
static int reconcile(sqlite3 *db, const struct rp_store *st, bool all,
		     void (*progress)(void *ctx, size_t done, size_t total), void *ctx, struct rp_err *err)
{
	struct strvec dirs = {0}, known = {0};
	struct writer w;
	int complete = -1;
	if (store_list_ids(st, &dirs, err) < 0)
		return -1;
	sqlite3_stmt *s = all ? NULL : prepare(db, "SELECT id FROM runs");
	while (s && sqlite3_step(s) == SQLITE_ROW)
		strvec_push(&known, col_text(s, 0));
	sqlite3_finalize(s);
	if (dirs.n)
		qsort(dirs.v, dirs.n, sizeof *dirs.v, cmp_str);
	if (known.n)
		qsort(known.v, known.n, sizeof *known.v, cmp_str);
	if (exec_sql(db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (writer_init(&w, db, all) < 0) {
		writer_free(&w);
		exec_sql(db, "ROLLBACK", NULL);
		db_fail(db, err, "prepare");
		goto out;
	}
	complete = all ? index_all(&w, st, &dirs, progress, ctx) : 1;
	size_t i = all ? dirs.n : 0, k = 0;
	while (i < dirs.n || k < known.n) {
		int c = i == dirs.n ? 1 : k == known.n ? -1 : strcmp(dirs.v[i], known.v[k]);
		if (c < 0 && index_one_dir(&w, st, dirs.v[i]) == 1)
			complete = 0;
		else if (c > 0)
			delete_run_rows(&w, known.v[k], true);
		if (c <= 0 && ++i % 1000 == 0 && progress)
			progress(ctx, i, dirs.n);
		if (c >= 0)
			k++;
	}
	writer_free(&w);
	if (exec_sql(db, "COMMIT", err) < 0) {
		exec_sql(db, "ROLLBACK", NULL);
		complete = -1;
		goto out;
	}
	if (progress)
		progress(ctx, dirs.n, dirs.n);
out:
	strvec_free(&dirs);
	strvec_free(&known);
	return complete;
}

/* Rows still "running": re-read the ones whose run.json changed since. */
static void refresh_running(sqlite3 *db, const struct rp_store *st)
{
	struct strvec stale = {0};
	sqlite3_stmt *s = prepare(db, "SELECT id, stamp FROM runs WHERE status IN ('running', 'queued')");
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		char *dir = store_run_dir(st, col_text(s, 0));
		char now[48];
		record_stamp(dir, now);
		if (!col_text(s, 1) || strcmp(now, col_text(s, 1)))
			strvec_push(&stale, col_text(s, 0));
		free(dir);
	}
	sqlite3_finalize(s);
	struct writer w;
	if (stale.n && exec_sql(db, "BEGIN IMMEDIATE", NULL) == 0) {
		if (writer_init(&w, db, false) == 0)
			for (size_t i = 0; i < stale.n; i++)
				index_one_dir(&w, st, stale.v[i]);
		writer_free(&w);
		if (exec_sql(db, "COMMIT", NULL) < 0)
			exec_sql(db, "ROLLBACK", NULL);
	}
	strvec_free(&stale);
}

/* The set of directories is the one the index knows, or reconcile. */
static int bring_in_step(sqlite3 *db, const struct rp_store *st, bool fresh, struct rp_err *err)
{
	struct runs_stamp now;
	index_runs_stamp(st, &now);
	char text[48];
	stamp_text(&now, text);
	char *known = fresh ? NULL : meta_get(db, "runs_stamp");
	bool same = known && !strcmp(known, text);
	free(known);
	if (!same) {
		int complete = reconcile(db, st, false, NULL, NULL, err);
		if (complete < 0)
			return -1;
		/* A run being set up is left for the next reader (its stamp is not taken as known). */
		if (complete)
			meta_set(db, "runs_stamp", text);
	}
	refresh_running(db, st);
	return 0;
}

/* A new index from the directories, written to a file of its own without a journal or fsyncs
 * and renamed into place: readers see the old index or the whole new one. */
static int build_fresh(const struct rp_store *st, void (*progress)(void *ctx, size_t done, size_t total),
		       void *ctx, struct rp_err *err)
{
	char *final = index_path(st);
	char *tmp = xasprintf("%s.new-%d", final, (int)getpid());
	unlink(tmp);
	sqlite3 *db = NULL;
	int rc = -1;
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rp_err_set(err, RP_ERR_RUNTIME, "index: cannot create %s: %s", tmp, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	struct runs_stamp now;
	index_runs_stamp(st, &now);
	char want[16];
	snprintf(want, sizeof want, "%d", INDEX_SCHEMA_VERSION);
	if (exec_sql(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; "
			 "PRAGMA cache_size=-65536;" INDEX_SCHEMA_TABLES_SQL, err) < 0 ||
	    meta_set(db, "schema_version", want) < 0)
		goto out;
	/* Parsing 100,000 run.json files makes and frees millions of small JSON nodes: without
	 * fastbins, glibc stops consolidating them again at each larger allocation (2x faster). */
	mallopt(M_MXFAST, 0);
	int complete = reconcile(db, st, true, progress, ctx, err);
	if (complete < 0 || exec_sql(db, INDEX_SCHEMA_INDEXES_SQL, err) < 0)
		goto out;
	if (complete) {
		char text[48];
		stamp_text(&now, text);
		meta_set(db, "runs_stamp", text);
	}
	sqlite3_close(db);
	db = NULL;
	/* No connection may span the old file and the new one, and the old index's WAL must not
	 * meet the new file. */
	int lock = index_lock(st, LOCK_EX, err);
	if (lock < 0)
		goto out;
	char *wal = xasprintf("%s-wal", final), *shm = xasprintf("%s-shm", final);
	unlink(wal);
	unlink(shm);
	free(wal);
	free(shm);
	if (rename(tmp, final) < 0)
		rp_err_sys(err, "index: cannot rename %s to %s", tmp, final);
	else
		rc = 0;
	close(lock);
out:
	sqlite3_close(db);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	free(final);
	return rc;
}

/* The index opened, built anew when missing, broken or of another schema, then in step. */
static int open_in_step(const struct rp_store *st, sqlite3 **out, int *lock_fd, struct rp_err *err)
{
	sqlite3 *db = NULL;
	struct rp_err ignored = {0};
	*out = NULL;
	char *p = index_path(st);
	bool exists = access(p, F_OK) == 0;
	free(p);
	if (exists && open_db(st, false, &db, lock_fd, &ignored) == 0 && !schema_current(db)) {
		close_db(db, lock_fd);
		db = NULL;
	}
	if (!db) {
		if (build_fresh(st, NULL, NULL, err) < 0 || open_db(st, false, &db, lock_fd, err) < 0)
			return -1;
	}
	if (bring_in_step(db, st, false, err) < 0) {
		close_db(db, lock_fd);
		return -1;
	}
	*out = db;
	return 0;
}

/* Could runpilot write here at all? (A read-only store is read by scanning.) */
static bool store_writable(const struct rp_store *st)
{
	char *p = index_path(st);
	bool ok = access(st->home, W_OK) == 0 && (access(p, F_OK) != 0 || access(p, W_OK) == 0);
	free(p);
	return ok;
}

int index_open(const struct rp_store *st, struct rp_index **out, struct rp_err *err)
{
	*out = NULL;
	if (!store_writable(st) || !path_is_dir(st->runs_dir))
		return 0;
	sqlite3 *db = NULL;
	int lock_fd = -1;
	struct rp_err first = {0};
	if (open_in_step(st, &db, &lock_fd, &first) < 0) {
		/* A broken index (random bytes, a half-written file): it is only a cache. */
		remove_broken_index(st);
		struct rp_err second = {0};
		if (open_in_step(st, &db, &lock_fd, &second) < 0) {
			/* SQLite cannot work here (a file system without locks, say): the caller scans */
			snprintf(err->msg, sizeof err->msg, "%s", second.msg);
			return 0;
		}
	}
	struct rp_index *ix = xcalloc(1, sizeof *ix);
	ix->db = db;
	ix->lock_fd = lock_fd;
	ix->st = st;
	*out = ix;
	return 0;
}

struct index_memo *index_memo_new(void)
{
	struct index_memo *m = xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->done, NULL);
	m->users = 1;
	return m;
}

void index_memo_free(struct index_memo *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	bool last = --m->users == 0;
	pthread_mutex_unlock(&m->lock);
	if (!last)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		free(m->slot[i].key);
		cJSON_Delete(m->slot[i].value);
	}
	for (int i = 0; i < MEMO_PENDING; i++)
		free(m->pending[i]);
	pthread_cond_destroy(&m->done);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

unsigned long long index_memo_generation(struct index_memo *m)
{
	pthread_mutex_lock(&m->lock);
	unsigned long long g = m->gen;
	pthread_mutex_unlock(&m->lock);
	return g;
}

void index_memo_share(struct rp_index *ix, struct index_memo *m)
{
	pthread_mutex_lock(&m->lock);
	m->users++;
	pthread_mutex_unlock(&m->lock);
	index_memo_free(ix->memo);
	ix->memo = m;
}

void index_close(struct rp_index *ix)
{
	if (!ix)
		return;
	index_memo_free(ix->memo);
	close_db(ix->db, &ix->lock_fd);
	free(ix);
}

int index_rebuild(const struct rp_store *st, void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
		  struct rp_err *err)
{
	return build_fresh(st, progress, ctx, err);
}

/* ---- the supervisor's side ---- */

void index_note_run(const struct rp_store *st, const char *run_dir, const struct rp_run *r,
		    const struct runs_stamp *before, const struct runs_stamp *after)
{
	char *p = index_path(st);
	bool exists = access(p, F_OK) == 0;
	free(p);
	if (!exists)
		return; /* the first reader builds it, from the directories */
	sqlite3 *db;
	int lock_fd;
	struct rp_err err = {0};
	if (open_db(st, false, &db, &lock_fd, &err) < 0)
		return;
	if (schema_current(db) && exec_sql(db, "BEGIN IMMEDIATE", NULL) == 0) {
		const char *slash = strrchr(run_dir, '/');
		const char *id = slash ? slash + 1 : run_dir;
		struct writer w;
		bool ok = writer_init(&w, db, false) == 0 && upsert_run(&w, id, run_dir, r) == 0;
		writer_free(&w);
		/* The index knew every directory before this run's mkdir: it knows them all after it. */
		if (ok && before && after && before->mtime_ns) {
			char b[48], a[48];
			stamp_text(before, b);
			stamp_text(after, a);
			char *known = meta_get(db, "runs_stamp");
			if (known && !strcmp(known, b))
				meta_set(db, "runs_stamp", a);
			free(known);
		}
		if (!ok || exec_sql(db, "COMMIT", NULL) < 0)
			exec_sql(db, "ROLLBACK", NULL);
	}
	close_db(db, &lock_fd);
}

void index_forget_runs(const struct rp_store *st, char **ids, size_t n)
{
	sqlite3 *db;
	int lock_fd;
	struct rp_err err = {0};
	char *p = index_path(st);
	bool exists = access(p, F_OK) == 0;
	free(p);
	if (!exists || open_db(st, false, &db, &lock_fd, &err) < 0)
		return;
	struct writer w;
	if (exec_sql(db, "BEGIN IMMEDIATE", NULL) == 0) {
		if (writer_init(&w, db, false) == 0)
			for (size_t i = 0; i < n; i++)
				delete_run_rows(&w, ids[i], true);
		writer_free(&w);
		if (exec_sql(db, "COMMIT", NULL) < 0)
			exec_sql(db, "ROLLBACK", NULL);
	}
	close_db(db, &lock_fd);
}

int index_rows_without_dir(const struct rp_store *st, struct strvec *ids, struct rp_err *err)
{
	char *p = index_path(st);
	bool exists = access(p, F_OK) == 0;
	free(p);
	sqlite3 *db;
	int lock_fd;
	if (!exists || open_db(st, false, &db, &lock_fd, err) < 0)
		return exists ? -1 : 0;
	sqlite3_stmt *s = schema_current(db) ? prepare(db, "SELECT id FROM runs ORDER BY num") : NULL;
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		if (!col_text(s, 0))
			continue;
		char *dir = store_run_dir(st, col_text(s, 0));
		if (!path_is_dir(dir))
			strvec_push(ids, col_text(s, 0));
		free(dir);
	}
	sqlite3_finalize(s);
	close_db(db, &lock_fd);
	return 0;
}

/* SQLite's quick integrity check: NULL when it passes, else its first complaint (owned). */
static char *quick_check(sqlite3 *db)
{
	sqlite3_stmt *s = prepare(db, "PRAGMA quick_check(1)");
	char *why = NULL;
	if (!s)
		return xstrdup(sqlite3_errmsg(db));
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		why = xstrdup(sqlite3_errmsg(db));
	else if (!col_text(s, 0) || strcmp(col_text(s, 0), "ok"))
		why = xstrdup(col_text(s, 0) ? col_text(s, 0) : "integrity check failed");
	sqlite3_finalize(s);
	return why;
}

int index_read_rows(const struct rp_store *st, void (*row)(void *ctx, const char *id, const char *status, const char *name),
		    void *ctx, bool *in_step, struct rp_err *err)
{
	char *p = index_path(st);
	struct stat sb;
	*in_step = false;
	if (stat(p, &sb) < 0) {
		free(p);
		return 1;
	}
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	free(p);
	if (rc != SQLITE_OK) {
		rp_err_set(err, RP_ERR_RUNTIME, "cannot open it: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	char *why = sb.st_size == 0 ? xstrdup("empty (0 bytes)") : quick_check(db);
	if (!why && !schema_current(db))
		why = xstrdup("not an index of this runpilot (no schema version, or another)");
	if (!why) {
		struct runs_stamp now;
		char text[48];
		index_runs_stamp(st, &now);
		stamp_text(&now, text);
		char *known = meta_get(db, "runs_stamp");
		*in_step = known && !strcmp(known, text);
		free(known);
	}
	sqlite3_stmt *s = why ? NULL : prepare(db, "SELECT id, status, name FROM runs ORDER BY num");
	if (!why && !s)
		why = xstrdup(sqlite3_errmsg(db));
	while (s && (rc = sqlite3_step(s)) == SQLITE_ROW)
		if (col_text(s, 0))
			row(ctx, col_text(s, 0), col_text(s, 1), col_text(s, 2));
	if (s && rc != SQLITE_DONE)
		why = xstrdup(sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (why) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s", why);
		free(why);
		return -1;
	}
	return 0;
}

/* ---- selecting ---- */

/* Values bound to a selection's placeholders, in order. */
struct sel_args {
	struct {
		bool is_num;
		double num;
		const char *text;
	} v[64];
	int n;
};

static void arg_text(struct sel_args *a, const char *t)
{
	if (a->n < 64)
		a->v[a->n++] = (typeof(a->v[0])){.text = t};
}

static void arg_num(struct sel_args *a, double d)
{
	if (a->n < 64)
		a->v[a->n++] = (typeof(a->v[0])){.is_num = true, .num = d};
}

static int bind_range(sqlite3_stmt *s, int idx, const struct sel_args *a, int from, int to)
{
	for (int i = from; i < to; i++, idx++) {
		if (a->v[i].is_num)
			sqlite3_bind_double(s, idx, a->v[i].num);
		else
			sqlite3_bind_text(s, idx, a->v[i].text, -1, SQLITE_STATIC);
	}
	return idx;
}

/* In the statement's order: the filters' values (a up to split), the --where's, the order's. */
static void bind_all(sqlite3_stmt *s, const struct sel_args *a, int split, const struct where_sql *ws)
{
	int idx = bind_range(s, 1, a, 0, split);
	if (ws->sql) {
		struct rp_err ignored = {0};
		where_bind(s, idx, ws, &ignored); /* a failed bind leaves NULL: the run does not match */
		idx += (int)ws->nargs;
	}
	bind_range(s, idx, a, split, a->n);
}

/* The ORDER BY term for a sort field ("started", "-metrics.loss", ...); NULL for an unknown one. */
static char *order_term(const char *sort, struct sel_args *a, bool *desc, struct rp_err *err)
{
	*desc = sort[0] == '-';
	const char *f = *desc ? sort + 1 : sort;
	static const struct {
		const char *name, *expr;
	} plain[] = {{"started", "COALESCE(started, created)"}, {"created", "created"}, {"ended", "ended"},
		     {"duration", "duration"}, {"name", "name"}, {"id", "num"}, {"status", "status"}};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		if (!strcmp(f, plain[i].name))
			return xstrdup(plain[i].expr);
	if (!strncmp(f, "params.", 7) && f[7]) {
		arg_text(a, f + 7);
		return xstrdup("(SELECT COALESCE(p.num, p.text) FROM params p WHERE p.run_id = runs.id AND p.key = ?)");
	}
	if (!strncmp(f, "metrics.", 8) && f[8]) {
		arg_text(a, f + 8);
		return xstrdup("(SELECT m.last FROM metrics m WHERE m.run_id = runs.id AND m.name = ?)");
	}
	rp_err_set(err, RP_ERR_USAGE,
		   "--sort '%s': use started, created, ended, duration, name, id, status, params.KEY or metrics.NAME "
		   "('-' first for descending)",
		   sort);
	return NULL;
}

/* Does a status filter need each running row's status as of now (running vs lost)? */
static bool wants_live_status(const struct index_query *q)
{
	for (size_t i = 0; i < q->nstatuses; i++)
		if (!strcmp(q->statuses[i], "running") || !strcmp(q->statuses[i], "lost"))
			return true;
	return false;
}

/* The WHERE clause of a selection (its values appended to a). */
static char *where_clause(const struct index_query *q, struct sel_args *a, struct where_sql *ws, struct rp_err *err)
{
	struct strvec parts = {0};
	if (q->nstatuses) {
		struct strvec in = {0};
		bool live = wants_live_status(q);
		for (size_t i = 0; i < q->nstatuses; i++) {
			strvec_push(&in, "?");
			arg_text(a, q->statuses[i]);
		}
		if (live) {
			strvec_push(&in, "?, ?");
			arg_text(a, "running");
			arg_text(a, "queued");
		}
		char *list = strvec_join(&in, ", ");
		strvec_pushf(&parts, "status IN (%s)", list);
		free(list);
		strvec_free(&in);
	}
	for (size_t i = 0; i < q->ntags; i++) {
		strvec_push(&parts, "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND t.tag = ?)");
		arg_text(a, q->tags[i]);
	}
	if (q->name_glob) {
		strvec_push(&parts, "name GLOB ?");
		arg_text(a, q->name_glob);
	}
	if (q->since > 0) {
		strvec_push(&parts, "COALESCE(started, created) >= ?");
		arg_num(a, q->since);
	}
	if (q->until > 0) {
		strvec_push(&parts, "COALESCE(started, created) <= ?");
		arg_num(a, q->until);
	}
	if (q->where) {
		if (where_compile(q->where, now_realtime(), ws, err) < 0) {
			strvec_free(&parts);
			return NULL;
		}
		strvec_pushf(&parts, "(%s)", ws->sql);
	}
	char *w = parts.n ? strvec_join(&parts, " AND ") : xstrdup("1");
	strvec_free(&parts);
	return w;
}

#define ROW_COLUMNS "id, name, status, reason, fingerprint, created, started, duration, exit_code, signal"

static void row_from(sqlite3_stmt *s, struct index_row *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", col_text(s, 0));
	r->name = col_text(s, 1) ? xstrdup(col_text(s, 1)) : NULL;
	r->status = xstrdup(col_text(s, 2) ? col_text(s, 2) : "unreadable");
	r->reason = col_text(s, 3) ? xstrdup(col_text(s, 3)) : NULL;
	r->fingerprint = col_text(s, 4) ? xstrdup(col_text(s, 4)) : NULL;
	r->created = sqlite3_column_type(s, 5) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 5);
	r->started = sqlite3_column_type(s, 6) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 6);
	r->duration = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 7);
	r->unreadable = !strcmp(r->status, "unreadable");
	r->has_exit_code = sqlite3_column_type(s, 8) != SQLITE_NULL;
	r->exit_code = sqlite3_column_int(s, 8);
	r->signal = sqlite3_column_int(s, 9);
}

/* A running row's status as of now: lost (with why) when its supervisor is gone. */
static void live_status(const struct rp_store *st, struct index_row *row)
{
	if (strcmp(row->status, "running") && strcmp(row->status, "queued"))
		return;
	char *dir = store_run_dir(st, row->id);
	struct rp_run r;
	if (record_read(dir, &r, NULL) == 0) {
		if (runs_status_now(dir, &r)) {
			free(row->status);
			row->status = xstrdup(status_name(r.status));
			free(row->reason);
			row->reason = r.reason ? xstrdup(r.reason) : NULL;
			row->duration = status_live(r.status) ? -1 : r.duration_s;
		}
		record_free(&r);
	}
	free(dir);
}

static bool status_selected(const struct index_query *q, const char *status)
{
	if (!q->nstatuses)
		return true;
	for (size_t i = 0; i < q->nstatuses; i++)
		if (!strcmp(q->statuses[i], status))
			return true;
	return false;
}

/* How many runs the WHERE clause selects (its values bound as for the selection). */
static int count_matches(sqlite3 *db, const char *where, const struct sel_args *a, int split,
			 const struct where_sql *ws, long long *out, struct rp_err *err)
{
	char *sql = xasprintf("SELECT COUNT(*) FROM runs WHERE %s", where);
	sqlite3_stmt *s = prepare(db, sql);
	free(sql);
	if (!s)
		return db_fail(db, err, "count");
	bind_all(s, a, split, ws);
	int rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_fail(db, err, "count");
}

static int select_once(struct rp_index *ix, const struct index_query *q, struct index_row **rows, size_t *n,
		       size_t *total, struct rp_err *err)
{
	*rows = NULL;
	*n = *total = 0;
	struct sel_args a = {0};
	struct where_sql ws = {0};
	bool desc = false;
	char *order = NULL;
	char *where = where_clause(q, &a, &ws, err);
	if (!where)
		return -1;
	int split = a.n;
	if (q->sort && !(order = order_term(q->sort, &a, &desc, err))) {
		free(where);
		where_sql_free(&ws);
		return -1;
	}
	/* Without a sort: the newest N, shown oldest first. With one: the first N of that order,
	 * runs without the field last. Statuses decided now (running / lost) filter after the query. */
	bool live = wants_live_status(q);
	bool newest = !order;
	char *sql;
	if (order) {
		sql = xasprintf("SELECT " ROW_COLUMNS " FROM runs WHERE %s ORDER BY (%s) IS NULL, (%s) %s, num ASC", where,
				order, order, desc ? "DESC" : "ASC");
		/* a params./metrics. sort binds its name once for each use in the ORDER BY */
		if (a.n && !a.v[a.n - 1].is_num && order[0] == '(')
			arg_text(&a, a.v[a.n - 1].text);
	} else {
		sql = xasprintf("SELECT " ROW_COLUMNS " FROM runs WHERE %s ORDER BY num DESC", where);
	}
	/* Only a status decided now needs every candidate row; otherwise SQLite stops at the limit
	 * and a count (when asked for) says how many matched. */
	bool sql_limit = !live && q->limit > 0;
	if (sql_limit) {
		char *limited = xasprintf("%s LIMIT %ld", sql, q->limit);
		free(sql);
		sql = limited;
	}
	long long counted = -1;
	if (sql_limit && q->count && count_matches(ix->db, where, &a, split, &ws, &counted, err) < 0) {
		free(sql);
		free(where);
		free(order);
		where_sql_free(&ws);
		return -1;
	}
	sqlite3_stmt *s = prepare(ix->db, sql);
	free(sql);
	free(where);
	free(order);
	if (!s) {
		where_sql_free(&ws);
		return db_fail(ix->db, err, "select");
	}
	bind_all(s, &a, split, &ws);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct index_row row;
		row_from(s, &row);
		if (live)
			live_status(ix->st, &row);
		if (!status_selected(q, row.status)) {
			free(row.name);
			free(row.status);
			free(row.reason);
			free(row.fingerprint);
			continue;
		}
		(*total)++;
		if (q->limit > 0 && *n >= (size_t)q->limit)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*rows = xrealloc(*rows, cap * sizeof **rows);
		}
		(*rows)[(*n)++] = row;
	}
	bool failed = rc != SQLITE_DONE;
	sqlite3_finalize(s);
	where_sql_free(&ws);
	if (failed) {
		index_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		return db_fail(ix->db, err, "select");
	}
	if (counted >= 0)
		*total = (size_t)counted;
	if (newest) /* fetched newest first: show oldest first */
		for (size_t i = 0; i < *n / 2; i++) {
			struct index_row t = (*rows)[i];
			(*rows)[i] = (*rows)[*n - 1 - i];
			(*rows)[*n - 1 - i] = t;
		}
	if (!live)
		for (size_t i = 0; i < *n; i++)
			live_status(ix->st, &(*rows)[i]);
	return 0;
}

int index_select(struct rp_index *ix, const struct index_query *q, struct index_row **rows, size_t *n,
		 size_t *total, struct rp_err *err)
{
	if (select_once(ix, q, rows, n, total, err) == 0)
		return 0;
	int code = sqlite3_errcode(ix->db);
	if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB)
		return -1;
	/* broken under us (a power loss without fsyncs, a stray write): rebuild and ask again */
	close_db(ix->db, &ix->lock_fd);
	ix->db = NULL;
	remove_broken_index(ix->st);
	if (open_in_step(ix->st, &ix->db, &ix->lock_fd, err) < 0)
		return -1;
	return select_once(ix, q, rows, n, total, err);
}

void index_rows_free(struct index_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].status);
		free(rows[i].reason);
		free(rows[i].fingerprint);
		strvec_free(&rows[i].tags);
		cJSON_Delete(rows[i].values);
	}
	free(rows);
}

/* The one run sql (selecting id, with one parameter: value) finds. */
static int find_one(struct rp_index *ix, const char *sql, const char *value, char id[RP_ID_MAX], struct rp_err *err)
{
	sqlite3_stmt *s = prepare(ix->db, sql);
	if (!s)
		return db_fail(ix->db, err, "find");
	sqlite3_bind_text(s, 1, value, -1, SQLITE_STATIC);
	int found = 0;
	while (sqlite3_step(s) == SQLITE_ROW)
		if (found++ == 0)
			snprintf(id, RP_ID_MAX, "%s", col_text(s, 0));
	sqlite3_finalize(s);
	return found == 1 ? 0 : 1;
}

int index_find_name(struct rp_index *ix, const char *name, char id[RP_ID_MAX], struct rp_err *err)
{
	return find_one(ix, "SELECT id FROM runs WHERE name = ? LIMIT 2", name, id, err);
}

int index_find_uid(struct rp_index *ix, const char *uid, char id[RP_ID_MAX], struct rp_err *err)
{
	return find_one(ix, "SELECT id FROM runs WHERE uid = ? LIMIT 2", uid, id, err);
}

/* ---- pages (the UI's table) ---- */

int index_refresh(struct rp_index *ix, struct rp_err *err)
{
	return bring_in_step(ix->db, ix->st, false, err);
}

/* What the index is now, cheaply: another connection's commit changes data_version, this
 * one's own the count of its changes, a run directory come or gone runs/'s stamp. */
static void cache_version(struct rp_index *ix, char out[96])
{
	long long dv = -1;
	sqlite3_stmt *s = prepare(ix->db, "PRAGMA data_version");
	if (s && sqlite3_step(s) == SQLITE_ROW)
		dv = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	struct runs_stamp now;
	char stamp[48];
	index_runs_stamp(ix->st, &now);
	stamp_text(&now, stamp);
	snprintf(out, 96, "%lld:%lld:%s", dv, (long long)sqlite3_total_changes64(ix->db), stamp);
}

/* index.db and its WAL as files: a commit by any connection grows the WAL or, once it is reset,
 * changes its times; a checkpoint changes the database's. An empty WAL counts as none: the last
 * connection to close removes it and the next to open makes it again, unchanged. What a handle
 * new to the memo compares, having no view of its own to compare with yet. */
static void files_version(const struct rp_index *ix, char out[160])
{
	struct stat db, wal;
	char *p = path_join(ix->st->home, INDEX_FILE);
	char *w = xasprintf("%s-wal", p);
	bool have_db = stat(p, &db) == 0, have_wal = stat(w, &wal) == 0 && wal.st_size > 0;
	free(p);
	free(w);
	int n = snprintf(out, 160, "%lld.%ld:%lld", have_db ? (long long)db.st_mtim.tv_sec : -1LL,
			 have_db ? db.st_mtim.tv_nsec : 0L, have_db ? (long long)db.st_size : -1LL);
	if (have_wal && n > 0 && n < 160)
		snprintf(out + n, 160 - (size_t)n, "/%lld.%ld:%lld:%lld", (long long)wal.st_mtim.tv_sec,
			 wal.st_mtim.tv_nsec, (long long)wal.st_size, (long long)wal.st_ino);
}

static int pending_slot(struct index_memo *m, const char *key)
{
	for (int i = 0; i < MEMO_PENDING; i++)
		if (m->pending[i] && !strcmp(m->pending[i], key))
			return i;
	return -1;
}

static cJSON *memo_find(struct index_memo *m, const char *key)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (m->slot[i].key && m->slot[i].gen == m->gen && !strcmp(m->slot[i].key, key))
			return cJSON_Duplicate(m->slot[i].value, true);
	return NULL;
}

/* The remembered answer for key (a copy), or NULL: then the caller computes it and hands it to
 * cache_put (or cache_abandon). Every handle checks its own view of the index first: when it
 * changed, the memo's generation moves on and what was remembered is forgotten, for every
 * handle sharing it. While one handle computes an answer, the others asking for the same one
 * wait for it rather than compute it too. *gen: the generation to cache_put it in. */
static cJSON *cache_get(struct rp_index *ix, const char *key, unsigned long long *gen)
{
	if (!ix->memo)
		ix->memo = index_memo_new();
	struct index_memo *m = ix->memo;
	char v[96], files[160];
	cache_version(ix, v);
	files_version(ix, files);
	/* A handle's first look has nothing of its own to compare with: the files tell whether the
	 * index changed since the memo's generation began (a pool opens handles as load grows, and
	 * each must not throw away what the others remembered). */
	bool first = !ix->cache_version[0];
	bool changed = strcmp(v, ix->cache_version) != 0;
	if (changed)
		snprintf(ix->cache_version, sizeof ix->cache_version, "%s", v);
	pthread_mutex_lock(&m->lock);
	if (first ? strcmp(files, m->files) != 0 : changed) {
		m->gen++;
		snprintf(m->files, sizeof m->files, "%s", files);
	}
	cJSON *found = memo_find(m, key);
	while (!found && pending_slot(m, key) >= 0) {
		pthread_cond_wait(&m->done, &m->lock);
		found = memo_find(m, key);
	}
	if (!found)
		for (int i = 0; i < MEMO_PENDING; i++)
			if (!m->pending[i]) {
				m->pending[i] = xstrdup(key);
				break;
			}
	*gen = m->gen;
	pthread_mutex_unlock(&m->lock);
	return found;
}

/* key's computation is over: others may go on. The caller holds the lock. */
static void memo_release(struct index_memo *m, const char *key)
{
	int i = pending_slot(m, key);
	if (i >= 0) {
		free(m->pending[i]);
		m->pending[i] = NULL;
	}
	pthread_cond_broadcast(&m->done);
}

/* Remember an answer computed in generation gen (unless the index changed meanwhile). */
static void cache_put(struct rp_index *ix, const char *key, const cJSON *value, unsigned long long gen)
{
	struct index_memo *m = ix->memo;
	cJSON *copy = cJSON_Duplicate(value, true);
	char *k = xstrdup(key);
	pthread_mutex_lock(&m->lock);
	if (gen == m->gen) {
		struct cache_slot *c = &m->slot[m->next++ % CACHE_SLOTS];
		free(c->key);
		cJSON_Delete(c->value);
		*c = (struct cache_slot){k, copy, gen};
		k = NULL;
		copy = NULL;
	}
	memo_release(m, key);
	pthread_mutex_unlock(&m->lock);
	free(k);
	cJSON_Delete(copy);
}

/* The answer could not be computed: the next one asking tries. */
static void cache_abandon(struct rp_index *ix, const char *key)
{
	pthread_mutex_lock(&ix->memo->lock);
	memo_release(ix->memo, key);
	pthread_mutex_unlock(&ix->memo->lock);
}

/* A sort field's SQL over `runs` (?1: a param key or metric name, in *key); NULL for an unknown one. */
static const char *page_sort_expr(const char *sort, bool *desc, const char **key, struct rp_err *err)
{
	*desc = sort[0] == '-';
	const char *f = *desc ? sort + 1 : sort;
	*key = NULL;
	static const struct {
		const char *name, *expr;
	} plain[] = {{"started", "COALESCE(started, created)"}, {"created", "created"}, {"ended", "ended"},
		     {"duration", "duration"}, {"name", "name"}, {"id", "num"}, {"status", "status"}};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		if (!strcmp(f, plain[i].name))
			return plain[i].expr;
	if (!strncmp(f, "params.", 7) && f[7]) {
		*key = f + 7;
		return "(SELECT COALESCE(p.num, p.text) FROM params p WHERE p.run_id = runs.id AND p.key = ?1)";
	}
	if (!strncmp(f, "metrics.", 8) && f[8]) {
		*key = f + 8;
		return "(SELECT m.last FROM metrics m WHERE m.run_id = runs.id AND m.name = ?1)";
	}
	rp_err_set(err, RP_ERR_USAGE,
		   "sort '%s': use id, started, created, ended, duration, name, status, params.KEY or metrics.NAME "
		   "('-' first for descending)",
		   sort);
	return NULL;
}

/* A page cursor: where the last row of a page stood in its sort. Sent as hex of
 * "rp1\n<sort>\n<num>\n<type><value>" and a checksum, so that one made for another sort, or
 * changed on the way, is refused rather than misread. */
struct cursor {
	long long num;
	int type;                 /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT */
	long long i;
	double r;
	char *text;               /* owned */
};

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static char *cursor_encode(const char *sort, sqlite3_stmt *s, int col, long long num)
{
	char *payload;
	switch (sqlite3_column_type(s, col)) {
	case SQLITE_INTEGER: payload = xasprintf("rp1\n%s\n%lld\ni%lld", sort, num, (long long)sqlite3_column_int64(s, col)); break;
	case SQLITE_FLOAT: payload = xasprintf("rp1\n%s\n%lld\nr%a", sort, num, sqlite3_column_double(s, col)); break;
	case SQLITE_TEXT: payload = xasprintf("rp1\n%s\n%lld\nt%s", sort, num, col_text(s, col)); break;
	default: payload = xasprintf("rp1\n%s\n%lld\nn", sort, num); break;
	}
	size_t n = strlen(payload);
	char *out = xmalloc(2 * n + 9);
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)payload[i]);
	snprintf(out + 2 * n, 9, "%08x", fnv1a(payload, n));
	free(payload);
	return out;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int bad_cursor(struct rp_err *err)
{
	return rp_err_set(err, RP_ERR_USAGE, "after: not a cursor of this sort (start again from the first page)");
}

/* A number of digits, all of it; false when it is not one. */
static bool parse_ll(const char *p, const char *end, long long *out)
{
	if (p == end || (*p == '-' ? end - p < 2 : false))
		return false;
	char buf[32];
	if ((size_t)(end - p) >= sizeof buf)
		return false;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	for (const char *c = buf + (buf[0] == '-'); *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	errno = 0;
	*out = strtoll(buf, NULL, 10);
	return errno == 0;
}

static int cursor_decode(const char *text, const char *sort, struct cursor *c, struct rp_err *err)
{
	memset(c, 0, sizeof *c);
	size_t len = strlen(text);
	if (len < 10 || len % 2 || len > 16384)
		return bad_cursor(err);
	size_t n = (len - 8) / 2;
	char *p = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(p);
			return bad_cursor(err);
		}
		p[i] = (char)(hi << 4 | lo);
	}
	p[n] = '\0';
	char sum[9];
	snprintf(sum, sizeof sum, "%08x", fnv1a(p, n));
	size_t slen = strlen(sort);
	const char *num = p + 4 + slen + 1, *nl = num < p + n ? strchr(num, '\n') : NULL;
	bool ok = !strcmp(text + 2 * n, sum) && n > 4 + slen + 1 && !strncmp(p, "rp1\n", 4) &&
		  !strncmp(p + 4, sort, slen) && p[4 + slen] == '\n' && nl && parse_ll(num, nl, &c->num) &&
		  c->num >= 0;
	const char *v = ok ? nl + 2 : NULL;
	if (ok) {
		switch (nl[1]) {
		case 'n': c->type = SQLITE_NULL; ok = !*v; break;
		case 'i': c->type = SQLITE_INTEGER; ok = parse_ll(v, v + strlen(v), &c->i); break;
		case 't': c->type = SQLITE_TEXT; c->text = xstrdup(v); break;
		case 'r': {
			char *end;
			c->type = SQLITE_FLOAT;
			errno = 0;
			c->r = strtod(v, &end);
			ok = *v && !*end && errno == 0 && isfinite(c->r);
			break;
		}
		default: ok = false;
		}
	}
	free(p);
	if (!ok) {
		free(c->text);
		c->text = NULL;
		return bad_cursor(err);
	}
	return 0;
}

static void cursor_bind(sqlite3_stmt *s, int idx, const struct cursor *c)
{
	switch (c->type) {
	case SQLITE_INTEGER: sqlite3_bind_int64(s, idx, c->i); break;
	case SQLITE_FLOAT: sqlite3_bind_double(s, idx, c->r); break;
	case SQLITE_TEXT: sqlite3_bind_text(s, idx, c->text, -1, SQLITE_STATIC); break;
	default: sqlite3_bind_null(s, idx);
	}
}

/* "params.K" / "metrics.M" split; false for another column. */
static bool column_parts(const char *col, bool *is_param, const char **name)
{
	if (!strncmp(col, "params.", 7) && col[7]) {
		*is_param = true;
		*name = col + 7;
		return true;
	}
	if (!strncmp(col, "metrics.", 8) && col[8]) {
		*is_param = false;
		*name = col + 8;
		return true;
	}
	return false;
}

static struct index_row *row_by_id(struct index_row *rows, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (!strcmp(rows[i].id, id))
			return &rows[i];
	return NULL;
}

/* "?, ?, ..." for n values. */
static char *placeholders(size_t n)
{
	char *s = xmalloc(3 * n + 1), *p = s;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i ? ",?" : "?");
	*p = '\0';
	return s;
}

/* The page's tags and asked values: one query per table for the whole page. */
static int page_extras(struct rp_index *ix, struct index_row *rows, size_t n, char **columns, size_t ncolumns,
		       struct rp_err *err)
{
	if (!n)
		return 0;
	char *in = placeholders(n);
	for (size_t i = 0; i < n; i++)
		rows[i].values = cJSON_CreateObject();
	char *sql = xasprintf("SELECT run_id, tag FROM tags WHERE run_id IN (%s) ORDER BY run_id, tag", in);
	sqlite3_stmt *s = prepare(ix->db, sql);
	free(sql);
	int rc = s ? SQLITE_OK : SQLITE_ERROR;
	for (size_t i = 0; s && i < n; i++)
		sqlite3_bind_text(s, (int)i + 1, rows[i].id, -1, SQLITE_STATIC);
	while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct index_row *r = row_by_id(rows, n, col_text(s, 0));
		if (r && col_text(s, 1))
			strvec_push(&r->tags, col_text(s, 1));
	}
	sqlite3_finalize(s);
	for (int table = 0; table < 2 && (rc == SQLITE_DONE || rc == SQLITE_OK); table++) {
		struct strvec names = {0}, full = {0};
		for (size_t k = 0; k < ncolumns; k++) {
			bool is_param;
			const char *name;
			if (column_parts(columns[k], &is_param, &name) && is_param == (table == 0)) {
				strvec_push(&names, name);
				strvec_push(&full, columns[k]);
			}
		}
		if (!names.n) {
			strvec_free(&names);
			strvec_free(&full);
			continue;
		}
		char *kin = placeholders(names.n);
		sql = table == 0 ? xasprintf("SELECT run_id, key, num, text FROM params WHERE run_id IN (%s) AND key IN (%s)", in, kin)
				 : xasprintf("SELECT run_id, name, last FROM metrics WHERE run_id IN (%s) AND name IN (%s)", in, kin);
		free(kin);
		s = prepare(ix->db, sql);
		free(sql);
		rc = s ? SQLITE_OK : SQLITE_ERROR;
		for (size_t i = 0; s && i < n; i++)
			sqlite3_bind_text(s, (int)i + 1, rows[i].id, -1, SQLITE_STATIC);
		for (size_t k = 0; s && k < names.n; k++)
			sqlite3_bind_text(s, (int)(n + k) + 1, names.v[k], -1, SQLITE_STATIC);
		while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct index_row *r = row_by_id(rows, n, col_text(s, 0));
			const char *name = col_text(s, 1);
			if (!r || !name)
				continue;
			char *col = xasprintf("%s.%s", table == 0 ? "params" : "metrics", name);
			cJSON *v;
			if (sqlite3_column_type(s, 2) != SQLITE_NULL)
				v = cJSON_CreateNumber(sqlite3_column_double(s, 2));
			else if (table == 1)
				v = cJSON_CreateNull();
			else
				v = cJSON_CreateString(col_text(s, 3) ? col_text(s, 3) : "");
			/* a bool param is kept as 0/1 and its text */
			if (table == 0 && col_text(s, 3) && (!strcmp(col_text(s, 3), "true") || !strcmp(col_text(s, 3), "false"))) {
				cJSON_Delete(v);
				v = cJSON_CreateBool(!strcmp(col_text(s, 3), "true"));
			}
			cJSON_AddItemToObject(r->values, col, v);
			free(col);
		}
		sqlite3_finalize(s);
		strvec_free(&names);
		strvec_free(&full);
	}
	free(in);
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		return db_fail(ix->db, err, "page");
	return 0;
}

static int page_once(struct rp_index *ix, const struct index_page_query *q, struct index_row **rows, size_t *n,
		     char **next, struct rp_err *err)
{
	const char *sort = q->sort && *q->sort ? q->sort : "-id";
	bool desc;
	const char *key;
	const char *expr = page_sort_expr(sort, &desc, &key, err);
	if (!expr)
		return -1;
	for (size_t k = 0; k < q->ncolumns; k++) {
		bool is_param;
		const char *name;
		if (!column_parts(q->columns[k], &is_param, &name))
			return rp_err_set(err, RP_ERR_USAGE, "columns: '%s': use params.KEY or metrics.NAME", q->columns[k]);
	}
	struct cursor cur = {0};
	bool after = q->after && *q->after;
	if (after && cursor_decode(q->after, sort, &cur, err) < 0)
		return -1;
	struct where_sql ws = {0};
	if (q->where && *q->where && where_compile(q->where, now_realtime(), &ws, err) < 0) {
		free(cur.text);
		return -1;
	}
	bool by_num = !strcmp(expr, "num");
	int first = key ? 2 : 1;                  /* the --where's values follow ?1 */
	int cv = first + (int)ws.nargs, cn = cv + 1;
	const char *op = desc ? "<" : ">", *dir = desc ? "DESC" : "ASC";
	char *keyset = !after ? xstrdup("1")
		       : by_num ? xasprintf("num %s ?%d", op, cn)
		       : cur.type == SQLITE_NULL ? xasprintf("((%s) IS NULL AND num %s ?%d)", expr, op, cn)
		       : xasprintf("((%s) IS NULL OR ((%s), num) %s (?%d, ?%d))", expr, expr, op, cv, cn);
	char *order = by_num ? xasprintf("num %s", dir) : xasprintf("(%s) IS NULL, (%s) %s, num %s", expr, expr, dir, dir);
	char *sql = xasprintf("SELECT " ROW_COLUMNS ", %s, num FROM runs WHERE (%s) AND %s ORDER BY %s LIMIT %ld", expr,
			      ws.sql ? ws.sql : "1", keyset, order, q->limit + 1);
	free(keyset);
	free(order);
	sqlite3_stmt *s = prepare(ix->db, sql);
	free(sql);
	int rc = SQLITE_ERROR;
	*rows = NULL;
	*n = 0;
	*next = NULL;
	if (s) {
		if (key)
			sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		struct rp_err ignored = {0};
		if (ws.sql)
			where_bind(s, first, &ws, &ignored);
		if (after) {
			cursor_bind(s, cv, &cur);
			sqlite3_bind_int64(s, cn, cur.num);
		}
		*rows = xcalloc((size_t)q->limit + 1, sizeof **rows);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (*n == (size_t)q->limit) {
				/* one more than asked: there is a page after this one */
				sqlite3_reset(s);
				rc = SQLITE_DONE;
				break;
			}
			row_from(s, &(*rows)[*n]);
			free(*next);
			*next = cursor_encode(sort, s, 10, sqlite3_column_int64(s, 11));
			(*n)++;
		}
		if (rc == SQLITE_DONE && *n < (size_t)q->limit) {
			free(*next);
			*next = NULL;
		}
	}
	sqlite3_finalize(s);
	where_sql_free(&ws);
	free(cur.text);
	if (rc != SQLITE_DONE || page_extras(ix, *rows, *n, q->columns, q->ncolumns, err) < 0) {
		if (rc != SQLITE_DONE)
			db_fail(ix->db, err, "page");
		index_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		free(*next);
		*next = NULL;
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		live_status(ix->st, &(*rows)[i]);
	return 0;
}

int index_page(struct rp_index *ix, const struct index_page_query *q, struct index_row **rows, size_t *n, char **next,
	       struct rp_err *err)
{
	if (q->limit < 1)
		return rp_err_set(err, RP_ERR_USAGE, "limit: at least 1");
	return page_once(ix, q, rows, n, next, err);
}

/* Count by status: SQL's counts, then each running row that matches as of now. */
static int count_statuses(struct rp_index *ix, const char *where, cJSON **out, struct rp_err *err)
{
	struct where_sql ws = {0};
	if (where && *where && where_compile(where, now_realtime(), &ws, err) < 0)
		return -1;
	char *key = xasprintf("counts\n%s", where ? where : "");
	unsigned long long gen;
	cJSON *counts = cache_get(ix, key, &gen);
	int rc = SQLITE_DONE;
	if (!counts) {
		char *sql = xasprintf("SELECT status, COUNT(*) FROM runs WHERE (%s) GROUP BY status ORDER BY status",
				      ws.sql ? ws.sql : "1");
		sqlite3_stmt *s = prepare(ix->db, sql);
		free(sql);
		struct rp_err ignored = {0};
		if (s && ws.sql)
			where_bind(s, 1, &ws, &ignored);
		counts = cJSON_CreateObject();
		rc = s ? SQLITE_OK : SQLITE_ERROR;
		while (s && (rc = sqlite3_step(s)) == SQLITE_ROW)
			cJSON_AddNumberToObject(counts, col_text(s, 0) ? col_text(s, 0) : "unreadable",
						(double)sqlite3_column_int64(s, 1));
		sqlite3_finalize(s);
		if (rc == SQLITE_DONE)
			cache_put(ix, key, counts, gen);
		else
			cache_abandon(ix, key);
	}
	free(key);
	/* the running ones as of now: a dead supervisor's run is lost */
	char *sql = xasprintf("SELECT " ROW_COLUMNS " FROM runs WHERE (%s) AND status IN ('running', 'queued')",
			      ws.sql ? ws.sql : "1");
	sqlite3_stmt *s = rc == SQLITE_DONE ? prepare(ix->db, sql) : NULL;
	free(sql);
	struct rp_err ignored = {0};
	if (s && ws.sql)
		where_bind(s, 1, &ws, &ignored);
	while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct index_row row;
		row_from(s, &row);
		char *was = xstrdup(row.status);
		live_status(ix->st, &row);
		if (strcmp(was, row.status)) {
			cJSON *from = cJSON_GetObjectItemCaseSensitive(counts, was);
			if (from)
				cJSON_SetNumberValue(from, from->valuedouble - 1);
			cJSON *to = cJSON_GetObjectItemCaseSensitive(counts, row.status);
			if (to)
				cJSON_SetNumberValue(to, to->valuedouble + 1);
			else
				cJSON_AddNumberToObject(counts, row.status, 1);
		}
		free(was);
		free(row.name);
		free(row.status);
		free(row.reason);
		free(row.fingerprint);
	}
	sqlite3_finalize(s);
	where_sql_free(&ws);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(counts);
		return db_fail(ix->db, err, "counts");
	}
	/* drop the statuses left at none */
	for (cJSON *c = counts->child, *nx; c; c = nx) {
		nx = c->next;
		if (c->valuedouble <= 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(counts, c));
	}
	*out = counts;
	return 0;
}

int index_counts(struct rp_index *ix, const char *where, cJSON **out, struct rp_err *err)
{
	return count_statuses(ix, where, out, err);
}

/* The distinct values of an indexed column, one index seek each (not a scan of every row). */
static int distinct_names(sqlite3 *db, const char *table, const char *col, cJSON *into)
{
	char *sql = xasprintf("SELECT %s FROM %s WHERE %s > ? ORDER BY %s LIMIT 1", col, table, col, col);
	sqlite3_stmt *s = prepare(db, sql);
	free(sql);
	if (!s)
		return -1;
	char *last = xstrdup("");
	int rc;
	for (;;) {
		sqlite3_bind_text(s, 1, last, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		free(last);
		last = xstrdup(col_text(s, 0) ? col_text(s, 0) : "");
		cJSON_AddItemToArray(into, cJSON_CreateString(last));
		sqlite3_reset(s);
	}
	free(last);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int index_columns(struct rp_index *ix, cJSON **out, struct rp_err *err)
{
	unsigned long long gen;
	cJSON *c = cache_get(ix, "columns", &gen);
	if (c) {
		*out = c;
		return 0;
	}
	c = cJSON_CreateObject();
	if (distinct_names(ix->db, "params", "key", cJSON_AddArrayToObject(c, "params")) < 0 ||
	    distinct_names(ix->db, "metrics", "name", cJSON_AddArrayToObject(c, "metrics")) < 0) {
		cJSON_Delete(c);
		cache_abandon(ix, "columns");
		return db_fail(ix->db, err, "columns");
	}
	cache_put(ix, "columns", c, gen);
	*out = c;
	return 0;
}
