/* push.c: runs pushed into the server's database, their blobs, and pulled back
 * (include/server_push.h). Every value is a bound parameter; lists travel as one jsonb
 * parameter expanded by PostgreSQL, so a run costs a handful of statements whatever its size. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "pgdb.h"
#include "server.h"
#include "server_push.h"
#include "store.h"
#include "sync.h"
#include "testhooks.h"
#include "util.h"

#define CHUNK (1 << 20)

const char *push_state_name(enum push_state s)
{
	static const char *const names[] = {"missing", "stale", "same", "newer_on_server", "conflict"};
	return names[s];
}

const char *push_outcome_name(enum push_outcome o)
{
	static const char *const names[] = {"new", "updated", "same", "conflict", "forced"};
	return names[o];
}

static char *lld(long long v)
{
	return xasprintf("%lld", v);
}

/* A JSON value of ours as the text of one parameter. */
static char *json_text(cJSON *j)
{
	char *t = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return t ? t : xstrdup("null");
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

/* ---- projects ---- */

int push_project_id(struct pg_db *db, const char *name, bool create, long long *id, struct rp_err *err)
{
	const char *p[] = {name};
	if (create && pg_cmd(db, "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", 1, p, err) < 0)
		return -1;
	struct pg_res *r = pg_exec(db, "SELECT id FROM projects WHERE name = $1", 1, p, err);
	if (!r)
		return -1;
	int rc = 0;
	if (pg_rows(r) != 1)
		rc = rp_err_set(err, RP_ERR_USAGE, "no project '%s' on the server", name);
	else
		*id = strtoll(pg_value(r, 0, 0), NULL, 10);
	pg_res_free(r);
	return rc;
}

/* ---- which runs to send ---- */

int push_missing(struct pg_db *db, long long project_id, struct push_item *items, size_t n, struct rp_err *err)
{
	if (n > PUSH_ITEMS_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "%zu runs asked about at once: at most %d", n, PUSH_ITEMS_MAX);
	cJSON *uids = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		items[i].state = PUSH_MISSING;
		cJSON_AddItemToArray(uids, cJSON_CreateString(items[i].uid ? items[i].uid : ""));
	}
	char *pid = lld(project_id), *list = json_text(uids);
	const char *p[] = {pid, list};
	struct pg_res *r = pg_exec(db,
				   "SELECT e.o, r.revision, r.content_hash"
				   " FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS e(uid, o)"
				   " JOIN runs r ON r.project_id = $1::bigint AND r.uid = e.uid",
				   2, p, err);
	free(pid);
	free(list);
	if (!r)
		return -1;
	for (int row = 0; row < pg_rows(r); row++) {
		long long o = strtoll(pg_value(r, row, 0), NULL, 10);
		if (o < 1 || (size_t)o > n)
			continue;
		struct push_item *it = &items[o - 1];
		long long rev = strtoll(pg_value(r, row, 1), NULL, 10);
		if (rev < it->revision)
			it->state = PUSH_STALE;
		else if (rev > it->revision)
			it->state = PUSH_NEWER_ON_SERVER;
		else
			it->state = it->content_hash && !strcmp(pg_value(r, row, 2), it->content_hash) ? PUSH_SAME
													  : PUSH_CONFLICT;
	}
	pg_res_free(r);
	return 0;
}

/* ---- validating a payload ---- */

static bool only_members(const cJSON *o, const char *const *names, size_t n)
{
	size_t seen = 0;
	for (const cJSON *c = o->child; c; c = c->next) {
		bool known = false;
		for (size_t i = 0; i < n && !known; i++)
			known = c->string && !strcmp(c->string, names[i]);
		if (!known)
			return false;
		seen++;
	}
	return seen == n;
}

static bool is_int(const cJSON *j, double lo, double hi)
{
	return cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) && j->valuedouble >= lo &&
	       j->valuedouble <= hi;
}

static bool text_ok(const char *s, size_t max)
{
	return s && *s && strlen(s) <= max;
}

static int bad(struct rp_err *err, const char *why)
{
	return rp_err_set(err, RP_ERR_USAGE, "the pushed run is refused: %s", why);
}

