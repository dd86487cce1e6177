/* Test helper: a --where expression compiled for PostgreSQL (where_compile_dialect), for the
 * shell tests that run it against a real server (tests/server/test_where_pg.sh).
 *
 *   where_pg [--now EPOCH] [--first N] EXPR
 *       {"sql": "...", "args": [{"type": "text"|"real"|"int", "value": ...}, ...]}
 *   where_pg --query URL PROJECT [--now EPOCH] EXPR
 *       the uids of project PROJECT's runs EXPR holds for, one a line in order, from the
 *       PostgreSQL database at URL (libpq; $1 is the project, the expression's from $2), every
 *       value a bound parameter (psql 15 has no \bind)
 *
 * A compile error: its message on stderr, exit 2. --now defaults to the current time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "util.h"
#include "where.h"

static int usage(void)
{
	fputs("usage: where_pg [--query URL PROJECT] [--now EPOCH] [--first N] EXPR\n", stderr);
	return 2;
}

static void print_json(const struct where_sql *w)
{
	cJSON *o = cJSON_CreateObject(), *args = cJSON_AddArrayToObject(o, "args");
	cJSON_AddStringToObject(o, "sql", w->sql);
	for (size_t i = 0; i < w->nargs; i++) {
		const struct where_arg *a = &w->args[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "type", a->type == WHERE_ARG_TEXT ? "text" : a->type == WHERE_ARG_REAL ? "real" : "int");
		if (a->type == WHERE_ARG_TEXT)
			cJSON_AddStringToObject(j, "value", a->text);
		else
			cJSON_AddNumberToObject(j, "value", a->type == WHERE_ARG_REAL ? a->real : (double)a->integer);
		cJSON_AddItemToArray(args, j);
	}
	char *s = cJSON_PrintUnformatted(o);
	puts(s);
	free(s);
	cJSON_Delete(o);
}

/* Run "SELECT runs.uid FROM runs WHERE runs.project_id = $1 AND (SQL)" on the database at url with
 * every value bound (PQexecParams, as text: the SQL's casts type them), printing the uids. */
static int run_query(const struct where_sql *w, const char *url, const char *project)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "where_pg: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	char *sql = xasprintf("SELECT runs.uid FROM runs WHERE runs.project_id = $1::bigint AND (%s) ORDER BY runs.uid",
			      w->sql);
	const char **values = xmalloc((w->nargs + 1) * sizeof *values);
	char (*nums)[32] = xmalloc((w->nargs + 1) * sizeof *nums);
	values[0] = project;
	for (size_t i = 0; i < w->nargs; i++) {
		const struct where_arg *a = &w->args[i];
		if (a->type == WHERE_ARG_TEXT)
			values[i + 1] = a->text;
		else {
			if (a->type == WHERE_ARG_REAL)
				snprintf(nums[i], sizeof nums[i], "%.17g", a->real);
			else
				snprintf(nums[i], sizeof nums[i], "%lld", a->integer);
			values[i + 1] = nums[i];
		}
	}
	PGresult *r = PQexecParams(c, sql, (int)w->nargs + 1, NULL, values, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "where_pg: %s", PQresultErrorMessage(r));
		rc = 1;
	} else {
		for (int i = 0; i < PQntuples(r); i++)
			puts(PQgetvalue(r, i, 0));
	}
	PQclear(r);
	PQfinish(c);
	free(values);
	free(nums);
	free(sql);
	return rc;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *project = NULL;
	double now = now_realtime();
	int first = 1, i = 1;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--query") && i + 2 < argc) {
			url = argv[i + 1];
			project = argv[i + 2];
			i++;
		} else if (!strcmp(argv[i], "--now")) {
			now = strtod(argv[i + 1], NULL);
		} else if (!strcmp(argv[i], "--first")) {
			first = atoi(argv[i + 1]);
		} else {
			return usage();
		}
	}
	if (i + 1 != argc)
		return usage();
	if (project)
		first = 2;
	struct where_sql w;
	struct rp_err err = {0};
	if (where_compile_dialect(argv[i], now, WHERE_POSTGRES, first, &w, &err) < 0) {
		fprintf(stderr, "where_pg: %s\n", err.msg);
		return 2;
	}
	int rc = 0;
	if (url)
		rc = run_query(&w, url, project);
	else
		print_json(&w);
	where_sql_free(&w);
	return rc;
}
