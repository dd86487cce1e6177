/* `--where` expressions: a small query language over the run index (index_schema.h), compiled to
 * one boolean SQL expression with bound parameters. docs/where.md has the grammar and examples:
 *
 *   params.lr < 0.01 and (metrics.val_acc >= 0.9 or tags contains baseline) and status = success
 *
 * The SQL is usable as `SELECT ... FROM runs WHERE <sql>` (the main table must be named runs).
 * It is built from fixed fragments only: every value, param key and metric name of the expression
 * is a `?` parameter, in args, in order. Nothing of the expression's text is pasted into it. */
#ifndef RP_WHERE_H
#define RP_WHERE_H

#include <stddef.h>

#include "err.h"

/* Limits that keep hostile input from exhausting the stack or SQLite's parser, whose stack has a
 * fixed 100 entries (3.40). Nesting counts what the compiled SQL keeps on that stack: 1 for each
 * enclosing parenthesis or not, 2 for each enclosing operand that follows an and/or; so 64
 * plain parentheses, or 12 levels of `x or y and (...)`. The leaf and the caller's own query
 * need the rest. */
#define WHERE_MAX_LEN 4096      /* bytes of expression */
#define WHERE_MAX_NESTING 64
#define WHERE_MAX_TERMS 256     /* comparisons */

enum where_arg_type { WHERE_ARG_TEXT, WHERE_ARG_REAL, WHERE_ARG_INT };

/* One bound value: text (owned, NUL-terminated), real or integer, as type says. */
struct where_arg {
	enum where_arg_type type;
	char *text;
	double real;
	long long integer;
};

struct where_sql {
	char *sql;               /* a boolean SQL expression over `runs` */
	struct where_arg *args;  /* the values of its `?` parameters, in order */
	size_t nargs;
};

/* Compile expr. now (epoch seconds) is what ages such as `started > 7d` count back from.
 * 0 and *out filled (free it with where_sql_free), or -1 with an RP_ERR_USAGE error of one line:
 * "--where: LINE:COL: what is wrong", out left empty. */
int where_compile(const char *expr, double now, struct where_sql *out, struct rp_err *err);
void where_sql_free(struct where_sql *w);

/* Bind w's args to stmt's parameters first, first + 1, ... (SQLite counts from 1), so the caller
 * can bind its own before or after. 0, or -1 with an RP_ERR_RUNTIME error. */
struct sqlite3_stmt;
int where_bind(struct sqlite3_stmt *stmt, int first, const struct where_sql *w, struct rp_err *err);

#endif
