/* The UI's data over the team server's database (ui_source.h): one project's runs, read with
 * bound parameters only, every statement scoped to runs.project_id = $1 (a run of another
 * project is not found). Answers as the local source (src/core/ui_local.c) does, through the
 * same pieces (ui_parts.h); a run is named by its uid. Each call borrows a connection of its
 * own from a small pool, so the server's threads may call at once. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "annotations.h"
#include "pgdb.h"
#include "store.h"
#include "ui_parts.h"
#include "ui_source.h"
#include "util.h"
#include "where.h"

#define OUTPUTS_MAX 10000 /* entries listed for one run, as the local source */
#define COLUMNS_MAX 200
#define UID_MAX 100
/* Counts and columns cost a pass over the project's runs: each answer is kept this long (per
 * --where), so a table's pages and its polling do not pay it each time. */
#define MEMO_TTL_S 5.0
#define MEMO_MAX 64

struct conn {
	struct pg_db *db;
	struct conn *next;
};

struct ui_pg {
	struct ui_source base;
	char *url, *data_dir;
	char project[24];         /* $1 of every statement */
	pthread_mutex_t lock;     /* guards idle and the memo */
	pthread_mutex_t filling;  /* one fill of the memo at a time: the others then find it there */
	struct conn *idle;
	struct memo {
		char *key;
		cJSON *value;
		double at;        /* now_monotonic() when made */
	} memo[MEMO_MAX];
	unsigned long long gen;   /* bumped by a change: a memo made before it is not kept */
};

/* ---- connections ---- */

static struct conn *conn_get(struct ui_pg *u, struct rp_err *err)
{
	pthread_mutex_lock(&u->lock);
	struct conn *c = u->idle;
	if (c)
		u->idle = c->next;
	pthread_mutex_unlock(&u->lock);
	if (c)
		return c;
	struct pg_db *db = pg_connect(u->url, err);
	if (!db)
		return NULL;
	c = xcalloc(1, sizeof *c);
	c->db = db;
	return c;
}

/* Back to the pool, unless the statement that failed lost the connection (class 08, or none). */
static void conn_put(struct ui_pg *u, struct conn *c, bool failed)
{
	const char *st = pg_sqlstate(c->db);
	if (failed && (!*st || !strncmp(st, "08", 2) || !strncmp(st, "57", 2))) {
		pg_close(c->db);
		free(c);
		return;
	}
	pthread_mutex_lock(&u->lock);
	c->next = u->idle;
	u->idle = c;
	pthread_mutex_unlock(&u->lock);
}

/* ---- the memo of counts and columns ---- */

/* A copy of what key's memo holds, if fresh; *gen is the generation to give memo_put. */
static cJSON *memo_get(struct ui_pg *u, const char *key, unsigned long long *gen)
{
	cJSON *v = NULL;
	double now = now_monotonic();
	pthread_mutex_lock(&u->lock);
	*gen = u->gen;
	for (int i = 0; i < MEMO_MAX && !v; i++)
		if (u->memo[i].key && !strcmp(u->memo[i].key, key) && now - u->memo[i].at < MEMO_TTL_S)
			v = cJSON_Duplicate(u->memo[i].value, true);
	pthread_mutex_unlock(&u->lock);
	return v;
}

static void memo_put(struct ui_pg *u, const char *key, const cJSON *value, unsigned long long gen)
{
	cJSON *copy = cJSON_Duplicate(value, true);
	pthread_mutex_lock(&u->lock);
	if (gen != u->gen) {
		pthread_mutex_unlock(&u->lock);
		cJSON_Delete(copy);
		return;
	}
	/* the same key's slot, else an empty one, else the oldest */
	int at = 0;
	for (int i = 0; i < MEMO_MAX; i++) {
		if (u->memo[i].key && !strcmp(u->memo[i].key, key)) {
			at = i;
			break;
		}
		if (!u->memo[i].key || (u->memo[at].key && u->memo[i].at < u->memo[at].at))
			at = i;
	}
	free(u->memo[at].key);
	cJSON_Delete(u->memo[at].value);
	u->memo[at] = (struct memo){xstrdup(key), copy, now_monotonic()};
	pthread_mutex_unlock(&u->lock);
}

static void memo_forget(struct ui_pg *u)
{
	pthread_mutex_lock(&u->lock);
	u->gen++;
	for (int i = 0; i < MEMO_MAX; i++) {
		free(u->memo[i].key);
		cJSON_Delete(u->memo[i].value);
		u->memo[i] = (struct memo){0};
	}
	pthread_mutex_unlock(&u->lock);
}

/* ---- parameters ---- */

struct args {
	const char **v;
	char **owned;
	int n, cap;
};

static void arg_add(struct args *a, const char *v, char *owned)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = xrealloc(a->v, (size_t)a->cap * sizeof *a->v);
		a->owned = xrealloc(a->owned, (size_t)a->cap * sizeof *a->owned);
	}
	a->v[a->n] = owned ? owned : v;
	a->owned[a->n] = owned;
	a->n++;
}

static int arg_text(struct args *a, const char *v)
{
	arg_add(a, v, NULL);
	return a->n;
}

static int arg_fmt(struct args *a, char *owned)
{
	arg_add(a, NULL, owned);
	return a->n;
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->owned[i]);
	free(a->v);
	free(a->owned);
	memset(a, 0, sizeof *a);
}

static void args_where(struct args *a, const struct where_sql *w)
{
	for (size_t i = 0; i < w->nargs; i++) {
		const struct where_arg *x = &w->args[i];
		if (x->type == WHERE_ARG_TEXT)
			arg_text(a, x->text);
		else if (x->type == WHERE_ARG_REAL)
			arg_fmt(a, xasprintf("%.17g", x->real));
		else
			arg_fmt(a, xasprintf("%lld", x->integer));
	}
}

/* A PostgreSQL array literal of strings, each quoted: {"a","b\"c"}. */
static char *text_array(char *const *v, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(v[i]) + 3;
	char *s = xmalloc(len), *p = s;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = v[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static char *id_array(const long long *ids, size_t n)
{
	char *s = xmalloc(n * 21 + 3), *p = s;
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i ? ",%lld" : "%lld", ids[i]);
	*p++ = '}';
	*p = '\0';
	return s;
}

static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
		if (n < 0 || (n == 1 && *p < 0xC2))
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xC0) != 0x80)
				return false;
	}
	return true;
}

