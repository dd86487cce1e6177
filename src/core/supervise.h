/* supervise.c: one run's life once the job is started: copy its output, forward Ctrl-C/SIGTERM
 * (SIGTERM to the job, SIGKILL after the grace period or a second Ctrl-C), enforce the timeout,
 * reap it, and derive the final status and reason. */
#ifndef RP_SUPERVISE_H
#define RP_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>

#include "capture.h"
#include "record.h"
#include "runner.h"

struct supervise_opts {
	double timeout_s;    /* 0: none */
	double grace_s;      /* SIGTERM → SIGKILL delay */
	/* Face-layer callback for one-line notices ("stopping ..."); may be NULL. */
	void (*notice)(void *ctx, const char *msg);
	void *ctx;
	/* Called once, with ctx, if the job still runs running_after_s after supervision began;
	 * may be NULL. The core records "running" then: a job that ends at once costs one run.json
	 * write, not two. */
	void (*on_running)(void *ctx);
	double running_after_s;
};

struct supervise_outcome {
	struct rp_result res;
	enum rp_status status;
	const char *reason;  /* static string or NULL: "timeout", "oom", "signal", "cancelled" */
	int stop_signal;     /* the signal that cancelled the run (SIGINT, SIGTERM, ...), 0 if none */
};

/* Signals runpilot handles while a job runs; block them (supervise_block_signals) before the
 * runner starts so none is lost in between. */
int supervise_block_signals(sigset_t *old, struct rp_err *err);
/* A signalfd (non-blocking, close-on-exec) readable once one of those signals is pending, for
 * waits before supervise_run (a runner's await_start); -1 if none could be made. */
int supervise_signal_fd(void);
/* One of those signals pending (blocked, not yet taken), or 0. */
int supervise_pending_signal(void);

/* Run the loop until the job has ended and its output is drained. */
int supervise_run(struct runner *r, struct capture *cap, const struct supervise_opts *o,
		  struct supervise_outcome *out, struct rp_err *err);

/* Derive status and reason from how the job ended (exposed for tests). */
void supervise_classify(const struct rp_result *res, bool cancelled, bool timed_out,
			struct supervise_outcome *out);

#endif
