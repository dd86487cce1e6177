/* The tiny init that sits between the supervisor and the job: pid 1 of the sandbox's pid
 * namespace, or a subreaper shim for the local runner. It reaps zombies, forwards signals to
 * the whole job, kills every leftover process when the job ends or when runpilot dies, and
 * reports the job's wait status to the supervisor. */
#ifndef RP_SB_INIT_H
#define RP_SB_INIT_H

#include <stdbool.h>
#include <stdnoreturn.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "err.h"

/* Signals the init understands. Forwarded to the whole job: SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 * SIGUSR1. SB_INIT_KILL_SIGNAL makes it SIGKILL every descendant at once. */
#define SB_INIT_KILL_SIGNAL SIGUSR2

struct sb_init_cfg {
	int lifeline_fd;   /* read end of a pipe only the supervisor writes to; EOF/HUP = supervisor died */
	int status_fd;     /* the report (struct sb_init_report) is written here before init exits; -1 none */
	bool pid_namespace;/* init is pid 1 of its own pid namespace: kill(-1, sig) reaches the whole job */
};

/* The job's side of sb_init_spawn: sets the process up and execs (or _exits); never returns.
 * It runs on the init's memory until then (vfork), so it may change nothing the init uses. */
typedef void sb_job_main(void *arg);

/* Call in the (future) init process: blocks the forwarded signals and starts the job process
 * (signal mask and dispositions restored, a session of its own), which runs job_main(arg). Returns
 * the job's pid once it has exec'd or exited, -1 with err filled on failure. */
pid_t sb_init_spawn(sb_job_main *job_main, void *arg, struct rp_err *err);

/* What the init reports once the job and everything it left are gone: the job's wait status and
 * the resources of every process it reaped (getrusage(RUSAGE_CHILDREN): the job and its
 * descendants, not the init). One write, smaller than PIPE_BUF. The supervisor takes the job's
 * end from it, so it need not wait while the init tears its namespaces down. */
struct sb_init_report {
	int status;
	struct rusage children;
};

/* The init's main loop; never returns. Exits 0 after writing its report to status_fd. */
noreturn void sb_init_supervise(pid_t job, const struct sb_init_cfg *cfg);

/* In the supervisor: read the init's report (blocking). 0, or -1 when there is none (the init
 * was killed before it could write it). */
int sb_init_read_report(int status_fd, struct sb_init_report *rep);

#endif