/* A run's uid as a request names it: letters, digits, '-', '_', '.'; anything else names none. */
static bool uid_ok(const char *uid)
{
	size_t n = uid ? strlen(uid) : 0;
	if (n == 0 || n > UID_MAX)
		return false;
	for (const char *c = uid; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '-' ||
		      *c == '_' || *c == '.'))
			return false;
	return true;
}

/* ---- blobs ---- */

char *server_blob_path(const char *data_dir, const char *sha256)
{
	if (!sha256 || strlen(sha256) != 64 || strspn(sha256, "0123456789abcdef") != 64)
		return NULL;
	return xasprintf("%s/blobs/%.2s/%s", data_dir, sha256, sha256 + 2);
}

/* The blob a run names at path (its sha256, owned), or NULL when it names none. */
static int run_blob(struct pg_db *db, long long run_id, const char *path, char **sha, struct rp_err *err)
{
	*sha = NULL;
	char id[24];
	snprintf(id, sizeof id, "%lld", run_id);
	const char *p[] = {id, path};
	struct pg_res *r = pg_exec(db, "SELECT sha256 FROM run_blobs WHERE run_id = $1::bigint AND path = $2", 2, p, err);
	if (!r)
		return -1;
	if (pg_rows(r) == 1 && pg_value(r, 0, 0))
		*sha = xstrdup(pg_value(r, 0, 0));
	pg_res_free(r);
	return 0;
}

/* Open a blob read-only: a regular file, never through a symlink. */
static int blob_open(const struct ui_pg *u, const char *sha, off_t *size, struct rp_err *err)
{
	char *path = server_blob_path(u->data_dir, sha);
	if (!path)
		return rp_err_set(err, RP_ERR_RUNTIME, "a blob with a bad name in the database: %.80s", sha);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = fd >= 0 ? EINVAL : e;
		rp_err_sys(err, "blob %s", path);
		free(path);
		return -1;
	}
	free(path);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*size = sb.st_size;
	return fd;
}

/* ---- finding a run ---- */

/* The run uid names in the project: *run_id, or not found. */
static int find_run(struct ui_pg *u, struct pg_db *db, const char *uid, long long *run_id, struct rp_err *err)
{
	if (!uid_ok(uid))
		return ui_err_not_found(err, "run", uid ? uid : "");
	const char *p[] = {u->project, uid};
	struct pg_res *r = pg_exec(db,
				   "SELECT id FROM runs WHERE project_id = $1::bigint AND uid = $2 AND deleted_at IS NULL", 2,
				   p, err);
	if (!r)
		return -1;
	int rc = pg_rows(r) == 1 ? 0 : ui_err_not_found(err, "run", uid);
	if (!rc)
		*run_id = strtoll(pg_value(r, 0, 0), NULL, 10);
	pg_res_free(r);
	return rc;
}

/* ---- rows ---- */

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static void add_time(cJSON *o, const char *key, const char *v)
{
	double t = v ? strtod(v, NULL) : 0;
	if (t > 0 && isfinite(t))
		cJSON_AddNumberToObject(o, key, t);
}

/* The columns of a row, first in every query that makes rows. */
#define ROW_SQL                                                                                                       \
	"runs.id, runs.num, runs.uid, runs.name, runs.status, runs.reason, runs.created, runs.started, runs.duration, " \
	"runs.exit_code"
#define ROW_NCOLS 10

static cJSON *row_json(const struct pg_res *r, int i)
{
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "id", pg_value(r, i, 2));
	char label[RP_ID_MAX];
	store_format_id(strtol(pg_value(r, i, 1), NULL, 10), label);
	cJSON_AddStringToObject(row, "label", label);
	cJSON_AddItemToObject(row, "name", str_or_null(pg_value(r, i, 3)));
	cJSON_AddStringToObject(row, "status", pg_value(r, i, 4) ? pg_value(r, i, 4) : "unreadable");
	cJSON_AddItemToObject(row, "reason", str_or_null(pg_value(r, i, 5)));
	add_time(row, "created", pg_value(r, i, 6));
	add_time(row, "started", pg_value(r, i, 7));
	if (pg_value(r, i, 8) && strtod(pg_value(r, i, 8), NULL) >= 0)
		cJSON_AddNumberToObject(row, "duration", strtod(pg_value(r, i, 8), NULL));
	if (pg_value(r, i, 9))
		cJSON_AddNumberToObject(row, "exit_code", strtod(pg_value(r, i, 9), NULL));
	cJSON_AddArrayToObject(row, "tags");
	cJSON_AddObjectToObject(row, "values");
	return row;
}

static cJSON *row_of(cJSON **rows, const long long *ids, size_t n, const char *id)
{
	long long v = strtoll(id, NULL, 10);
	for (size_t i = 0; i < n; i++)
		if (ids[i] == v)
			return rows[i];
	return NULL;
}

/* A param's value as the index keeps it: a number, a bool (0/1 and its text), or text. */
static cJSON *param_json(const char *num, const char *text)
{
	if (text && (!strcmp(text, "true") || !strcmp(text, "false")))
		return cJSON_CreateBool(!strcmp(text, "true"));
	if (num)
		return cJSON_CreateNumber(strtod(num, NULL));
	return cJSON_CreateString(text ? text : "");
}

