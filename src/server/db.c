/* db.c: the server's PostgreSQL connection (include/pgdb.h) over libpq loaded at first use. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgdb.h"
#include "pq_api.h"
#include "util.h"

struct pg_db {
	const struct rp_pq_api *pq;
	PGconn *conn;
	char sqlstate[6];
};

struct pg_res {
	const struct rp_pq_api *pq;
	PGresult *res;
};

/* ---- passwords kept out of messages ---- */

static bool is_uri(const char *url)
{
	return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

/* The span of a URI's userinfo password: after the first ':' of the text between "://" and the
 * last '@' before the query. libpq cuts the userinfo at the first '/', so a password with a bare
 * '/' is still found here, as the user meant it. */
static bool uri_password_span(const char *url, size_t *start, size_t *end)
{
	const char *a = strstr(url, "://") + 3;
	const char *q = strchr(a, '?');
	size_t lim = q ? (size_t)(q - url) : strlen(url);
	const char *at = NULL;
	for (const char *p = a; (size_t)(p - url) < lim; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return false;
	const char *colon = memchr(a, ':', (size_t)(at - a));
	if (!colon)
		return false;
	*start = (size_t)(colon + 1 - url);
	*end = (size_t)(at - url);
	return true;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

static char *percent_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = hexval((unsigned char)s[i + 2])) >= 0) {
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static void buf_put(struct strvec *sv, const char *s, size_t n)
{
	char *t = xstrndup(s, n);
	strvec_push(sv, t);
	free(t);
}

/* The URI's query with every password= value replaced. */
static void redact_query(struct strvec *out, const char *q)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		if (!strncmp(q, "password=", 9)) {
			strvec_push(out, "password=***");
		} else {
			buf_put(out, q, n);
		}
		q += n;
		if (*q == '&') {
			strvec_push(out, "&");
			q++;
		}
	}
}

/* A key=value string with the value of each password keyword replaced. */
static void redact_keyvalue(struct strvec *out, const char *s)
{
	const char *p = s;
	while (*p) {
		const char *k = strstr(p, "password");
		if (!k) {
			strvec_push(out, p);
			return;
		}
		const char *e = k + 8;
		while (*e == ' ')
			e++;
		bool is_key = (k == s || isspace((unsigned char)k[-1])) && *e == '=';
		if (!is_key) {
			buf_put(out, p, (size_t)(e - p));
			p = e;
			continue;
		}
		e++;
		while (*e == ' ')
			e++;
		buf_put(out, p, (size_t)(e - p));
		strvec_push(out, "***");
		if (*e == '\'') {
			for (e++; *e && *e != '\''; e++)
				if (*e == '\\' && e[1])
					e++;
			if (*e)
				e++;
		} else {
			while (*e && !isspace((unsigned char)*e))
				e++;
		}
		p = e;
	}
}

char *pg_redact_url(const char *url)
{
	struct strvec out = {0};
	if (is_uri(url)) {
		size_t s, e;
		const char *q;
		if (uri_password_span(url, &s, &e)) {
			buf_put(&out, url, s);
			strvec_push(&out, "***");
			q = strchr(url + e, '?');
			buf_put(&out, url + e, q ? (size_t)(q - url - e) : strlen(url + e));
		} else {
			q = strchr(url, '?');
			buf_put(&out, url, q ? (size_t)(q - url) : strlen(url));
		}
		if (q) {
			strvec_push(&out, "?");
			redact_query(&out, q + 1);
		}
	} else {
		redact_keyvalue(&out, url);
	}
	char *r = strvec_join(&out, "");
	strvec_free(&out);
	return r;
}

/* msg on one line (libpq's end in "\n" and may span several), each secret replaced by "***". */
static void one_line(char *dst, size_t n, const char *msg, const char *const *secrets, size_t nsecrets)
{
	char *m = xstrdup(msg ? msg : "");
	for (size_t i = 0; i < nsecrets; i++) {
		const char *sec = secrets[i];
		if (!sec || !*sec)
			continue;
		char *hit;
		while ((hit = strstr(m, sec))) {
			char *t = xasprintf("%.*s***%s", (int)(hit - m), m, hit + strlen(sec));
			free(m);
			m = t;
		}
	}
	size_t o = 0;
	bool space = false;
	for (const char *p = m; *p && o + 1 < n; p++) {
		if (isspace((unsigned char)*p)) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < n)
			dst[o++] = ' ';
		space = false;
		dst[o++] = *p;
	}
	dst[o] = 0;
	free(m);
}

/* ---- connecting ---- */

static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The password libpq reads from url ("" when none), or NULL when url does not parse (why set). */
static char *parsed_password(const struct rp_pq_api *pq, const char *url, char **why)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = pq->conninfo_parse(url, &errmsg);
	if (!opts) {
		*why = xstrdup(errmsg ? errmsg : "out of memory");
		if (errmsg)
			pq->freemem(errmsg);
		return NULL;
	}
	char *pw = xstrdup("");
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val) {
			free(pw);
			pw = xstrdup(o->val);
		}
	pq->conninfo_free(opts);
	return pw;
}

