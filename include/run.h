/* The run lifecycle: the one path every run takes, whoever starts it (the CLI's `run`, later a
 * Slurm node, an import or a server). run_execute allocates the run, writes its inputs, starts
 * and releases the runner, supervises the job, records the outcome in run.json and cleans up.
 * It never prints: progress reaches the caller through a small table of events. */
#ifndef RP_RUN_H
#define RP_RUN_H

#include "config.h"
#include "err.h"
#include "record.h"
#include "store.h"

struct run_request {
	const struct rp_spec *spec;             /* the loaded config, overrides applied */
	const struct rp_overrides *overrides;   /* as asked, kept in run.json's invocation */
	const char *runner;                     /* "auto", "local", "sandbox" */
	int output_fd;                          /* the job's output also streams here; -1: only logs.txt */
	double kill_grace_s;                    /* SIGTERM -> SIGKILL on cancel and timeout */
	/* A rerun: the run it reruns (run.json's "parent" is its uid; the invocation names its id).
	 * NULL for a plain run. */
	const char *parent_uid;
	const char *parent_id;
	/* A run of a sweep: run.json's "sweep" ({"id", "seed", "index", "size"}), copied; else NULL. */
	const struct cJSON *sweep;
};

/* Each may be NULL. Messages are one line, without "runpilot: ". */
struct run_events {
	void *ctx;
	/* The job runs. fallback_reason: why auto passed better runners over, or NULL. */
	void (*started)(void *ctx, const char *id, const char *runner, const char *fallback_reason);
	/* Something the user should know; the run goes on. */
	void (*warning)(void *ctx, const char *msg);
	/* What the supervisor does while the job runs ("stopping ...", "timeout after ..."). */
	void (*notice)(void *ctx, const char *id, const char *msg);
	/* The job ended and its final run.json is written; exit_code is runpilot's (below). */
	void (*ended)(void *ctx, const struct rp_run *final, int exit_code);
};

struct run_outcome {
	char id[RP_ID_MAX];      /* "" when no run was allocated */
	enum rp_status status;
	/* runpilot's exit code: the job's, 128+N when it died of signal N (as `docker run`), or
	 * 128+N when signal N cancelled the run before its job started. */
	int exit_code;
	int setup_signal;        /* that signal, or 0 */
};

/* 0 with out filled once the run is recorded (whatever the job did), or -1 with err when no
 * job could be started: a bad request (RP_ERR_USAGE, before any run directory exists), or a
 * failed setup, recorded as failed with reason "setup" (err says "run rp_NNNN: ..."). */
int run_execute(const struct run_request *req, const struct run_events *ev, struct run_outcome *out,
		struct rp_err *err);

#endif