static cJSON *metric_json(const char *last)
{
	double v = last ? strtod(last, NULL) : NAN;
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The rows' tags and the asked values (every param and metric when all): one query per table. */
static int rows_extras(struct pg_db *db, cJSON **rows, const long long *ids, size_t n, char **columns,
		       size_t ncolumns, bool all, struct rp_err *err)
{
	if (!n)
		return 0;
	char *in = id_array(ids, n);
	const char *p1[] = {in};
	struct pg_res *r = pg_exec(db,
				   "SELECT run_id, tag FROM tags WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, tag COLLATE \"C\"",
				   1, p1, err);
	int rc = r ? 0 : -1;
	for (int i = 0; r && i < pg_rows(r); i++) {
		cJSON *row = row_of(rows, ids, n, pg_value(r, i, 0));
		if (row && pg_value(r, i, 1))
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(row, "tags"), cJSON_CreateString(pg_value(r, i, 1)));
	}
	pg_res_free(r);
	for (int table = 0; table < 2 && rc == 0; table++) {
		struct strvec names = {0};
		for (size_t k = 0; k < ncolumns; k++) {
			const char *prefix = table == 0 ? "params." : "metrics.";
			if (!strncmp(columns[k], prefix, strlen(prefix)))
				strvec_push(&names, columns[k] + strlen(prefix));
		}
		if (!names.n && !all)
			continue;
		char *keys = text_array(names.v, names.n);
		const char *p2[] = {in, keys};
		const char *sql = table == 0 ? (all ? "SELECT run_id, key, num, text FROM params WHERE run_id = ANY($1::bigint[])"
						    : "SELECT run_id, key, num, text FROM params WHERE run_id = ANY($1::bigint[]) "
						      "AND key = ANY($2::text[])")
					     : (all ? "SELECT run_id, name, last FROM metrics WHERE run_id = ANY($1::bigint[]) "
						      "ORDER BY run_id, name COLLATE \"C\""
						    : "SELECT run_id, name, last FROM metrics WHERE run_id = ANY($1::bigint[]) "
						      "AND name = ANY($2::text[])");
		r = pg_exec(db, sql, all ? 1 : 2, p2, err);
		free(keys);
		strvec_free(&names);
		if (!r) {
			rc = -1;
			break;
		}
		for (int i = 0; i < pg_rows(r); i++) {
			cJSON *row = row_of(rows, ids, n, pg_value(r, i, 0));
			if (!row || !pg_value(r, i, 1))
				continue;
			char *col = xasprintf("%s.%s", table == 0 ? "params" : "metrics", pg_value(r, i, 1));
			cJSON *v = table == 0 ? param_json(pg_value(r, i, 2), pg_value(r, i, 3)) : metric_json(pg_value(r, i, 2));
			cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(row, "values"), col, v);
			free(col);
		}
		pg_res_free(r);
	}
	free(in);
	return rc;
}

/* ---- the sort and its cursor ---- */

enum part_type { P_INT, P_FLOAT, P_TEXT };

struct sort {
	bool desc;
	const char *join;         /* a LEFT JOIN naming $key, or NULL */
	const char *key;          /* the param key or metric name */
	const char *parts[3];     /* the sort value's parts (none: by number only); parts[0] NULL = missing */
	enum part_type types[3];
	int nparts;
};

static int sort_parse(const char *sort, struct sort *s, struct rp_err *err)
{
	memset(s, 0, sizeof *s);
	s->desc = sort[0] == '-';
	const char *f = s->desc ? sort + 1 : sort;
	static const struct {
		const char *name, *expr;
		enum part_type type;
	} plain[] = {{"started", "COALESCE(runs.started, runs.created)", P_FLOAT},
		     {"created", "runs.created", P_FLOAT},
		     {"ended", "runs.ended", P_FLOAT},
		     {"duration", "runs.duration", P_FLOAT},
		     {"name", "runs.name COLLATE \"C\"", P_TEXT},
		     {"status", "runs.status COLLATE \"C\"", P_TEXT}};
	if (!strcmp(f, "id"))
		return 0;
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		if (!strcmp(f, plain[i].name)) {
			s->parts[0] = plain[i].expr;
			s->types[0] = plain[i].type;
			s->nparts = 1;
			return 0;
		}
	if (!strncmp(f, "params.", 7) && f[7] && utf8_ok(f)) {
		/* as SQLite orders COALESCE(num, text): numbers, then text */
		s->key = f + 7;
		s->join = "LEFT JOIN params sp ON sp.run_id = runs.id AND sp.key = $%d";
		s->parts[0] = "CASE WHEN sp.num IS NOT NULL THEN 0 WHEN sp.text IS NOT NULL THEN 1 END";
		s->parts[1] = "COALESCE(sp.num, 0)";
		s->parts[2] = "(CASE WHEN sp.num IS NULL THEN sp.text ELSE '' END) COLLATE \"C\"";
		s->types[0] = P_INT;
		s->types[1] = P_FLOAT;
		s->types[2] = P_TEXT;
		s->nparts = 3;
		return 0;
	}
	if (!strncmp(f, "metrics.", 8) && f[8] && utf8_ok(f)) {
		s->key = f + 8;
		s->join = "LEFT JOIN metrics sm ON sm.run_id = runs.id AND sm.name = $%d";
		s->parts[0] = "sm.last";
		s->types[0] = P_FLOAT;
		s->nparts = 1;
		return 0;
	}
	return rp_err_set(err, RP_ERR_USAGE,
			  "sort '%.200s': use id, started, created, ended, duration, name, status, params.KEY or "
			  "metrics.NAME ('-' first for descending)",
			  sort);
}

/* A page cursor: where the last row of a page stood. Sent as hex of
 * "rps1\n<sort>\n<num>\n<id>\n" then "n" (no value) or "v" and each part's value in hex, each
 * after a newline, then a checksum: one made for another sort, or changed, is refused. */
struct cursor {
	char num[24], id[24];
	bool null;
	char *parts[3];
	int nparts;
};

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static char *hex(const char *p, size_t n)
{
	char *out = xmalloc(2 * n + 9);
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)p[i]);
	out[2 * n] = '\0';
	return out;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* hex back to bytes (no NUL among them); NULL when it is not that. */
static char *unhex(const char *h, size_t len)
{
	if (len % 2)
		return NULL;
	char *p = xmalloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(p);
			return NULL;
		}
		p[i] = (char)(hi << 4 | lo);
	}
	p[len / 2] = '\0';
	return p;
}

static char *cursor_encode(const char *sort, const struct sort *s, const struct pg_res *r, int row)
{
	struct strvec parts = {0};
	bool null = s->nparts && !pg_value(r, row, ROW_NCOLS);
	for (int k = 0; k < s->nparts && !null; k++)
		strvec_push(&parts, pg_value(r, row, ROW_NCOLS + k) ? pg_value(r, row, ROW_NCOLS + k) : "");
	char *payload = xasprintf("rps1\n%s\n%s\n%s\n%s", sort, pg_value(r, row, 1), pg_value(r, row, 0), null ? "n" : "v");
	for (size_t k = 0; k < parts.n; k++) {
		char *h = hex(parts.v[k], strlen(parts.v[k]));
		char *nx = xasprintf("%s\n%s", payload, h);
		free(h);
		free(payload);
		payload = nx;
	}
	strvec_free(&parts);
	size_t n = strlen(payload);
	char *out = hex(payload, n);
	snprintf(out + 2 * n, 9, "%08x", fnv1a(payload, n));
	free(payload);
	return out;
}

