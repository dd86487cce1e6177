/* where.c: the --where language compiled to SQL, run against an in-memory index with the real
 * schema (index_schema.h), so each test checks which runs match, not only what SQL comes out;
 * every error with its exact "LINE:COL: message"; injection attempts; the nesting limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_schema.h"
#include "util.h"
#include "where.h"

/* 2025-11-20T00:00:00Z: "now" for every age in these tests. */
#define NOW 1763596800.0
#define HOUR 3600.0
#define DAY 86400.0

/* ---- fixture: five runs in an in-memory index ---- */

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static void add_run(sqlite3 *db, const char *id, int num, const char *name, const char *status, const char *reason,
		    double started, double duration, const char *runner, const char *image, const char *note)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO runs (id, num, name, status, reason, started, ended, duration, "
					    "runner, image, fingerprint, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, num);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	if (started > 0)
		sqlite3_bind_double(st, 6, started);
	if (started > 0 && duration >= 0) {
		sqlite3_bind_double(st, 7, started + duration);
		sqlite3_bind_double(st, 8, duration);
	}
	sqlite3_bind_text(st, 9, runner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, "fp-abc123", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, note, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static int setup(void **state)
{
	sqlite3 *db;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return -1;
	exec(db, INDEX_SCHEMA_SQL);
	add_run(db, "rp_0001", 1, "baseline-a", "success", NULL, NOW - 10 * DAY + 5 * HOUR, 3600, "local", NULL,
		"first try with adam");
	add_run(db, "rp_0002", 2, "sweep-lr", "failed", "oom", NOW - 2 * DAY, 90, "docker", "pytorch:2.1", NULL);
	add_run(db, "rp_0003", 3, "sweep-lr-2", "running", NULL, NOW - HOUR, -1, "local", NULL, "it's \"quoted\"");
	add_run(db, "rp_0004", 4, "'; DROP TABLE runs; --", "lost", "lost", 0, -1, "local", NULL, NULL);
	add_run(db, "rp_0010", 10, "old", "cancelled", "signal", NOW - 30 * DAY, 5, "docker", NULL, NULL);
	/* params: num when a number, text always */
	exec(db, "INSERT INTO params VALUES "
		 "('rp_0001', 'lr', 0.01, '0.01'), ('rp_0001', 'opt', NULL, 'adam'), ('rp_0001', 'layers', 4, '4'),"
		 "('rp_0001', 'model/depth', 12, '12'),"
		 "('rp_0002', 'lr', 0.001, '0.001'), ('rp_0002', 'opt', NULL, 'sgd'), ('rp_0002', 'layers', 8, '8'),"
		 "('rp_0003', 'lr', 0.0001, '1e-4'), ('rp_0003', 'opt', NULL, 'Adam'),"
		 "('rp_0004', 'x''; DROP TABLE runs; --', 1, '1'),"
		 "('rp_0010', 'lr', -3, '-3')");
	exec(db, "INSERT INTO tags VALUES ('rp_0001', 'baseline'), ('rp_0001', 'v1'), ('rp_0002', 'sweep'),"
		 "('rp_0003', 'sweep'), ('rp_0003', 'baseline'), ('rp_0004', '''; DROP TABLE runs; --')");
	/* metrics: rp_0002's loss ended as NaN (NULL); eval.min is a metric whose name ends in .min */
	exec(db, "INSERT INTO metrics VALUES "
		 "('rp_0001', 'loss', 0.5, 0.3, 1.2, 100, 99), ('rp_0001', 'val_acc', 0.85, 0.5, 0.85, 10, 9),"
		 "('rp_0001', 'eval.min', 7, 1, 9, 3, 2),"
		 "('rp_0002', 'loss', NULL, 0.2, 2.5, 50, 49), ('rp_0002', 'val_acc', 0.95, 0.6, 0.95, 5, 4),"
		 "('rp_0003', 'val_acc', 0.91, 0.4, 0.91, 3, 2), ('rp_0003', 'train/loss', 0.7, 0.7, 0.9, 2, 1)");
	*state = db;
	return 0;
}

static int teardown(void **state)
{
	return sqlite3_close(*state) == SQLITE_OK ? 0 : -1;
}

/* ---- helpers ---- */

static void compile_ok(const char *expr, struct where_sql *w)
{
	struct rp_err e = {0};
	if (where_compile(expr, NOW, w, &e) != 0)
		fail_msg("where_compile(%s): %s", expr, e.msg);
}

/* The ids of the runs expr matches, in order, space-separated (caller frees). */
static char *matches(sqlite3 *db, const char *expr)
{
	struct where_sql w;
	compile_ok(expr, &w);
	char *sql = xasprintf("SELECT id FROM runs WHERE %s ORDER BY num", w.sql);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_bind_parameter_count(st), (int)w.nargs);
	struct rp_err e = {0};
	assert_int_equal(where_bind(st, 1, &w, &e), 0);
	size_t len = 0;
	char *ids = xstrdup("");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		ids = xrealloc(ids, len + strlen(id) + 2);
		len += (size_t)sprintf(ids + len, "%s%s", len ? " " : "", id);
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	free(sql);
	where_sql_free(&w);
	return ids;
}

#define assert_matches(db, expr, want)                    \
	do {                                              \
		char *got_ = matches((db), (expr));       \
		if (strcmp(got_, (want)) != 0)            \
			fail_msg("%s\n  matched: [%s]\n  wanted:  [%s]", (expr), got_, (want)); \
		free(got_);                               \
	} while (0)

/* expr must be rejected with exactly msg, as a usage error of one line, leaving out empty. */
static void expect_error(const char *expr, const char *msg)
{
	struct where_sql w = {.sql = (char *)"junk"};
	struct rp_err e = {0};
	if (where_compile(expr, NOW, &w, &e) != -1)
		fail_msg("accepted: %s\n  SQL: %s", expr, w.sql);
	assert_string_equal(e.msg, msg);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(strchr(e.msg, '\n'));
	assert_null(w.sql);
	assert_null(w.args);
	assert_int_equal(w.nargs, 0);
}

/* ---- operators on the text fields ---- */

static void test_text_operators(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "name = sweep-lr", "rp_0002");
	assert_matches(db, "name != sweep-lr", "rp_0001 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "name < c", "rp_0001 rp_0004");
	assert_matches(db, "name <= baseline-a", "rp_0001 rp_0004");
	assert_matches(db, "name > sweep-lr", "rp_0003");
	assert_matches(db, "name >= sweep-lr", "rp_0002 rp_0003");
	assert_matches(db, "name ~ 'sweep*'", "rp_0002 rp_0003");
	assert_matches(db, "name ~ '*-[0-9]'", "rp_0003");
	assert_matches(db, "name ~ Sweep*", ""); /* GLOB is case-sensitive */
	assert_matches(db, "name contains lr", "rp_0002 rp_0003");
	assert_matches(db, "note contains adam", "rp_0001");
	assert_matches(db, "runner = docker", "rp_0002 rp_0010");
	assert_matches(db, "image = pytorch:2.1", "rp_0002");
	assert_matches(db, "fingerprint ~ fp-*", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "reason = oom", "rp_0002");
	assert_matches(db, "status = success or status = cancelled", "rp_0001 rp_0010");
}

/* rp_0004 and rp_0010 have no note: they match no comparison of it, and `not` of any. */
static void test_missing_values(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "note != x", "rp_0001 rp_0003");
	assert_matches(db, "not note = x", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "not note contains adam", "rp_0002 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "reason ~ '*'", "rp_0002 rp_0004 rp_0010");
	assert_matches(db, "not reason ~ '*'", "rp_0001 rp_0003");
	assert_matches(db, "image = x or not image = x", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
}

static void test_id(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "id = rp_0002", "rp_0002");
	assert_matches(db, "id = 2", "rp_0002");      /* the store's number */
	assert_matches(db, "id > 3", "rp_0004 rp_0010");
	assert_matches(db, "id = '2'", "");           /* quoted: the text of the id */
	assert_matches(db, "id ~ rp_000?", "rp_0001 rp_0002 rp_0003 rp_0004");
	assert_matches(db, "id contains 1", "rp_0001 rp_0010");
}

/* ---- precedence and grouping ---- */

static void test_precedence(void **state)
{
	sqlite3 *db = *state;
	/* or binds loosest: a or (b and c) */
	assert_matches(db, "status = success or runner = docker and status = failed", "rp_0001 rp_0002");
	assert_matches(db, "(status = success or runner = docker) and status = failed", "rp_0002");
	assert_matches(db, "runner = docker and status = failed or status = success", "rp_0001 rp_0002");
	/* not binds tightest: (not a) and b */
	assert_matches(db, "not runner = local and status = cancelled", "rp_0010");
	assert_matches(db, "not (runner = local and status = running)", "rp_0001 rp_0002 rp_0004 rp_0010");
	assert_matches(db, "not not status = lost", "rp_0004");
	assert_matches(db, "not status = lost or status = lost", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
}

static void test_parentheses(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "((status = success))", "rp_0001");
	assert_matches(db, "(runner = local) and ((tags contains sweep) or (params.lr > 0.005))", "rp_0001 rp_0003");
	assert_matches(db, "status=failed and(name=sweep-lr)", "rp_0002");
	assert_matches(db, "not(status = success or status = failed)and runner = local", "rp_0003 rp_0004");
}

static void test_keywords_any_case(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "NOT Status = success AND Tags CONTAINS baseline Or NAME = old", "rp_0003 rp_0010");
	assert_matches(db, "Params.lr < 0.005 and METRICS.val_acc > 0.9", "rp_0002 rp_0003");
	assert_matches(db, "name = AND_x or name = 'and'", ""); /* a word that only starts like one */
}

