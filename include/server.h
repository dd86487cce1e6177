/* The team server's database (src/server/): its schema by versioned migrations, and the audit
 * trail, chained by hash. The connection is pgdb.h's. */
#ifndef RP_SERVER_H
#define RP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

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

/* ---- secrets (secret.c) ---- */

#define SRV_TOKEN_LEN 68 /* "rpt_" and 32 random bytes as hex */
#define SRV_HASH_HEX 64  /* SHA-256 as hex */

/* A new API token ("rpt_" + 64 hex digits). */
int srv_token_new(char out[SRV_TOKEN_LEN + 1], struct rp_err *err);
/* SHA-256 of s as lowercase hex: what the database keeps of a token or session id. */
void srv_sha256_hex(const char *s, char out[SRV_HASH_HEX + 1]);
/* password as an argon2id PHC string (m=19456 KiB, t=2, p=1, a 16-byte random salt), malloc'd;
 * NULL with err. */
char *srv_password_hash(const char *password, struct rp_err *err);
/* Does password match the PHC string phc? 1 yes, 0 no, -1 busy: at most SRV_ARGON2_MAX hashes
 * run at once; a caller waits up to wait_ms for its turn. A NULL phc is checked against a dummy
 * hash of the same cost, so an unknown account takes the same time, and never matches. */
int srv_password_check(const char *phc, const char *password, int wait_ms);
#define SRV_ARGON2_MAX 2
/* The most hashes that ran at once in this process. */
int srv_argon2_peak(void);

/* ---- administration (admin.c): the CLI's `server account|project|member|token` and the API's
 * changes, each audited with actor (an account name, or "local:USER" for the CLI) and address
 * (NULL when local). Names are 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit.
 * Each returns 0 done, -1 with err, or 1 with err's message (kind usage) when what it names is
 * missing, or already there for an add: HTTP tells those apart (404, 409). ---- */

struct srv_actor {
	const char *name;
	const char *address;
};

bool srv_name_ok(const char *name);
int srv_account_add(struct pg_db *db, const struct srv_actor *who, const char *name, const char *password,
		    bool admin, struct rp_err *err);
int srv_account_disable(struct pg_db *db, const struct srv_actor *who, const char *name, struct rp_err *err);
int srv_project_add(struct pg_db *db, const struct srv_actor *who, const char *name, struct rp_err *err);
/* role: viewer, editor, admin, or none (removes the membership). */
int srv_member_set(struct pg_db *db, const struct srv_actor *who, const char *project, const char *account,
		   const char *role, struct rp_err *err);
/* A token for account (expires_days 0: never); token gets the secret (shown once), *id its id. */
int srv_token_create(struct pg_db *db, const struct srv_actor *who, const char *account, const char *name,
		     int expires_days, char token[SRV_TOKEN_LEN + 1], long long *id, struct rp_err *err);
/* Revoke token id; owner_id > 0 limits it to that account's tokens. *found false when none. */
int srv_token_revoke(struct pg_db *db, const struct srv_actor *who, long long id, long long owner_id, bool *found,
		     struct rp_err *err);

/* ---- serving (http.c, routes.c) ---- */

struct srv_options {
	const char *db_url;
	const char *listen;   /* ADDR:PORT, [ADDR6]:PORT; port 0: any free one */
	const char *data_dir;
	const char *tls_cert; /* PEM files; both or neither */
	const char *tls_key;
	unsigned long long max_blob; /* the largest blob an upload may bring; 0: 1 GiB */
};

struct srv;
/* Migrate the database, then serve on a pool of threads until srv_stop. */
int srv_start(const struct srv_options *o, struct srv **out, struct rp_err *err);
/* http(s)://ADDR:PORT with the real port. */
const char *srv_url(const struct srv *s);
/* Stop accepting, let the requests in flight finish (up to a few seconds), close everything. */
void srv_stop(struct srv *s);

/* ---- the CLI's side (client.c) ---- */

/* One request to the server at base (http(s)://HOST:PORT): method, path, an optional Bearer token
 * and JSON body. 0 with the status and the answer (malloc'd), -1 with err when there was none. */
int srv_client_call(const char *method, const char *base, const char *path, const char *token, const char *body,
		    long *status, char **answer, struct rp_err *err);
/* Every later request of this process ends after ms (0: the defaults, 30 s for a call, none for
 * a file's upload or download). */
void srv_client_set_timeout(long ms);
/* PUT the size bytes of fd (from its offset) at path: an upload streamed from the file. */
int srv_client_put_file(const char *base, const char *path, const char *token, int fd, uint64_t size, long *status,
			char **answer, struct rp_err *err);
/* GET path with the answer's body written to fd (the status tells whether it is the file). */
int srv_client_get_file(const char *base, const char *path, const char *token, int fd, long *status,
			struct rp_err *err);
/* The API token for url: RUNPILOT_TOKEN, else the one `runpilot login` kept in
 * home/credentials; NULL with err (not logged in). */
char *srv_cred_token(const char *home, const char *url, struct rp_err *err);
/* Keep token (with its account) for url in home/credentials (mode 0600, atomically); a NULL
 * token forgets url. */
int srv_cred_set(const char *home, const char *url, const char *account, const char *token, struct rp_err *err);

/* The route table as a JSON array of {method, pattern, role}, malloc'd. */
char *srv_routes_json(void);

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