static int check_record(const cJSON *rec, const char *uid, struct rp_err *err)
{
	if (!cJSON_IsObject(rec))
		return bad(err, "record is not a JSON object");
	char *text = cJSON_PrintUnformatted(rec);
	size_t len = text ? strlen(text) : SIZE_MAX;
	free(text);
	if (len > PUSH_RECORD_MAX)
		return bad(err, "record is over 1 MiB");
	const char *ruid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "uid"));
	if (!ruid || strcmp(ruid, uid))
		return bad(err, "record's uid is not the run's");
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "status"));
	if (status && (!strcmp(status, "running") || !strcmp(status, "queued")))
		return bad(err, "the run has not ended");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(rec, "params");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(rec, "tags");
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(rec, "metrics");
	if ((params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) ||
	    (metrics && !cJSON_IsObject(metrics) && !cJSON_IsNull(metrics)) ||
	    (tags && !cJSON_IsArray(tags) && !cJSON_IsNull(tags)))
		return bad(err, "record's params, tags or metrics have the wrong type");
	if (cJSON_GetArraySize(params) > PUSH_NAMES_MAX || cJSON_GetArraySize(tags) > PUSH_NAMES_MAX ||
	    cJSON_GetArraySize(metrics) > PUSH_NAMES_MAX)
		return bad(err, "more than 10,000 params, tags or metrics");
	for (const cJSON *t = cJSON_IsArray(tags) ? tags->child : NULL; t; t = t->next)
		if (!cJSON_IsString(t) || !text_ok(t->valuestring, 256))
			return bad(err, "a tag is not a string of 1 to 256 bytes");
	for (const cJSON *p = cJSON_IsObject(params) ? params->child : NULL; p; p = p->next)
		if (!text_ok(p->string, 1024))
			return bad(err, "a param's name is empty or over 1024 bytes");
	for (const cJSON *m = cJSON_IsObject(metrics) ? metrics->child : NULL; m; m = m->next)
		if (!text_ok(m->string, 1024) || !cJSON_IsObject(m))
			return bad(err, "a metric's summary is not an object under a name of 1 to 1024 bytes");
	return 0;
}

static int check_series(const cJSON *metrics, struct rp_err *err)
{
	static const char *const members[] = {"steps", "values"};
	if (!cJSON_IsObject(metrics))
		return bad(err, "metrics is not a JSON object");
	if (cJSON_GetArraySize(metrics) > PUSH_NAMES_MAX)
		return bad(err, "more than 10,000 series");
	for (const cJSON *s = metrics->child; s; s = s->next) {
		if (!text_ok(s->string, 1024) || !cJSON_IsObject(s) || !only_members(s, members, 2))
			return bad(err, "a series is not {\"steps\": [...], \"values\": [...]} under a name of 1 to 1024 bytes");
		const cJSON *steps = s->child, *values = s->child->next;
		if (strcmp(steps->string, "steps")) {
			const cJSON *t = steps;
			steps = values;
			values = t;
		}
		if (!cJSON_IsArray(steps) || !cJSON_IsArray(values))
			return bad(err, "a series' steps and values are not arrays");
		int n = cJSON_GetArraySize(steps);
		if (n != cJSON_GetArraySize(values))
			return bad(err, "a series has not as many values as steps");
		if (n > PUSH_POINTS_MAX)
			return bad(err, "a series has more than 1,000,000 points");
		for (const cJSON *x = steps->child; x; x = x->next)
			if (!is_int(x, -9007199254740992.0, 9007199254740992.0))
				return bad(err, "a step is not an integer");
		for (const cJSON *x = values->child; x; x = x->next)
			if (!cJSON_IsNumber(x) && !cJSON_IsNull(x))
				return bad(err, "a value is not a number or null");
	}
	return 0;
}

