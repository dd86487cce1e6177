/* admin.c: accounts, projects, members and tokens changed (include/server.h), each change
 * followed by its audit event. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgdb.h"
#include "server.h"
#include "util.h"

bool srv_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > 64 || name[0] == '.' || name[0] == '-' || name[0] == '_')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int bad_name(const char *what, const char *name, struct rp_err *err)
{
	return rp_err_set(err, RP_ERR_USAGE, "%s name '%.64s' is not valid: 1 to 64 of letters, digits, '.', '_', '-', "
			  "starting with a letter or digit", what, name ? name : "");
}

/* Audit one change: detail is a cJSON object (consumed). */
static int audit(struct pg_db *db, const struct srv_actor *who, const char *action, const char *project,
		 cJSON *detail, struct rp_err *err)
{
	char *text = cJSON_PrintUnformatted(detail);
	cJSON_Delete(detail);
	struct audit_event ev = {.actor = who->name, .address = who->address, .action = action, .project = project,
				 .detail = text};
	int rc = audit_append(db, &ev, NULL, err);
	free(text);
	return rc;
}

static cJSON *detail1(const char *k, const char *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, k, v);
	return o;
}

/* Run a statement changing rows; *n the number it returned (a RETURNING list's rows). */
static int change(struct pg_db *db, const char *sql, int np, const char *const *p, int *n, struct rp_err *err)
{
	struct pg_res *r = pg_exec(db, sql, np, p, err);
	if (!r)
		return -1;
	if (n)
		*n = pg_rows(r);
	pg_res_free(r);
	return 0;
}

int srv_account_add(struct pg_db *db, const struct srv_actor *who, const char *name, const char *password,
		    bool admin, struct rp_err *err)
{
	if (!srv_name_ok(name))
		return bad_name("account", name, err);
	char *phc = NULL;
	if (password && !(phc = srv_password_hash(password, err)))
		return -1;
	const char *p[] = {name, phc, admin ? "true" : "false"};
	int n = 0;
	int rc = change(db, "INSERT INTO accounts (name, password_hash, is_admin) VALUES ($1, $2, $3::boolean)"
			    " ON CONFLICT (name) DO NOTHING RETURNING id", 3, p, &n, err);
	free(phc);
	if (rc < 0)
		return -1;
	if (!n) {
		rp_err_set(err, RP_ERR_USAGE, "account '%s' exists already", name);
		return 1;
	}
	cJSON *d = detail1("account", name);
	cJSON_AddBoolToObject(d, "admin", admin);
	cJSON_AddBoolToObject(d, "password", password != NULL);
	return audit(db, who, "account.add", NULL, d, err);
}

int srv_account_disable(struct pg_db *db, const struct srv_actor *who, const char *name, struct rp_err *err)
{
	const char *p[] = {name};
	int n = 0;
	if (change(db, "UPDATE accounts SET disabled = true WHERE name = $1 RETURNING id", 1, p, &n, err) < 0)
		return -1;
	if (!n) {
		rp_err_set(err, RP_ERR_USAGE, "no account '%.64s'", name);
		return 1;
	}
	/* its sessions end now; its tokens stay revocable but are refused while disabled */
	if (pg_cmd(db, "DELETE FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE name = $1)", 1, p,
		   err) < 0)
		return -1;
	return audit(db, who, "account.disable", NULL, detail1("account", name), err);
}

int srv_project_add(struct pg_db *db, const struct srv_actor *who, const char *name, struct rp_err *err)
{
	if (!srv_name_ok(name))
		return bad_name("project", name, err);
	const char *p[] = {name};
	int n = 0;
	if (change(db, "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id", 1, p, &n,
		   err) < 0)
		return -1;
	if (!n) {
		rp_err_set(err, RP_ERR_USAGE, "project '%s' exists already", name);
		return 1;
	}
	return audit(db, who, "project.add", name, detail1("project", name), err);
}

