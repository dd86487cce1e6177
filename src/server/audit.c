/* audit.c: the audit trail (include/server.h), append-only and chained by hash.
 *
 * Each event's hash is SHA-256 over, in this order:
 *   the 16 bytes "runpilot-audit-1",
 *   prev_hash: the previous event's hash (32 bytes; 32 zero bytes for the first event),
 *   then each field as a 4-byte big-endian length and its UTF-8 bytes, or the length 0xffffffff
 *   and no bytes for NULL: id (decimal), at (UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"), actor,
 *   address, action, project, and detail as PostgreSQL's jsonb prints it (keys sorted, one
 *   spacing: the text the table gives back, whatever the text appended was).
 * Appends take a transaction-scoped advisory lock, so two can never chain to the same
 * predecessor, and ids grow in chain order. */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgdb.h"
#include "server.h"
#include "util.h"

/* pg_advisory_xact_lock's key for appends ("rpaudi" in ASCII). */
#define AUDIT_LOCK "126909232858473"
#define HASH_LEN 32
#define AT_TEXT "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define VERIFY_BATCH "1000"

enum { F_ID, F_AT, F_ACTOR, F_ADDRESS, F_ACTION, F_PROJECT, F_DETAIL, NFIELDS };

static void hash_field(EVP_MD_CTX *c, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;
	unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
				(unsigned char)n};
	EVP_DigestUpdate(c, len, 4);
	if (s)
		EVP_DigestUpdate(c, s, n);
}

static int event_hash(const unsigned char prev[HASH_LEN], const char *const f[NFIELDS], unsigned char out[HASH_LEN],
		      struct rp_err *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	if (ok) {
		EVP_DigestUpdate(c, "runpilot-audit-1", 16);
		EVP_DigestUpdate(c, prev, HASH_LEN);
		for (int i = 0; i < NFIELDS; i++)
			hash_field(c, f[i]);
		ok = EVP_DigestFinal_ex(c, out, &n) == 1 && n == HASH_LEN;
	}
	EVP_MD_CTX_free(c);
	return ok ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "audit: SHA-256 failed");
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* hex (from encode(..., 'hex')) into HASH_LEN bytes; false when it is not that. */
static bool from_hex(const char *hex, unsigned char out[HASH_LEN])
{
	if (!hex || strlen(hex) != 2 * HASH_LEN)
		return false;
	for (int i = 0; i < HASH_LEN; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (unsigned char)v;
	}
	return true;
}

/* ---- append ---- */

static int check_detail(const char *detail, struct rp_err *err)
{
	cJSON *j = cJSON_Parse(detail);
	bool ok = cJSON_IsObject(j);
	cJSON_Delete(j);
	return ok ? 0 : rp_err_set(err, RP_ERR_USAGE, "audit: an event's detail must be a JSON object");
}

/* The last event's hash (zeros when there is none). */
static int chain_head(struct pg_db *db, unsigned char prev[HASH_LEN], struct rp_err *err)
{
	struct pg_res *r = pg_exec(db, "SELECT encode(hash, 'hex') FROM audit ORDER BY id DESC LIMIT 1", 0, NULL, err);
	if (!r)
		return -1;
	memset(prev, 0, HASH_LEN);
	bool ok = pg_rows(r) == 0 || from_hex(pg_value(r, 0, 0), prev);
	pg_res_free(r);
	return ok ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "audit: the last event's hash is not %d bytes", HASH_LEN);
}

static int append_locked(struct pg_db *db, const struct audit_event *ev, const char *detail, long long *id,
			 struct rp_err *err)
{
	unsigned char prev[HASH_LEN], hash[HASH_LEN];
	if (pg_cmd(db, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK ")", 0, NULL, err) < 0 ||
	    chain_head(db, prev, err) < 0)
		return -1;
	const char *p[] = {detail};
	struct pg_res *r = pg_exec(db,
				   "SELECT nextval(pg_get_serial_sequence('audit', 'id')),"
				   " to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
				   " $1::jsonb::text",
				   1, p, err);
	if (!r)
		return -1;
	const char *f[NFIELDS] = {
		[F_ID] = pg_value(r, 0, 0),		[F_AT] = pg_value(r, 0, 1),
		[F_ACTOR] = ev->actor,		[F_ADDRESS] = ev->address,
		[F_ACTION] = ev->action,		[F_PROJECT] = ev->project,
		[F_DETAIL] = pg_value(r, 0, 2),
	};
	char prev_hex[2 * HASH_LEN + 1], hash_hex[2 * HASH_LEN + 1];
	int rc = event_hash(prev, f, hash, err);
	if (rc == 0) {
		to_hex(prev, HASH_LEN, prev_hex);
		to_hex(hash, HASH_LEN, hash_hex);
		const char *ins[] = {f[F_ID], f[F_AT], f[F_ACTOR], f[F_ADDRESS], f[F_ACTION], f[F_PROJECT], f[F_DETAIL],
				     prev_hex, hash_hex};
		rc = pg_cmd(db,
			    "INSERT INTO audit (id, at, actor, address, action, project, detail, prev_hash, hash)"
			    " VALUES ($1::bigint, $2::timestamptz, $3, $4, $5, $6, $7::jsonb,"
			    " decode($8, 'hex'), decode($9, 'hex'))",
			    9, ins, err);
	}
	if (rc == 0 && id)
		*id = strtoll(f[F_ID], NULL, 10);
	pg_res_free(r);
	return rc;
}