static int check_manifest(const cJSON *manifest, struct rp_err *err)
{
	static const char *const members[] = {"path", "size", "sha256"};
	if (!cJSON_IsArray(manifest))
		return bad(err, "manifest is not an array");
	if (cJSON_GetArraySize(manifest) > PUSH_FILES_MAX)
		return bad(err, "more than 100,000 files");
	const char *prev = NULL;
	for (const cJSON *e = manifest->child; e; e = e->next) {
		if (!cJSON_IsObject(e) || !only_members(e, members, 3))
			return bad(err, "a manifest entry is not {path, size, sha256}");
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
		if (!path || !sync_path_ok(path))
			return bad(err, "a manifest path is absolute, empty, has '.' or '..' or a control character");
		if (!is_int(cJSON_GetObjectItemCaseSensitive(e, "size"), 0, 9007199254740992.0))
			return bad(err, "a manifest size is not a whole number of bytes");
		if (!hex64(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"))))
			return bad(err, "a manifest sha256 is not 64 lowercase hex digits");
		if (prev && strcmp(prev, path) >= 0)
			return bad(err, "the manifest is not sorted by path, or names a path twice");
		prev = path;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether an object anywhere in j names a member twice (jsonb would keep only the last). */
static bool has_duplicates(const cJSON *j)
{
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return false;
	size_t n = 0;
	for (const cJSON *c = j->child; c; c = c->next) {
		if (has_duplicates(c))
			return true;
		n++;
	}
	if (!cJSON_IsObject(j) || n < 2)
		return false;
	const char **names = xcalloc(n, sizeof *names);
	size_t i = 0;
	for (const cJSON *c = j->child; c; c = c->next)
		names[i++] = c->string ? c->string : "";
	qsort(names, n, sizeof *names, cmp_names);
	bool dup = false;
	for (i = 1; i < n && !dup; i++)
		dup = !strcmp(names[i - 1], names[i]);
	free(names);
	return dup;
}

static int check_payload(const cJSON *p, struct rp_err *err)
{
	static const char *const members[] = {"uid", "revision", "content_hash", "record", "metrics", "manifest"};
	if (!cJSON_IsObject(p) || !only_members(p, members, 6))
		return bad(err, "it is not an object of uid, revision, content_hash, record, metrics and manifest");
	if (has_duplicates(p))
		return bad(err, "an object names a member twice");
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "uid"));
	if (!text_ok(uid, 200))
		return bad(err, "uid is not a string of 1 to 200 bytes");
	for (const char *c = uid; *c; c++)
		if ((unsigned char)*c < 0x20)
			return bad(err, "uid has a control character");
	if (!is_int(cJSON_GetObjectItemCaseSensitive(p, "revision"), 1, 2147483647.0))
		return bad(err, "revision is not a whole number from 1");
	const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "content_hash"));
	if (!hex64(hash))
		return bad(err, "content_hash is not 64 lowercase hex digits");
	if (check_record(cJSON_GetObjectItemCaseSensitive(p, "record"), uid, err) < 0 ||
	    check_series(cJSON_GetObjectItemCaseSensitive(p, "metrics"), err) < 0 ||
	    check_manifest(cJSON_GetObjectItemCaseSensitive(p, "manifest"), err) < 0)
		return -1;
	char again[65];
	if (sync_content_hash(p, again) < 0 || strcmp(again, hash))
		return bad(err, "content_hash does not match its record, metrics and manifest");
	return 0;
}

/* ---- the rows of a run ---- */

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* An RFC 3339 time of the record as epoch seconds text, NULL when absent or not positive. */
static char *jtime(const cJSON *o, const char *key)
{
	double t;
	const char *s = jstr(o, key);
	return s && parse_rfc3339(s, &t) == 0 && t > 0 ? xasprintf("%.17g", t) : NULL;
}

static char *jint(const cJSON *j)
{
	return cJSON_IsNumber(j) ? xasprintf("%d", j->valueint) : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

#define RUN_COLS 25
/* The runs row's values, as index.c reads them from run.json: $1 project, $2 num, $3 uid,
 * $4 revision, $5 content_hash, then name .. sweep, $25 record, $26 pushed_by. */
static void run_values(const cJSON *p, long long project_id, const struct push_who *who, char *v[RUN_COLS + 1])
{
	static const char *const comps[] = {"config", "code", "runtime", "packages", "env"};
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(p, "record");
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(rec, "environment");
	const cJSON *components = cJSON_GetObjectItemCaseSensitive(env, "components");
	const char *status = jstr(rec, "status");
	const cJSON *dur = cJSON_GetObjectItemCaseSensitive(rec, "duration_s");
	const char *id = jstr(rec, "id");
	v[0] = lld(project_id);
	v[1] = lld(id ? store_id_number(id) : 0);
	v[2] = xstrdup(jstr(p, "uid"));
	v[3] = lld((long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "revision")));
	v[4] = xstrdup(jstr(p, "content_hash"));
	v[5] = dup_or_null(jstr(rec, "name"));
	v[6] = xstrdup(status ? status : "unreadable");
	v[7] = dup_or_null(jstr(rec, "reason"));
	v[8] = jtime(rec, "created_at");
	v[9] = jtime(rec, "started_at");
	v[10] = jtime(rec, "ended_at");
	v[11] = cJSON_IsNumber(dur) && dur->valuedouble >= 0 ? xasprintf("%.17g", dur->valuedouble) : NULL;
	v[12] = dup_or_null(jstr(cJSON_GetObjectItemCaseSensitive(rec, "runner"), "type"));
	v[13] = dup_or_null(jstr(rec, "image"));
	v[14] = dup_or_null(jstr(env, "fingerprint"));
	v[15] = jint(cJSON_GetObjectItemCaseSensitive(rec, "exit_code"));
	v[16] = jint(cJSON_GetObjectItemCaseSensitive(rec, "signal"));
	for (int i = 0; i < 5; i++)
		v[17 + i] = dup_or_null(jstr(cJSON_GetObjectItemCaseSensitive(components, comps[i]), "hash"));
	v[22] = dup_or_null(jstr(rec, "note"));
	v[23] = dup_or_null(jstr(cJSON_GetObjectItemCaseSensitive(rec, "sweep"), "id"));
	v[24] = cJSON_PrintUnformatted(rec);
	v[25] = who && who->account_id > 0 ? lld(who->account_id) : NULL;
}