/* ---- params ---- */

static void test_params_typed(void **state)
{
	sqlite3 *db = *state;
	/* a number compares with p.num: 1e-4 < 0.001 < 0.01 whatever their text */
	assert_matches(db, "params.lr < 0.01", "rp_0002 rp_0003 rp_0010");
	assert_matches(db, "params.lr <= 0.01", "rp_0001 rp_0002 rp_0003 rp_0010");
	assert_matches(db, "params.lr = 1e-4", "rp_0003");
	assert_matches(db, "params.lr = 0.0001", "rp_0003");
	assert_matches(db, "params.lr != 0.01", "rp_0002 rp_0003 rp_0010");
	assert_matches(db, "params.lr >= -3", "rp_0001 rp_0002 rp_0003 rp_0010");
	assert_matches(db, "params.lr < -2.5", "rp_0010");
	assert_matches(db, "params.layers > 4", "rp_0002");
	assert_matches(db, "params.model/depth = 12", "rp_0001");
	/* quoted, or not a number: p.text */
	assert_matches(db, "params.lr = '1e-4'", "rp_0003");
	assert_matches(db, "params.lr = \"0.0001\"", "");
	assert_matches(db, "params.opt = adam", "rp_0001");
	assert_matches(db, "params.opt != adam", "rp_0002 rp_0003");
	assert_matches(db, "params.opt > b", "rp_0002"); /* text order: "Adam" < "adam" < "b" < "sgd" */
	assert_matches(db, "params.opt ~ '[Aa]dam'", "rp_0001 rp_0003");
	assert_matches(db, "params.opt contains da", "rp_0001 rp_0003");
	assert_matches(db, "params.lr ~ '0.0*'", "rp_0001 rp_0002");
	assert_matches(db, "params.lr contains e-", "rp_0003");
	/* a text param compared with a number: its num is NULL, so no match */
	assert_matches(db, "params.opt < 1", "");
	/* a run without the param matches no comparison, and not of any */
	assert_matches(db, "params.layers != 4", "rp_0002");
	assert_matches(db, "not params.layers = 4", "rp_0002 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "params.missing = 1 or params.missing != 1", "");
	assert_matches(db, "not params.missing = 1", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
}

/* ---- metrics ---- */

static void test_metrics(void **state)
{
	sqlite3 *db = *state;
	/* last by default; rp_0002's loss is NaN (NULL): no comparison holds */
	assert_matches(db, "metrics.loss < 1", "rp_0001");
	assert_matches(db, "metrics.loss >= 0", "rp_0001");
	assert_matches(db, "metrics.loss.last < 1", "rp_0001");
	assert_matches(db, "not metrics.loss < 1", "rp_0002 rp_0003 rp_0004 rp_0010");
	assert_matches(db, "metrics.loss.min < 0.25", "rp_0002");
	assert_matches(db, "metrics.loss.max > 2", "rp_0002");
	assert_matches(db, "metrics.loss.count >= 100", "rp_0001");
	assert_matches(db, "metrics.val_acc.last_step = 4", "rp_0002");
	assert_matches(db, "metrics.val_acc >= 0.9", "rp_0002 rp_0003");
	assert_matches(db, "metrics.val_acc != 0.85", "rp_0002 rp_0003");
	assert_matches(db, "metrics.train/loss = 0.7", "rp_0003");
	/* a metric whose name ends in .min: the explicit .last reaches it */
	assert_matches(db, "metrics.eval.min.last = 7", "rp_0001");
	assert_matches(db, "metrics.eval.min = 7", "");
	assert_matches(db, "metrics.val_acc < \"0.9\"", "rp_0001"); /* a quoted number is still one */
}

/* ---- tags ---- */

static void test_tags(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "tags contains baseline", "rp_0001 rp_0003");
	assert_matches(db, "tags = sweep", "rp_0002 rp_0003");
	assert_matches(db, "tags ~ 'b*'", "rp_0001 rp_0003");
	assert_matches(db, "tags contains base", ""); /* a whole tag, not a substring */
	assert_matches(db, "not tags contains baseline", "rp_0002 rp_0004 rp_0010");
	assert_matches(db, "tags contains sweep and tags contains baseline", "rp_0003");
}

/* ---- times and durations ---- */

static void test_times(void **state)
{
	sqlite3 *db = *state;
	/* an age is now minus it: > 7d is within the last 7 days */
	assert_matches(db, "started > 7d", "rp_0002 rp_0003");
	assert_matches(db, "started < 7d", "rp_0001 rp_0010");
	assert_matches(db, "started >= 2h", "rp_0003");
	assert_matches(db, "started > 90m", "rp_0003");
	assert_matches(db, "started > 3601s", "rp_0003");
	assert_matches(db, "started > 1.5d", "rp_0003");
	/* a date is a whole UTC day: = that day, <= up to its end, > after it */
	assert_matches(db, "started = 2025-11-10", "rp_0001");
	assert_matches(db, "started != 2025-11-10", "rp_0002 rp_0003 rp_0010");
	assert_matches(db, "started < 2025-11-10", "rp_0010");
	assert_matches(db, "started <= 2025-11-10", "rp_0001 rp_0010");
	assert_matches(db, "started > 2025-11-10", "rp_0002 rp_0003");
	assert_matches(db, "started >= 2025-11-10", "rp_0001 rp_0002 rp_0003");
	/* RFC 3339: Z or an offset, seconds and fractions optional */
	assert_matches(db, "started >= 2025-11-10T05:00:00Z", "rp_0001 rp_0002 rp_0003");
	assert_matches(db, "started > 2025-11-10T05:00:00Z", "rp_0002 rp_0003");
	assert_matches(db, "started = 2025-11-10T05:00:00.000Z", "rp_0001");
	assert_matches(db, "started = 2025-11-10T06:00+01:00", "rp_0001");
	assert_matches(db, "started = '2025-11-09 23:00:00-06:00'", "rp_0001");
	assert_matches(db, "started = 2025-11-10t05:00:00z", "rp_0001");
	/* a run not yet ended (or never started) matches no comparison of it */
	assert_matches(db, "ended > 2000-01-01", "rp_0001 rp_0002 rp_0010");
	assert_matches(db, "not ended > 2000-01-01", "rp_0003 rp_0004");
	assert_matches(db, "ended < 1d", "rp_0001 rp_0002 rp_0010");
}

static void test_durations(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "duration > 60", "rp_0001 rp_0002");
	assert_matches(db, "duration = 90s", "rp_0002");
	assert_matches(db, "duration < 1.5m", "rp_0010");
	assert_matches(db, "duration >= 1h", "rp_0001");
	assert_matches(db, "duration <= 0.5d", "rp_0001 rp_0002 rp_0010");
	assert_matches(db, "duration != 5", "rp_0001 rp_0002");
	assert_matches(db, "not duration > 0", "rp_0003 rp_0004");
}

