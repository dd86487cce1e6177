/* Per-run resource limits and metering through cgroups (v2, v1/hybrid) with an rusage fallback.
 * Implemented in sandbox/cgroup2.c, sandbox/cgroup1.c, sandbox/meter.c (issue 4).
 *
 * The life of one run's cgroup, as the runners use it:
 *   cg_create(run_id, limits)     in prepare: leaf "runpilot-<run_id>" under runpilot's own cgroup
 *                                 (each v1 hierarchy, or the v2 one), limits written. Never fails just
 *                                 because no cgroup is writable: the handle then meters by rusage.
 *   cg_attach(cg, pid)            in start, while the child waits on its setup pipe (before exec)
 *   cg_kill_all(cg)               on hard stop / timeout: SIGKILL everything in the cgroup
 *   cg_read_usage(cg, ru, wall)   once at the end (no polling), after the job was reaped
 *   cg_destroy(cg)                cleanup: kill leftovers, rmdir every leaf, free. NULL-safe.
 */
#ifndef RP_CGROUP_H
#define RP_CGROUP_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"
#include "meter.h"

struct cJSON;
struct rp_cgroup;

int cg_create(const char *run_id, const struct rp_resources *limits, struct rp_cgroup **out,
	      struct rp_err *err);
/* "cgroup2", "cgroup1" or "rusage". */
const char *cg_source(const struct rp_cgroup *cg);
/* One line naming each requested limit that cannot be enforced here, or NULL when all are. */
const char *cg_warning(const struct rp_cgroup *cg);
int cg_attach(struct rp_cgroup *cg, pid_t pid, struct rp_err *err);
/* The faster alternative to cg_attach, called by the forked child itself (before it starts
 * anything): moves the calling process into the run's cgroup(s). Only open/write/close, so it is
 * safe between fork and exec; the child must still be single-threaded. On cgroup v1 it writes
 * "0" to each leaf's tasks file, which spares the kernel's global threadgroup lock (an RCU grace
 * period, ~10 ms on the build machines, per cg_attach). A no-op when metering by rusage.
 * 0, or -1 with errno. */
int cg_enter(const struct rp_cgroup *cg);
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
/* run.json resources.limits: {"cpus": {"requested": 1.5, "enforced_by": "cgroup1"|...|null}, ...} */
struct cJSON *cg_limits_json(const struct rp_cgroup *cg);
void cg_destroy(struct rp_cgroup *cg);
/* For a run found lost (its runpilot was SIGKILLed before cg_destroy): remove the run's empty
 * runpilot-<run_id>[-N] leaves under runpilot's own cgroup(s). Only rmdir: a cgroup that still
 * holds processes stays. Returns the number removed. */
int cg_remove_stale(const char *run_id);

/* run.json resources.usage from u. */
struct cJSON *meter_usage_json(const struct rp_usage *u);

#endif