int audit_append(struct pg_db *db, const struct audit_event *ev, long long *id, struct rp_err *err)
{
	const char *detail = ev->detail ? ev->detail : "{}";
	if (!ev->actor || !ev->action)
		return rp_err_set(err, RP_ERR_USAGE, "audit: an event needs an actor and an action");
	if (check_detail(detail, err) < 0 || pg_begin(db, err) < 0)
		return -1;
	if (append_locked(db, ev, detail, id, err) < 0 || pg_commit(db, err) < 0) {
		pg_rollback(db);
		return rp_err_wrap(err, "audit: appending an event");
	}
	return 0;
}

/* ---- verify and export ---- */

#define EVENT_COLUMNS "id, " AT_TEXT ", actor, address, action, project, detail::text, encode(prev_hash, 'hex'), encode(hash, 'hex')"

/* The events after id `after`, at most VERIFY_BATCH of them, in id order. */
static struct pg_res *batch_after(struct pg_db *db, long long after, struct rp_err *err)
{
	char a[32];
	snprintf(a, sizeof a, "%lld", after);
	const char *p[] = {a};
	return pg_exec(db, "SELECT " EVENT_COLUMNS " FROM audit WHERE id > $1::bigint ORDER BY id LIMIT " VERIFY_BATCH,
		       1, p, err);
}

struct walk {
	unsigned char expect_prev[HASH_LEN];
	long long prev_id; /* 0 before the first */
};

/* Check one row (columns of EVENT_COLUMNS); false with v->broken_id and v->why when broken. */
static int check_row(struct walk *w, const struct pg_res *r, int row, struct audit_verdict *v, struct rp_err *err)
{
	const char *f[NFIELDS];
	for (int i = 0; i < NFIELDS; i++)
		f[i] = pg_value(r, row, i);
	long long id = strtoll(f[F_ID], NULL, 10);
	unsigned char prev[HASH_LEN], stored[HASH_LEN], computed[HASH_LEN];
	if (!from_hex(pg_value(r, row, NFIELDS), prev) || !from_hex(pg_value(r, row, NFIELDS + 1), stored)) {
		v->broken_id = id;
		snprintf(v->why, sizeof v->why, "its prev_hash or hash is not %d bytes", HASH_LEN);
		return 0;
	}
	if (memcmp(prev, w->expect_prev, HASH_LEN)) {
		v->broken_id = id;
		if (w->prev_id)
			snprintf(v->why, sizeof v->why,
				 "its prev_hash is not the hash of event %lld before it (an event between %lld and %lld "
				 "was removed, or event %lld's hash was changed)",
				 w->prev_id, w->prev_id, id, w->prev_id);
		else
			snprintf(v->why, sizeof v->why,
				 "it is the first event but its prev_hash is not zero (the events before it were removed)");
		return 0;
	}
	if (event_hash(prev, f, computed, err) < 0)
		return -1;
	if (memcmp(computed, stored, HASH_LEN)) {
		v->broken_id = id;
		snprintf(v->why, sizeof v->why,
			 "its hash does not match its contents (at, actor, address, action, project or detail "
			 "was changed)");
		return 0;
	}
	memcpy(w->expect_prev, stored, HASH_LEN);
	w->prev_id = id;
	v->events++;
	return 0;
}

int audit_verify(struct pg_db *db, struct audit_verdict *v, struct rp_err *err)
{
	struct walk w = {0};
	memset(v, 0, sizeof *v);
	for (;;) {
		struct pg_res *r = batch_after(db, w.prev_id, err);
		if (!r)
			return rp_err_wrap(err, "audit: reading the events");
		int n = pg_rows(r);
		for (int i = 0; i < n && !v->broken_id; i++) {
			if (check_row(&w, r, i, v, err) < 0) {
				pg_res_free(r);
				return -1;
			}
		}
		pg_res_free(r);
		if (v->broken_id || n == 0)
			return 0;
	}
}

static char *event_json(const struct pg_res *r, int row)
{
	static const char *const names[] = {"id", "at", "actor", "address", "action", "project", "detail",
					    "prev_hash", "hash"};
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < NFIELDS + 2; i++) {
		const char *s = pg_value(r, row, i);
		if (i == F_ID)
			cJSON_AddItemToObject(o, names[i], cJSON_CreateNumber((double)strtoll(s, NULL, 10)));
		else if (i == F_DETAIL)
			cJSON_AddItemToObject(o, names[i], cJSON_CreateRaw(s ? s : "{}"));
		else if (s)
			cJSON_AddStringToObject(o, names[i], s);
		else
			cJSON_AddNullToObject(o, names[i]);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		abort();
	return s;
}

int audit_export(struct pg_db *db, int (*line)(void *ctx, const char *json, struct rp_err *err), void *ctx,
		 struct rp_err *err)
{
	long long after = 0;
	for (;;) {
		struct pg_res *r = batch_after(db, after, err);
		if (!r)
			return rp_err_wrap(err, "audit: reading the events");
		int n = pg_rows(r);
		for (int i = 0; i < n; i++) {
			char *s = event_json(r, i);
			int rc = line(ctx, s, err);
			free(s);
			if (rc < 0) {
				pg_res_free(r);
				return -1;
			}
		}
		if (n > 0)
			after = strtoll(pg_value(r, n - 1, 0), NULL, 10);
		pg_res_free(r);
		if (n == 0)
			return 0;
	}
}