/* ---- value forms ---- */

static void test_value_forms(void **state)
{
	sqlite3 *db = *state;
	assert_matches(db, "params.lr = -3", "rp_0010");
	assert_matches(db, "params.lr = -3.0e0", "rp_0010");
	assert_matches(db, "params.lr < .005", "rp_0002 rp_0003 rp_0010");
	assert_matches(db, "params.lr = +0.01", "rp_0001");
	assert_matches(db, "note = 'it\\'s \"quoted\"'", "rp_0003");
	assert_matches(db, "note = \"it's \\\"quoted\\\"\"", "rp_0003");
	assert_matches(db, "note = 'first try with adam'", "rp_0001");
	assert_matches(db, "name = \"sweep\\\\lr\"", "");
	assert_matches(db, "name = 'baseline-a'", "rp_0001");
	assert_matches(db, "name = baseline-a", "rp_0001");
	assert_matches(db, "name = 'sweep\\tlr' or name = 'a\\nb'", "");
	assert_matches(db, "name = ''", "");
	assert_matches(db, "name=sweep-lr", "rp_0002");
	assert_matches(db, "\n\tname\n=\n\tsweep-lr\n", "rp_0002");
}

/* The compiled form: fixed SQL, every value (key and metric name included) a bound arg. */
static void test_compiled_form(void **state)
{
	(void)state;
	struct where_sql w;
	compile_ok("params.lr < 0.01 and (metrics.val_acc >= 0.9 or tags contains 'baseline') and status = success", &w);
	assert_string_equal(w.sql,
			    "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = ? AND p.num < ?)"
			    " AND (EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND m.name = ? AND m.last >= ?)"
			    " OR EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND t.tag = ?))"
			    " AND (runs.status IS NOT NULL AND runs.status = ?)");
	assert_int_equal(w.nargs, 6);
	assert_int_equal(w.args[0].type, WHERE_ARG_TEXT);
	assert_string_equal(w.args[0].text, "lr");
	assert_int_equal(w.args[1].type, WHERE_ARG_REAL);
	assert_true(w.args[1].real == 0.01);
	assert_string_equal(w.args[2].text, "val_acc");
	assert_true(w.args[3].real == 0.9);
	assert_string_equal(w.args[4].text, "baseline");
	assert_string_equal(w.args[5].text, "success");
	where_sql_free(&w);
	assert_null(w.sql);
	where_sql_free(&w); /* twice is harmless */

	compile_ok("id >= 7 and started > 7d", &w);
	assert_string_equal(w.sql, "(runs.num >= ?) AND (runs.started IS NOT NULL AND runs.started > ?)");
	assert_int_equal(w.args[0].type, WHERE_ARG_INT);
	assert_int_equal(w.args[0].integer, 7);
	assert_true(w.args[1].real == NOW - 7 * DAY);
	where_sql_free(&w);
}