static int bad_cursor(struct rp_err *err)
{
	return rp_err_set(err, RP_ERR_USAGE, "after: not a cursor of this sort (start again from the first page)");
}

static bool digits(const char *p, char *out, size_t cap)
{
	size_t n = strlen(p);
	if (!n || n >= cap || n > 18 || strspn(p, "0123456789") != n)
		return false;
	memcpy(out, p, n + 1);
	return true;
}

static void cursor_free(struct cursor *c)
{
	for (int k = 0; k < c->nparts; k++)
		free(c->parts[k]);
	c->nparts = 0;
}

static int cursor_decode(const char *text, const char *sort, const struct sort *s, struct cursor *c,
			 struct rp_err *err)
{
	memset(c, 0, sizeof *c);
	size_t len = strlen(text);
	if (len < 10 || len % 2 || len > 16384)
		return bad_cursor(err);
	char *p = unhex(text, len - 8);
	if (!p)
		return bad_cursor(err);
	size_t n = (len - 8) / 2, slen = strlen(sort);
	char sum[9];
	snprintf(sum, sizeof sum, "%08x", fnv1a(p, n));
	bool ok = !strcmp(text + len - 8, sum) && n > 5 + slen && !strncmp(p, "rps1\n", 5) && !strncmp(p + 5, sort, slen) &&
		  p[5 + slen] == '\n';
	/* num, id, n|v, parts */
	char *fields[6] = {0};
	int nf = 0;
	if (ok) {
		char *rest = p + 6 + slen, *f;
		while (nf < 6 && (f = strsep(&rest, "\n")))
			fields[nf++] = f;
		ok = !rest && nf >= 3 && digits(fields[0], c->num, sizeof c->num) && digits(fields[1], c->id, sizeof c->id) &&
		     (!strcmp(fields[2], "n") ? (c->null = true, nf == 3 && s->nparts > 0)
					       : !strcmp(fields[2], "v") && nf == 3 + s->nparts);
	}
	for (int k = 0; ok && !c->null && k < s->nparts; k++) {
		char *v = unhex(fields[3 + k], strlen(fields[3 + k]));
		if (!v && !*fields[3 + k])
			v = xstrdup("");
		c->parts[c->nparts++] = v;
		ok = v != NULL;
		if (ok && s->types[k] == P_INT)
			ok = !strcmp(v, "0") || !strcmp(v, "1");
		else if (ok && s->types[k] == P_FLOAT) {
			char *end;
			errno = 0;
			double d = strtod(v, &end);
			ok = *v && !*end && errno == 0 && isfinite(d);
		} else if (ok)
			ok = utf8_ok(v);
	}
	free(p);
	if (!ok) {
		cursor_free(c);
		return bad_cursor(err);
	}
	return 0;
}

/* ---- runs ---- */

static const char *const type_cast[] = {"bigint", "float8", "text"};

/* The keyset condition after cursor c, its values added to a. */
static char *keyset(const struct sort *s, const struct cursor *c, struct args *a)
{
	const char *op = s->desc ? "<" : ">";
	int num = arg_text(a, c->num), id = arg_text(a, c->id);
	if (!s->nparts)
		return xasprintf("(runs.num, runs.id) %s ($%d::bigint, $%d::bigint)", op, num, id);
	if (c->null)
		return xasprintf("((%s) IS NULL AND (runs.num, runs.id) %s ($%d::bigint, $%d::bigint))", s->parts[0], op, num,
				 id);
	char *lhs = xstrdup(""), *rhs = xstrdup("");
	for (int k = 0; k < s->nparts; k++) {
		int at = arg_text(a, c->parts[k]);
		char *l = xasprintf("%s(%s), ", lhs, s->parts[k]);
		char *r = xasprintf("%s$%d::%s%s, ", rhs, at, type_cast[s->types[k]], s->types[k] == P_TEXT ? " COLLATE \"C\"" : "");
		free(lhs);
		free(rhs);
		lhs = l;
		rhs = r;
	}
	char *out = xasprintf("((%s) IS NULL OR (%sruns.num, runs.id) %s (%s$%d::bigint, $%d::bigint))", s->parts[0], lhs,
			      op, rhs, num, id);
	free(lhs);
	free(rhs);
	return out;
}

static char *order_by(const struct sort *s)
{
	const char *dir = s->desc ? "DESC" : "ASC";
	char *o = s->nparts ? xasprintf("(%s) IS NULL", s->parts[0]) : xstrdup("");
	for (int k = 0; k < s->nparts; k++) {
		char *nx = xasprintf("%s, (%s) %s", o, s->parts[k], dir);
		free(o);
		o = nx;
	}
	char *out = xasprintf("%s%sruns.num %s, runs.id %s", o, *o ? ", " : "", dir, dir);
	free(o);
	return out;
}

/* A failed statement whose input was bad (a value PostgreSQL would not take) is a usage error. */
static int query_fail(struct pg_db *db, struct rp_err *err, const char *what)
{
	if (!strncmp(pg_sqlstate(db), "22", 2))
		return rp_err_set(err, RP_ERR_USAGE, "%s: %s", what, err->msg);
	return -1;
}

