/* sync_client.c: push and pull over HTTP (include/sync_client.h): the client's sequence of the
 * server's sync routes, the cache of content hashes that lets an unchanged re-push skip building
 * payloads, and the fetch of a project's runs into $RUNPILOT_HOME/remote/. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "sync.h"
#include "sync_client.h"
#include "util.h"

#define BATCH 200        /* runs prepared, asked about and pushed together */
#define MISSING_MAX 1000 /* runs asked about in one request (the server's limit) */
#define JOBS_DEFAULT 4

const char *sync_result_name(enum sync_result r)
{
	static const char *const names[] = {"new", "updated", "unchanged", "conflict", "forced", "failed"};
	return r < SYNC_NRESULTS ? names[r] : "?";
}

/* ---- the content hash cache: home/sync/hashes.json {dir: {state, uid, revision, hash}} ---- */

/* What the payload is made of, as sizes and change times: a run whose files did not change has
 * the same payload. */
static char *files_state(const char *dir)
{
	static const char *const names[] = {"run.json", "annotations.json", "metrics.jsonl", "metrics.json",
					    "logs.txt", "config.yaml", "params.json", "outputs"};
	struct strvec parts = {0};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *p = path_join(dir, names[i]);
		struct stat st;
		if (lstat(p, &st) == 0)
			strvec_pushf(&parts, "%lld.%ld.%ld", (long long)st.st_size, (long)st.st_mtim.tv_sec,
				     st.st_mtim.tv_nsec);
		else
			strvec_push(&parts, "-");
		free(p);
	}
	char *s = strvec_join(&parts, ",");
	strvec_free(&parts);
	return s;
}

static cJSON *cache_load(const char *home)
{
	char *path = xasprintf("%s/sync/hashes.json", home);
	char *text = NULL;
	size_t n = 0;
	struct rp_err ignored = {0};
	cJSON *j = path_exists(path) && read_file(path, &text, &n, &ignored) == 0 ? cJSON_ParseWithLength(text, n) : NULL;
	free(text);
	free(path);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = cJSON_CreateObject();
	}
	return j;
}

/* The cache is only a shortcut: a failure to keep it is no failure of the push. */
static void cache_save(const char *home, const cJSON *cache)
{
	char *dir = xasprintf("%s/sync", home);
	char *path = xasprintf("%s/hashes.json", dir);
	char *text = cJSON_PrintUnformatted(cache);
	struct rp_err ignored = {0};
	if (mkdir_p(dir, 0700, &ignored) == 0)
		write_file_atomic(path, text, strlen(text), 0600, &ignored);
	free(text);
	free(path);
	free(dir);
}

/* ---- one run's push ---- */

struct run {
	const char *label, *dir;
	char *state;
	char *uid, *hash;
	long long revision;
	char *payload;          /* the payload's text, when built */
	cJSON *manifest;        /* its manifest (detached from the payload) */
	bool cached;            /* uid, revision, hash from the cache */
	bool skip;              /* the server has it (same) or it failed already */
	enum sync_result result;
	char *message;
};

struct job {
	const struct sync_target *t;
	const struct sync_push_opts *o;
	struct run *runs;
	size_t n;
	size_t next;
	pthread_mutex_t lock;
	void (*step)(struct job *j, struct run *r);
};

static void fail_run(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_run(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(r->message);
	r->message = m ? m : xstrdup("failed");
	r->result = SYNC_FAILED;
	r->skip = true;
}

static int build(struct run *r)
{
	cJSON *p = NULL;
	struct rp_err err = {0};
	if (sync_payload_build(r->dir, &p, &err) < 0) {
		fail_run(r, "%s", err.msg);
		return -1;
	}
	free(r->uid);
	free(r->hash);
	r->uid = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "uid")));
	r->hash = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "content_hash")));
	r->revision = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "revision"));
	free(r->payload);
	r->payload = cJSON_PrintUnformatted(p);
	cJSON_Delete(r->manifest);
	r->manifest = cJSON_DetachItemFromObjectCaseSensitive(p, "manifest");
	cJSON_Delete(p);
	r->cached = false;
	return 0;
}