struct pg_db *pg_connect(const char *url, struct rp_err *err)
{
	const struct rp_pq_api *pq = rp_pq(err);
	if (!pq)
		return NULL;
	char *shown = pg_redact_url(url);
	char *raw = NULL, *decoded = NULL, *why = NULL, *pw;
	size_t s, e;
	if (is_uri(url) && uri_password_span(url, &s, &e)) {
		raw = xstrndup(url + s, e - s);
		decoded = percent_decode(url + s, e - s);
	}
	const char *secrets[3] = {raw, decoded, NULL};
	struct pg_db *db = NULL;
	pw = parsed_password(pq, url, &why);
	if (!pw) {
		char line[512];
		one_line(line, sizeof line, why, secrets, 2);
		rp_err_set(err, RP_ERR_USAGE, "the database URL %s is not valid: %s", shown, line);
		goto out;
	}
	if (decoded && strcmp(pw, decoded)) {
		rp_err_set(err, RP_ERR_USAGE,
			   "the database URL %s is not valid: percent-encode the password's '/', '?', '@' and '%%'",
			   shown);
		goto out;
	}
	secrets[2] = pw;
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const vals[] = {"10", "runpilot", url, NULL};
	PGconn *conn = pq->connectdb_params(keys, vals, 1);
	if (!conn) {
		rp_err_set(err, RP_ERR_RUNTIME, "cannot connect to PostgreSQL at %s: out of memory", shown);
		goto out;
	}
	if (pq->status(conn) != CONNECTION_OK) {
		char line[700];
		one_line(line, sizeof line, pq->error_message(conn), secrets, 3);
		pq->finish(conn);
		rp_err_set(err, RP_ERR_RUNTIME, "cannot connect to PostgreSQL at %s: %s", shown, line);
		goto out;
	}
	pq->set_notice_processor(conn, drop_notice, NULL);
	db = xcalloc(1, sizeof *db);
	db->pq = pq;
	db->conn = conn;
out:
	free(shown);
	free(raw);
	free(decoded);
	free(why);
	free(pw);
	return db;
}

void pg_close(struct pg_db *db)
{
	if (!db)
		return;
	db->pq->finish(db->conn);
	free(db);
}

/* ---- statements ---- */

struct pg_res *pg_exec(struct pg_db *db, const char *sql, int n, const char *const *params, struct rp_err *err)
{
	const struct rp_pq_api *pq = db->pq;
	db->sqlstate[0] = 0;
	PGresult *res = pq->exec_params(db->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res ? pq->result_status(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		struct pg_res *r = xmalloc(sizeof *r);
		r->pq = pq;
		r->res = res;
		return r;
	}
	const char *primary = res ? pq->result_error_field(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? pq->result_error_field(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	char line[900];
	one_line(line, sizeof line, primary ? primary : pq->error_message(db->conn), NULL, 0);
	if (!line[0])
		snprintf(line, sizeof line, "the statement failed");
	if (state)
		rp_err_set(err, RP_ERR_RUNTIME, "PostgreSQL: %s (SQLSTATE %s)", line, state);
	else
		rp_err_set(err, RP_ERR_RUNTIME, "PostgreSQL: %s", line);
	if (res)
		pq->clear(res);
	return NULL;
}

int pg_cmd(struct pg_db *db, const char *sql, int n, const char *const *params, struct rp_err *err)
{
	struct pg_res *r = pg_exec(db, sql, n, params, err);
	if (!r)
		return -1;
	pg_res_free(r);
	return 0;
}

const char *pg_sqlstate(const struct pg_db *db)
{
	return db->sqlstate;
}

int pg_begin(struct pg_db *db, struct rp_err *err)
{
	return pg_cmd(db, "BEGIN", 0, NULL, err);
}

int pg_commit(struct pg_db *db, struct rp_err *err)
{
	return pg_cmd(db, "COMMIT", 0, NULL, err);
}

void pg_rollback(struct pg_db *db)
{
	struct rp_err ignored = {0};
	pg_cmd(db, "ROLLBACK", 0, NULL, &ignored);
}

int pg_rows(const struct pg_res *r)
{
	return r->pq->ntuples(r->res);
}

int pg_cols(const struct pg_res *r)
{
	return r->pq->nfields(r->res);
}

const char *pg_value(const struct pg_res *r, int row, int col)
{
	if (row < 0 || row >= pg_rows(r) || col < 0 || col >= pg_cols(r) || r->pq->getisnull(r->res, row, col))
		return NULL;
	return r->pq->getvalue(r->res, row, col);
}

void pg_res_free(struct pg_res *r)
{
	if (!r)
		return;
	r->pq->clear(r->res);
	free(r);
}

bool pg_connected(const struct pg_db *db)
{
	return db->pq->status(db->conn) == CONNECTION_OK;
}
