/* libFuzzer target for --where (mk/fuzz.mk: make fuzz). Each input is an expression:
 * - rejected: a usage error of one line starting "--where: ", nothing left allocated;
 * - accepted: SQL with no quote or semicolon (nothing of the input pasted in) and one bound
 *   arg per "?", which SQLite prepares inside a caller's query and runs to the end against an
 *   in-memory index with the real schema and a few runs.
 * The PostgreSQL dialect (no server here) must take and refuse the same inputs with the same
 * errors (a value that is not UTF-8 aside), number its parameters $2, $3, ... in order, one per
 * arg of the same types as SQLite's, with no quote or semicolon outside its fixed fragments.  * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index_schema.h"
#include "where.h"

#define NOW 1763596800.0 /* 2025-11-20T00:00:00Z */

static void die(const char *what, const char *expr, const char *detail)
{
	fprintf(stderr, "fuzz_where: %s\n  expr: %s\n  %s\n", what, expr, detail ? detail : "");
	abort();
}

static sqlite3 *open_index(void)
{
	static const char rows[] =
		"INSERT INTO runs (id, num, name, status, reason, started, ended, duration, runner, note) VALUES "
		"('rp_0001', 1, 'a', 'success', NULL, 1762750800, 1762754400, 3600, 'local', 'adam'),"
		"('rp_0002', 2, 'b', 'failed', 'oom', 1763424000, 1763424090, 90, 'docker', NULL),"
		"('rp_0003', 3, NULL, 'running', NULL, 1763593200, NULL, NULL, 'local', NULL);"
		"INSERT INTO params VALUES ('rp_0001', 'lr', 0.01, '0.01'), ('rp_0001', 'opt', NULL, 'adam'),"
		"('rp_0002', 'lr', 0.001, '0.001'), ('rp_0003', 'x', NULL, '');"
		"INSERT INTO tags VALUES ('rp_0001', 'baseline'), ('rp_0002', 'sweep');"
		"INSERT INTO metrics VALUES ('rp_0001', 'loss', 0.5, 0.3, 1.2, 100, 99),"
		"('rp_0002', 'loss', NULL, NULL, NULL, 3, 2);";
	sqlite3 *db;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_exec(db, INDEX_SCHEMA_SQL, NULL, NULL, NULL) ||
	    sqlite3_exec(db, rows, NULL, NULL, NULL))
		die("cannot set up the index", "", sqlite3_errmsg(db));
	return db;
}

static void check_rejected(const char *expr, const struct where_sql *w, const struct rp_err *e)
{
	if (e->kind != RP_ERR_USAGE || strncmp(e->msg, "--where: ", 9) != 0 || strchr(e->msg, '\n'))
		die("a rejection that is not a one-line usage error", expr, e->msg);
	if (w->sql || w->args || w->nargs)
		die("a rejection that left output", expr, e->msg);
}

static void check_sql_text(const char *expr, const struct where_sql *w)
{
	size_t marks = 0;
	if (strpbrk(w->sql, "'\";"))
		die("SQL with a quote or semicolon", expr, w->sql);
	for (const char *p = w->sql; *p; p++)
		marks += *p == '?';
	if (marks != w->nargs)
		die("SQL whose ? count differs from its args", expr, w->sql);
}

static void run_query(sqlite3 *db, const char *expr, const struct where_sql *w)
{
	size_t n = strlen(w->sql) + 128;
	char *sql = malloc(n);
	snprintf(sql, n, "SELECT id FROM runs WHERE num > ? AND (%s) ORDER BY num", w->sql);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("SQL that SQLite does not prepare", expr, sqlite3_errmsg(db));
	struct rp_err e = {0};
	sqlite3_bind_int(st, 1, 0);
	if (where_bind(st, 2, w, &e) != 0)
		die("args that do not bind", expr, e.msg);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		die("a query that fails", expr, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	free(sql);
}

/* The fixed fragments of the PostgreSQL dialect that hold quotes (where.c). */
static const char *const pg_fragments[] = {
	" COLLATE \"C\"",
	"('rp_' || CASE WHEN runs.num BETWEEN 0 AND 999 THEN lpad(runs.num::text, 4, '0') ELSE runs.num::text END)",
};

static void check_pg(const char *expr, const struct where_sql *lite, const struct rp_err *lite_err)
{
	struct where_sql w;
	struct rp_err e = {0};
	int rc = where_compile_dialect(expr, NOW, WHERE_POSTGRES, 2, &w, &e);
	if (rc != 0) {
		check_rejected(expr, &w, &e);
		if (lite ? !strstr(e.msg, "not valid UTF-8") : strcmp(e.msg, lite_err->msg) != 0)
			die("PostgreSQL refuses what SQLite does not, or otherwise", expr, e.msg);
		return;
	}
	if (!lite)
		die("PostgreSQL takes what SQLite refuses", expr, lite_err->msg);
	if (w.nargs != lite->nargs)
		die("PostgreSQL's args differ in number from SQLite's", expr, w.sql);
	for (size_t i = 0; i < w.nargs; i++)
		if (w.args[i].type != lite->args[i].type)
			die("PostgreSQL's args differ in type from SQLite's", expr, w.sql);
	/* the fixed fragments blanked out, then no quote, no semicolon, and $2, $3, ... in order */
	char *sql = strdup(w.sql), *p;
	for (size_t i = 0; i < sizeof pg_fragments / sizeof *pg_fragments; i++)
		while ((p = strstr(sql, pg_fragments[i])))
			memset(p, ' ', strlen(pg_fragments[i]));
	if (strpbrk(sql, "'\";?"))
		die("PostgreSQL SQL with a quote, semicolon or ?", expr, w.sql);
	long want = 2;
	for (p = strchr(sql, '$'); p; p = strchr(p + 1, '$'))
		if (strtol(p + 1, NULL, 10) != want++)
			die("PostgreSQL parameters out of order", expr, w.sql);
	if ((size_t)(want - 2) != w.nargs)
		die("PostgreSQL SQL whose $N count differs from its args", expr, w.sql);
	free(sql);
	where_sql_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sqlite3 *db;
	if (!db)
		db = open_index();
	if (size > WHERE_MAX_LEN + 64)
		return 0;
	char *expr = malloc(size + 1);
	memcpy(expr, data, size);
	expr[size] = '\0';
	struct where_sql w;
	struct rp_err e = {0};
	if (where_compile(expr, NOW, &w, &e) != 0) {
		check_rejected(expr, &w, &e);
		check_pg(expr, NULL, &e);
	} else {
		check_sql_text(expr, &w);
		run_query(db, expr, &w);
		check_pg(expr, &w, &e);
		where_sql_free(&w);
	}
	free(expr);
	return 0;
}
