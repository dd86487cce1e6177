/* The UI's data over the local run store (ui_source.h): the index for tables, the run
 * directories for the rest, read as `list` and `show` read them. The server calls from many
 * threads at once: each call borrows an index connection of its own from a small pool. */
#include "ui_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "annotations.h"
#include "index.h"
#include "metrics.h"
#include "runs.h"
#include "ui_int.h"
#include "util.h"
#include "where.h"

#define OUTPUTS_MAX 10000         /* entries listed for one run */
#define LOG_MAX_BYTES (1 << 20)   /* one log answer */
#define LOG_DEFAULT_BYTES (64 << 10)
/* An index connection idle this long is closed: it holds index.lock shared, and `runpilot
 * reindex` waits (a while) for every connection to go before it replaces the index. */
#define IDLE_CLOSE_S 2.0

struct conn {
	struct rp_index *ix;
	struct conn *next;
	double idle_since;        /* now_monotonic() when put back */
};

struct ui_local {
	struct ui_source base;
	struct rp_store st;
	pthread_mutex_t lock;     /* guards idle and stopping */
	pthread_mutex_t opening;  /* one index_open at a time: a first open may build the index */
	struct conn *idle;        /* most recently used first */
	pthread_cond_t tick;      /* wakes the reaper to stop */
	bool stopping;
	bool reaping;             /* the reaper thread runs */
	pthread_t reaper;
	struct index_memo *memo;  /* counts and columns, shared by the connections */
};

/* ---- errors ---- */

bool ui_err_is_not_found(const struct rp_err *err)
{
	return err && err->kind == RP_ERR_USAGE && !strncmp(err->msg, UI_NOT_FOUND_PREFIX, strlen(UI_NOT_FOUND_PREFIX));
}

int ui_err_not_found(struct rp_err *err, const char *what, const char *name)
{
	return rp_err_set(err, RP_ERR_USAGE, UI_NOT_FOUND_PREFIX "%s '%.200s'", what, name);
}

/* ---- connections ---- */

static struct conn *conn_get(struct ui_local *u, struct rp_err *err)
{
	pthread_mutex_lock(&u->lock);
	struct conn *c = u->idle;
	if (c)
		u->idle = c->next;
	pthread_mutex_unlock(&u->lock);
	if (!c) {
		struct rp_index *ix = NULL;
		struct rp_err why = {0};
		pthread_mutex_lock(&u->opening);
		int rc = index_open(&u->st, &ix, &why);
		pthread_mutex_unlock(&u->opening);
		if (rc < 0 || !ix) {
			if (rc < 0)
				*err = why;
			else
				rp_err_set(err, RP_ERR_RUNTIME, "the run index cannot be used in %s%s%s", u->st.home,
					   why.msg[0] ? ": " : "", why.msg);
			return NULL;
		}
		index_memo_share(ix, u->memo);
		c = xcalloc(1, sizeof *c);
		c->ix = ix;
		return c;
	}
	if (index_refresh(c->ix, err) < 0) {
		index_close(c->ix);
		free(c);
		return NULL;
	}
	return c;
}

static void conn_put(struct ui_local *u, struct conn *c)
{
	c->idle_since = now_monotonic();
	pthread_mutex_lock(&u->lock);
	c->next = u->idle;
	u->idle = c;
	pthread_mutex_unlock(&u->lock);
}

