/* routes.c: the one route table of the server's API (docs/server.md): method, pattern, the
 * minimum role its caller needs, handler. Every row has its rule (http.c enforces it before the
 * handler runs); a new route is a new row. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgdb.h"
#include "srv_int.h"
#include "testhooks.h"
#include "util.h"

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX 1000

static struct srv_actor actor(struct srv_req *r)
{
	return (struct srv_actor){r->who.name, r->address};
}

static bool parse_id(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* A query's rows as an array of objects named by cols (NULL: JSON null; numeric columns marked
 * by a leading '#' in their name, JSON by '@'). */
static cJSON *rows_json(const struct pg_res *res, const char *const *cols, int ncols)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < pg_rows(res); i++) {
		cJSON *o = cJSON_CreateObject();
		for (int c = 0; c < ncols; c++) {
			const char *v = pg_value(res, i, c), *name = cols[c];
			if (!v)
				cJSON_AddNullToObject(o, name + (name[0] == '#' || name[0] == '@'));
			else if (name[0] == '#')
				cJSON_AddNumberToObject(o, name + 1, strtod(v, NULL));
			else if (name[0] == '@')
				cJSON_AddItemToObject(o, name + 1, cJSON_Parse(v));
			else
				cJSON_AddStringToObject(o, name, v);
		}
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* Run a query and answer its rows as {key: [...]}. */
static int reply_rows(struct srv_req *r, const char *key, const char *sql, int np, const char *const *p,
		      const char *const *cols, int ncols)
{
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	struct pg_res *res = db ? pg_exec(db, sql, np, p, &err) : NULL;
	if (!res)
		return srv_reply_internal(r, &err);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, key, rows_json(res, cols, ncols));
	pg_res_free(res);
	return srv_reply_json(r, 200, o);
}

/* What an admin function's result means over HTTP: 1 is missing_status (404, or 409 for an add). */
static int admin_result(struct srv_req *r, int rc, const struct rp_err *err, unsigned missing_status)
{
	if (rc == 1)
		return srv_reply_error(r, missing_status, "%s", err->msg);
	if (err->kind == RP_ERR_USAGE)
		return srv_reply_error(r, 400, "%s", err->msg);
	return srv_reply_internal(r, err);
}

static const char *body_string(struct srv_req *r, const cJSON *body, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- handlers ---- */

static int whoami(struct srv_req *r)
{
	if (test_hook("RUNPILOT_TEST_SLOW_WHOAMI"))
		sleep(2);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", r->who.name);
	cJSON_AddBoolToObject(o, "admin", r->who.is_admin);
	cJSON_AddStringToObject(o, "auth", r->who.by_session ? "session" : "token");
	return srv_reply_json(r, 200, o);
}

static int projects_list(struct srv_req *r)
{
	char acc[24];
	snprintf(acc, sizeof acc, "%lld", r->who.account_id);
	const char *p[] = {acc};
	static const char *const cols[] = {"name", "role"};
	return reply_rows(r, "projects",
			  "SELECT p.name, m.role FROM members m JOIN projects p ON p.id = m.project_id"
			  " WHERE m.account_id = $1::bigint ORDER BY p.name",
			  1, p, cols, 2);
}

/* A server administrator makes a project and becomes its admin. */
static int project_create(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const char *name = body_string(r, body, "name");
	struct rp_err err = {0};
	struct srv_actor who = actor(r);
	struct pg_db *db = srv_db(r, &err);
	int rc = !db ? -1 : !name ? (rp_err_set(&err, RP_ERR_USAGE, "give the project's name"), -1)
				   : srv_project_add(db, &who, name, &err);
	if (rc == 0)
		rc = srv_member_set(db, &who, name, r->who.name, "admin", &err);
	if (rc != 0) {
		cJSON_Delete(body);
		return admin_result(r, rc, &err, 409);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_Delete(body);
	return srv_reply_json(r, 201, o);
}

static int project_get(struct srv_req *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", r->project);
	cJSON_AddStringToObject(o, "role", r->role);
	return srv_reply_json(r, 200, o);
}

static int members_list(struct srv_req *r)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", r->project_id);
	const char *p[] = {pid};
	static const char *const cols[] = {"account", "role"};
	return reply_rows(r, "members",
			  "SELECT a.name, m.role FROM members m JOIN accounts a ON a.id = m.account_id"
			  " WHERE m.project_id = $1::bigint ORDER BY a.name",
			  1, p, cols, 2);
}

static int member_set(struct srv_req *r, const char *role)
{
	struct rp_err err = {0};
	struct srv_actor who = actor(r);
	struct pg_db *db = srv_db(r, &err);
	int rc = db ? srv_member_set(db, &who, r->project, srv_cap(r, "account"), role, &err) : -1;
	if (rc != 0)
		return admin_result(r, rc, &err, 404);
	if (!strcmp(role, "none"))
		return srv_reply_empty(r, 204);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "account", srv_cap(r, "account"));
	cJSON_AddStringToObject(o, "role", role);
	return srv_reply_json(r, 200, o);
}

