/* The team server's database (src/server/): its schema by versioned migrations, and the audit
 * trail, chained by hash. The connection is pgdb.h's. */
#ifndef RP_SERVER_H
#define RP_SERVER_H

#include <stdbool.h>

#include "err.h"

struct pg_db;

/* ---- migrations (migrate.c) ---- */

/* The schema version this runpilot builds. */
int server_schema_latest(void);
/* Bring the database up to server_schema_latest(): under an advisory lock (concurrent callers
 * wait, then find nothing to do), each version in its own transaction, recorded in
 * schema_migrations. *from is the version found, *to the version left. A database of a newer
 * version is an error ("made by a newer runpilot"). */
int server_migrate(struct pg_db *db, int *from, int *to, struct rp_err *err);

/* ---- the audit trail (audit.c) ---- */

struct audit_event {
	const char *actor;   /* who: an account name, "-" for anonymous */
	const char *address; /* the client's address, or NULL */
	const char *action;  /* what: "login", "push", "token.create", ... */
	const char *project; /* the project it concerns, or NULL */
	const char *detail;  /* a JSON object, or NULL for {} */
};

/* Append one event, chained to the last; *id (optional) its id. */
int audit_append(struct pg_db *db, const struct audit_event *ev, long long *id, struct rp_err *err);

struct audit_verdict {
	long long events;    /* events checked */
	long long broken_id; /* the first event whose chain is broken, 0 when intact */
	char why[512];       /* what differs there */
};
/* Walk the chain in id order recomputing each hash; 0 with v filled (intact or not), -1 with err
 * when the database cannot be read. */
int audit_verify(struct pg_db *db, struct audit_verdict *v, struct rp_err *err);
/* Every event in id order as one JSON object a line (no newline): id, at, actor, address,
 * action, project, detail, prev_hash, hash; line returns -1 (with err) to stop. */
int audit_export(struct pg_db *db, int (*line)(void *ctx, const char *json, struct rp_err *err), void *ctx,
		 struct rp_err *err);

/* ---- blobs ---- */

/* Where the blob of a sha256 (64 lowercase hex digits) lies under the data directory:
 * DATA_DIR/blobs/ab/cdef... (its first two digits, then the other 62); NULL for another name.
 * A run's blobs are named in run_blobs by their path in the run's directory: "logs.txt",
 * "outputs/PATH", "files.json" (the fingerprint's per-file list). */
char *server_blob_path(const char *data_dir, const char *sha256);

/* ---- the web UI's data (ui_pg.c) ---- */

/* A UI source (ui_source.h) over one project's runs in the database at db_url, its blobs under
 * data_dir. Runs are named by their uid (a project holds several stores' runs, so rp_0007 may
 * name more than one); a row's "label" is the id its store showed. A run of another project, or
 * a soft-deleted one, is not found. Safe to call from many threads: each call borrows a
 * connection of its own from a pool, all closed by close. annotate changes the annotations table
 * (and the tags and note --where sees) in one transaction; its audit event is the caller's. */
struct ui_source;
int ui_source_pg_open(const char *db_url, const char *data_dir, long long project_id, struct ui_source **out,
		      struct rp_err *err);

#endif