/* Close the connections idle for IDLE_CLOSE_S, once a second, until the source closes. */
static void *reaper(void *arg)
{
	struct ui_local *u = arg;
	pthread_mutex_lock(&u->lock);
	while (!u->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&u->tick, &u->lock, &ts);
		/* the list is most recent first: the old ones are its tail */
		double now = now_monotonic();
		struct conn **p = &u->idle, *old = NULL;
		while (*p && now - (*p)->idle_since < IDLE_CLOSE_S)
			p = &(*p)->next;
		old = *p;
		*p = NULL;
		pthread_mutex_unlock(&u->lock);
		for (struct conn *c = old, *nx; c; c = nx) {
			nx = c->next;
			index_close(c->ix);
			free(c);
		}
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* ---- reading one run ---- */

int ui_load_run(const struct rp_store *st, const char *id, struct rp_run *r, char **dir, struct rp_err *err)
{
	long num = id ? store_id_number(id) : -1;
	char canon[RP_ID_MAX];
	if (num < 0 || strlen(id) >= RP_ID_MAX)
		return ui_err_not_found(err, "run", id ? id : "");
	store_format_id(num, canon);
	if (strcmp(canon, id))
		return ui_err_not_found(err, "run", id);
	*dir = store_run_dir(st, id);
	struct stat sb;
	if (lstat(*dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		free(*dir);
		*dir = NULL;
		return ui_err_not_found(err, "run", id);
	}
	struct rp_err why = {0};
	int res = runs_read_dir(*dir, r, &why);
	if (res == RUNS_READ_OK) {
		runs_status_now(*dir, r);
		return 0;
	}
	free(*dir);
	*dir = NULL;
	if (res == RUNS_READ_BEING_MADE)
		return ui_err_not_found(err, "run", id);
	*err = why;
	err->kind = RP_ERR_RUNTIME;
	return -1;
}

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static void add_time(cJSON *o, const char *key, double t)
{
	if (t > 0 && isfinite(t))
		cJSON_AddNumberToObject(o, key, t);
}

cJSON *ui_row_from_record(const char *dir, const struct rp_run *r)
{
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "id", r->id ? r->id : "");
	cJSON_AddItemToObject(row, "name", str_or_null(r->name));
	cJSON_AddStringToObject(row, "status", status_name(r->status));
	cJSON_AddItemToObject(row, "reason", str_or_null(r->reason));
	add_time(row, "created", r->created_at);
	add_time(row, "started", r->started_at);
	if (r->duration_s >= 0 && !status_live(r->status))
		cJSON_AddNumberToObject(row, "duration", r->duration_s);
	if (r->has_exit_code)
		cJSON_AddNumberToObject(row, "exit_code", r->exit_code);
	struct rp_annotations a;
	struct rp_err ignored = {0};
	struct strvec tags = {0};
	if (annotations_read(dir, &a, &ignored) == 0)
		annotations_tags(&a, r->tags, &tags);
	annotations_free(&a);
	cJSON *t = cJSON_AddArrayToObject(row, "tags");
	for (size_t i = 0; i < tags.n; i++)
		cJSON_AddItemToArray(t, cJSON_CreateString(tags.v[i]));
	strvec_free(&tags);
	cJSON *values = cJSON_AddObjectToObject(row, "values");
	for (const cJSON *p = cJSON_IsObject(r->params) ? r->params->child : NULL; p; p = p->next) {
		char *k = xasprintf("params.%s", p->string);
		cJSON_AddItemToObject(values, k, cJSON_Duplicate(p, true));
		free(k);
	}
	struct mx_set ms = {0};
	if (mx_read_summary(dir, r, &ms, &ignored) == 0)
		for (size_t i = 0; i < ms.n; i++) {
			char *k = xasprintf("metrics.%s", ms.v[i].name);
			double v = ms.v[i].sum.last;
			cJSON_AddItemToObject(values, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
			free(k);
		}
	mx_set_free(&ms);
	return row;
}

/* ---- runs ---- */

static cJSON *row_json(const struct index_row *r)
{
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "id", r->id);
	cJSON_AddItemToObject(row, "name", str_or_null(r->name));
	cJSON_AddStringToObject(row, "status", r->status);
	cJSON_AddItemToObject(row, "reason", str_or_null(r->reason));
	add_time(row, "created", r->created);
	add_time(row, "started", r->started);
	if (r->duration >= 0)
		cJSON_AddNumberToObject(row, "duration", r->duration);
	if (r->has_exit_code)
		cJSON_AddNumberToObject(row, "exit_code", r->exit_code);
	cJSON *t = cJSON_AddArrayToObject(row, "tags");
	for (size_t i = 0; i < r->tags.n; i++)
		cJSON_AddItemToArray(t, cJSON_CreateString(r->tags.v[i]));
	cJSON_AddItemToObject(row, "values", r->values ? cJSON_Duplicate(r->values, true) : cJSON_CreateObject());
	return row;
}

/* A store without runs yet: an empty table (a bad query is still one). */
static int empty_runs(const struct ui_runs_query *q, cJSON **out, struct rp_err *err)
{
	struct where_sql ws = {0};
	if (q->where && *q->where && where_compile(q->where, now_realtime(), &ws, err) < 0)
		return -1;
	where_sql_free(&ws);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddArrayToObject(o, "runs");
	cJSON_AddNullToObject(o, "next");
	cJSON_AddObjectToObject(o, "counts");
	cJSON *cols = cJSON_AddObjectToObject(o, "columns");
	cJSON_AddArrayToObject(cols, "params");
	cJSON_AddArrayToObject(cols, "metrics");
	*out = o;
	return 0;
}

static int local_runs(struct ui_source *s, const struct ui_runs_query *q, cJSON **out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	long limit = q->limit ? q->limit : 50;
	if (limit < 1 || limit > UI_PAGE_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "limit: from 1 to %d", UI_PAGE_MAX);
	if (!path_is_dir(u->st.runs_dir))
		return empty_runs(q, out, err);
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	struct index_page_query pq = {q->where, q->sort, q->after, limit, q->columns, q->ncolumns};
	struct index_row *rows = NULL;
	size_t n = 0;
	char *next = NULL;
	cJSON *counts = NULL, *columns = NULL;
	int rc = -1;
	if (index_page(c->ix, &pq, &rows, &n, &next, err) == 0 && index_counts(c->ix, q->where, &counts, err) == 0 &&
	    index_columns(c->ix, &columns, err) == 0) {
		cJSON *o = cJSON_CreateObject();
		cJSON *arr = cJSON_AddArrayToObject(o, "runs");
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, row_json(&rows[i]));
		cJSON_AddItemToObject(o, "next", str_or_null(next));
		cJSON_AddItemToObject(o, "counts", counts);
		cJSON_AddItemToObject(o, "columns", columns);
		counts = columns = NULL;
		*out = o;
		rc = 0;
	}
	cJSON_Delete(counts);
	cJSON_Delete(columns);
	index_rows_free(rows, n);
	free(next);
	conn_put(u, c);
	return rc;
}

