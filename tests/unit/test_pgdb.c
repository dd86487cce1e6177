/* The server's database connection without a server: a URL's password kept out of what is shown,
 * and the errors of URLs that do not parse or name no server (one line, no password). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pgdb.h"

static void expect_redacted(const char *url, const char *want)
{
	char *got = pg_redact_url(url);
	assert_string_equal(got, want);
	free(got);
}

static void test_redact_uri(void **state)
{
	expect_redacted("postgresql://rp:s3cret@db.example:5432/runs", "postgresql://rp:***@db.example:5432/runs");
	expect_redacted("postgres://rp:s%40cret@db/runs?sslmode=require", "postgres://rp:***@db/runs?sslmode=require");
	/* libpq would cut this userinfo at the '/': still the whole password goes */
	expect_redacted("postgresql://rp:se/cr@et@db/runs", "postgresql://rp:***@db/runs");
	expect_redacted("postgresql://rp@db/runs?password=s3cret&host=x", "postgresql://rp@db/runs?password=***&host=x");
	expect_redacted("postgresql:///runs?host=/tmp/pg&user=rp", "postgresql:///runs?host=/tmp/pg&user=rp");
	expect_redacted("postgresql://db/runs", "postgresql://db/runs");
}

static void test_redact_keyvalue(void **state)
{
	expect_redacted("host=db password=s3cret dbname=runs", "host=db password=*** dbname=runs");
	expect_redacted("host=db password = 's3 cr\\'et' dbname=runs", "host=db password = *** dbname=runs");
	expect_redacted("password=s3cret", "password=***");
	expect_redacted("host=db passwordfile=x", "host=db passwordfile=x");
}

static void expect_connect_error(const char *url, const char *secret, int kind, const char *says)
{
	struct rp_err err = {0};
	struct pg_db *db = pg_connect(url, &err);
	assert_null(db);
	assert_int_equal(err.kind, kind);
	assert_null(strstr(err.msg, secret));
	assert_null(strchr(err.msg, '\n'));
	if (!strstr(err.msg, says))
		fail_msg("'%s' lacks '%s'", err.msg, says);
}

static void test_connect_errors(void **state)
{
	expect_connect_error("postgresql://rp:hunter2@/db?host=/nonexistent-rp-dir", "hunter2", RP_ERR_RUNTIME,
			     "cannot connect to PostgreSQL at postgresql://rp:***@/db?host=/nonexistent-rp-dir");
	expect_connect_error("postgresql://rp:hun%zzter2@/db", "hun", RP_ERR_USAGE, "is not valid");
	expect_connect_error("postgresql://rp:hunter2@/db?nonsense=1", "hunter2", RP_ERR_USAGE, "is not valid");
	expect_connect_error("postgresql://rp:hun/ter2@/db", "hun", RP_ERR_USAGE, "percent-encode");
	expect_connect_error("host=/nonexistent-rp-dir password=hunter2 dbname=db", "hunter2", RP_ERR_RUNTIME,
			     "password=***");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact_uri),
		cmocka_unit_test(test_redact_keyvalue),
		cmocka_unit_test(test_connect_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