static const char insert_run_sql[] =
	"INSERT INTO runs (project_id, num, uid, revision, content_hash, name, status, reason, created, started,"
	" ended, duration, runner, image, fingerprint, exit_code, signal, fp_config, fp_code, fp_runtime,"
	" fp_packages, fp_env, note, sweep, record, pushed_by) VALUES ($1::bigint, $2::bigint, $3, $4::integer,"
	" $5, $6, $7, $8, $9::float8, $10::float8, $11::float8, $12::float8, $13, $14, $15, $16::integer,"
	" $17::integer, $18, $19, $20, $21, $22, $23, $24, $25::jsonb, $26::bigint) RETURNING id";

/* $1 is the run's id here (the project is the row's already), $3 the uid (unchanged). */
static const char update_run_sql[] =
	"UPDATE runs SET num = $2::bigint, revision = $4::integer, content_hash = $5, name = $6, status = $7,"
	" reason = $8, created = $9::float8, started = $10::float8, ended = $11::float8, duration = $12::float8,"
	" runner = $13, image = $14, fingerprint = $15, exit_code = $16::integer, signal = $17::integer,"
	" fp_config = $18, fp_code = $19, fp_runtime = $20, fp_packages = $21, fp_env = $22, note = $23,"
	" sweep = $24, record = $25::jsonb, pushed_by = $26::bigint, pushed_at = now()"
	" WHERE id = $1::bigint AND uid = $3";

/* params rows as index.c makes them: num for numbers and booleans (1/0), text always. */
static char *params_rows(const cJSON *params)
{
	cJSON *rows = cJSON_CreateArray();
	for (const cJSON *p = cJSON_IsObject(params) ? params->child : NULL; p; p = p->next) {
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, cJSON_CreateString(p->string));
		char *num = NULL, *text = NULL;
		if (cJSON_IsNumber(p)) {
			num = xasprintf("%.17g", p->valuedouble);
			text = cJSON_PrintUnformatted(p);
		} else if (cJSON_IsBool(p)) {
			num = xstrdup(cJSON_IsTrue(p) ? "1" : "0");
		}
		const char *t = text ? text : cJSON_IsBool(p) ? (cJSON_IsTrue(p) ? "true" : "false")
				 : cJSON_IsString(p) ? p->valuestring : "";
		cJSON_AddItemToArray(row, num ? cJSON_CreateString(num) : cJSON_CreateNull());
		cJSON_AddItemToArray(row, cJSON_CreateString(t));
		cJSON_AddItemToArray(rows, row);
		free(num);
		free(text);
	}
	return json_text(rows);
}

static cJSON *real_or_null(const cJSON *j)
{
	double v;
	if (!cJSON_IsNumber(j) && !cJSON_IsString(j))
		return cJSON_CreateNull();
	if (cJSON_IsNumber(j))
		v = j->valuedouble;
	else if (!strcmp(j->valuestring, "inf"))
		v = INFINITY;
	else if (!strcmp(j->valuestring, "-inf"))
		v = -INFINITY;
	else
		return cJSON_CreateNull();
	char *s = isinf(v) ? xstrdup(v > 0 ? "Infinity" : "-Infinity") : xasprintf("%.17g", v);
	cJSON *out = cJSON_CreateString(s);
	free(s);
	return out;
}

/* The record's metric summaries as index.c keeps them (a NaN is NULL; no last, no row). */
static char *metric_rows(const cJSON *metrics)
{
	cJSON *rows = cJSON_CreateArray();
	for (const cJSON *m = cJSON_IsObject(metrics) ? metrics->child : NULL; m; m = m->next) {
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(m, "last");
		if (!cJSON_IsNumber(last) && !cJSON_IsString(last))
			continue;
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, cJSON_CreateString(m->string));
		cJSON_AddItemToArray(row, real_or_null(last));
		cJSON_AddItemToArray(row, real_or_null(cJSON_GetObjectItemCaseSensitive(m, "min")));
		cJSON_AddItemToArray(row, real_or_null(cJSON_GetObjectItemCaseSensitive(m, "max")));
		char *count = lld((long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "count")));
		char *step = lld((long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "last_step")));
		cJSON_AddItemToArray(row, cJSON_CreateString(count));
		cJSON_AddItemToArray(row, cJSON_CreateString(step));
		free(count);
		free(step);
		cJSON_AddItemToArray(rows, row);
	}
	return json_text(rows);
}