static int page(struct ui_pg *u, struct pg_db *db, const struct ui_runs_query *q, long limit, const struct where_sql *ws,
		cJSON *o, struct rp_err *err)
{
	const char *sort = q->sort && *q->sort ? q->sort : "-id";
	struct sort s;
	if (sort_parse(sort, &s, err) < 0)
		return -1;
	struct cursor c = {0};
	bool after = q->after && *q->after;
	if (after && cursor_decode(q->after, sort, &s, &c, err) < 0)
		return -1;
	struct args a = {0};
	arg_text(&a, u->project);
	args_where(&a, ws);
	char *join = s.join ? xasprintf(s.join, arg_text(&a, s.key)) : xstrdup("");
	char *ks = after ? keyset(&s, &c, &a) : xstrdup("true");
	char *order = order_by(&s);
	char *cols = xstrdup("");
	for (int k = 0; k < s.nparts; k++) {
		char *nx = xasprintf("%s, (%s)::text", cols, s.parts[k]);
		free(cols);
		cols = nx;
	}
	char *sql = xasprintf("SELECT " ROW_SQL "%s FROM runs %s WHERE runs.project_id = $1::bigint AND runs.deleted_at IS NULL "
			      "AND (%s) AND %s ORDER BY %s LIMIT %ld",
			      cols, join, ws->sql ? ws->sql : "true", ks, order, limit + 1);
	free(cols);
	free(join);
	free(ks);
	free(order);
	struct pg_res *r = pg_exec(db, sql, a.n, a.v, err);
	free(sql);
	args_free(&a);
	cursor_free(&c);
	if (!r)
		return query_fail(db, err, "runs");
	size_t n = (size_t)pg_rows(r) < (size_t)limit ? (size_t)pg_rows(r) : (size_t)limit;
	cJSON **rows = xcalloc(n + 1, sizeof *rows);
	long long *ids = xcalloc(n + 1, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		rows[i] = row_json(r, (int)i);
		ids[i] = strtoll(pg_value(r, (int)i, 0), NULL, 10);
	}
	char *next = pg_rows(r) > limit ? cursor_encode(sort, &s, r, (int)n - 1) : NULL;
	pg_res_free(r);
	int rc = rows_extras(db, rows, ids, n, q->columns, q->ncolumns, false, err);
	cJSON *arr = cJSON_AddArrayToObject(o, "runs");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, rows[i]);
	cJSON_AddItemToObject(o, "next", str_or_null(next));
	free(next);
	free(rows);
	free(ids);
	return rc;
}

static int counts_fill(struct ui_pg *u, struct pg_db *db, const char *where, const struct where_sql *ws, cJSON *o,
		       struct rp_err *err)
{
	char *key = xasprintf("counts\n%s", where ? where : "");
	unsigned long long gen;
	cJSON *memo = memo_get(u, key, &gen);
	if (memo) {
		free(key);
		cJSON_AddItemToObject(o, "counts", memo);
		return 0;
	}
	struct args a = {0};
	arg_text(&a, u->project);
	args_where(&a, ws);
	char *sql = xasprintf("SELECT runs.status, count(*) FROM runs WHERE runs.project_id = $1::bigint AND "
			      "runs.deleted_at IS NULL AND (%s) GROUP BY runs.status ORDER BY runs.status COLLATE \"C\"",
			      ws->sql ? ws->sql : "true");
	struct pg_res *r = pg_exec(db, sql, a.n, a.v, err);
	free(sql);
	args_free(&a);
	if (!r) {
		free(key);
		return query_fail(db, err, "counts");
	}
	cJSON *c = cJSON_AddObjectToObject(o, "counts");
	for (int i = 0; i < pg_rows(r); i++)
		cJSON_AddNumberToObject(c, pg_value(r, i, 0) ? pg_value(r, i, 0) : "unreadable",
					strtod(pg_value(r, i, 1), NULL));
	pg_res_free(r);
	memo_put(u, key, c, gen);
	free(key);
	return 0;
}