static int member_put(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const char *role = body_string(r, body, "role");
	int rc;
	if (!role || !strcmp(role, "none"))
		rc = srv_reply_error(r, 400, "give the role: viewer, editor or admin");
	else
		rc = member_set(r, role);
	cJSON_Delete(body);
	return rc;
}

static int member_delete(struct srv_req *r)
{
	return member_set(r, "none");
}

static int token_create(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const char *name = body_string(r, body, "name");
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(body, "expires_in_days");
	struct rp_err err = {0};
	char token[SRV_TOKEN_LEN + 1];
	long long id = 0;
	struct srv_actor who = actor(r);
	struct pg_db *db = srv_db(r, &err);
	int rc;
	if (days && !cJSON_IsNumber(days))
		rc = srv_reply_error(r, 400, "expires_in_days is a number");
	else if ((rc = db ? srv_token_create(db, &who, r->who.name, name, days ? days->valueint : 0, token, &id, &err)
			  : -1) != 0)
		rc = admin_result(r, rc, &err, 404);
	else {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)id);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "token", token);
		rc = srv_reply_json(r, 201, o);
	}
	cJSON_Delete(body);
	return rc;
}

static int tokens_list(struct srv_req *r)
{
	char acc[24];
	snprintf(acc, sizeof acc, "%lld", r->who.account_id);
	const char *p[] = {acc};
	static const char *const cols[] = {"#id", "name", "created_at", "expires_at", "revoked_at", "last_used_at"};
	return reply_rows(r, "tokens",
			  "SELECT id, name, created_at, expires_at, revoked_at, last_used_at FROM tokens"
			  " WHERE account_id = $1::bigint ORDER BY id",
			  1, p, cols, 6);
}

/* One's own token, or any for a server administrator; another's is not found. */
static int token_delete(struct srv_req *r)
{
	long long id;
	if (!parse_id(srv_cap(r, "id"), &id))
		return srv_reply_error(r, 404, "no token %.32s", srv_cap(r, "id"));
	struct rp_err err = {0};
	struct srv_actor who = actor(r);
	struct pg_db *db = srv_db(r, &err);
	bool found = false;
	if (!db || srv_token_revoke(db, &who, id, r->who.is_admin ? 0 : r->who.account_id, &found, &err) < 0)
		return srv_reply_internal(r, &err);
	return found ? srv_reply_empty(r, 204) : srv_reply_error(r, 404, "no token %lld of yours", id);
}

/* The project's events, a page at a time by id: ?after=ID&limit=N; "next" is the after= of the
 * next page (null at the end). */
