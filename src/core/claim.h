/* A supervisor's claim on its run: <run_dir>/run.lock, created and locked (flock, exclusive)
 * right after the run's directory, held for the supervisor's whole life (the kernel drops it
 * however the process dies), and linked as <home>/active/<id> until the run's leftovers are
 * gone. The file says whose run it is and lists the leftovers the runner made (cgroups, the
 * overlay work dir), so whoever finds the lock free can tell the run's supervisor is dead and
 * clean up after it (orphans.h). Readers only look: they take the lock shared, never write. */
#ifndef RP_CLAIM_H
#define RP_CLAIM_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "util.h"

/* What a claim file says. */
struct claim_info {
	pid_t pid;                       /* the supervisor */
	unsigned long long start_ticks;
	char *boot_id;
	char *id, *uid, *name;
	char *cgroup_name;               /* the run's cgroups are runpilot-<cgroup_name>[-...] */
	double created;
	struct strvec leftovers;         /* "KIND PATH" (runner.h) */
};
void claim_info_free(struct claim_info *info);

/* A held claim. */
struct claim {
	int fd;                          /* -1: none */
	char *lock_path, *active_path;
};

/* Create and lock run_dir/run.lock with info's header, and link it into home/active/. The lock
 * is taken before the file gets its name, so no reader can ever hold it first. */
int claim_take(const char *home, const char *run_dir, const struct claim_info *info, struct claim *c,
	       struct rp_err *err);
/* Append leftovers ("KIND PATH" lines) to the claim file. Not flushed: a claim only matters
 * until the next boot's first run, and a lost line costs only the fallback by name. */
int claim_note(struct claim *c, char *const *leftovers, size_t n, struct rp_err *err);
/* The supervisor is done with the run. Unless leftovers_remain, its active/ entry goes; then
 * the lock is dropped. Safe on a claim never taken. */
void claim_release(struct claim *c, bool leftovers_remain);

enum claim_state {
	CLAIM_HELD,      /* its supervisor lives */
	CLAIM_FREE,      /* its supervisor is gone: *fd holds the lock now (caller closes it) */
	CLAIM_NONE,      /* no claim file (a run of an older runpilot, or one still being made) */
};
/* Try a claim's lock: shared for readers, exclusive for whoever will write. */
enum claim_state claim_try(const char *path, bool exclusive, int *fd);
/* Parse the claim file open at fd. */
int claim_read(int fd, struct claim_info *info, struct rp_err *err);

#endif
