/* The server's PostgreSQL connection (src/server/db.c): libpq, loaded at first use, with bound
 * parameters only (no SQL is ever built from input). Values travel as text in both directions;
 * bytea as PostgreSQL's hex form ("\x0a1b..."). Errors are one line: PostgreSQL's primary
 * message and its SQLSTATE; a connection error never shows the URL's password. */
#ifndef RP_PGDB_H
#define RP_PGDB_H

#include <stdbool.h>

#include "err.h"

struct pg_db;
struct pg_res;

/* Connect to url (a postgresql:// URL or a key=value string); NULL with err. */
struct pg_db *pg_connect(const char *url, struct rp_err *err);
void pg_close(struct pg_db *db);
/* Is the connection still up? (false once a statement found it lost: reconnect then) */
bool pg_connected(const struct pg_db *db);

/* Run one statement with n parameters ($1..$n; a NULL entry is SQL NULL). pg_exec returns the
 * result (free it with pg_res_free), or NULL with err; pg_cmd discards it. */
struct pg_res *pg_exec(struct pg_db *db, const char *sql, int n, const char *const *params, struct rp_err *err);
int pg_cmd(struct pg_db *db, const char *sql, int n, const char *const *params, struct rp_err *err);
/* The SQLSTATE of the last failed statement ("" when none failed). */
const char *pg_sqlstate(const struct pg_db *db);

int pg_begin(struct pg_db *db, struct rp_err *err);
int pg_commit(struct pg_db *db, struct rp_err *err);
/* Roll back the open transaction; used on a failure path, so its own failure is ignored. */
void pg_rollback(struct pg_db *db);

int pg_rows(const struct pg_res *r);
int pg_cols(const struct pg_res *r);
/* A value as text, NULL for SQL NULL (valid until pg_res_free). */
const char *pg_value(const struct pg_res *r, int row, int col);
void pg_res_free(struct pg_res *r);

/* url with its password (URL userinfo, ?password=, password=...) replaced by "***", for messages. */
char *pg_redact_url(const char *url);

#endif