/* The run's params, tags, metric summaries, series and files (its old ones removed first). */
static int write_children(struct pg_db *db, const char *run_id, const cJSON *p, bool replace, struct rp_err *err)
{
	static const char *const clear[] = {
		"DELETE FROM params WHERE run_id = $1::bigint", "DELETE FROM tags WHERE run_id = $1::bigint",
		"DELETE FROM metrics WHERE run_id = $1::bigint", "DELETE FROM series WHERE run_id = $1::bigint",
		"DELETE FROM run_blobs WHERE run_id = $1::bigint"};
	for (size_t i = 0; replace && i < sizeof clear / sizeof *clear; i++) {
		const char *a[] = {run_id};
		if (pg_cmd(db, clear[i], 1, a, err) < 0)
			return -1;
	}
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(p, "record");
	char *params = params_rows(cJSON_GetObjectItemCaseSensitive(rec, "params"));
	char *tags = cJSON_PrintUnformatted(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rec, "tags"))
						    ? cJSON_GetObjectItemCaseSensitive(rec, "tags") : NULL);
	char *metrics = metric_rows(cJSON_GetObjectItemCaseSensitive(rec, "metrics"));
	char *series = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "metrics"));
	char *files = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "manifest"));
	struct {
		const char *sql;
		const char *list;
	} steps[] = {
		{"INSERT INTO params (run_id, key, num, text) SELECT $1::bigint, e->>0, (e->>1)::float8, e->>2"
		 " FROM jsonb_array_elements($2::jsonb) e", params},
		{"INSERT INTO tags (run_id, tag) SELECT DISTINCT $1::bigint, t"
		 " FROM jsonb_array_elements_text(coalesce($2::jsonb, '[]')) t", tags},
		{"INSERT INTO metrics (run_id, name, last, min, max, count, last_step) SELECT $1::bigint, e->>0,"
		 " (e->>1)::float8, (e->>2)::float8, (e->>3)::float8, (e->>4)::bigint, (e->>5)::bigint"
		 " FROM jsonb_array_elements($2::jsonb) e", metrics},
		/* A checked series' JSON arrays hold only numbers and nulls: with [] as {} they are
		 * array literals, which PostgreSQL reads far faster than it expands jsonb. */
		{"INSERT INTO series (run_id, name, steps, \"values\") SELECT $1::bigint, s.key,"
		 " translate(s.value->>'steps', '[]', '{}')::numeric[]::bigint[],"
		 " translate(s.value->>'values', '[]', '{}')::float8[]"
		 " FROM jsonb_each($2::jsonb) s", series},
		{"INSERT INTO run_blobs (run_id, path, sha256) SELECT $1::bigint, e->>'path', e->>'sha256'"
		 " FROM jsonb_array_elements($2::jsonb) e", files},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof steps / sizeof *steps && rc == 0; i++) {
		const char *a[] = {run_id, steps[i].list};
		rc = pg_cmd(db, steps[i].sql, 2, a, err);
	}
	/* Tags and a note changed on the server (its annotations row) stay on top of the record as
	 * pushed, for --where as for the run's page. */
	static const char *const server_annotations[] = {
		"DELETE FROM tags t USING annotations a WHERE a.run_id = $1::bigint AND t.run_id = a.run_id"
		" AND t.tag = ANY (a.tags_removed)",
		"INSERT INTO tags (run_id, tag) SELECT a.run_id, x FROM annotations a, unnest(a.tags_added) x"
		" WHERE a.run_id = $1::bigint ON CONFLICT DO NOTHING",
		"UPDATE runs r SET note = a.note FROM annotations a WHERE a.run_id = $1::bigint AND r.id = a.run_id"
		" AND a.note IS NOT NULL",
	};
	for (size_t i = 0; i < sizeof server_annotations / sizeof *server_annotations && rc == 0; i++) {
		const char *a[] = {run_id};
		rc = pg_cmd(db, server_annotations[i], 1, a, err);
	}
	free(params);
	free(tags);
	free(metrics);
	free(series);
	free(files);
	return rc;
}

/* Every file of the manifest must be a stored blob of its size. */
static int check_blobs(struct pg_db *db, const cJSON *manifest, struct rp_err *err)
{
	char *files = cJSON_PrintUnformatted(manifest);
	const char *a[] = {files};
	struct pg_res *r = pg_exec(db,
				   "SELECT count(*), min(e->>'path') FROM jsonb_array_elements($1::jsonb) e"
				   " LEFT JOIN blobs b ON b.sha256 = e->>'sha256'"
				   " WHERE b.sha256 IS NULL OR b.size <> (e->>'size')::bigint",
				   1, a, err);
	free(files);
	if (!r)
		return -1;
	long long lacking = strtoll(pg_value(r, 0, 0), NULL, 10);
	int rc = 0;
	if (lacking)
		rc = rp_err_set(err, RP_ERR_USAGE,
				"the pushed run is refused: %lld of its files (%s first) are not stored blobs of their "
				"size: upload them first",
				lacking, pg_value(r, 0, 1));
	pg_res_free(r);
	return rc;
}

