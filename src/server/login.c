/* login.c: who the caller is (a Bearer API token, or the session cookie), logging in with a
 * password (argon2id; a session, or an API token for `runpilot login`), logging out, and the
 * throttle of failed logins. Tokens and session ids are found by their SHA-256, which the
 * database keeps instead of them: a lookup by hash leaks nothing about the secret through its
 * timing, so no constant-time comparison is needed there. */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgdb.h"
#include "srv_int.h"
#include "util.h"

#define SESSION_HOURS "12"
#define COOKIE "rp_session"
#define FAILS_MAX 5       /* failed logins per account, and per address, in a window */
#define WINDOW_S 60.0
#define THROTTLE_SLOTS 4096
#define ARGON2_WAIT_MS 2000

/* ---- the throttle: failures per key ("a:NAME", "i:ADDRESS") in a window ---- */

struct slot {
	char key[80];
	int fails;
	double since;
};

struct throttle {
	pthread_mutex_t lock;
	struct slot slots[THROTTLE_SLOTS];
};

struct throttle *throttle_new(void)
{
	struct throttle *t = xcalloc(1, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static unsigned long key_hash(const char *s)
{
	unsigned long h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/* The key's slot (made when create), under the lock; NULL when none. A slot whose window is
 * over is free again. */
static struct slot *find(struct throttle *t, const char *key, bool create, double now)
{
	unsigned long h = key_hash(key);
	struct slot *oldest = NULL;
	for (int i = 0; i < 16; i++) {
		struct slot *s = &t->slots[(h + (unsigned long)i) % THROTTLE_SLOTS];
		if (s->key[0] && now - s->since > WINDOW_S)
			s->key[0] = '\0';
		if (s->key[0] && !strcmp(s->key, key))
			return s;
		if (!oldest || !s->key[0] || (oldest->key[0] && s->since < oldest->since))
			oldest = s;
	}
	if (!create)
		return NULL;
	snprintf(oldest->key, sizeof oldest->key, "%s", key);
	oldest->fails = 0;
	oldest->since = now;
	return oldest;
}

/* Count one attempt against both keys before its password is hashed, so that concurrent
 * attempts cannot pass the limit; 0, or the seconds to wait (the attempt is not counted). */
static int throttle_try(struct throttle *t, const char *akey, const char *ikey)
{
	double now = now_monotonic();
	pthread_mutex_lock(&t->lock);
	int wait = 0;
	const char *keys[] = {akey, ikey};
	for (int i = 0; i < 2; i++) {
		struct slot *s = find(t, keys[i], false, now);
		if (s && s->fails >= FAILS_MAX) {
			int w = (int)(WINDOW_S - (now - s->since)) + 1;
			wait = w > wait ? w : wait;
		}
	}
	if (!wait)
		for (int i = 0; i < 2; i++)
			find(t, keys[i], true, now)->fails++;
	pthread_mutex_unlock(&t->lock);
	return wait;
}

/* A good password: the account's count starts over, the address's attempt is taken back. */
static void throttle_success(struct throttle *t, const char *akey, const char *ikey)
{
	double now = now_monotonic();
	pthread_mutex_lock(&t->lock);
	struct slot *s = find(t, akey, false, now);
	if (s)
		s->key[0] = '\0';
	if ((s = find(t, ikey, false, now)) && s->fails > 0)
		s->fails--;
	pthread_mutex_unlock(&t->lock);
}

/* ---- who calls ---- */

static const char *cookie_value(struct srv_req *r)
{
	return r->srv->mhd->lookup_value(r->conn, MHD_COOKIE_KIND, COOKIE);
}

static const char *bearer(struct srv_req *r)
{
	const char *h = srv_header(r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	for (h += 7; *h == ' '; h++)
		;
	return h;
}

static void set_caller(struct srv_req *r, const struct pg_res *res)
{
	r->who.account_id = atoll(pg_value(res, 0, 0));
	r->who.name = xstrdup(pg_value(res, 0, 1));
	r->who.is_admin = !strcmp(pg_value(res, 0, 2), "t");
}

int srv_authenticate(struct srv_req *r, struct rp_err *err)
{
	const char *token = bearer(r);
	const char *cookie = token ? NULL : cookie_value(r);
	if (!token && !cookie)
		return 0;
	struct pg_db *db = srv_db(r, err);
	if (!db)
		return -1;
	char hash[SRV_HASH_HEX + 1];
	srv_sha256_hex(token ? token : cookie, hash);
	const char *p[] = {hash};
	struct pg_res *res = pg_exec(db, token
		? "SELECT a.id, a.name, a.is_admin, t.id,"
		  " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'"
		  " FROM tokens t JOIN accounts a ON a.id = t.account_id"
		  " WHERE t.hash = decode($1, 'hex') AND t.revoked_at IS NULL"
		  " AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT a.disabled"
		: "SELECT a.id, a.name, a.is_admin FROM sessions s JOIN accounts a ON a.id = s.account_id"
		  " WHERE s.hash = decode($1, 'hex') AND s.expires_at > now() AND NOT a.disabled",
		1, p, err);
	if (!res)
		return -1;
	if (pg_rows(res) != 1) {
		pg_res_free(res);
		r->bad_credentials = true;
		return 0;
	}
	set_caller(r, res);
	if (token) {
		r->who.token_id = atoll(pg_value(res, 0, 3));
		bool stale = !strcmp(pg_value(res, 0, 4), "t");
		pg_res_free(res);
		if (stale) {
			char id[24];
			snprintf(id, sizeof id, "%lld", r->who.token_id);
			const char *u[] = {id};
			if (pg_cmd(db, "UPDATE tokens SET last_used_at = now() WHERE id = $1::bigint", 1, u, err) < 0)
				return -1;
		}
	} else {
		pg_res_free(res);
		r->who.by_session = true;
		r->who.session_hash = xstrdup(hash);
	}
	return 0;
}

/* ---- login and logout ---- */

static void login_audit(struct srv_req *r, const char *action, const char *name, const char *why, const char *how)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "account", name);
	if (why)
		cJSON_AddStringToObject(d, "reason", why);
	if (how)
		cJSON_AddStringToObject(d, "as", how);
	srv_audit(r, action, NULL, d);
}

static int too_many(struct srv_req *r, int wait, const char *name)
{
	login_audit(r, "login.failed", name, "throttled", NULL);
	char secs[16];
	snprintf(secs, sizeof secs, "%d", wait);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", "too many failed logins: try again later");
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	r->srv->mhd->add_response_header(resp, "Content-Type", "application/json");
	r->srv->mhd->add_response_header(resp, "Retry-After", secs);
	return srv_reply(r, 429, resp);
}

static int random_hex(char *out, size_t nbytes, struct rp_err *err)
{
	unsigned char raw[64];
	if (nbytes > sizeof raw || random_bytes(raw, nbytes) < 0)
		return rp_err_sys(err, "getrandom");
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* A new session for the account: the cookie, and the CSRF token in the answer. */
static int start_session(struct srv_req *r, struct pg_db *db, long long account, const char *name)
{
	struct rp_err err = {0};
	char sid[65], csrf[65], hash[SRV_HASH_HEX + 1], acc[24];
	if (random_hex(sid, 32, &err) < 0 || random_hex(csrf, 32, &err) < 0)
		return srv_reply_internal(r, &err);
	srv_sha256_hex(sid, hash);
	snprintf(acc, sizeof acc, "%lld", account);
	const char *p[] = {hash, acc, csrf};
	/* the account's expired sessions go when it starts a new one */
	if (pg_cmd(db, "DELETE FROM sessions WHERE account_id = $1::bigint AND expires_at <= now()", 1, p + 1, &err) < 0)
		return srv_reply_internal(r, &err);
	if (pg_cmd(db, "INSERT INTO sessions (hash, account_id, csrf, expires_at)"
		       " VALUES (decode($1, 'hex'), $2::bigint, $3, now() + interval '" SESSION_HOURS " hours')",
		   3, p, &err) < 0)
		return srv_reply_internal(r, &err);
	login_audit(r, "login", name, NULL, "session");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "account", name);
	cJSON_AddStringToObject(o, "csrf", csrf);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	char *cookie = xasprintf(COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", sid,
				 atoi(SESSION_HOURS) * 3600, r->srv->tls ? "; Secure" : "");
	r->srv->mhd->add_response_header(resp, "Content-Type", "application/json");
	r->srv->mhd->add_response_header(resp, "Set-Cookie", cookie);
	free(cookie);
	return srv_reply(r, 200, resp);
}

/* An API token for the account (`runpilot login`): shown once, in this answer. */
static int issue_token(struct srv_req *r, struct pg_db *db, const char *name, const cJSON *body)
{
	const cJSON *tn = cJSON_GetObjectItemCaseSensitive(body, "token_name");
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(body, "expires_in_days");
	if (days && !cJSON_IsNumber(days))
		return srv_reply_error(r, 400, "expires_in_days is a number");
	struct rp_err err = {0};
	char token[SRV_TOKEN_LEN + 1];
	long long id = 0;
	struct srv_actor who = {name, r->address};
	int rc = srv_token_create(db, &who, name, tn->valuestring, days ? days->valueint : 0, token, &id, &err);
	if (rc < 0)
		return err.kind == RP_ERR_USAGE ? srv_reply_error(r, 400, "%s", err.msg) : srv_reply_internal(r, &err);
	login_audit(r, "login", name, NULL, "token");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "account", name);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "token", token);
	OPENSSL_cleanse(token, sizeof token);
	return srv_reply_json(r, 201, o);
}