/* Phase 1: uid, revision and hash, from the cache when the files did not change. */
static void prepare(struct job *j, struct run *r)
{
	(void)j;
	if (!r->cached)
		build(r);
}

/* The server's {"error": ...} of an answer, or its status. */
static char *answer_message(long status, const char *answer)
{
	cJSON *a = cJSON_Parse(answer);
	const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "error"));
	char *m = e ? xstrdup(e) : xasprintf("the server answered %ld", status);
	cJSON_Delete(a);
	return m;
}

static char *project_path(const struct sync_target *t, const char *rest)
{
	return xasprintf("/api/v1/projects/%s%s", t->project, rest);
}

/* Upload the blobs of r's manifest the server lacks. */
static int upload_blobs(const struct sync_target *t, struct run *r)
{
	cJSON *ask = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(ask, "blobs");
	for (const cJSON *e = r->manifest ? r->manifest->child : NULL; e; e = e->next)
		cJSON_AddItemToArray(list, cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"))));
	char *body = cJSON_PrintUnformatted(ask);
	cJSON_Delete(ask);
	char *path = project_path(t, "/blobs/missing"), *answer = NULL;
	long status = 0;
	struct rp_err err = {0};
	int rc = srv_client_call("POST", t->server, path, t->token, body, &status, &answer, &err);
	free(body);
	free(path);
	if (rc < 0) {
		fail_run(r, "%s", err.msg);
		return -1;
	}
	if (status != 200) {
		char *m = answer_message(status, answer);
		fail_run(r, "blobs: %s", m);
		free(m);
		free(answer);
		return -1;
	}
	cJSON *a = cJSON_Parse(answer);
	free(answer);
	const cJSON *missing = cJSON_GetObjectItemCaseSensitive(a, "missing");
	for (const cJSON *m = missing ? missing->child : NULL; m && !r->skip; m = m->next) {
		const char *sha = cJSON_GetStringValue(m);
		const cJSON *e = NULL;
		for (e = r->manifest ? r->manifest->child : NULL; e; e = e->next)
			if (sha && !strcmp(sha, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"))))
				break;
		if (!e)
			continue;
		const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
		uint64_t size = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "size"));
		char *file = path_join(r->dir, rel);
		int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fail_run(r, "cannot open %s: %s", file, strerror(errno));
			free(file);
			break;
		}
		char *bpath = xasprintf("/api/v1/projects/%s/blobs/%s", t->project, sha);
		rc = srv_client_put_file(t->server, bpath, t->token, fd, size, &status, &answer, &err);
		close(fd);
		free(bpath);
		if (rc < 0)
			fail_run(r, "%s", err.msg);
		else if (status != 200 && status != 201) {
			char *msg = answer_message(status, answer);
			fail_run(r, "%s: %s", rel, msg);
			free(msg);
		}
		if (rc == 0)
			free(answer);
		free(file);
	}
	cJSON_Delete(a);
	return r->skip ? -1 : 0;
}

/* Phase 2: a run the server lacks or has stale: its blobs, then the run itself. */
static void push_one(struct job *j, struct run *r)
{
	if (r->skip)
		return;
	if (!r->payload && build(r) < 0)
		return;
	if (upload_blobs(j->t, r) < 0)
		return;
	char *path = project_path(j->t, j->o->force ? "/runs?force=1" : "/runs"), *answer = NULL;
	long status = 0;
	struct rp_err err = {0};
	if (srv_client_call("POST", j->t->server, path, j->t->token, r->payload, &status, &answer, &err) < 0) {
		fail_run(r, "%s", err.msg);
		free(path);
		return;
	}
	free(path);
	cJSON *a = cJSON_Parse(answer);
	const char *outcome = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "outcome"));
	if (status == 409) {
		r->result = SYNC_CONFLICT;
		r->message = answer_message(status, answer);
	} else if ((status == 200 || status == 201) && outcome) {
		r->result = !strcmp(outcome, "new") ? SYNC_NEW : !strcmp(outcome, "updated") ? SYNC_UPDATED
			    : !strcmp(outcome, "forced") ? SYNC_FORCED : SYNC_UNCHANGED;
	} else {
		char *m = answer_message(status, answer);
		fail_run(r, "%s", m);
		free(m);
	}
	cJSON_Delete(a);
	free(answer);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n)
			return NULL;
		j->step(j, &j->runs[i]);
	}
}