static int audit_push(struct pg_db *db, long long project_id, const struct push_who *who, const char *action,
		      const char *uid, long long revision, struct rp_err *err)
{
	char *pid = lld(project_id);
	const char *a[] = {pid};
	struct pg_res *r = pg_exec(db, "SELECT name FROM projects WHERE id = $1::bigint", 1, a, err);
	free(pid);
	if (!r)
		return -1;
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "uid", uid);
	cJSON_AddNumberToObject(d, "revision", (double)revision);
	char *detail = json_text(d);
	struct audit_event ev = {.actor = who && who->name ? who->name : "-",
				 .address = who ? who->address : NULL,
				 .action = action,
				 .project = pg_rows(r) ? pg_value(r, 0, 0) : NULL,
				 .detail = detail};
	int rc = audit_append(db, &ev, NULL, err);
	free(detail);
	pg_res_free(r);
	return rc;
}

/* The decision and the writes, inside the transaction. */
static int push_locked(struct pg_db *db, long long project_id, const struct push_who *who, const cJSON *p,
		       bool force, struct push_result *res, struct rp_err *err)
{
	const char *uid = jstr(p, "uid"), *hash = jstr(p, "content_hash");
	long long revision = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "revision"));
	char *pid = lld(project_id);
	const char *a[] = {pid, uid};
	/* Pushes of one run wait for each other; other runs go on in parallel. */
	int rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))", 2, a, err);
	struct pg_res *r = rc < 0 ? NULL
				  : pg_exec(db, "SELECT id, revision, content_hash FROM runs"
						" WHERE project_id = $1::bigint AND uid = $2", 2, a, err);
	free(pid);
	if (!r)
		return -1;
	bool exists = pg_rows(r) == 1;
	char run_id[32] = "";
	if (exists) {
		snprintf(run_id, sizeof run_id, "%s", pg_value(r, 0, 0));
		res->run_id = strtoll(run_id, NULL, 10);
		res->server_revision = strtoll(pg_value(r, 0, 1), NULL, 10);
		snprintf(res->server_hash, sizeof res->server_hash, "%s", pg_value(r, 0, 2));
	}
	pg_res_free(r);
	const char *action;
	if (!exists) {
		res->outcome = PUSHED_NEW, action = "push.new";
	} else if (revision > res->server_revision) {
		res->outcome = PUSHED_UPDATED, action = "push.update";
	} else if (revision == res->server_revision && !strcmp(hash, res->server_hash)) {
		res->outcome = PUSHED_SAME;
		return 0;
	} else if (!force) {
		res->outcome = PUSHED_CONFLICT;
		return audit_push(db, project_id, who, "push.conflict", uid, revision, err);
	} else {
		res->outcome = PUSHED_FORCED, action = "push.force";
	}
	if (check_blobs(db, cJSON_GetObjectItemCaseSensitive(p, "manifest"), err) < 0)
		return -1;
	char *v[RUN_COLS + 1];
	run_values(p, project_id, who, v);
	if (exists) {
		free(v[0]);
		v[0] = xstrdup(run_id);
		rc = pg_cmd(db, update_run_sql, RUN_COLS + 1, (const char *const *)v, err);
	} else {
		r = pg_exec(db, insert_run_sql, RUN_COLS + 1, (const char *const *)v, err);
		rc = r ? 0 : -1;
		if (r) {
			snprintf(run_id, sizeof run_id, "%s", pg_value(r, 0, 0));
			res->run_id = strtoll(run_id, NULL, 10);
			pg_res_free(r);
		}
	}
	for (int i = 0; i <= RUN_COLS; i++)
		free(v[i]);
	if (rc == 0)
		test_hook_stop_at("push-run-row");
	if (rc == 0)
		rc = write_children(db, run_id, p, exists, err);
	if (rc == 0)
		rc = audit_push(db, project_id, who, action, uid, revision, err);
	return rc;
}

int push_run(struct pg_db *db, long long project_id, const struct push_who *who, const char *payload, size_t len,
	     bool force, struct push_result *res, struct rp_err *err)
{
	memset(res, 0, sizeof *res);
	cJSON *p = cJSON_ParseWithLength(payload, len);
	if (!p) {
		return bad(err, "it is not JSON");
	}
	int rc = check_payload(p, err);
	/* Series compress poorly and slowly with pglz (a third of a push's time): lz4 where this
	 * PostgreSQL has it (a column without its own method takes the setting's at insert). */
	struct rp_err ignored = {0};
	if (rc == 0)
		pg_cmd(db, "SET default_toast_compression = lz4", 0, NULL, &ignored);
	if (rc == 0 && (rc = pg_begin(db, err)) == 0) {
		rc = push_locked(db, project_id, who, p, force, res, err);
		if (rc == 0 && res->outcome == PUSHED_SAME)
			pg_rollback(db); /* nothing was written */
		else if (rc == 0)
			rc = pg_commit(db, err);
		else
			pg_rollback(db);
	}
	if (rc < 0)
		rp_err_wrap(err, "push of %s", jstr(p, "uid") ? jstr(p, "uid") : "a run");
	cJSON_Delete(p);
	return rc;
}