/* The caller binds its own parameters around ours. */
static void test_bind_offset(void **state)
{
	sqlite3 *db = *state;
	struct where_sql w;
	compile_ok("runner = local and tags contains baseline", &w);
	char *sql = xasprintf("SELECT count(*) FROM runs WHERE num >= ? AND (%s) AND num < ?", w.sql);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int(st, 1, 2);
	struct rp_err e = {0};
	assert_int_equal(where_bind(st, 2, &w, &e), 0);
	sqlite3_bind_int(st, 2 + (int)w.nargs, 100);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1); /* rp_0003; rp_0001 is below 2 */
	/* binding past the statement's parameters is a runtime error */
	assert_int_equal(where_bind(st, 4, &w, &e), -1);
	assert_int_equal(e.kind, RP_ERR_RUNTIME);
	sqlite3_finalize(st);
	free(sql);
	where_sql_free(&w);
}

/* ---- injection: data stays data ---- */

static void assert_no_input_text(const struct where_sql *w)
{
	assert_null(strpbrk(w->sql, "'\";"));
	assert_null(strstr(w->sql, "DROP"));
	assert_null(strstr(w->sql, "--"));
}

static void test_injection_as_values(void **state)
{
	sqlite3 *db = *state;
	static const char *const exprs[] = {
		"name = \"'; DROP TABLE runs; --\"",
		"tags contains \"'; DROP TABLE runs; --\"",
		"note contains '\\'); DROP TABLE runs; --'",
		"params.lr = \"1 OR 1=1\"",
		"name ~ \"*' OR '1'='1\"",
		"status = success or name = 'x\" OR 1=1 --'",
	};
	for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
		struct where_sql w;
		compile_ok(exprs[i], &w);
		assert_no_input_text(&w);
		where_sql_free(&w);
	}
	assert_matches(db, exprs[0], "rp_0004");
	assert_matches(db, exprs[1], "rp_0004");
	assert_matches(db, exprs[2], "");
	assert_matches(db, exprs[3], "");
	assert_matches(db, exprs[4], "");
	assert_matches(db, exprs[5], "rp_0001");
	assert_matches(db, "id = \"rp_0001' OR '1'='1\"", "");
	/* the table is still there, all of it */
	assert_matches(db, "id ~ '*'", "rp_0001 rp_0002 rp_0003 rp_0004 rp_0010");
}