/* step over every run, on jobs threads. */
static void run_parallel(struct job *j, void (*step)(struct job *, struct run *), int jobs)
{
	j->step = step;
	j->next = 0;
	pthread_t th[16];
	int started = 0;
	for (int i = 1; i < jobs && i < 16; i++)
		if (pthread_create(&th[started], NULL, worker, j) == 0)
			started++;
	worker(j);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* Ask the server the state of each run not skipped; -1 with err when it cannot be asked. */
static int ask_missing(const struct sync_target *t, struct run *runs, size_t n, struct rp_err *err)
{
	for (size_t from = 0; from < n; from += MISSING_MAX) {
		size_t to = from + MISSING_MAX < n ? from + MISSING_MAX : n;
		cJSON *ask = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(ask, "runs");
		for (size_t i = from; i < to; i++) {
			if (runs[i].skip)
				continue;
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "uid", runs[i].uid);
			cJSON_AddNumberToObject(x, "revision", (double)runs[i].revision);
			cJSON_AddStringToObject(x, "content_hash", runs[i].hash);
			cJSON_AddItemToArray(list, x);
		}
		char *body = cJSON_PrintUnformatted(ask);
		cJSON_Delete(ask);
		char *path = project_path(t, "/runs/missing"), *answer = NULL;
		long status = 0;
		int rc = srv_client_call("POST", t->server, path, t->token, body, &status, &answer, err);
		free(body);
		free(path);
		if (rc < 0)
			return -1;
		if (status != 200) {
			char *m = answer_message(status, answer);
			free(answer);
			rp_err_set(err, status == 401 || status == 403 || status == 404 ? RP_ERR_USAGE : RP_ERR_RUNTIME,
				   "%s (project %s): %s", t->server, t->project, m);
			free(m);
			return -1;
		}
		cJSON *a = cJSON_Parse(answer);
		free(answer);
		const cJSON *states = cJSON_GetObjectItemCaseSensitive(a, "runs");
		const cJSON *s = states ? states->child : NULL;
		for (size_t i = from; i < to && s; i++) {
			if (runs[i].skip)
				continue;
			const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "state"));
			if (st && !strcmp(st, "same")) {
				runs[i].result = SYNC_UNCHANGED;
				runs[i].skip = true;
			}
			s = s->next;
		}
		cJSON_Delete(a);
	}
	return 0;
}

static void run_free(struct run *r)
{
	free(r->state);
	free(r->uid);
	free(r->hash);
	free(r->payload);
	cJSON_Delete(r->manifest);
	free(r->message);
}