/* ---- blobs ---- */


int push_blobs_missing(struct pg_db *db, const char *data_dir, const char *const *hashes, size_t n, bool *missing,
		       struct rp_err *err)
{
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		missing[i] = true;
		cJSON_AddItemToArray(list, cJSON_CreateString(hashes[i]));
	}
	char *text = json_text(list);
	const char *a[] = {text};
	struct pg_res *r = pg_exec(db,
				   "SELECT e.o FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS e(h, o)"
				   " JOIN blobs b ON b.sha256 = e.h",
				   1, a, err);
	free(text);
	if (!r)
		return -1;
	for (int row = 0; row < pg_rows(r); row++) {
		long long o = strtoll(pg_value(r, row, 0), NULL, 10);
		if (o < 1 || (size_t)o > n)
			continue;
		char *path = server_blob_path(data_dir, hashes[o - 1]);
		missing[o - 1] = !path_exists(path);
		free(path);
	}
	pg_res_free(r);
	return 0;
}

static int record_blob(struct pg_db *db, const char *sha256, uint64_t size, struct rp_err *err)
{
	char *s = xasprintf("%llu", (unsigned long long)size);
	const char *a[] = {sha256, s};
	int rc = pg_cmd(db, "INSERT INTO blobs (sha256, size) VALUES ($1, $2::bigint) ON CONFLICT (sha256) DO NOTHING",
			2, a, err);
	free(s);
	return rc;
}

/* Copy fd into tmp_fd, hashing it, refusing more than limit bytes; *got the bytes read. */
static int stream_in(int fd, int tmp_fd, uint64_t limit, char hex[65], uint64_t *got, struct rp_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = xmalloc(CHUNK);
	int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "out of memory");
	*got = 0;
	while (rc == 0) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rp_err_sys(err, "reading the blob");
			break;
		}
		if (n == 0)
			break;
		*got += (uint64_t)n;
		if (*got > limit) {
			rc = rp_err_set(err, RP_ERR_USAGE, "the blob is longer than %llu bytes: refused",
					(unsigned long long)limit);
			break;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		if (write_all(tmp_fd, buf, (size_t)n) < 0)
			rc = rp_err_sys(err, "writing the blob");
	}
	unsigned char d[32];
	unsigned int dn = 0;
	if (rc == 0 && EVP_DigestFinal_ex(md, d, &dn) == 1)
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

int blob_put(struct pg_db *db, const char *data_dir, const char *sha256, int fd, uint64_t size, uint64_t cap,
	     bool *stored, struct rp_err *err)
{
	*stored = false;
	if (!hex64(sha256))
		return rp_err_set(err, RP_ERR_USAGE, "a blob's name must be its SHA-256 as 64 lowercase hex digits");
	if (size > cap)
		return rp_err_set(err, RP_ERR_USAGE, "the blob is %llu bytes, over the server's cap of %llu: refused",
				  (unsigned long long)size, (unsigned long long)cap);
	char *final = server_blob_path(data_dir, sha256);
	if (path_exists(final)) {
		free(final);
		return record_blob(db, sha256, size, err);
	}
	char *tmpdir = xasprintf("%s/blobs/tmp", data_dir);
	char *tmp = xasprintf("%s/blob.XXXXXX", tmpdir);
	char *dir = xasprintf("%s/blobs/%.2s", data_dir, sha256);
	int tfd = -1, rc = mkdir_p(tmpdir, 0700, err);
	if (rc == 0 && (tfd = mkostemp(tmp, O_CLOEXEC)) < 0)
		rc = rp_err_sys(err, "cannot create a file in %s", tmpdir);
	char hex[65] = "";
	uint64_t got = 0;
	if (rc == 0)
		rc = stream_in(fd, tfd, size, hex, &got, err);
	if (rc == 0 && got != size)
		rc = rp_err_set(err, RP_ERR_USAGE, "the blob is %llu bytes, not the %llu announced: refused",
				(unsigned long long)got, (unsigned long long)size);
	if (rc == 0 && strcmp(hex, sha256))
		rc = rp_err_set(err, RP_ERR_USAGE, "the blob's SHA-256 is %s, not its name %s: refused", hex, sha256);
	if (rc == 0)
		test_hook_stop_at("blob-tmp-written");
	if (rc == 0 && fsync(tfd) < 0)
		rc = rp_err_sys(err, "cannot sync %s", tmp);
	if (tfd >= 0 && close(tfd) < 0 && rc == 0)
		rc = rp_err_sys(err, "cannot write %s", tmp);
	if (rc == 0)
		rc = mkdir_p(dir, 0700, err);
	if (rc == 0 && rename(tmp, final) < 0)
		rc = rp_err_sys(err, "cannot move the blob to %s", final);
	if (rc == 0 && fsync_path(dir) < 0)
		rc = rp_err_sys(err, "cannot sync %s", dir);
	if (rc < 0 && tfd >= 0)
		unlink(tmp);
	if (rc == 0 && (rc = record_blob(db, sha256, size, err)) == 0)
		*stored = true;
	free(final);
	free(tmpdir);
	free(tmp);
	free(dir);
	return rc;
}

