/* sync_routes.c: push and pull over HTTP (docs/server.md, "Sync"): the handlers of the route
 * table's runs and blobs rows. The work is push.c's (server_push.h); here are the bodies, the
 * answers and their statuses. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgdb.h"
#include "server_push.h"
#include "srv_int.h"
#include "util.h"
#include "where.h"

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static struct push_who who_of(struct srv_req *r)
{
	return (struct push_who){r->who.account_id, r->who.name, r->address};
}

/* An error of push.c: the caller's (400) or the server's (500). */
static int push_error(struct srv_req *r, const struct rp_err *err)
{
	if (err->kind == RP_ERR_USAGE)
		return srv_reply_error(r, 400, "%s", err->msg);
	return srv_reply_internal(r, err);
}

/* {"runs": [{uid, revision, content_hash}]} -> {"runs": [{uid, state}]} */
int srv_runs_missing(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const cJSON *runs = cJSON_GetObjectItemCaseSensitive(body, "runs");
	int n = cJSON_GetArraySize(runs);
	if (!cJSON_IsArray(runs) || n > PUSH_ITEMS_MAX) {
		cJSON_Delete(body);
		return srv_reply_error(r, 400, "give \"runs\": an array of at most %d {uid, revision, content_hash}",
				       PUSH_ITEMS_MAX);
	}
	struct push_item *items = xcalloc(n ? (size_t)n : 1, sizeof *items);
	int i = 0;
	for (const cJSON *e = runs->child; e; e = e->next, i++) {
		const cJSON *uid = cJSON_GetObjectItemCaseSensitive(e, "uid");
		const cJSON *rev = cJSON_GetObjectItemCaseSensitive(e, "revision");
		const cJSON *hash = cJSON_GetObjectItemCaseSensitive(e, "content_hash");
		if (!cJSON_IsString(uid) || !cJSON_IsNumber(rev) || !cJSON_IsString(hash)) {
			free(items);
			cJSON_Delete(body);
			return srv_reply_error(r, 400, "runs[%d]: give uid, revision and content_hash", i);
		}
		items[i] = (struct push_item){uid->valuestring, (long long)rev->valuedouble, hash->valuestring, 0};
	}
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	int rc;
	if (!db || push_missing(db, r->project_id, items, (size_t)n, &err) < 0) {
		rc = push_error(r, &err);
	} else {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "runs");
		for (i = 0; i < n; i++) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "uid", items[i].uid);
			cJSON_AddStringToObject(x, "state", push_state_name(items[i].state));
			cJSON_AddItemToArray(a, x);
		}
		rc = srv_reply_json(r, 200, o);
	}
	free(items);
	cJSON_Delete(body);
	return rc;
}

/* {"blobs": [sha256...]} -> {"missing": [sha256...]} */
int srv_blobs_missing(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "blobs");
	int n = cJSON_GetArraySize(list);
	const char **hashes = xcalloc(n ? (size_t)n : 1, sizeof *hashes);
	bool *missing = xcalloc(n ? (size_t)n : 1, sizeof *missing);
	int i = 0, rc;
	bool ok = cJSON_IsArray(list) && n <= PUSH_FILES_MAX;
	for (const cJSON *e = ok ? list->child : NULL; e && ok; e = e->next, i++)
		ok = hex64(cJSON_GetStringValue(e)), hashes[i] = cJSON_GetStringValue(e);
	struct rp_err err = {0};
	struct pg_db *db = ok ? srv_db(r, &err) : NULL;
	if (!ok) {
		rc = srv_reply_error(r, 400, "give \"blobs\": an array of at most %d SHA-256s (64 lowercase hex digits)",
				     PUSH_FILES_MAX);
	} else if (!db || push_blobs_missing(db, r->srv->data_dir, hashes, (size_t)n, missing, &err) < 0) {
		rc = push_error(r, &err);
	} else {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "missing");
		for (i = 0; i < n; i++)
			if (missing[i])
				cJSON_AddItemToArray(a, cJSON_CreateString(hashes[i]));
		rc = srv_reply_json(r, 200, o);
	}
	free(hashes);
	free(missing);
	cJSON_Delete(body);
	return rc;
}

