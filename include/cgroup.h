/* Per-run resource limits and metering through cgroups (v2, v1/hybrid) with an rusage fallback.
 * Implemented in sandbox/cgroup.c, cgroup2.c, cgroup1.c, cgroup_fs.c and meter.c. Knows no core
 * type: limits come in and usage goes out as the plain structs below.
 *
 * The life of one run's cgroup, as the runners use it:
 *   cg_create(name, limits)       in prepare: leaf "runpilot-<name>" under runpilot's own cgroup
 *                                 (each v1 hierarchy, or the v2 one), limits written. Never fails just
 *                                 because no cgroup is writable: the handle then meters by rusage.
 *   cg_enter(cg)                  in the job's first process, before it starts anything
 *   cg_kill_all(cg)               on hard stop / timeout: SIGKILL everything in the cgroup
 *   cg_read_usage(cg, ru, wall)   once at the end (no polling), after the job was reaped
 *   cg_destroy(cg)                cleanup: kill leftovers, rmdir every leaf, free. NULL-safe.
 */
#ifndef RP_CGROUP_H
#define RP_CGROUP_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "err.h"
#include "meter.h"
#include "util.h"

struct rp_cgroup;

/* Limits a cgroup can enforce; 0 means none. */
struct cg_limits {
	double cpus;              /* fraction of CPUs, e.g. 1.5 */
	long long memory_bytes;
	long long pids;
};

/* Never fails: where no cgroup is writable the handle meters by rusage, and cg_warning says
 * which requested limits are not enforced. */
struct rp_cgroup *cg_create(const char *name, const struct cg_limits *limits);
/* A cgroup another program makes (a container engine's per-run cgroup parent): the directories
 * runpilot-<name> beside pid's own cgroup in each hierarchy. Nothing is created or written: the
 * handle meters (cg_read_usage, once they exist) and removes them (cg_destroy, cg_leaf_dirs for
 * leftovers). Metering by rusage when pid's cgroups cannot be read. */
struct rp_cgroup *cg_beside(pid_t pid, const char *name);
/* Whether the run's cgroup directory exists (cg_beside's: the other program made it). */
bool cg_exists(const struct rp_cgroup *cg);
/* "cgroup2", "cgroup1" or "rusage". */
const char *cg_source(const struct rp_cgroup *cg);
/* One line naming each requested limit that cannot be enforced here, or NULL when all are. */
const char *cg_warning(const struct rp_cgroup *cg);
/* Called by the forked child itself (before it starts anything): moves the calling process
 * into the run's cgroup(s). Only open/write/close, so it is safe between fork and exec; the
 * child must still be single-threaded. Entering by writing "0" (the caller) into each v1 leaf's
 * tasks file, rather than having the parent write the child's pid into cgroup.procs, spares the
 * kernel's global threadgroup lock and the RCU grace period it waits for. A no-op when metering
 * by rusage. */
int cg_enter(const struct rp_cgroup *cg, struct rp_err *err);
/* The files cg_enter writes "0" to (cgroup.procs, or each v1 hierarchy's tasks), *n of them;
 * for a process that opens them now and writes them later (the sandbox). */
const char *const *cg_enter_files(const struct rp_cgroup *cg, int *n);
/* SIGKILL every process in the run's cgroup(s); returns the number signalled, -1 when no cgroup. */
int cg_kill_all(struct rp_cgroup *cg);
/* Send sig to every process in the run's cgroup (SIGTERM for a soft stop that also reaches
 * daemonized grandchildren); SIGKILL is cg_kill_all. The number signalled, -1 when no cgroup. */
int cg_signal_all(struct rp_cgroup *cg, int sig);
/* The run's cgroup directory (v2 leaf, or the v1 memory leaf), NULL when metering by rusage. */
const char *cg_path(const struct rp_cgroup *cg);
/* Fill u from the kernel's counters (plus ru for max_rss and the rusage fallback). */
void cg_read_usage(struct rp_cgroup *cg, const struct rusage *ru, double wall_s, struct rp_usage *u);
/* Which mechanism enforces each requested limit: "cgroup2", "cgroup1", or NULL when it is not
 * enforced (then why_not, or why_not_pids for pids, says why). Strings live as long as cg. */
struct cg_enforced {
	const char *cpus, *memory, *pids;
	const char *why_not;
	const char *why_not_pids;
};
void cg_enforced(const struct rp_cgroup *cg, struct cg_enforced *out);
void cg_destroy(struct rp_cgroup *cg);
/* Leftovers of a runpilot that died before cg_destroy. cg_leaf_dirs appends the directories cg
 * created to out, for the run's claim (so a later runpilot knows what to remove).
 * cg_remove_leftover removes one of them: dir must be a directory of a cgroup filesystem named
 * runpilot-<name>[-suffix]; what is still in it is killed first (the run's own processes). 0
 * once it is gone, -1 with err while it is busy. */
void cg_leaf_dirs(const struct rp_cgroup *cg, struct strvec *out);
int cg_remove_leftover(const char *dir, const char *name, struct rp_err *err);
/* For a dead run whose claim does not list its cgroups (its runpilot died between making them
 * and noting them): remove the empty runpilot-<name>[-N] leaves under this process's own
 * cgroup(s). Only rmdir: a cgroup that still holds processes stays. Returns the number removed. */
int cg_remove_stale(const char *name);

/* For gc: every directory whose name starts with prefix ("runpilot-") in this host's cgroup
 * hierarchies (each mounted v1 hierarchy and the v2 one), searched from each mount point a few
 * levels down, not inside a match; each directory once (bind mounts of one hierarchy too). */
void cg_find_named(const char *prefix, struct strvec *out);
/* A cgroup directory with no process in it and no child cgroup (rmdir would take it). */
bool cg_dir_unused(const char *dir);

#endif
