/* The run store: $RUNPILOT_HOME (default ~/.runpilot) with one directory per run under runs/. */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <stdbool.h>

#include "err.h"
#include "util.h"

#define RP_ID_MAX 32

struct rp_store {
	char *home;      /* absolute */
	char *runs_dir;  /* <home>/runs */
};

/* Find the home ($RUNPILOT_HOME, else $HOME/.runpilot); create it when create is true. */
int store_open(struct rp_store *st, bool create, struct rp_err *err);
void store_close(struct rp_store *st);
/* Why the store at home cannot take a new run (errno e: EROFS, EACCES, ENOSPC, ...), as an error
 * that says the fix. */
int store_unusable(const char *home, int e, struct rp_err *err);

/* Allocate the next run id by exclusive mkdir (safe under concurrency); *run_dir is owned. */
int store_new_run(struct rp_store *st, char id[RP_ID_MAX], char **run_dir, struct rp_err *err);

/* Every run id in the store, oldest first (by number). */
int store_list_ids(const struct rp_store *st, struct strvec *ids, struct rp_err *err);

/* Resolve a user's reference: "rp_0007", "7", "last", or a unique run name. RP_ERR_USAGE when
 * nothing or more than one run matches. */
int store_resolve(const struct rp_store *st, const char *ref, char id[RP_ID_MAX], struct rp_err *err);

char *store_run_dir(const struct rp_store *st, const char *id);

/* The trash: <home>/trash/<id>, where `rm` moves runs (one rename each, so an interrupted rm
 * leaves every run whole, in one place or the other). */
char *store_trash_dir(const struct rp_store *st, const char *id);
/* Move a run to the trash (made on demand), its directory's mtime set to now (the time it was
 * trashed, for gc); RP_ERR_USAGE when it is already there. */
int store_trash_run(const struct rp_store *st, const char *id, struct rp_err *err);
/* Move it back; RP_ERR_USAGE when it is not in the trash or its id was taken meanwhile. */
int store_restore_run(const struct rp_store *st, const char *id, struct rp_err *err);

/* Number of an id ("rp_0042" → 42), -1 if not an id. */
long store_id_number(const char *id);
void store_format_id(long n, char id[RP_ID_MAX]);

#endif