/* PUT .../blobs/{sha256}: the body, spooled by http.c, checked and stored by blob_put. */
int srv_blob_upload(struct srv_req *r)
{
	const char *sha = srv_cap(r, "sha256");
	if (!hex64(sha))
		return srv_reply_error(r, 400, "a blob's name is its SHA-256: 64 lowercase hex digits");
	if (lseek(r->spool_fd, 0, SEEK_SET) < 0) {
		struct rp_err err = {0};
		rp_err_sys(&err, "rewinding an upload");
		return srv_reply_internal(r, &err);
	}
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	bool stored = false;
	if (!db || blob_put(db, r->srv->data_dir, sha, r->spool_fd, r->spooled, r->srv->max_blob, &stored, &err) < 0)
		return push_error(r, &err);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "sha256", sha);
	cJSON_AddBoolToObject(o, "stored", stored);
	return srv_reply_json(r, stored ? 201 : 200, o);
}

/* GET .../blobs/{sha256}: only a blob a run of this project names; as an attachment. */
int srv_blob_download(struct srv_req *r)
{
	const char *sha = srv_cap(r, "sha256");
	if (!hex64(sha))
		return srv_reply_error(r, 404, "not found: %s", r->path);
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", r->project_id);
	const char *p[] = {pid, sha};
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	struct pg_res *res = db ? pg_exec(db,
					  "SELECT 1 FROM run_blobs rb JOIN runs ru ON ru.id = rb.run_id"
					  " WHERE ru.project_id = $1::bigint AND rb.sha256 = $2 LIMIT 1",
					  2, p, &err)
				: NULL;
	if (!res)
		return srv_reply_internal(r, &err);
	bool named = pg_rows(res) == 1;
	pg_res_free(res);
	if (!named)
		return srv_reply_error(r, 404, "not found: %s", r->path);
	/* push.c's layout: blobs/ab/cdef... */
	char *path = xasprintf("%s/blobs/%.2s/%s", r->srv->data_dir, sha, sha + 2);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		rp_err_sys(&err, "blob %s", path);
		free(path);
		if (fd >= 0)
			close(fd);
		return srv_reply_internal(r, &err);
	}
	free(path);
	const struct rp_mhd_api *m = r->srv->mhd;
	struct MHD_Response *resp = m->response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	char disp[128];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", sha);
	m->add_response_header(resp, "Content-Type", "application/octet-stream");
	m->add_response_header(resp, "Content-Disposition", disp);
	return srv_reply(r, 200, resp);
}

/* POST .../runs: one payload (sync.h). ?force=1 overwrites a conflict: the project's admins only. */
int srv_run_push(struct srv_req *r)
{
	const char *f = srv_arg(r, "force");
	bool force = f && !strcmp(f, "1");
	if (force && strcmp(r->role, "admin")) {
		srv_deny_audit(r, 403, r->project);
		return srv_reply_error(r, 403, "refused: --force needs the project's admin role (yours: %s)", r->role);
	}
	if (!r->body || !r->body_len)
		return srv_reply_error(r, 400, "a run's payload is needed as the body");
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	struct push_who who = who_of(r);
	struct push_result res;
	if (!db || push_run(db, r->project_id, &who, r->body, r->body_len, force, &res, &err) < 0)
		return push_error(r, &err);
	cJSON *p = res.outcome == PUSHED_CONFLICT ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "uid"));
	if (res.outcome == PUSHED_CONFLICT) {
		long long rev = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "revision"));
		int rc = srv_reply_error(r, 409,
					 "conflict: run %s is revision %lld here with other content; the pushed one is "
					 "revision %lld: nothing was overwritten (an admin may push with --force)",
					 uid ? uid : "?", res.server_revision, rev);
		cJSON_Delete(p);
		return rc;
	}
	cJSON_Delete(p);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "outcome", push_outcome_name(res.outcome));
	cJSON_AddNumberToObject(o, "server_revision", (double)res.server_revision);
	return srv_reply_json(r, res.outcome == PUSHED_NEW ? 201 : 200, o);
}