int blob_sweep_tmp(const char *data_dir, double older_than, unsigned *removed, struct rp_err *err)
{
	*removed = 0;
	char *dir = xasprintf("%s/blobs/tmp", data_dir);
	DIR *d = opendir(dir);
	if (!d) {
		int rc = errno == ENOENT ? 0 : rp_err_sys(err, "cannot list %s", dir);
		free(dir);
		return rc;
	}
	int rc = 0;
	double now = now_realtime();
	struct dirent *de;
	while ((de = readdir(d)) && rc == 0) {
		struct stat st;
		if (strncmp(de->d_name, "blob.", 5) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || now - (double)st.st_mtim.tv_sec < older_than)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
		else if (errno != ENOENT)
			rc = rp_err_sys(err, "cannot remove %s/%s", dir, de->d_name);
	}
	closedir(d);
	free(dir);
	return rc;
}

/* ---- pull ---- */

static cJSON *parse_col(const struct pg_res *r, int row, int col)
{
	const char *v = pg_value(r, row, col);
	return v ? cJSON_Parse(v) : cJSON_CreateNull();
}

int pull_run(struct pg_db *db, long long project_id, const char *uid, char **json, struct rp_err *err)
{
	char *pid = lld(project_id);
	const char *a[] = {pid, uid};
	struct pg_res *r = pg_exec(db, "SELECT id, revision, content_hash, record::text FROM runs"
				       " WHERE project_id = $1::bigint AND uid = $2", 2, a, err);
	free(pid);
	if (!r)
		return -1;
	if (pg_rows(r) != 1) {
		pg_res_free(r);
		return rp_err_set(err, RP_ERR_USAGE, "the project has no run %s", uid);
	}
	char run_id[32];
	snprintf(run_id, sizeof run_id, "%s", pg_value(r, 0, 0));
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "uid", uid);
	cJSON_AddNumberToObject(p, "revision", strtod(pg_value(r, 0, 1), NULL));
	cJSON_AddStringToObject(p, "content_hash", pg_value(r, 0, 2));
	cJSON_AddItemToObject(p, "record", parse_col(r, 0, 3));
	pg_res_free(r);
	const char *b[] = {run_id};
	int rc = 0;
	cJSON *metrics = cJSON_AddObjectToObject(p, "metrics");
	r = pg_exec(db, "SELECT name, array_to_json(steps)::text, array_to_json(\"values\")::text FROM series"
			" WHERE run_id = $1::bigint ORDER BY name COLLATE \"C\"", 1, b, err);
	if (!r)
		rc = -1;
	for (int row = 0; r && row < pg_rows(r); row++) {
		cJSON *one = cJSON_AddObjectToObject(metrics, pg_value(r, row, 0));
		cJSON_AddItemToObject(one, "steps", parse_col(r, row, 1));
		cJSON_AddItemToObject(one, "values", parse_col(r, row, 2));
	}
	pg_res_free(r);
	cJSON *manifest = cJSON_AddArrayToObject(p, "manifest");
	r = rc < 0 ? NULL
		   : pg_exec(db, "SELECT rb.path, b.size, rb.sha256 FROM run_blobs rb JOIN blobs b USING (sha256)"
				 " WHERE rb.run_id = $1::bigint ORDER BY rb.path COLLATE \"C\"", 1, b, err);
	if (!r)
		rc = -1;
	for (int row = 0; r && row < pg_rows(r); row++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "path", pg_value(r, row, 0));
		cJSON_AddNumberToObject(e, "size", strtod(pg_value(r, row, 1), NULL));
		cJSON_AddStringToObject(e, "sha256", pg_value(r, row, 2));
		cJSON_AddItemToArray(manifest, e);
	}
	pg_res_free(r);
	if (rc == 0)
		*json = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	return rc;
}