static int counts(struct ui_pg *u, struct pg_db *db, const char *where, const struct where_sql *ws, cJSON *o,
		  struct rp_err *err)
{
	char *key = xasprintf("counts\n%s", where ? where : "");
	unsigned long long gen;
	cJSON *memo = memo_get(u, key, &gen);
	free(key);
	if (memo) {
		cJSON_AddItemToObject(o, "counts", memo);
		return 0;
	}
	pthread_mutex_lock(&u->filling);
	int rc = counts_fill(u, db, where, ws, o, err);
	pthread_mutex_unlock(&u->filling);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct param keys or metric names of the project: each distinct one found by an index
 * seek (not a scan of every row), kept when a run of the project has it. */
static int distinct_names(struct ui_pg *u, struct pg_db *db, const char *table, const char *col, cJSON *into,
			  struct rp_err *err)
{
	/* scalar subqueries: a nested loop over the project's runs, stopping at the first that has it */
	char *sql = xasprintf("WITH RECURSIVE k(v) AS (SELECT min(%2$s) FROM %1$s UNION ALL "
			      "SELECT (SELECT min(t.%2$s) FROM %1$s t WHERE t.%2$s > k.v) FROM k WHERE k.v IS NOT NULL) "
			      "SELECT k.v FROM k WHERE k.v IS NOT NULL AND (SELECT true FROM runs WHERE runs.project_id = "
			      "$1::bigint AND runs.deleted_at IS NULL AND (SELECT true FROM %1$s t WHERE t.run_id = runs.id "
			      "AND t.%2$s = k.v) LIMIT 1)",
			      table, col);
	const char *p[] = {u->project};
	struct pg_res *r = pg_exec(db, sql, 1, p, err);
	free(sql);
	if (!r)
		return -1;
	struct strvec v = {0};
	for (int i = 0; i < pg_rows(r); i++)
		strvec_push(&v, pg_value(r, i, 0));
	pg_res_free(r);
	if (v.n > 1)
		qsort(v.v, v.n, sizeof *v.v, cmp_str);
	for (size_t i = 0; i < v.n; i++)
		cJSON_AddItemToArray(into, cJSON_CreateString(v.v[i]));
	strvec_free(&v);
	return 0;
}

static int pg_runs(struct ui_source *src, const struct ui_runs_query *q, cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	long limit = q->limit ? q->limit : 50;
	if (limit < 1 || limit > UI_PAGE_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "limit: from 1 to %d", UI_PAGE_MAX);
	if (q->ncolumns > COLUMNS_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "columns: at most %d", COLUMNS_MAX);
	for (size_t k = 0; k < q->ncolumns; k++) {
		const char *c = q->columns[k];
		if (!((!strncmp(c, "params.", 7) && c[7]) || (!strncmp(c, "metrics.", 8) && c[8])) || !utf8_ok(c))
			return rp_err_set(err, RP_ERR_USAGE, "columns: '%.200s': use params.KEY or metrics.NAME", c);
	}
	struct where_sql ws = {0};
	if (q->where && *q->where && where_compile_dialect(q->where, now_realtime(), WHERE_POSTGRES, 2, &ws, err) < 0)
		return -1;
	struct conn *c = conn_get(u, err);
	if (!c) {
		where_sql_free(&ws);
		return -1;
	}
	cJSON *o = cJSON_CreateObject();
	int rc = page(u, c->db, q, limit, &ws, o, err);
	if (rc == 0)
		rc = counts(u, c->db, q->where, &ws, o, err);
	unsigned long long gen;
	cJSON *cols = rc == 0 ? memo_get(u, "columns", &gen) : NULL;
	bool filling = !cols && rc == 0;
	if (filling) {
		pthread_mutex_lock(&u->filling);
		cols = memo_get(u, "columns", &gen);
	}
	if (cols) {
		cJSON_AddItemToObject(o, "columns", cols);
	} else if (rc == 0) {
		cols = cJSON_AddObjectToObject(o, "columns");
		rc = distinct_names(u, c->db, "params", "key", cJSON_AddArrayToObject(cols, "params"), err);
		if (rc == 0)
			rc = distinct_names(u, c->db, "metrics", "name", cJSON_AddArrayToObject(cols, "metrics"), err);
		if (rc == 0)
			memo_put(u, "columns", cols, gen);
	}
	if (filling)
		pthread_mutex_unlock(&u->filling);
	conn_put(u, c, rc < 0);
	where_sql_free(&ws);
	if (rc < 0) {
		cJSON_Delete(o);
		return -1;
	}
	*out = o;
	return 0;
}

/* ---- run ---- */

/* The stored record and the server's annotations of run_id: *rec (as record_to_json writes it,
 * annotations not applied), *a, *r (parsed) when asked. */
static int load_record(struct pg_db *db, long long run_id, struct rp_run *r, struct rp_annotations *a, bool lock,
		       struct rp_err *err)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", run_id);
	const char *p[] = {id};
	struct pg_res *res = pg_exec(db,
				     lock ? "SELECT runs.record::text, array_to_json(a.tags_added)::text, "
					    "array_to_json(a.tags_removed)::text, a.note FROM runs LEFT JOIN annotations a ON "
					    "a.run_id = runs.id WHERE runs.id = $1::bigint FOR UPDATE OF runs"
					  : "SELECT runs.record::text, array_to_json(a.tags_added)::text, "
					    "array_to_json(a.tags_removed)::text, a.note FROM runs LEFT JOIN annotations a ON "
					    "a.run_id = runs.id WHERE runs.id = $1::bigint",
				     1, p, err);
	if (!res)
		return -1;
	memset(a, 0, sizeof *a);
	int rc = -1;
	cJSON *j = pg_rows(res) == 1 ? cJSON_Parse(pg_value(res, 0, 0)) : NULL;
	if (!j)
		rp_err_set(err, RP_ERR_RUNTIME, "run %lld: its stored record cannot be read", run_id);
	else if (record_from_json(j, r, err) == 0)
		rc = 0;
	cJSON_Delete(j);
	for (int k = 0; rc == 0 && k < 2; k++) {
		cJSON *t = pg_value(res, 0, 1 + k) ? cJSON_Parse(pg_value(res, 0, 1 + k)) : NULL;
		for (const cJSON *e = t ? t->child : NULL; e; e = e->next)
			if (cJSON_IsString(e))
				strvec_push(k ? &a->removed : &a->added, e->valuestring);
		cJSON_Delete(t);
	}
	if (rc == 0 && pg_value(res, 0, 3))
		a->note = xstrdup(pg_value(res, 0, 3));
	pg_res_free(res);
	if (rc < 0)
		return rp_err_wrap(err, "run %lld", run_id);
	return 0;
}

static int run_answer(struct ui_pg *u, struct pg_db *db, long long run_id, cJSON **out, struct rp_err *err)
{
	struct rp_run r;
	struct rp_annotations a;
	if (load_record(db, run_id, &r, &a, false, err) < 0)
		return -1;
	cJSON *rec = record_to_json(&r);
	record_free(&r);
	annotations_apply_json(&a, rec);
	annotations_free(&a);
	char id[24];
	snprintf(id, sizeof id, "%lld", run_id);
	const char *p[] = {id};
	struct pg_res *res = pg_exec(db,
				     "SELECT rb.path, b.size, extract(epoch FROM b.created_at) FROM run_blobs rb JOIN blobs b ON "
				     "b.sha256 = rb.sha256 WHERE rb.run_id = $1::bigint AND (starts_with(rb.path, 'outputs/') OR "
				     "rb.path = 'logs.txt') ORDER BY rb.path COLLATE \"C\" LIMIT 10002",
				     1, p, err);
	if (!res) {
		cJSON_Delete(rec);
		return -1;
	}
	(void)u;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "run", rec);
	cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
	double log_size = 0;
	int count = 0;
	for (int i = 0; i < pg_rows(res); i++) {
		const char *path = pg_value(res, i, 0);
		if (!strcmp(path, "logs.txt")) {
			log_size = strtod(pg_value(res, i, 1), NULL);
			continue;
		}
		if (count == OUTPUTS_MAX) {
			cJSON_AddBoolToObject(o, "outputs_truncated", true);
			break;
		}
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "path", path + strlen("outputs/"));
		cJSON_AddNumberToObject(e, "size", strtod(pg_value(res, i, 1), NULL));
		cJSON_AddNumberToObject(e, "mtime", strtod(pg_value(res, i, 2), NULL));
		cJSON_AddItemToArray(outs, e);
		count++;
	}
	pg_res_free(res);
	cJSON_AddNumberToObject(o, "log_size", log_size);
	*out = o;
	return 0;
}

static int pg_run(struct ui_source *src, const char *id, cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	long long run_id;
	int rc = find_run(u, c->db, id, &run_id, err);
	if (rc == 0)
		rc = run_answer(u, c->db, run_id, out, err);
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	return rc;
}

/* ---- metric ---- */