int sync_push(const struct sync_target *t, const char *const *labels, const char *const *dirs, size_t n,
	      const struct sync_push_opts *o, unsigned counts[SYNC_NRESULTS], struct rp_err *err)
{
	memset(counts, 0, SYNC_NRESULTS * sizeof *counts);
	cJSON *cache = cache_load(o->home);
	int jobs = o->jobs > 0 ? o->jobs : JOBS_DEFAULT;
	int rc = 0;
	for (size_t from = 0; from < n && rc == 0; from += BATCH) {
		size_t m = n - from < BATCH ? n - from : BATCH;
		struct run *runs = xcalloc(m, sizeof *runs);
		for (size_t i = 0; i < m; i++) {
			struct run *r = &runs[i];
			r->label = labels[from + i];
			r->dir = dirs[from + i];
			r->state = files_state(r->dir);
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(cache, r->dir);
			const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "state"));
			if (st && !strcmp(st, r->state)) {
				r->uid = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "uid")));
				r->hash = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "hash")));
				r->revision = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "revision"));
				r->cached = r->uid[0] && r->hash[0];
			}
		}
		struct job j = {.t = t, .o = o, .runs = runs, .n = m};
		pthread_mutex_init(&j.lock, NULL);
		run_parallel(&j, prepare, jobs);
		for (size_t i = 0; i < m; i++) {
			struct run *r = &runs[i];
			if (r->skip || r->cached)
				continue;
			cJSON_DeleteItemFromObjectCaseSensitive(cache, r->dir);
			cJSON *c = cJSON_AddObjectToObject(cache, r->dir);
			cJSON_AddStringToObject(c, "state", r->state);
			cJSON_AddStringToObject(c, "uid", r->uid);
			cJSON_AddNumberToObject(c, "revision", (double)r->revision);
			cJSON_AddStringToObject(c, "hash", r->hash);
		}
		rc = ask_missing(t, runs, m, err);
		if (rc == 0)
			run_parallel(&j, push_one, jobs);
		pthread_mutex_destroy(&j.lock);
		for (size_t i = 0; i < m && rc == 0; i++) {
			struct run *r = &runs[i];
			counts[r->result]++;
			struct sync_event ev = {r->label, r->uid, r->result, r->message};
			if (o->on_run)
				o->on_run(o->ctx, &ev);
		}
		for (size_t i = 0; i < m; i++)
			run_free(&runs[i]);
		free(runs);
	}
	cache_save(o->home, cache);
	cJSON_Delete(cache);
	return rc;
}

/* ---- pull ---- */

char *sync_remote_dir(const char *home, const char *server, const char *project)
{
	const char *host = strstr(server, "://");
	host = host ? host + 3 : server;
	size_t n = strcspn(host, "/");
	return xasprintf("%s/remote/%.*s/%s", home, (int)n, host, project);
}

/* s for a URL's query: everything but unreserved characters as %XX. */
static char *url_escape(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	return out;
}

/* A GET of path as JSON: 0 with *out, -1 with err (the server's message). */
static int get_json(const struct sync_target *t, const char *path, cJSON **out, struct rp_err *err)
{
	char *answer = NULL;
	long status = 0;
	if (srv_client_call("GET", t->server, path, t->token, NULL, &status, &answer, err) < 0)
		return -1;
	if (status != 200) {
		char *m = answer_message(status, answer);
		free(answer);
		rp_err_set(err, status == 401 || status == 403 || status == 404 ? RP_ERR_USAGE : RP_ERR_RUNTIME,
			   "%s (project %s): %s", t->server, t->project, m);
		free(m);
		return -1;
	}
	*out = cJSON_Parse(answer);
	free(answer);
	if (!*out)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: the answer to %s is not JSON", t->server, path);
	return 0;
}

static int write_json(const char *dir, const char *name, const cJSON *j, struct rp_err *err)
{
	char *path = path_join(dir, name);
	char *text = cJSON_Print(j);
	int rc = write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	free(path);
	return rc;
}

/* One run into dir/<uid>/: run.json, metrics.json, manifest.json, content_hash; unchanged
 * content is not written again. */
static int pull_one(const struct sync_target *t, const char *base, const char *uid, struct rp_err *err)
{
	char *path = xasprintf("/api/v1/projects/%s/runs/%s", t->project, uid);
	cJSON *p = NULL;
	int rc = get_json(t, path, &p, err);
	free(path);
	if (rc < 0)
		return -1;
	const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "content_hash"));
	if (!hash || !sync_path_ok(uid)) {
		cJSON_Delete(p);
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: run %s's payload has no content hash", t->server, uid);
	}
	char *dir = path_join(base, uid), *hfile = path_join(dir, "content_hash");
	char *old = NULL;
	size_t n = 0;
	struct rp_err ignored = {0};
	bool same = path_exists(hfile) && read_file(hfile, &old, &n, &ignored) == 0 && !strcmp(old, hash);
	free(old);
	rc = same ? 0 : mkdir_p(dir, 0755, err);
	if (!same && rc == 0)
		rc = write_json(dir, "run.json", cJSON_GetObjectItemCaseSensitive(p, "record"), err);
	if (!same && rc == 0)
		rc = write_json(dir, "metrics.json", cJSON_GetObjectItemCaseSensitive(p, "metrics"), err);
	if (!same && rc == 0)
		rc = write_json(dir, "manifest.json", cJSON_GetObjectItemCaseSensitive(p, "manifest"), err);
	if (!same && rc == 0)
		rc = write_file_atomic(hfile, hash, strlen(hash), 0644, err);
	free(dir);
	free(hfile);
	cJSON_Delete(p);
	return rc;
}

