/* Reading runs back for the face: resolve a reference, load run.json, and show what is true now.
 * Readers never change the store (a colleague's store may be mounted read-only): a running run
 * whose supervisor is gone is shown lost, computed on read from its claim (claim.h); writing
 * "lost" is left to the next `runpilot run`. */
#ifndef RP_RUNS_H
#define RP_RUNS_H

#include <stdbool.h>

#include "record.h"
#include "store.h"

/* One run directory as readers see it. */
struct run_view {
	char id[RP_ID_MAX];
	bool readable;
	struct rp_run rec;      /* when readable: its record, status as of now */
	char *problem;          /* when not: why, one line */
};

/* Open the store (read-only use), resolve ref, read its record as of now. *run_dir is owned by
 * the caller. A run that cannot be read is an error naming it. */
/* Resolve ref (id, number, last, name) to a run's id in st. */
int runs_resolve(const struct rp_store *st, const char *ref, char id[RP_ID_MAX], struct rp_err *err);
int runs_load(const char *ref, struct rp_store *st, struct rp_run *r, char **run_dir, struct rp_err *err);
/* Every run, oldest first: each run directory is one view, readable or not (a run being set up
 * right now, which has no record yet, is left out). */
int runs_load_all(const struct rp_store *st, struct run_view **views, size_t *n, struct rp_err *err);
void runs_free(struct run_view *views, size_t n);
/* The id of the run whose uid is uid in this store (a rerun's parent): hint, an id it was known
 * by, when that run has it, else the index's. 0 with id filled; -1 when no run has it here. */
int runs_find_uid(const struct rp_store *st, const char *uid, const char *hint, char id[RP_ID_MAX]);
/* One run directory as it is on disk (status not adjusted to now): RUNS_READ_OK with *r filled
 * (from run.json, or from the claim of a supervisor that died before writing it), BEING_MADE
 * for a run being set up right now, BROKEN with why in err. */
enum { RUNS_READ_OK, RUNS_READ_BEING_MADE, RUNS_READ_BROKEN };
int runs_read_dir(const char *run_dir, struct rp_run *r, struct rp_err *err);
/* Whether a run directory holds nothing but the room a run keeps for its record: its runpilot
 * died between the mkdir and its claim (or is there right now). */
bool runs_dir_never_made(const char *run_dir);
/* A running run's status as of now: lost (with why) when its supervisor is gone. Nothing is
 * written. True when r changed. */
bool runs_status_now(const char *run_dir, struct rp_run *r);
/* For the commands that wait on runs (run, wait, the node's runpilot): write a Slurm run's status
 * as of now when Slurm has the last word on it (its job ended without its node recording that,
 * or ended otherwise than the node saw), so the record outlives Slurm's memory of the job.
 * Waits up to wait_s for a job Slurm is still ending (COMPLETING) to end. Other runs are left as
 * they are. */
void runs_settle(const struct rp_store *st, const char *run_dir, double wait_s);

#endif