/* GET .../runs/{uid}: the payload as pushed. */
int srv_run_pull(struct srv_req *r)
{
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	char *json = NULL;
	if (!db || pull_run(db, r->project_id, srv_cap(r, "uid"), &json, &err) < 0) {
		if (err.kind == RP_ERR_USAGE)
			return srv_reply_error(r, 404, "not found: %s", r->path);
		return srv_reply_internal(r, &err);
	}
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(json);
		return MHD_NO;
	}
	r->srv->mhd->add_response_header(resp, "Content-Type", "application/json");
	return srv_reply(r, 200, resp);
}

#define LIST_PAGE_DEFAULT 1000
#define LIST_PAGE_MAX 10000

/* GET .../runs?where=EXPR&after=UID&limit=N: the project's runs {uid, revision, content_hash},
 * by uid a page at a time; "next" is the after= of the next page (null at the end). */
int srv_runs_list(struct srv_req *r)
{
	const char *expr = srv_arg(r, "where"), *after = srv_arg(r, "after"), *lim = srv_arg(r, "limit");
	char *end = NULL;
	long limit = lim ? strtol(lim, &end, 10) : LIST_PAGE_DEFAULT;
	if (lim && (*end || limit < 1 || limit > LIST_PAGE_MAX))
		return srv_reply_error(r, 400, "limit is 1 to %d", LIST_PAGE_MAX);
	struct where_sql w = {0};
	struct rp_err err = {0};
	if (expr && *expr && where_compile_dialect(expr, now_realtime(), WHERE_POSTGRES, 4, &w, &err) < 0)
		return srv_reply_error(r, 400, "%s", err.msg);
	char pid[24], l[24];
	snprintf(pid, sizeof pid, "%lld", r->project_id);
	snprintf(l, sizeof l, "%ld", limit);
	char *sql = xasprintf("SELECT runs.uid, runs.revision, runs.content_hash FROM runs WHERE runs.project_id = "
			      "$1::bigint AND runs.deleted_at IS NULL AND runs.uid COLLATE \"C\" > $2 AND (%s)"
			      " ORDER BY runs.uid COLLATE \"C\" LIMIT $3::bigint",
			      w.sql ? w.sql : "true");
	const char **p = xcalloc(3 + w.nargs, sizeof *p);
	p[0] = pid, p[1] = after ? after : "", p[2] = l;
	char **texts = xcalloc(w.nargs ? w.nargs : 1, sizeof *texts);
	for (size_t i = 0; i < w.nargs; i++) {
		const struct where_arg *a = &w.args[i];
		texts[i] = a->type == WHERE_ARG_TEXT ? xstrdup(a->text)
			   : a->type == WHERE_ARG_REAL ? xasprintf("%.17g", a->real)
						       : xasprintf("%lld", a->integer);
		p[3 + i] = texts[i];
	}
	struct pg_db *db = srv_db(r, &err);
	struct pg_res *res = db ? pg_exec(db, sql, 3 + (int)w.nargs, p, &err) : NULL;
	for (size_t i = 0; i < w.nargs; i++)
		free(texts[i]);
	free(texts);
	free(p);
	free(sql);
	where_sql_free(&w);
	if (!res)
		return srv_reply_internal(r, &err);
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "runs");
	int n = pg_rows(res);
	for (int i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "uid", pg_value(res, i, 0));
		cJSON_AddNumberToObject(x, "revision", strtod(pg_value(res, i, 1), NULL));
		cJSON_AddStringToObject(x, "content_hash", pg_value(res, i, 2));
		cJSON_AddItemToArray(a, x);
	}
	if (n == limit)
		cJSON_AddStringToObject(o, "next", pg_value(res, n - 1, 0));
	else
		cJSON_AddNullToObject(o, "next");
	pg_res_free(res);
	return srv_reply_json(r, 200, o);
}