/* A PostgreSQL array's text ({1,2,NaN}) as numbers; NULL elements are NaN. */
static size_t parse_array(const char *text, double *out, size_t cap)
{
	size_t n = 0;
	const char *p = text && *text == '{' ? text + 1 : "";
	while (*p && *p != '}' && n < cap) {
		char *end;
		if (!strncmp(p, "NULL", 4)) {
			out[n++] = NAN;
			end = (char *)p + 4;
		} else {
			out[n++] = strtod(p, &end);
			if (end == p)
				break;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

static size_t array_len(const char *text)
{
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == ',';
	return n;
}

static int pg_metric(struct ui_source *src, const char *id, const char *name, double from, double to, int max_points,
		     cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	long long run_id;
	int rc = find_run(u, c->db, id, &run_id, err);
	struct pg_res *r = NULL;
	if (rc == 0 && (!name || !utf8_ok(name)))
		rc = ui_err_not_found(err, "metric", name ? name : "");
	if (rc == 0) {
		char rid[24];
		snprintf(rid, sizeof rid, "%lld", run_id);
		const char *p[] = {rid, name};
		r = pg_exec(c->db, "SELECT steps::text, \"values\"::text FROM series WHERE run_id = $1::bigint AND name = $2", 2,
			    p, err);
		rc = r ? 0 : -1;
		if (r && pg_rows(r) != 1)
			rc = ui_err_not_found(err, "metric", name);
	}
	if (rc == 0) {
		const char *st = pg_value(r, 0, 0), *va = pg_value(r, 0, 1);
		size_t cap = array_len(st);
		double *steps = xmalloc(cap * sizeof *steps), *vals = xmalloc(cap * sizeof *vals);
		size_t ns = parse_array(st, steps, cap), nv = parse_array(va, vals, cap);
		struct mx_series s = {.name = (char *)name, .n = ns < nv ? ns : nv};
		s.pts = xcalloc(s.n + 1, sizeof *s.pts);
		for (size_t i = 0; i < s.n; i++)
			s.pts[i] = (struct mx_point){.step = (long long)steps[i], .value = vals[i]};
		*out = ui_series_json(&s, from, to, max_points);
		free(s.pts);
		free(steps);
		free(vals);
	}
	pg_res_free(r);
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	return rc;
}

/* ---- log and output ---- */

static int pg_log(struct ui_source *src, const char *id, long long offset, size_t max, cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	long long run_id;
	char *sha = NULL;
	int rc = find_run(u, c->db, id, &run_id, err);
	if (rc == 0)
		rc = run_blob(c->db, run_id, "logs.txt", &sha, err);
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	if (rc < 0)
		return -1;
	off_t size = 0;
	bool has_log = sha != NULL;
	int fd = has_log ? blob_open(u, sha, &size, err) : -1;
	free(sha);
	if (has_log && fd < 0)
		return -1;
	rc = ui_log_answer(fd, size, false, offset, max, id, out, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int pg_output(struct ui_source *src, const char *id, const char *path, struct ui_output *out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	out->fd = -1;
	out->name = NULL;
	if (!ui_output_path_ok(path, path ? strlen(path) : 0) || !utf8_ok(path))
		return ui_err_not_found(err, "output", path ? path : "");
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	long long run_id;
	char *sha = NULL;
	int rc = find_run(u, c->db, id, &run_id, err);
	if (rc == 0) {
		char *key = xasprintf("outputs/%s", path);
		rc = run_blob(c->db, run_id, key, &sha, err);
		free(key);
		if (rc == 0 && !sha)
			rc = ui_err_not_found(err, "output", path);
	}
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	if (rc < 0)
		return -1;
	off_t size;
	int fd = blob_open(u, sha, &size, err);
	free(sha);
	if (fd < 0)
		return -1;
	const char *base = strrchr(path, '/');
	out->fd = fd;
	out->size = size;
	out->name = xstrdup(base ? base + 1 : path);
	return 0;
}

/* ---- compare ---- */

struct side {
	long long run_id;
	struct rp_run r;
	bool loaded;
	cJSON *files;
	cJSON *row;
	char *uid;
};

static int pg_compare(struct ui_source *src, char **ids, size_t n, cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	if (n == 0)
		return rp_err_set(err, RP_ERR_USAGE, "ids: name at least one run");
	if (n > UI_COMPARE_TABLE_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "ids: at most %d runs", UI_COMPARE_TABLE_MAX);
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	struct side *sides = xcalloc(n, sizeof *sides);
	long long *run_ids = xcalloc(n, sizeof *run_ids);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = find_run(u, c->db, ids[i], &sides[i].run_id, err);
		if (rc == 0) {
			struct rp_annotations a;
			rc = load_record(c->db, sides[i].run_id, &sides[i].r, &a, false, err);
			annotations_free(&a);
			sides[i].loaded = rc == 0;
			run_ids[i] = sides[i].run_id;
		}
		char *sha = NULL;
		if (rc == 0 && run_blob(c->db, sides[i].run_id, UI_FILES_NAME, &sha, err) < 0)
			rc = -1;
		if (sha) {
			char *path = server_blob_path(u->data_dir, sha);
			sides[i].files = path ? ui_files_load(path) : NULL;
			free(path);
			free(sha);
		}
	}
	/* the rows: as the table's, with every param (as recorded) and metric */
	struct pg_res *res = NULL;
	if (rc == 0) {
		char *in = id_array(run_ids, n);
		const char *p[] = {in};
		res = pg_exec(c->db, "SELECT " ROW_SQL " FROM runs WHERE runs.id = ANY($1::bigint[])", 1, p, err);
		free(in);
		rc = res ? 0 : -1;
	}
	cJSON **rows = xcalloc(n, sizeof *rows);
	for (size_t i = 0; rc == 0 && i < n; i++)
		for (int k = 0; k < pg_rows(res); k++)
			if (strtoll(pg_value(res, k, 0), NULL, 10) == run_ids[i])
				rows[i] = row_json(res, k);
	pg_res_free(res);
	if (rc == 0)
		rc = rows_extras(c->db, rows, run_ids, n, NULL, 0, true, err);
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	if (rc == 0) {
		struct ui_compare_side *cs = xcalloc(n, sizeof *cs);
		for (size_t i = 0; i < n; i++) {
			/* the params as recorded (a string stays a string), the metrics as summarized */
			cJSON *values = cJSON_GetObjectItemCaseSensitive(rows[i], "values");
			for (cJSON *v = values->child, *nx; v; v = nx) {
				nx = v->next;
				if (!strncmp(v->string, "params.", 7))
					cJSON_Delete(cJSON_DetachItemViaPointer(values, v));
			}
			cJSON *metrics = cJSON_DetachItemFromObjectCaseSensitive(rows[i], "values");
			values = cJSON_AddObjectToObject(rows[i], "values");
			for (const cJSON *p = cJSON_IsObject(sides[i].r.params) ? sides[i].r.params->child : NULL; p; p = p->next) {
				char *k = xasprintf("params.%s", p->string);
				cJSON_AddItemToObject(values, k, cJSON_Duplicate(p, true));
				free(k);
			}
			while (metrics->child) {
				cJSON *m = cJSON_DetachItemViaPointer(metrics, metrics->child);
				cJSON_AddItemToObject(values, m->string, m);
			}
			cJSON_Delete(metrics);
			cs[i] = (struct ui_compare_side){&sides[i].r, ids[i], rows[i], sides[i].files};
			rows[i] = NULL;
		}
		*out = ui_compare_answer(cs, n);
		free(cs);
	}
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(rows[i]);
		if (sides[i].loaded)
			record_free(&sides[i].r);
		cJSON_Delete(sides[i].files);
	}
	free(rows);
	free(run_ids);
	free(sides);
	return rc;
}

/* ---- annotate ---- */

/* Change run_id's annotations in one transaction, and the tags and note --where sees. */
static int annotate_tx(struct pg_db *db, long long run_id, const cJSON *tags, const cJSON *note, struct rp_err *err)
{
	if (pg_begin(db, err) < 0)
		return -1;
	struct rp_run r;
	struct rp_annotations a;
	if (load_record(db, run_id, &r, &a, true, err) < 0) {
		pg_rollback(db);
		return -1;
	}
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next)
		annotations_tag(&a, t->valuestring);
	if (note) {
		free(a.note);
		a.note = *note->valuestring ? xstrdup(note->valuestring) : NULL;
	}
	cJSON *rec = record_to_json(&r);
	record_free(&r);
	annotations_apply_json(&a, rec);
	struct strvec now = {0};
	for (const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "tags"); t && t->child; t = NULL)
		for (const cJSON *e = t->child; e; e = e->next)
			if (cJSON_IsString(e))
				strvec_push(&now, e->valuestring);
	const char *eff_note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "note"));
	char id[24];
	snprintf(id, sizeof id, "%lld", run_id);
	char *added = text_array(a.added.v, a.added.n), *removed = text_array(a.removed.v, a.removed.n);
	char *all = text_array(now.v, now.n);
	const char *p1[] = {id, added, removed, a.note};
	const char *p2[] = {id, all};
	const char *p3[] = {id, eff_note};
	int rc = pg_cmd(db,
			"INSERT INTO annotations (run_id, tags_added, tags_removed, note, updated_at) VALUES ($1::bigint, "
			"$2::text[], $3::text[], $4, now()) ON CONFLICT (run_id) DO UPDATE SET tags_added = excluded.tags_added, "
			"tags_removed = excluded.tags_removed, note = excluded.note, updated_at = now()",
			4, p1, err);
	if (rc == 0)
		rc = pg_cmd(db, "DELETE FROM tags WHERE run_id = $1::bigint", 1, p1, err);
	if (rc == 0)
		rc = pg_cmd(db, "INSERT INTO tags (run_id, tag) SELECT $1::bigint, t FROM unnest($2::text[]) t", 2, p2, err);
	if (rc == 0)
		rc = pg_cmd(db, "UPDATE runs SET note = $2 WHERE id = $1::bigint", 2, p3, err);
	if (rc == 0)
		rc = pg_commit(db, err);
	if (rc < 0)
		pg_rollback(db);
	free(added);
	free(removed);
	free(all);
	strvec_free(&now);
	cJSON_Delete(rec);
	annotations_free(&a);
	return rc;
}

