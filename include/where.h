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

/* Compile expr for SQLite. now (epoch seconds) is what ages such as `started > 7d` count back from.
 * 0 and *out filled (free it with where_sql_free), or -1 with an RP_ERR_USAGE error of one line:
 * "--where: LINE:COL: what is wrong", out left empty. */
int where_compile(const char *expr, double now, struct where_sql *out, struct rp_err *err);

/* The SQL dialects: the same language, parser and fragments; only what the databases spell
 * differently differs. */
enum where_dialect {
	WHERE_SQLITE,   /* the run index (index_schema.h): `?` parameters; where_compile's output */
	WHERE_POSTGRES, /* the team server's runs/params/tags/metrics tables */
};

/* where_compile for a dialect. WHERE_SQLITE ignores first_param (its `?` take where_bind's first).
 * WHERE_POSTGRES numbers its parameters $first_param, $first_param + 1, ... (so the caller binds
 * its own, such as `runs.project_id = $1`, before them: first_param 2), each cast to its type
 * ($3::float8, $4::text, $5::bigint) and args[i] the value of $(first_param + i), its text in
 * PostgreSQL's text form (a real as %.17g). What differs from SQLite:
 *  - `~` is a POSIX regular expression: the glob is translated to an anchored one that matches
 *    exactly what SQLite's GLOB does, and that is the arg;
 *  - `contains` is strpos(); text ordered by < <= > >= uses COLLATE "C" (SQLite's byte order);
 *  - `id` is the id the run's store showed (rp_0007), made from runs.num (runs.id is the key);
 *  - a value that is not valid UTF-8 is a usage error (PostgreSQL's text holds only UTF-8).
 * The caller scopes the query (`runs.project_id = $1`, deleted runs): the SQL covers only expr.
 * A first_param below 1 or too high for PostgreSQL's 65535 parameters is a usage error. */
int where_compile_dialect(const char *expr, double now, enum where_dialect dialect, int first_param,
			  struct where_sql *out, struct rp_err *err);
void where_sql_free(struct where_sql *w);

/* Bind w's args to stmt's parameters first, first + 1, ... (SQLite counts from 1), so the caller
 * can bind its own before or after. 0, or -1 with an RP_ERR_RUNTIME error. */
struct sqlite3_stmt;
int where_bind(struct sqlite3_stmt *stmt, int first, const struct where_sql *w, struct rp_err *err);

#endif