int sync_pull(const char *home, const struct sync_target *t, const char *const *uids, size_t nuids,
	      const char *where, void (*on_run)(void *ctx, const char *uid, const char *dir), void *ctx,
	      unsigned *fetched, struct rp_err *err)
{
	*fetched = 0;
	char *base = sync_remote_dir(home, t->server, t->project);
	struct strvec list = {0};
	int rc = 0;
	for (size_t i = 0; i < nuids; i++)
		strvec_push(&list, uids[i]);
	char *after = NULL;
	while (!nuids && rc == 0) {
		struct strvec q = {0};
		char *w = where ? url_escape(where) : NULL, *a = after ? url_escape(after) : NULL;
		if (w)
			strvec_pushf(&q, "where=%s", w);
		if (a)
			strvec_pushf(&q, "after=%s", a);
		free(w);
		free(a);
		char *query = strvec_join(&q, "&");
		strvec_free(&q);
		char *path = xasprintf("/api/v1/projects/%s/runs%s%s", t->project, *query ? "?" : "", query);
		free(query);
		cJSON *page = NULL;
		rc = get_json(t, path, &page, err);
		free(path);
		if (rc < 0)
			break;
		const cJSON *runs = cJSON_GetObjectItemCaseSensitive(page, "runs");
		for (const cJSON *r = runs ? runs->child : NULL; r; r = r->next)
			strvec_push(&list, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "uid")));
		const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(page, "next"));
		free(after);
		after = next ? xstrdup(next) : NULL;
		cJSON_Delete(page);
		if (!after)
			break;
	}
	free(after);
	for (size_t i = 0; i < list.n && rc == 0; i++) {
		if ((rc = pull_one(t, base, list.v[i], err)) < 0)
			break;
		(*fetched)++;
		if (on_run) {
			char *dir = path_join(base, list.v[i]);
			on_run(ctx, list.v[i], dir);
			free(dir);
		}
	}
	strvec_free(&list);
	free(base);
	return rc;
}

/* ---- the queue ---- */

#define BACKOFF_FIRST_S 30.0
#define BACKOFF_MAX_S 3600.0

struct drain_group {
	const struct sync_push_opts *user;
	struct sync_queued *entries; /* this group's, in the order pushed */
	size_t n;
	enum sync_result *results;
	char **messages;
	size_t seen;
};

static void on_drained(void *ctx, const struct sync_event *ev)
{
	struct drain_group *g = ctx;
	for (size_t i = 0; i < g->n; i++) {
		if (strcmp(g->entries[i].uid, ev->label))
			continue;
		g->results[i] = ev->result;
		free(g->messages[i]);
		g->messages[i] = ev->message ? xstrdup(ev->message) : NULL;
	}
	if (g->user->on_run)
		g->user->on_run(g->user->ctx, ev);
}

/* The entry failed: a later try, with the error. */
static void entry_failed(const char *home, struct sync_queued *e, const char *msg)
{
	e->attempts++;
	double wait = BACKOFF_FIRST_S;
	for (int i = 1; i < e->attempts && wait < BACKOFF_MAX_S; i++)
		wait *= 2;
	e->next_try = now_realtime() + (wait < BACKOFF_MAX_S ? wait : BACKOFF_MAX_S);
	free(e->last_error);
	e->last_error = xstrdup(msg);
	struct rp_err ignored = {0};
	sync_queue_save(home, e, &ignored);
	char *line = xasprintf("%.0f %s (%s, project %s): %s", now_realtime(), e->uid, e->server, e->project, msg);
	sync_note(home, "last-error", line);
	free(line);
}