int srv_member_set(struct pg_db *db, const struct srv_actor *who, const char *project, const char *account,
		   const char *role, struct rp_err *err)
{
	bool none = !strcmp(role, "none");
	if (!none && strcmp(role, "viewer") && strcmp(role, "editor") && strcmp(role, "admin"))
		return rp_err_set(err, RP_ERR_USAGE, "role '%.32s': use viewer, editor, admin or none", role);
	const char *p[] = {project, account, role};
	struct pg_res *r = pg_exec(db,
				   "SELECT (SELECT id FROM projects WHERE name = $1), (SELECT id FROM accounts WHERE name = $2),"
				   " (SELECT m.role FROM members m JOIN projects pr ON pr.id = m.project_id"
				   "  JOIN accounts a ON a.id = m.account_id WHERE pr.name = $1 AND a.name = $2)",
				   2, p, err);
	if (!r)
		return -1;
	bool no_project = !pg_value(r, 0, 0), no_account = !pg_value(r, 0, 1);
	char *before = pg_value(r, 0, 2) ? xstrdup(pg_value(r, 0, 2)) : NULL;
	pg_res_free(r);
	if (no_project || no_account) {
		free(before);
		rp_err_set(err, RP_ERR_USAGE, "no %s '%.64s'", no_project ? "project" : "account",
			   no_project ? project : account);
		return 1;
	}
	int rc = none ? pg_cmd(db,
			       "DELETE FROM members WHERE project_id = (SELECT id FROM projects WHERE name = $1)"
			       " AND account_id = (SELECT id FROM accounts WHERE name = $2)",
			       2, p, err)
		      : pg_cmd(db,
			       "INSERT INTO members (project_id, account_id, role)"
			       " SELECT p.id, a.id, $3 FROM projects p, accounts a WHERE p.name = $1 AND a.name = $2"
			       " ON CONFLICT (project_id, account_id) DO UPDATE SET role = excluded.role",
			       3, p, err);
	if (rc < 0) {
		free(before);
		return -1;
	}
	cJSON *d = detail1("account", account);
	if (before)
		cJSON_AddStringToObject(d, "from", before);
	else
		cJSON_AddStringToObject(d, "from", "none");
	cJSON_AddStringToObject(d, "to", role);
	free(before);
	return audit(db, who, "member.role", project, d, err);
}

int srv_token_create(struct pg_db *db, const struct srv_actor *who, const char *account, const char *name,
		     int expires_days, char token[SRV_TOKEN_LEN + 1], long long *id, struct rp_err *err)
{
	if (!name || !*name || strlen(name) > 200)
		return rp_err_set(err, RP_ERR_USAGE, "a token's name is 1 to 200 characters");
	if (expires_days < 0 || expires_days > 3650)
		return rp_err_set(err, RP_ERR_USAGE, "a token expires in 0 (never) to 3650 days");
	if (srv_token_new(token, err) < 0)
		return -1;
	char hash[SRV_HASH_HEX + 1], days[16];
	srv_sha256_hex(token, hash);
	snprintf(days, sizeof days, "%d", expires_days);
	const char *p[] = {account, name, hash, days};
	struct pg_res *r = pg_exec(db,
				   "INSERT INTO tokens (account_id, name, hash, expires_at)"
				   " SELECT id, $2, decode($3, 'hex'),"
				   "  CASE WHEN $4::integer > 0 THEN now() + $4::integer * interval '1 day' END"
				   " FROM accounts WHERE name = $1 AND NOT disabled RETURNING id",
				   4, p, err);
	if (!r)
		return -1;
	bool made = pg_rows(r) == 1;
	long long tid = made ? atoll(pg_value(r, 0, 0)) : 0;
	pg_res_free(r);
	if (!made) {
		rp_err_set(err, RP_ERR_USAGE, "no account '%.64s' (or it is disabled)", account);
		return 1;
	}
	if (id)
		*id = tid;
	cJSON *d = detail1("account", account);
	cJSON_AddNumberToObject(d, "token", (double)tid);
	cJSON_AddStringToObject(d, "name", name);
	cJSON_AddNumberToObject(d, "expires_days", expires_days);
	return audit(db, who, "token.create", NULL, d, err);
}

int srv_token_revoke(struct pg_db *db, const struct srv_actor *who, long long id, long long owner_id, bool *found,
		     struct rp_err *err)
{
	char ids[24], owner[24];
	snprintf(ids, sizeof ids, "%lld", id);
	snprintf(owner, sizeof owner, "%lld", owner_id);
	const char *p[] = {ids, owner};
	struct pg_res *r = pg_exec(db,
				   "UPDATE tokens t SET revoked_at = coalesce(t.revoked_at, now()) FROM accounts a"
				   " WHERE t.id = $1::bigint AND a.id = t.account_id AND ($2::bigint <= 0 OR t.account_id = $2::bigint)"
				   " RETURNING a.name",
				   2, p, err);
	if (!r)
		return -1;
	*found = pg_rows(r) == 1;
	char *account = *found ? xstrdup(pg_value(r, 0, 0)) : NULL;
	pg_res_free(r);
	if (!*found)
		return 0;
	cJSON *d = detail1("account", account);
	free(account);
	cJSON_AddNumberToObject(d, "token", (double)id);
	return audit(db, who, "token.revoke", NULL, d, err);
}
