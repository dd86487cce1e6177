/* The tiny init that sits between the supervisor and the job: pid 1 of the sandbox's pid
 * namespace, or a subreaper shim for the local runner. It reaps zombies, forwards signals to
 * the whole job, kills every leftover process when the job ends or when runpilot dies, and
 * reports the job's wait status to the supervisor. */
#ifndef RP_SB_INIT_H
#define RP_SB_INIT_H

#include <stdbool.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "err.h"

/* Signals the init understands. Forwarded to the whole job: SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 * SIGUSR1. SB_INIT_KILL_SIGNAL makes it SIGKILL every descendant at once. */
#define SB_INIT_KILL_SIGNAL SIGUSR2

struct sb_init_cfg {
	int lifeline_fd;   /* read end of a pipe only the supervisor writes to; EOF/HUP = supervisor died */
	int status_fd;     /* the job's wait status is written here (an int) before init exits; -1 none */
	bool pid_namespace;/* init is pid 1 of its own pid namespace: kill(-1, sig) reaches the whole job */
};

/* Call in the (future) init process: blocks the forwarded signals and forks the job. Returns 0 in
 * the job (signal mask and dispositions restored, own process group), the job's pid in the init,
 * -1 with err filled on failure. */
pid_t sb_init_spawn(struct rp_err *err);

/* The init's main loop; never returns. Exits 0 after writing the job's status to status_fd. */
noreturn void sb_init_supervise(pid_t job, const struct sb_init_cfg *cfg);

/* In the supervisor: read the status an init reported (blocking). Returns 0 and *status, or -1. */
int sb_init_read_status(int status_fd, int *status);

#endif