int srv_login(struct srv_req *r)
{
	cJSON *body = srv_body_json(r);
	if (!body)
		return MHD_YES;
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(body, "name");
	const cJSON *jp = cJSON_GetObjectItemCaseSensitive(body, "password");
	const cJSON *tn = cJSON_GetObjectItemCaseSensitive(body, "token_name");
	int rc;
	if (!cJSON_IsString(jn) || !cJSON_IsString(jp) || (tn && !cJSON_IsString(tn))) {
		rc = srv_reply_error(r, 400, "give name and password (strings), and token_name for an API token");
		goto out;
	}
	const char *name = jn->valuestring;
	char akey[80], ikey[80];
	snprintf(akey, sizeof akey, "a:%.70s", name);
	snprintf(ikey, sizeof ikey, "i:%s", r->address);
	int wait = throttle_try(r->srv->throttle, akey, ikey);
	if (wait) {
		rc = too_many(r, wait, name);
		goto out;
	}
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	const char *p[] = {name};
	struct pg_res *res = db ? pg_exec(db, "SELECT id, password_hash, disabled FROM accounts WHERE name = $1", 1, p, &err)
				: NULL;
	if (!res) {
		rc = srv_reply_internal(r, &err);
		goto out;
	}
	bool usable = pg_rows(res) == 1 && pg_value(res, 0, 1) && strcmp(pg_value(res, 0, 2), "t");
	long long id = usable ? atoll(pg_value(res, 0, 0)) : 0;
	char *phc = usable ? xstrdup(pg_value(res, 0, 1)) : NULL;
	pg_res_free(res);
	int ok = srv_password_check(phc, jp->valuestring, ARGON2_WAIT_MS);
	free(phc);
	if (ok < 0) {
		throttle_success(r->srv->throttle, akey, ikey); /* not an attempt after all */
		rc = srv_reply_error(r, 503, "busy: try again in a moment");
		goto out;
	}
	if (!ok) {
		login_audit(r, "login.failed", name, "bad name or password", NULL);
		rc = srv_reply_error(r, 401, "wrong name or password");
		goto out;
	}
	throttle_success(r->srv->throttle, akey, ikey);
	rc = tn ? issue_token(r, db, name, body) : start_session(r, db, id, name);
out:
	cJSON_Delete(body);
	return rc;
}

int srv_logout(struct srv_req *r)
{
	struct rp_err err = {0};
	struct pg_db *db = srv_db(r, &err);
	if (!db)
		return srv_reply_internal(r, &err);
	if (r->who.by_session) {
		const char *p[] = {r->who.session_hash};
		if (pg_cmd(db, "DELETE FROM sessions WHERE hash = decode($1, 'hex')", 1, p, &err) < 0)
			return srv_reply_internal(r, &err);
		login_audit(r, "logout", r->who.name, NULL, "session");
	} else {
		bool found;
		struct srv_actor who = {r->who.name, r->address};
		if (srv_token_revoke(db, &who, r->who.token_id, r->who.account_id, &found, &err) < 0)
			return srv_reply_internal(r, &err);
		login_audit(r, "logout", r->who.name, NULL, "token");
	}
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	r->srv->mhd->add_response_header(resp, "Set-Cookie",
					 COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
	return srv_reply(r, 204, resp);
}