static int audit_list(struct srv_req *r)
{
	long long after = 0, limit = AUDIT_PAGE_DEFAULT;
	if ((srv_arg(r, "after") && !parse_id(srv_arg(r, "after"), &after)) ||
	    (srv_arg(r, "limit") && (!parse_id(srv_arg(r, "limit"), &limit) || limit < 1 || limit > AUDIT_PAGE_MAX)))
		return srv_reply_error(r, 400, "after is an event id, limit 1 to %d", AUDIT_PAGE_MAX);
	char a[24], l[24];
	snprintf(a, sizeof a, "%lld", after);
	snprintf(l, sizeof l, "%lld", limit);
	const char *p[] = {r->project, a, l};
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	struct pg_res *res = db ? pg_exec(db,
					  "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
					  " actor, address, action, detail::text FROM audit"
					  " WHERE project = $1 AND id > $2::bigint ORDER BY id LIMIT $3::bigint",
					  3, p, &err)
				: NULL;
	if (!res)
		return srv_reply_internal(r, &err);
	static const char *const cols[] = {"#id", "at", "actor", "address", "action", "@detail"};
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "events", rows_json(res, cols, 6));
	int n = pg_rows(res);
	if (n == limit)
		cJSON_AddNumberToObject(o, "next", strtod(pg_value(res, n - 1, 0), NULL));
	else
		cJSON_AddNullToObject(o, "next");
	pg_res_free(res);
	return srv_reply_json(r, 200, o);
}

/* ---- the table ---- */

const struct srv_route srv_routes[] = {
	{"POST", "/api/v1/login", ROLE_ANY, srv_login, 0},
	{"POST", "/api/v1/logout", ROLE_AUTH, srv_logout, 0},
	{"GET", "/api/v1/whoami", ROLE_AUTH, whoami, 0},
	{"GET", "/api/v1/projects", ROLE_AUTH, projects_list, 0},
	{"POST", "/api/v1/projects", ROLE_SERVER_ADMIN, project_create, 0},
	{"GET", "/api/v1/projects/{project}", ROLE_VIEWER, project_get, 0},
	{"GET", "/api/v1/projects/{project}/members", ROLE_VIEWER, members_list, 0},
	{"PUT", "/api/v1/projects/{project}/members/{account}", ROLE_ADMIN, member_put, 0},
	{"DELETE", "/api/v1/projects/{project}/members/{account}", ROLE_ADMIN, member_delete, 0},
	{"POST", "/api/v1/tokens", ROLE_AUTH, token_create, 0},
	{"GET", "/api/v1/tokens", ROLE_AUTH, tokens_list, 0},
	{"DELETE", "/api/v1/tokens/{id}", ROLE_AUTH, token_delete, 0},
	{"GET", "/api/v1/projects/{project}/audit", ROLE_ADMIN, audit_list, 0},
	{"POST", "/api/v1/projects/{project}/runs/missing", ROLE_EDITOR, srv_runs_missing, 0},
	{"POST", "/api/v1/projects/{project}/blobs/missing", ROLE_EDITOR, srv_blobs_missing, 0},
	{"PUT", "/api/v1/projects/{project}/blobs/{sha256}", ROLE_EDITOR, srv_blob_upload, ROUTE_STREAM},
	{"GET", "/api/v1/projects/{project}/blobs/{sha256}", ROLE_VIEWER, srv_blob_download, 0},
	{"POST", "/api/v1/projects/{project}/runs", ROLE_EDITOR, srv_run_push, ROUTE_BIG},
	{"GET", "/api/v1/projects/{project}/runs", ROLE_VIEWER, srv_runs_list, 0},
	{"GET", "/api/v1/projects/{project}/runs/{uid}", ROLE_VIEWER, srv_run_pull, 0},
};
const size_t srv_nroutes = sizeof srv_routes / sizeof *srv_routes;

char *srv_routes_json(void)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < srv_nroutes; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "method", srv_routes[i].method);
		cJSON_AddStringToObject(o, "pattern", srv_routes[i].pattern);
		cJSON_AddStringToObject(o, "role", srv_role_name(srv_routes[i].role));
		cJSON_AddItemToArray(a, o);
	}
	char *text = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	return text;
}
