/* where.c's PostgreSQL dialect: the exact SQL and args for each field kind and operator, the
 * $N numbering from first_param, the glob's translation to a regular expression (its edge
 * cases), and that the SQLite dialect is where_compile's output unchanged. That PostgreSQL
 * answers as SQLite does is tests/server/test_where_pg.sh's job (a real server). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "where.h"

#define NOW 1763596800.0 /* 2025-11-20T00:00:00Z */
#define DAY 86400.0

static void pg_ok(const char *expr, int first, struct where_sql *w)
{
	struct rp_err e = {0};
	if (where_compile_dialect(expr, NOW, WHERE_POSTGRES, first, w, &e) != 0)
		fail_msg("where_compile_dialect(%s): %s", expr, e.msg);
}

/* expr's PostgreSQL SQL (parameters from $2) is sql. */
static void expect_sql(const char *expr, const char *sql)
{
	struct where_sql w;
	pg_ok(expr, 2, &w);
	if (strcmp(w.sql, sql) != 0)
		fail_msg("%s\n  got:    %s\n  wanted: %s", expr, w.sql, sql);
	where_sql_free(&w);
}

/* The regular expression `name ~ glob` binds. */
static char *regex_of(const char *glob)
{
	struct where_sql w;
	char *expr = malloc(strlen(glob) * 2 + 16), *p = expr;
	p += sprintf(p, "name ~ '");
	for (const char *s = glob; *s; s++) {
		if (*s == '\'' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	strcpy(p, "'");
	pg_ok(expr, 1, &w);
	assert_string_equal(w.sql, "(runs.name IS NOT NULL AND runs.name ~ $1::text)");
	assert_int_equal(w.nargs, 1);
	char *re = w.args[0].text;
	w.args[0].text = NULL;
	where_sql_free(&w);
	free(expr);
	return re;
}

#define expect_regex(glob, want)                                                                \
	do {                                                                                    \
		char *re_ = regex_of(glob);                                                     \
		if (strcmp(re_, (want)) != 0)                                                   \
			fail_msg("glob %s\n  regex:  %s\n  wanted: %s", (glob), re_, (want));   \
		free(re_);                                                                      \
	} while (0)

static void test_text_fields(void **state)
{
	(void)state;
	expect_sql("name = a", "(runs.name IS NOT NULL AND runs.name = $2::text)");
	expect_sql("name != a", "(runs.name IS NOT NULL AND runs.name != $2::text)");
	expect_sql("name < a", "(runs.name IS NOT NULL AND runs.name < $2::text COLLATE \"C\")");
	expect_sql("note <= a", "(runs.note IS NOT NULL AND runs.note <= $2::text COLLATE \"C\")");
	expect_sql("reason > a", "(runs.reason IS NOT NULL AND runs.reason > $2::text COLLATE \"C\")");
	expect_sql("image >= a", "(runs.image IS NOT NULL AND runs.image >= $2::text COLLATE \"C\")");
	expect_sql("runner ~ 'do*'", "(runs.runner IS NOT NULL AND runs.runner ~ $2::text)");
	expect_sql("fingerprint contains ab", "(runs.fingerprint IS NOT NULL AND strpos(runs.fingerprint, $2::text) > 0)");
	expect_sql("sweep = sw_1", "(runs.sweep IS NOT NULL AND runs.sweep = $2::text)");
	expect_sql("status = success", "(runs.status IS NOT NULL AND runs.status = $2::text)");
}

static void test_id(void **state)
{
	(void)state;
	expect_sql("id >= 7", "(runs.num >= $2::bigint)");
	expect_sql("id = rp_0007",
		   "(('rp_' || CASE WHEN runs.num BETWEEN 0 AND 999 THEN lpad(runs.num::text, 4, '0') ELSE "
		   "runs.num::text END) IS NOT NULL AND ('rp_' || CASE WHEN runs.num BETWEEN 0 AND 999 THEN "
		   "lpad(runs.num::text, 4, '0') ELSE runs.num::text END) = $2::text)");
	struct where_sql w;
	pg_ok("id = 7", 1, &w);
	assert_int_equal(w.args[0].type, WHERE_ARG_INT);
	assert_int_equal(w.args[0].integer, 7);
	where_sql_free(&w);
}

static void test_times_and_durations(void **state)
{
	(void)state;
	struct where_sql w;
	pg_ok("started > 7d", 2, &w);
	assert_string_equal(w.sql, "(runs.started IS NOT NULL AND runs.started > $2::float8)");
	assert_int_equal(w.args[0].type, WHERE_ARG_REAL);
	assert_true(w.args[0].real == NOW - 7 * DAY);
	where_sql_free(&w);
	/* a date is its whole day: two parameters */
	pg_ok("ended = 2025-11-14", 2, &w);
	assert_string_equal(w.sql, "(runs.ended IS NOT NULL AND runs.ended >= $2::float8 AND runs.ended < $3::float8)");
	assert_int_equal(w.nargs, 2);
	assert_true(w.args[1].real - w.args[0].real == DAY);
	where_sql_free(&w);
	expect_sql("started != 2025-11-14",
		   "(runs.started IS NOT NULL AND (runs.started < $2::float8 OR runs.started >= $3::float8))");
	expect_sql("started <= 2025-11-14", "(runs.started IS NOT NULL AND runs.started < $2::float8)");
	expect_sql("duration >= 5m", "(runs.duration IS NOT NULL AND runs.duration >= $2::float8)");
}

static void test_params(void **state)
{
	(void)state;
	struct where_sql w;
	pg_ok("params.lr < 0.01", 2, &w);
	assert_string_equal(w.sql, "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = $2::text "
				   "AND p.num < $3::float8)");
	assert_int_equal(w.args[0].type, WHERE_ARG_TEXT);
	assert_string_equal(w.args[0].text, "lr");
	assert_int_equal(w.args[1].type, WHERE_ARG_REAL);
	assert_true(w.args[1].real == 0.01);
	where_sql_free(&w);
	expect_sql("params.opt = adam", "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = $2::text "
					"AND p.text = $3::text)");
	expect_sql("params.opt >= adam", "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = $2::text "
					 "AND p.text >= $3::text COLLATE \"C\")");
	expect_sql("params.opt contains da", "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND "
					     "p.key = $2::text AND strpos(p.text, $3::text) > 0)");
	pg_ok("params.lr ~ '0.0*'", 2, &w);
	assert_string_equal(w.sql, "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = $2::text "
				   "AND p.text ~ $3::text)");
	assert_string_equal(w.args[1].text, "^0\\u002E0.*$");
	where_sql_free(&w);
}

static void test_metrics_and_tags(void **state)
{
	(void)state;
	expect_sql("metrics.loss <= 0.5", "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND "
					  "m.name = $2::text AND m.last <= $3::float8)");
	expect_sql("metrics.loss.count > 3", "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND "
					     "m.name = $2::text AND m.count > $3::float8)");
	expect_sql("metrics.loss.last_step = 9", "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND "
						 "m.name = $2::text AND m.last_step = $3::float8)");
	expect_sql("tags contains a", "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND t.tag = $2::text)");
	expect_sql("tags = a", "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND t.tag = $2::text)");
	expect_sql("tags ~ 'a*'", "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND t.tag ~ $2::text)");
}

/* and/or/not/parentheses are the same words; the numbers run on across them. */
static void test_numbering(void **state)
{
	(void)state;
	struct where_sql w;
	const char *expr = "not (status = failed or params.lr < 0.1) and started = 2025-11-14 or tags ~ x";
	pg_ok(expr, 5, &w);
	assert_string_equal(w.sql,
			    "NOT ((runs.status IS NOT NULL AND runs.status = $5::text) OR EXISTS (SELECT 1 FROM params p "
			    "WHERE p.run_id = runs.id AND p.key = $6::text AND p.num < $7::float8)) AND (runs.started IS "
			    "NOT NULL AND runs.started >= $8::float8 AND runs.started < $9::float8) OR EXISTS (SELECT 1 "
			    "FROM tags t WHERE t.run_id = runs.id AND t.tag ~ $10::text)");
	assert_int_equal(w.nargs, 6);
	assert_string_equal(w.args[5].text, "^x$");
	where_sql_free(&w);
	pg_ok(expr, 1, &w);
	assert_non_null(strstr(w.sql, "$1::text"));
	assert_non_null(strstr(w.sql, "$6::text)"));
	assert_null(strstr(w.sql, "$7"));
	where_sql_free(&w);

	struct rp_err e = {0};
	w.sql = (char *)"junk";
	assert_int_equal(where_compile_dialect("status = failed", NOW, WHERE_POSTGRES, 0, &w, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(w.sql);
}

static void test_glob_translation(void **state)
{
	(void)state;
	expect_regex("abc", "^abc$");
	expect_regex("", "^$");
	expect_regex("a*b?c", "^a.*b.c$");
	expect_regex("**", "^.*.*$");
	/* every regex metacharacter is an ordinary character */
	expect_regex(".+()|{}^$\\", "^\\u002E\\u002B\\u0028\\u0029\\u007C\\u007B\\u007D\\u005E\\u0024\\u005C$");
	expect_regex("a b-c_d", "^a\\u0020b\\u002Dc\\u005Fd$");
	expect_regex("é?ü", "^é.ü$");
	/* sets */
	expect_regex("[a-z]", "^[a-z]$");
	expect_regex("[^0-9]x", "^[^0-9]x$");
	expect_regex("[!a]", "^[\\u0021a]$"); /* ! is a member, not a negation, in SQLite's GLOB */
	expect_regex("[]]", "^[\\u005D]$");
	expect_regex("[]a]", "^[\\u005Da]$");
	expect_regex("[^]a]", "^[^\\u005Da]$");
	expect_regex("[]-a]", "^[\\u005D\\u002Da]$"); /* ] first starts no range */
	expect_regex("[-a]", "^[\\u002Da]$");
	expect_regex("[a-]", "^[a\\u002D]$");
	expect_regex("[a-c-e]", "^[a-c\\u002De]$");
	expect_regex("[z-a]", "^[z]$"); /* the z is a member, the empty range adds nothing */
	expect_regex("[.*?[]", "^[\\u002E\\u002A\\u003F\\u005B]$");
	expect_regex("[\\^]", "^[\\u005C\\u005E]$");
	expect_regex("[à-é]", "^[à-é]$");
	expect_regex("*[ab]", "^.*[ab]$");
	/* an unclosed [ matches nothing, as in SQLite */
	expect_regex("a[bc", "^[^\\u0001-\\U0010FFFF]$");
	expect_regex("[", "^[^\\u0001-\\U0010FFFF]$");
	expect_regex("[]", "^[^\\u0001-\\U0010FFFF]$");
	expect_regex("[^]", "^[^\\u0001-\\U0010FFFF]$");
	expect_regex("x]", "^x\\u005D$");
}

/* PostgreSQL takes UTF-8 only: another value is a usage error where the value is; SQLite takes it. */
static void test_invalid_utf8(void **state)
{
	(void)state;
	struct where_sql w;
	struct rp_err e = {0};
	assert_int_equal(where_compile_dialect("name = 'a\xff'", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_string_equal(e.msg, "--where: 1:8: the value is not valid UTF-8");
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(w.sql);
	assert_int_equal(where_compile_dialect("tags ~ \xc3(", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_int_equal(where_compile_dialect("name = \xed\xa0\x80", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_int_equal(where_compile_dialect("name = \xc0\x80", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_int_equal(where_compile("name = 'a\xff'", NOW, &w, &e), 0);
	where_sql_free(&w);
	/* any other error comes first, as SQLite's dialect reports it */
	assert_int_equal(where_compile_dialect("name = \xff and status = sucess", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_string_equal(e.msg, "--where: 1:23: unknown status 'sucess' (did you mean 'success'?)");
	assert_int_equal(where_compile_dialect("name = \xff b", NOW, WHERE_POSTGRES, 1, &w, &e), -1);
	assert_string_equal(e.msg, "--where: 1:10: expected 'and' or 'or' before 'b'");
}

/* Values, keys and names are parameters in this dialect too; errors are the same. */
static void test_injection_and_errors(void **state)
{
	(void)state;
	struct where_sql w;
	pg_ok("name = \"'; DROP TABLE runs; --\" or params.x = '$1' or note contains \"$2::text\"", 3, &w);
	assert_null(strchr(w.sql, ';'));
	assert_null(strstr(w.sql, "DROP"));
	assert_string_equal(w.args[0].text, "'; DROP TABLE runs; --");
	assert_string_equal(w.args[2].text, "$1");
	assert_string_equal(w.args[3].text, "$2::text");
	where_sql_free(&w);

	struct rp_err e1 = {0}, e2 = {0};
	const char *bad[] = {"params.x'; = 1", "metrics.a\"b > 1", "status = sucess", "started > yesterday", "(a = b",
			     "metrics.loss contains 1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(where_compile(bad[i], NOW, &w, &e1), -1);
		assert_int_equal(where_compile_dialect(bad[i], NOW, WHERE_POSTGRES, 2, &w, &e2), -1);
		assert_string_equal(e1.msg, e2.msg);
		assert_int_equal(e2.kind, RP_ERR_USAGE);
	}
}

/* WHERE_SQLITE is where_compile: the same text and args, whatever first_param says. */
static void test_sqlite_unchanged(void **state)
{
	(void)state;
	const char *exprs[] = {
		"params.lr < 0.01 and (metrics.val_acc >= 0.9 or tags contains 'baseline') and status = success",
		"id >= 7 and started > 7d or id = rp_0002 or id ~ 'rp_*'",
		"not name ~ 'a[b-c]*' and note contains x and params.opt > b and ended != 2025-11-14",
		"tags ~ '[' or duration < 5m or metrics.loss.min = 1",
	};
	for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
		struct where_sql a, b;
		struct rp_err e = {0};
		assert_int_equal(where_compile(exprs[i], NOW, &a, &e), 0);
		assert_int_equal(where_compile_dialect(exprs[i], NOW, WHERE_SQLITE, 9, &b, &e), 0);
		assert_string_equal(a.sql, b.sql);
		assert_null(strchr(a.sql, '$'));
		assert_int_equal(a.nargs, b.nargs);
		for (size_t k = 0; k < a.nargs; k++) {
			assert_int_equal(a.args[k].type, b.args[k].type);
			if (a.args[k].type == WHERE_ARG_TEXT)
				assert_string_equal(a.args[k].text, b.args[k].text);
		}
		where_sql_free(&a);
		where_sql_free(&b);
	}
	struct where_sql w;
	struct rp_err e = {0};
	assert_int_equal(where_compile("name ~ 'a.b*' and id = rp_0001 and note contains x and name < b", NOW, &w, &e), 0);
	assert_string_equal(w.sql, "(runs.name IS NOT NULL AND runs.name GLOB ?) AND (runs.id IS NOT NULL AND "
				   "runs.id = ?) AND (runs.note IS NOT NULL AND instr(runs.note, ?) > 0) AND "
				   "(runs.name IS NOT NULL AND runs.name < ?)");
	assert_string_equal(w.args[0].text, "a.b*"); /* the glob itself */
	where_sql_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_fields),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_times_and_durations),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_metrics_and_tags),
		cmocka_unit_test(test_numbering),
		cmocka_unit_test(test_glob_translation),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_injection_and_errors),
		cmocka_unit_test(test_sqlite_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