static void test_injection_as_fields(void **state)
{
	sqlite3 *db = *state;
	/* the quote ends the field word and starts a string that never ends */
	expect_error("params.x'; DROP TABLE runs; --", "--where: 1:9: unterminated string (no closing ')");
	expect_error("params.x'; DROP TABLE runs; --' = 1", "--where: 1:9: expected an operator (= != < <= > >= ~ "
						      "contains) after 'params.x', got ''; DROP TABLE runs; --''");
	expect_error("params.x;DROP = 1", "--where: 1:1: param key 'x;DROP' may hold letters, digits and _ . - / only");
	expect_error("metrics.a;--=1", "--where: 1:1: metric name 'a;--' may hold letters, digits and _ . - / only");
	expect_error("metrics.a) OR 1=1 --", "--where: 1:10: expected an operator (= != < <= > >= ~ contains) after "
					     "'metrics.a', got ')'");
	expect_error("runs.id = 1", "--where: 1:1: unknown field 'runs.id' (fields: id name status reason started "
				    "ended duration runner image fingerprint note tags params.KEY metrics.NAME)");
	/* the key that holds a quote in the index is reachable by no expression, and harmless */
	assert_matches(db, "params.x = 1", "");
}

/* ---- errors ---- */

static void test_errors(void **state)
{
	(void)state;
	expect_error("", "--where: empty expression");
	expect_error(" \t\n ", "--where: empty expression");
	expect_error("params.loss <", "--where: 1:14: expected a value after '<'");
	expect_error("params.lr < )", "--where: 1:13: expected a value after '<'");
	expect_error("param.lr < 0.01", "--where: 1:1: unknown field 'param.lr' (did you mean 'params.lr'?)");
	expect_error("metric.loss < 1", "--where: 1:1: unknown field 'metric.loss' (did you mean 'metrics.loss'?)");
	expect_error("tag contains x", "--where: 1:1: unknown field 'tag' (did you mean 'tags'?)");
	expect_error("status = success\nand statsu = failed",
		     "--where: 2:5: unknown field 'statsu' (did you mean 'status'?)");
	expect_error("params = 1", "--where: 1:1: 'params' needs a key: params.KEY (e.g. params.lr)");
	expect_error("metrics > 1", "--where: 1:1: 'metrics' needs a name: metrics.NAME (e.g. metrics.loss)");
	expect_error("(status = success", "--where: 1:1: unclosed '('");
	expect_error("((status = success)", "--where: 1:1: unclosed '('");
	expect_error("status = success)", "--where: 1:17: unmatched ')'");
	expect_error("(status = success name = x)", "--where: 1:19: expected 'and', 'or' or ')', got 'name'");
	expect_error("status = success name = x", "--where: 1:18: expected 'and' or 'or' before 'name'");
	expect_error("status = success and", "--where: 1:21: expected a field (e.g. status, params.lr), got the end "
				     "of the expression");
	expect_error("()", "--where: 1:2: expected a field (e.g. status, params.lr), got ')'");
	expect_error("= 3", "--where: 1:1: expected a field (e.g. status, params.lr), got '='");
	expect_error("not", "--where: 1:4: expected a field (e.g. status, params.lr), got the end of the expression");
	expect_error("status success", "--where: 1:8: expected an operator (= != < <= > >= ~ contains) after "
				       "'status', got 'success'");
	expect_error("status", "--where: 1:7: expected an operator (= != < <= > >= ~ contains) after 'status', got "
			       "the end of the expression");
	expect_error("name = and", "--where: 1:8: expected a value after '=', got 'and' (quote it to mean the word)");
	expect_error("name = = x", "--where: 1:8: expected a value after '='");
	expect_error("started > yesterday", "--where: 1:11: started: 'yesterday' is not a time (2025-11-14, "
					    "2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	expect_error("started > 2025-02-29", "--where: 1:11: started: '2025-02-29' is not a time (2025-11-14, "
					     "2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	expect_error("ended < 2025-11-14T25:00:00Z", "--where: 1:9: ended: '2025-11-14T25:00:00Z' is not a time "
						     "(2025-11-14, 2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	expect_error("ended < 2025-11-14T09:00:00", "--where: 1:9: ended: '2025-11-14T09:00:00' is not a time "
						    "(2025-11-14, 2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	expect_error("started > 7", "--where: 1:11: started: '7' is not a time (2025-11-14, 2025-11-14T09:30:00Z, "
				    "or an age: 7d, 12h, 30m)");
	expect_error("started > -7d", "--where: 1:11: started: '-7d' is not a time (2025-11-14, "
				      "2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	expect_error("duration < 5x", "--where: 1:12: duration: '5x' is not a duration (seconds, or 90s, 5m, 2h, 1d)");
	expect_error("duration < 1e3s", "--where: 1:12: duration: '1e3s' is not a duration (seconds, or 90s, 5m, 2h, "
					"1d)");
	expect_error("metrics.loss < abc", "--where: 1:16: metrics.loss: 'abc' is not a number");
	expect_error("metrics.loss < 1e999", "--where: 1:16: metrics.loss: '1e999' is not a number");
	expect_error("metrics.loss < nan", "--where: 1:16: metrics.loss: 'nan' is not a number");
	expect_error("metrics.loss contains 1", "--where: 1:14: 'contains' does not apply to metrics.loss (a number); "
						"use = != < <= > >=");
	expect_error("duration ~ 5*", "--where: 1:10: '~' does not apply to duration (a number of seconds); use = != "
				      "< <= > >=");
	expect_error("started contains 2025", "--where: 1:9: 'contains' does not apply to started (a time); use = != "
					      "< <= > >=");
	expect_error("tags < x", "--where: 1:6: '<' does not apply to tags; use contains, = or ~ (and not to exclude "
				 "a tag)");
	expect_error("tags != x", "--where: 1:6: '!=' does not apply to tags; use contains, = or ~ (and not to "
				  "exclude a tag)");
	expect_error("status = sucess", "--where: 1:10: unknown status 'sucess' (did you mean 'success'?)");
	expect_error("status != 'done'", "--where: 1:11: unknown status 'done' (statuses: queued running success "
					 "failed cancelled lost)");
	expect_error("name = 'abc", "--where: 1:8: unterminated string (no closing ')");
	expect_error("name = \"abc\\", "--where: 1:8: unterminated string (no closing \")");
	expect_error("name = \"a\\qb\"", "--where: 1:10: unknown escape '\\q' in a string (known: \\\\ \\\" \\' \\n "
					 "\\t)");
	expect_error("name ! x", "--where: 1:6: unexpected '!' (did you mean '!='?)");
	expect_error("name = \x01", "--where: 1:8: unexpected character 0x01");
	expect_error("foo = 1", "--where: 1:1: unknown field 'foo' (fields: id name status reason started ended "
				"duration runner image fingerprint note tags params.KEY metrics.NAME)");
	/* columns count characters: é is one */
	expect_error("name = \"é\" x", "--where: 1:12: expected 'and' or 'or' before 'x'");
	/* long or unprintable input is cut and masked in the message */
	expect_error("name = x yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
		     "--where: 1:10: expected 'and' or 'or' before 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...'");
	expect_error("name = x 'a\nb'", "--where: 1:10: expected 'and' or 'or' before ''a?b''");
}

/* ---- limits ---- */

static char *repeat(const char *s, int n)
{
	size_t len = strlen(s);
	char *out = xmalloc(len * (size_t)n + 1);
	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return out;
}

/* prefix * n, leaf, suffix * n: compiles, and SQLite prepares it inside a caller's query. */
static void nest_ok(sqlite3 *db, const char *prefix, const char *leaf, const char *suffix, int n)
{
	char *pre = repeat(prefix, n), *suf = repeat(suffix, n);
	char *expr = xasprintf("%s%s%s", pre, leaf, suf);
	struct where_sql w;
	compile_ok(expr, &w);
	char *sql = xasprintf("SELECT id FROM runs WHERE num > ? AND (%s) ORDER BY num LIMIT 10", w.sql);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", expr, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	where_sql_free(&w);
	free(sql);
	free(expr);
	free(pre);
	free(suf);
}

static void nest_fails(const char *prefix, const char *leaf, const char *suffix, int n, int col)
{
	char *pre = repeat(prefix, n), *suf = repeat(suffix, n);
	char *expr = xasprintf("%s%s%s", pre, leaf, suf);
	char *msg = xasprintf("--where: 1:%d: expression nested too deeply (at most %d levels)", col, WHERE_MAX_NESTING);
	expect_error(expr, msg);
	free(msg);
	free(expr);
	free(pre);
	free(suf);
}

static void test_nesting_limit(void **state)
{
	sqlite3 *db = *state;
	const char *leaf = "metrics.loss >= 0"; /* an EXISTS subquery: the largest leaf */
	/* each at the limit (prepared inside a caller's query), then one over it */
	nest_ok(db, "(", leaf, ")", WHERE_MAX_NESTING);
	nest_fails("(", leaf, ")", WHERE_MAX_NESTING + 1, WHERE_MAX_NESTING + 1);
	nest_ok(db, "not ", leaf, "", WHERE_MAX_NESTING);
	nest_fails("not ", leaf, "", WHERE_MAX_NESTING + 1, 4 * WHERE_MAX_NESTING + 1);
	nest_ok(db, "not (", leaf, ")", WHERE_MAX_NESTING / 2);
	nest_ok(db, "name = a and not (", leaf, ")", WHERE_MAX_NESTING / 4);
	/* the costliest level: SQLite holds "x OR y AND (" while it parses what follows; the
	 * innermost or/and brings the 12 levels of 5 to 64 */
	int n = WHERE_MAX_NESTING / 5;
	nest_ok(db, "name = a or name = b and (", "name = c or name = d and metrics.loss >= 0", ")", n);
	nest_fails("name = a or name = b and (", "name = c or name = d and metrics.loss >= 0", ")", n + 1,
		   26 * (n + 1));
	nest_fails("name = a or name = b and (", "name = c or name = d and not metrics.loss >= 0", ")", n, 26 * n + 26);
	/* a chain costs the same for each operand: SQLite reduces "a AND b" before "AND c" */
	nest_ok(db, "name = a or name = b and (", "name = c or name = d and tags = x and metrics.loss >= 0", ")", n);
}

static void test_length_and_terms(void **state)
{
	sqlite3 *db = *state;
	/* the most comparisons allowed, chained: compiles, prepares and runs */
	char *terms = repeat(" or id = 1", WHERE_MAX_TERMS - 1);
	char *expr = xasprintf("id = 2%s", terms);
	assert_true(strlen(expr) <= WHERE_MAX_LEN);
	assert_matches(db, expr, "rp_0001 rp_0002");
	free(expr);
	expr = xasprintf("id = 2%s or id = 3", terms);
	char *msg = xasprintf("--where: 1:%zu: too many comparisons (at most %d)", strlen(expr) - 5, WHERE_MAX_TERMS);
	expect_error(expr, msg);
	free(msg);
	free(expr);
	free(terms);

	char *name = repeat("x", WHERE_MAX_LEN - 7);
	expr = xasprintf("name = %s", name);
	assert_matches(db, expr, "");
	free(expr);
	expr = xasprintf("name = %sx", name);
	msg = xasprintf("--where: expression too long (%d bytes, at most %d)", WHERE_MAX_LEN + 1, WHERE_MAX_LEN);
	expect_error(expr, msg);
	free(msg);
	free(expr);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_operators),
		cmocka_unit_test(test_missing_values),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_parentheses),
		cmocka_unit_test(test_keywords_any_case),
		cmocka_unit_test(test_params_typed),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_compiled_form),
		cmocka_unit_test(test_bind_offset),
		cmocka_unit_test(test_injection_as_values),
		cmocka_unit_test(test_injection_as_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_length_and_terms),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