/* Push one group of entries (the same server and project). */
static void drain_group(const char *home, struct sync_queued *v, size_t n, const struct sync_push_opts *o,
			unsigned counts[SYNC_NRESULTS])
{
	struct rp_err err = {0};
	struct sync_target t = {v[0].server, v[0].project, NULL};
	char *token = srv_cred_token(home, v[0].server, &err);
	unsigned c[SYNC_NRESULTS] = {0};
	struct drain_group g = {o, v, n, xcalloc(n, sizeof *g.results), xcalloc(n, sizeof *g.messages), 0};
	int rc = -1;
	if (token) {
		t.token = token;
		const char **labels = xcalloc(n, sizeof *labels), **dirs = xcalloc(n, sizeof *dirs);
		for (size_t i = 0; i < n; i++) {
			labels[i] = v[i].uid;
			dirs[i] = v[i].run_dir;
			g.results[i] = SYNC_FAILED;
		}
		struct sync_push_opts po = *o;
		po.on_run = on_drained;
		po.ctx = &g;
		rc = sync_push(&t, labels, dirs, n, &po, c, &err);
		free(labels);
		free(dirs);
		memset(token, 0, strlen(token));
		free(token);
	}
	unsigned pushed = 0;
	for (size_t i = 0; i < n; i++) {
		struct rp_err ignored = {0};
		if (rc < 0) {
			entry_failed(home, &v[i], err.msg);
			counts[SYNC_FAILED]++;
			continue;
		}
		counts[g.results[i]]++;
		if (g.results[i] == SYNC_FAILED || g.results[i] == SYNC_CONFLICT) {
			entry_failed(home, &v[i], g.messages[i] ? g.messages[i] : sync_result_name(g.results[i]));
		} else {
			sync_queue_remove(home, v[i].uid, &ignored);
			pushed++;
		}
	}
	if (pushed) {
		char *line = xasprintf("%.0f pushed %u run%s to %s, project %s", now_realtime(), pushed,
				       pushed == 1 ? "" : "s", v[0].server, v[0].project);
		sync_note(home, "last-success", line);
		free(line);
	}
	for (size_t i = 0; i < n; i++)
		free(g.messages[i]);
	free(g.messages);
	free(g.results);
}

int sync_queue_drain(const char *home, bool due_only, const struct sync_push_opts *o, unsigned counts[SYNC_NRESULTS],
		     struct rp_err *err)
{
	memset(counts, 0, SYNC_NRESULTS * sizeof *counts);
	struct sync_queued *v;
	size_t n;
	if (sync_queue_list(home, &v, &n, err) < 0)
		return -1;
	double now = now_realtime();
	bool *done = xcalloc(n ? n : 1, sizeof *done);
	struct sync_queued *group = xcalloc(n ? n : 1, sizeof *group);
	size_t *idx = xcalloc(n ? n : 1, sizeof *idx);
	for (size_t i = 0; i < n; i++) {
		if (done[i] || (due_only && v[i].next_try > now))
			continue;
		size_t m = 0;
		for (size_t k = i; k < n; k++) {
			if (done[k] || (due_only && v[k].next_try > now) || strcmp(v[k].server, v[i].server) ||
			    strcmp(v[k].project, v[i].project))
				continue;
			done[k] = true;
			idx[m] = k;
			group[m++] = v[k];
		}
		drain_group(home, group, m, o, counts);
		for (size_t k = 0; k < m; k++)
			v[idx[k]] = group[k]; /* its error and attempts, to be freed */
	}
	free(idx);
	free(group);
	free(done);
	sync_queue_free(v, n);
	free(v);
	return 0;
}

char *sync_remote_find(const char *home, const char *uid)
{
	if (!sync_path_ok(uid) || strchr(uid, '/'))
		return NULL;
	char *pattern = xasprintf("%s/remote/*/*/%s/run.json", home, uid);
	glob_t g;
	char *dir = NULL;
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc >= 1) {
		const char *p = g.gl_pathv[0];
		dir = xstrndup(p, strlen(p) - strlen("/run.json"));
	}
	globfree(&g);
	free(pattern);
	return dir;
}