/* ---- run ---- */

/* outputs/: regular files, recursively, without following symlinks. */
static void list_outputs(int dirfd, const char *prefix, cJSON *arr, size_t *count, int depth)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *de;
	while (*count < OUTPUTS_MAX && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat sb;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *path = *prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
		if (S_ISREG(sb.st_mode)) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "path", path);
			cJSON_AddNumberToObject(e, "size", (double)sb.st_size);
			cJSON_AddNumberToObject(e, "mtime", (double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9);
			cJSON_AddItemToArray(arr, e);
			(*count)++;
		} else if (S_ISDIR(sb.st_mode) && depth < 64) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				list_outputs(sub, path, arr, count, depth + 1);
		}
		free(path);
	}
	closedir(d);
}

/* A live run's record has no metrics summary yet: the one of its series so far, so its charts
 * can be drawn while it runs. */
static void add_metrics_now(cJSON *o, const char *dir)
{
	struct mx_set set = {0};
	struct rp_err ignored = {0};
	if (mx_read_series(dir, &set, &ignored) < 0)
		return;
	cJSON *now = cJSON_AddObjectToObject(o, "metrics_now");
	for (size_t i = 0; i < set.n; i++) {
		const struct mx_summary *m = &set.v[i].sum;
		cJSON *e = cJSON_AddObjectToObject(now, set.v[i].name);
		cJSON_AddItemToObject(e, "last", mx_value_json(m->last));
		cJSON_AddItemToObject(e, "min", mx_value_json(m->min));
		cJSON_AddItemToObject(e, "max", mx_value_json(m->max));
		cJSON_AddNumberToObject(e, "count", (double)m->count);
		cJSON_AddNumberToObject(e, "last_step", (double)m->last_step);
	}
	mx_set_free(&set);
}