static int pg_annotate(struct ui_source *src, const char *id, const cJSON *change, cJSON **out, struct rp_err *err)
{
	struct ui_pg *u = (struct ui_pg *)src;
	const cJSON *tags, *note;
	if (ui_annotation_change(change, &tags, &note, err) < 0)
		return -1;
	struct conn *c = conn_get(u, err);
	if (!c)
		return -1;
	long long run_id;
	int rc = find_run(u, c->db, id, &run_id, err);
	if (rc == 0)
		rc = annotate_tx(c->db, run_id, tags, note, err);
	if (rc == 0)
		memo_forget(u); /* the counts of a --where on tags or note may have changed */
	if (rc == 0)
		rc = run_answer(u, c->db, run_id, out, err);
	conn_put(u, c, rc < 0 && !ui_err_is_not_found(err));
	return rc;
}

/* ---- the source ---- */

static void pg_source_close(struct ui_source *src)
{
	struct ui_pg *u = (struct ui_pg *)src;
	if (!u)
		return;
	for (struct conn *c = u->idle, *nx; c; c = nx) {
		nx = c->next;
		pg_close(c->db);
		free(c);
	}
	memo_forget(u);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->filling);
	free(u->url);
	free(u->data_dir);
	free(u);
}

static const struct ui_source_ops pg_ops = {
	.runs = pg_runs,
	.run = pg_run,
	.metric = pg_metric,
	.log = pg_log,
	.output = pg_output,
	.compare = pg_compare,
	.annotate = pg_annotate,
	.close = pg_source_close,
};

int ui_source_pg_open(const char *db_url, const char *data_dir, long long project_id, struct ui_source **out,
		      struct rp_err *err)
{
	if (project_id < 1)
		return rp_err_set(err, RP_ERR_USAGE, "project id %lld: not a project", project_id);
	struct ui_pg *u = xcalloc(1, sizeof *u);
	u->base.ops = &pg_ops;
	u->url = xstrdup(db_url);
	u->data_dir = xstrdup(data_dir ? data_dir : ".");
	snprintf(u->project, sizeof u->project, "%lld", project_id);
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->filling, NULL);
	/* the first connection now: a database that cannot be reached fails the open */
	struct conn *c = conn_get(u, err);
	if (!c) {
		pg_source_close(&u->base);
		return -1;
	}
	conn_put(u, c, false);
	*out = &u->base;
	return 0;
}
