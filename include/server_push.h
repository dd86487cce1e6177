/* Push and pull on the server's side (src/server/push.c): which runs a client should send, one
 * run stored in one transaction by the rules of revisions, the content-addressed blobs of its
 * files, and a run read back in the shape it was pushed (sync.h, docs/server.md "Push"). No HTTP
 * here: the routes call these with the caller's account already checked. */
#ifndef RP_SERVER_PUSH_H
#define RP_SERVER_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct pg_db;

/* The limits of one push: a larger payload is refused whole. */
#define PUSH_ITEMS_MAX 1000            /* runs asked about in one push_missing */
#define PUSH_RECORD_MAX (1 << 20)      /* run.json, as compact JSON */
#define PUSH_NAMES_MAX 10000           /* params, tags, metric summaries, series */
#define PUSH_POINTS_MAX 1000000        /* points of one series */
#define PUSH_FILES_MAX 100000          /* manifest entries */

/* The project named name: its id, created when create is set and it is missing. */
int push_project_id(struct pg_db *db, const char *name, bool create, long long *id, struct rp_err *err);

enum push_state {
	PUSH_MISSING,          /* the server has no run of this uid */
	PUSH_STALE,            /* it has a lower revision */
	PUSH_SAME,             /* the same revision and content hash */
	PUSH_NEWER_ON_SERVER,  /* a higher revision */
	PUSH_CONFLICT,         /* the same revision, another content hash */
};
const char *push_state_name(enum push_state s); /* "missing", "stale", ... */

struct push_item {
	const char *uid;
	long long revision;
	const char *content_hash;
	enum push_state state;  /* filled */
};
/* Fill each item's state (n at most PUSH_ITEMS_MAX). */
int push_missing(struct pg_db *db, long long project_id, struct push_item *items, size_t n, struct rp_err *err);

struct push_who {
	long long account_id;   /* runs.pushed_by; 0: none */
	const char *name;       /* the audit's actor */
	const char *address;    /* the client's address, or NULL */
};

enum push_outcome {
	PUSHED_NEW,            /* a run the server did not have (audited push.new) */
	PUSHED_UPDATED,        /* a higher revision replaced the server's (push.update) */
	PUSHED_SAME,           /* the same revision and hash: nothing written, nothing audited */
	PUSHED_CONFLICT,       /* refused, nothing overwritten (push.conflict) */
	PUSHED_FORCED,         /* a conflict overwritten by force (push.force) */
};
const char *push_outcome_name(enum push_outcome o); /* "new", "updated", "same", "conflict", "forced" */

struct push_result {
	enum push_outcome outcome;
	long long run_id;
	long long server_revision;  /* before the push (0: none) */
	char server_hash[65];
};

/* Store one payload (JSON text, sync.h's shape) in one transaction. It is validated first
 * (members and types, the limits above, manifest paths, the content hash recomputed): a bad
 * payload is an RP_ERR_USAGE error and changes nothing. Every blob the manifest names must be
 * stored already (blob_put), with its size. force overwrites a conflict: the caller checks that
 * the account may. */
int push_run(struct pg_db *db, long long project_id, const struct push_who *who, const char *payload, size_t len,
	     bool force, struct push_result *res, struct rp_err *err);

/* For each of n hashes, whether the server lacks it (no row, or no file under data_dir). */
int push_blobs_missing(struct pg_db *db, const char *data_dir, const char *const *hashes, size_t n, bool *missing,
		       struct rp_err *err);

/* Store the blob read from fd (to its end) under data_dir/blobs/ab/cdef... : streamed into a
 * temporary file under data_dir/blobs/tmp, its size (exactly size, at most cap) and SHA-256
 * checked, synced, renamed into place, then recorded in blobs. A wrong hash or size is an
 * RP_ERR_USAGE error and leaves nothing behind. A blob stored already is a no-op (*stored false). */
int blob_put(struct pg_db *db, const char *data_dir, const char *sha256, int fd, uint64_t size, uint64_t cap,
	     bool *stored, struct rp_err *err);

/* Remove the temporary files of uploads that never finished (their process was killed) from
 * data_dir/blobs/tmp: those last changed more than older_than seconds ago; *removed counts them.
 * For the server's start and its periodic upkeep. */
int blob_sweep_tmp(const char *data_dir, double older_than, unsigned *removed, struct rp_err *err);

/* The run uid of the project as stored, in the shape it was pushed (the same content hash):
 * *json is the caller's; a run the project lacks is an RP_ERR_USAGE error. */
int pull_run(struct pg_db *db, long long project_id, const char *uid, char **json, struct rp_err *err);

#endif