static cJSON *run_answer(const char *dir, const struct rp_run *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *rec = record_to_json(r);
	struct rp_annotations a;
	struct rp_err ignored = {0};
	if (annotations_read(dir, &a, &ignored) == 0)
		annotations_apply_json(&a, rec);
	annotations_free(&a);
	cJSON_AddItemToObject(o, "run", rec);
	cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
	char *op = path_join(dir, "outputs");
	int fd = open(op, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(op);
	size_t count = 0;
	if (fd >= 0)
		list_outputs(fd, "", outs, &count, 0);
	if (count >= OUTPUTS_MAX)
		cJSON_AddBoolToObject(o, "outputs_truncated", true);
	if (status_live(r->status))
		add_metrics_now(o, dir);
	char *lp = path_join(dir, "logs.txt");
	struct stat sb;
	cJSON_AddNumberToObject(o, "log_size", stat(lp, &sb) == 0 ? (double)sb.st_size : 0);
	free(lp);
	return o;
}

static int local_run(struct ui_source *s, const char *id, cJSON **out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	struct rp_run r;
	char *dir;
	if (ui_load_run(&u->st, id, &r, &dir, err) < 0)
		return -1;
	*out = run_answer(dir, &r);
	record_free(&r);
	free(dir);
	return 0;
}

/* ---- metric ---- */

static int local_metric(struct ui_source *s, const char *id, const char *name, double from, double to, int max_points,
			cJSON **out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	struct rp_run r;
	char *dir;
	if (ui_load_run(&u->st, id, &r, &dir, err) < 0)
		return -1;
	record_free(&r);
	struct mx_set set = {0};
	int rc = mx_read_series(dir, &set, err);
	free(dir);
	if (rc < 0)
		return -1;
	const struct mx_series *ser = name ? mx_set_find(&set, name) : NULL;
	if (!ser)
		rc = ui_err_not_found(err, "metric", name ? name : "");
	else
		*out = ui_series_json(ser, from, to, max_points);
	mx_set_free(&set);
	return rc;
}

/* ---- log ---- */

/* Bytes that JSON text can carry: NUL as '?', and a UTF-8 character cut at the end left for the
 * next read. Returns the length kept. */
static size_t log_text_clean(char *buf, size_t n, bool at_end)
{
	for (size_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = '?';
	if (at_end)
		return n;
	size_t i = n, back = 0;
	while (i > 0 && back < 4 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0xC0) {
		unsigned char lead = (unsigned char)buf[i - 1];
		size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
		if (back + 1 < need)
			return i - 1;
	}
	return n;
}

int ui_log_answer(int fd, long long size, bool running, long long offset, size_t max, const char *id, cJSON **out,
		  struct rp_err *err)
{
	if (max == 0)
		max = LOG_DEFAULT_BYTES;
	if (max > LOG_MAX_BYTES)
		max = LOG_MAX_BYTES;
	long long start = offset;
	bool tail = offset < 0;
	if (tail)
		start = size + offset > 0 ? size + offset : 0;
	if (start > size)
		start = size;
	size_t want = (size_t)(size - start) < max ? (size_t)(size - start) : max;
	char *buf = xmalloc(want + 1);
	ssize_t got = 0;
	if (fd >= 0 && want) {
		got = pread(fd, buf, want, start);
		if (got < 0) {
			free(buf);
			return rp_err_sys(err, "cannot read the log of %s", id);
		}
	}
	size_t skip = 0, len = (size_t)got;
	/* the tail starts at a line: after the first newline in it, unless that is the whole of it */
	if (tail && start > 0 && len) {
		char *nl = memchr(buf, '\n', len);
		if (nl && (size_t)(nl - buf) + 1 < len)
			skip = (size_t)(nl - buf) + 1;
	}
	size_t keep = log_text_clean(buf + skip, len - skip, start + (long long)len >= size && !running);
	buf[skip + keep] = '\0';
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "text", buf + skip);
	cJSON_AddNumberToObject(o, "offset", (double)(start + (long long)skip));
	cJSON_AddNumberToObject(o, "next", (double)(start + (long long)skip + (long long)keep));
	cJSON_AddNumberToObject(o, "size", (double)size);
	cJSON_AddBoolToObject(o, "running", running);
	free(buf);
	*out = o;
	return 0;
}

static int local_log(struct ui_source *s, const char *id, long long offset, size_t max, cJSON **out,
		     struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	struct rp_run r;
	char *dir;
	if (ui_load_run(&u->st, id, &r, &dir, err) < 0)
		return -1;
	bool running = status_live(r.status);
	record_free(&r);
	char *lp = path_join(dir, "logs.txt");
	free(dir);
	int fd = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(lp);
	long long size = 0;
	struct stat sb;
	if (fd >= 0 && fstat(fd, &sb) == 0)
		size = sb.st_size;
	else if (fd < 0 && errno != ENOENT)
		return rp_err_sys(err, "cannot read the log of %s", id);
	int rc = ui_log_answer(fd, size, running, offset, max, id, out, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- output ---- */

bool ui_output_path_ok(const char *path, size_t len)
{
	if (!path || !len || len != strlen(path) || len >= PATH_MAX || path[0] == '/')
		return false;
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* openat2 beneath dirfd; -1 with errno ENOSYS where the kernel has none. */
static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Without openat2: one component at a time, never through a symlink. */
static int open_walk(int dirfd, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;
	int fd = dup(dirfd);
	for (char *part = strtok_r(copy, "/", &save); part && fd >= 0;) {
		char *rest = strtok_r(NULL, "/", &save);
		int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | (rest ? O_DIRECTORY : 0);
		int nfd = openat(fd, part, flags);
		int e = errno;
		close(fd);
		errno = e;
		fd = nfd;
		part = rest;
	}
	free(copy);
	return fd;
}

static int local_output(struct ui_source *s, const char *id, const char *path, struct ui_output *out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	out->fd = -1;
	out->name = NULL;
	if (!ui_output_path_ok(path, path ? strlen(path) : 0))
		return ui_err_not_found(err, "output", path ? path : "");
	struct rp_run r;
	char *dir;
	if (ui_load_run(&u->st, id, &r, &dir, err) < 0)
		return -1;
	record_free(&r);
	char *op = path_join(dir, "outputs");
	free(dir);
	int dfd = open(op, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(op);
	if (dfd < 0)
		return ui_err_not_found(err, "output", path);
	int fd = open_beneath(dfd, path);
	if (fd < 0 && errno == ENOSYS)
		fd = open_walk(dfd, path);
	int e = errno;
	close(dfd);
	if (fd < 0) {
		if (e == ENOENT || e == EXDEV || e == ELOOP || e == ENOTDIR || e == EACCES || e == EPERM || e == ENXIO)
			return ui_err_not_found(err, "output", path);
		errno = e;
		return rp_err_sys(err, "cannot open output %s of %s", path, id);
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ui_err_not_found(err, "output", path);
	}
	/* O_NONBLOCK kept a FIFO from blocking the open: a regular file reads the same without it */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	const char *base = strrchr(path, '/');
	out->fd = fd;
	out->size = sb.st_size;
	out->name = xstrdup(base ? base + 1 : path);
	return 0;
}

/* ---- compare ---- */

static int local_compare(struct ui_source *s, char **ids, size_t n, cJSON **out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	return ui_compare_runs(&u->st, ids, n, out, err);
}

/* ---- annotate ---- */

struct change_ctx {
	const cJSON *tags;
	const cJSON *note;
};

static void apply_change(struct rp_annotations *a, void *ctx)
{
	struct change_ctx *c = ctx;
	for (const cJSON *t = c->tags ? c->tags->child : NULL; t; t = t->next)
		annotations_tag(a, t->valuestring);
	if (c->note) {
		free(a->note);
		a->note = *c->note->valuestring ? xstrdup(c->note->valuestring) : NULL;
	}
}

int ui_annotation_change(const cJSON *change, const cJSON **tags, const cJSON **note, struct rp_err *err)
{
	if (!cJSON_IsObject(change))
		return rp_err_set(err, RP_ERR_USAGE, "annotations: a JSON object {\"tags\": [...], \"note\": \"...\"}");
	*tags = cJSON_GetObjectItemCaseSensitive(change, "tags");
	*note = cJSON_GetObjectItemCaseSensitive(change, "note");
	for (const cJSON *k = change->child; k; k = k->next)
		if (strcmp(k->string, "tags") && strcmp(k->string, "note"))
			return rp_err_set(err, RP_ERR_USAGE, "annotations: unknown field '%.100s' (tags, note)", k->string);
	if (*tags && !cJSON_IsArray(*tags))
		return rp_err_set(err, RP_ERR_USAGE, "annotations: tags is a list of \"+tag\" and \"-tag\"");
	for (const cJSON *t = *tags ? (*tags)->child : NULL; t; t = t->next)
		if (!cJSON_IsString(t) || annotations_check_tag(t->valuestring, err) < 0)
			return cJSON_IsString(t) ? -1 : rp_err_set(err, RP_ERR_USAGE, "annotations: a tag is a string");
	if (*note && (!cJSON_IsString(*note) || annotations_check_note((*note)->valuestring, err) < 0))
		return cJSON_IsString(*note) ? -1 : rp_err_set(err, RP_ERR_USAGE, "annotations: note is a string");
	return 0;
}

static int local_annotate(struct ui_source *s, const char *id, const cJSON *change, cJSON **out, struct rp_err *err)
{
	struct ui_local *u = (struct ui_local *)s;
	struct change_ctx c;
	if (ui_annotation_change(change, &c.tags, &c.note, err) < 0)
		return -1;
	/* the run by its id in this store, never by a name or "last" */
	struct rp_run r;
	char *dir;
	if (ui_load_run(&u->st, id, &r, &dir, err) < 0)
		return -1;
	record_free(&r);
	free(dir);
	if (annotate_run(id, apply_change, &c, err) < 0)
		return -1;
	return local_run(s, id, out, err);
}

/* ---- the source ---- */

static void local_close(struct ui_source *s)
{
	struct ui_local *u = (struct ui_local *)s;
	if (!u)
		return;
	if (u->reaping) {
		pthread_mutex_lock(&u->lock);
		u->stopping = true;
		pthread_cond_broadcast(&u->tick);
		pthread_mutex_unlock(&u->lock);
		pthread_join(u->reaper, NULL);
	}
	for (struct conn *c = u->idle, *nx; c; c = nx) {
		nx = c->next;
		index_close(c->ix);
		free(c);
	}
	index_memo_free(u->memo);
	pthread_cond_destroy(&u->tick);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->opening);
	store_close(&u->st);
	free(u);
}

static const struct ui_source_ops local_ops = {
	.runs = local_runs,
	.run = local_run,
	.metric = local_metric,
	.log = local_log,
	.output = local_output,
	.compare = local_compare,
	.annotate = local_annotate,
	.close = local_close,
};

int ui_source_local_open(struct ui_source **out, struct rp_err *err)
{
	struct ui_local *u = xcalloc(1, sizeof *u);
	u->base.ops = &local_ops;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->opening, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->tick, &ca);
	pthread_condattr_destroy(&ca);
	u->memo = index_memo_new();
	if (store_open(&u->st, false, err) < 0) {
		index_memo_free(u->memo);
		pthread_cond_destroy(&u->tick);
		pthread_mutex_destroy(&u->lock);
		pthread_mutex_destroy(&u->opening);
		free(u);
		return -1;
	}
	/* the first connection now: the index is built (or brought in step) before serving */
	struct conn *c = path_is_dir(u->st.runs_dir) ? conn_get(u, err) : NULL;
	if (!c && path_is_dir(u->st.runs_dir)) {
		local_close(&u->base);
		return -1;
	}
	if (c)
		conn_put(u, c);
	u->reaping = pthread_create(&u->reaper, NULL, reaper, u) == 0;
	*out = &u->base;
	return 0;
}
