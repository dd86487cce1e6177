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
	/* Write a queued run.json as soon as the run exists, so readers see it before its job
	 * starts (a detached run, whose starter returns at once). */
	bool record_queued;
	/* run_print_execute: start the run detached (run_detach) instead of in the foreground. */
	bool detach;
	/* A run of a sweep: run.json's "sweep" ({"id", "seed", "index", "size"}), copied; else NULL. */
	const struct cJSON *sweep;
	/* On a Slurm node (run_on_node): the run its submitter made and queued, as read from its
	 * run.json in existing_run_dir. Its job runs here under runner; no new run is made. */
	const char *existing_run_dir;
	const struct rp_run *existing;
	/* runner "slurm", a sweep: its runs go as one job array of at most this many tasks at once
	 * (0: no limit). */
	long array_parallel;
};

/* Each may be NULL. Messages are one line, without "runpilot: ". */
struct run_events {
	void *ctx;
	/* The run exists (its id allocated; with record_queued, its queued run.json and logs.txt
	 * written); its job is not started yet. */
	void (*queued)(void *ctx, const char *id);
	/* The job runs. fallback_reason: why auto passed better runners over, or NULL. */
	void (*started)(void *ctx, const char *id, const char *runner, const char *fallback_reason);
	/* Something the user should know; the run goes on. */
	void (*warning)(void *ctx, const char *msg);
	/* What the supervisor does while the job runs ("stopping ...", "timeout after ..."). */
	void (*notice)(void *ctx, const char *id, const char *msg);
	/* The job ended and its final run.json is written; exit_code is runpilot's (below). */
	void (*ended)(void *ctx, const struct rp_run *final, int exit_code);
	/* runner "slurm": the runs are queued in Slurm as job_id (an array's id for a sweep). */
	void (*submitted)(void *ctx, const char *id, const char *job_id);
};

struct run_outcome {
	char id[RP_ID_MAX];      /* "" when no run was allocated */
	enum rp_status status;
	/* runpilot's exit code: the job's, 128+N when it died of signal N (as `docker run`), or
	 * 128+N when signal N cancelled the run before its job started. */
	int exit_code;
	int setup_signal;        /* that signal, or 0 */
};

/* runner "slurm" (run_submit takes it): out->status is queued once the run is submitted; its
 * job runs on a node, and readers see its progress (runs_status_now). */
/* 0 with out filled once the run is recorded (whatever the job did), or -1 with err when no
 * job could be started: a bad request (RP_ERR_USAGE, before any run directory exists), or a
 * failed setup, recorded as failed with reason "setup" (err says "run rp_NNNN: ..."). */
int run_execute(const struct run_request *req, const struct run_events *ev, struct run_outcome *out,
		struct rp_err *err);

/* Submit runs to Slurm as one batch job (n > 1: a job array; reqs share their spec's slurm:
 * and resources:): each run is made and recorded queued with the batch script (slurm.sbatch),
 * then the job is submitted held, its id recorded in each run.json, and released. ids[i] gets
 * each run's id as it is made; *job_id (owned) the job's. -1 with err when Slurm refused it:
 * the runs made are recorded failed (reason "setup"). */
int run_submit(const struct run_request *reqs, size_t n, const struct run_events *ev, char (*ids)[RP_ID_MAX],
	       char **job_id, struct rp_err *err);

/* On a Slurm node, in the batch job: run the queued run in run_dir (its submitter's) through
 * run_execute, with the best runner the node offers (runner "auto": the sandbox where it can be
 * built, else plainly, run.json saying why). Checks the run is this Slurm job's. 0 with out,
 * or -1 with err (recorded as a failed setup when the run's config cannot be loaded here). */
int run_on_node(const char *run_dir, double kill_grace_s, const struct run_events *ev, struct run_outcome *out,
		struct rp_err *err);

/* Start req as run_execute would, in a supervisor of its own that outlives the caller: its own
 * session, no terminal, stdio on /dev/null. In the caller: 0 once the run exists, with its id,
 * or -1 with err when it could not be started (a bad request: no run). In the detached
 * supervisor, once its run is over: 1 (the caller frees what it holds and exits 0, quietly). */
int run_detach(const struct run_request *req, char id[RP_ID_MAX], struct rp_err *err);

/* What run_cancel did. */
enum run_cancel_result {
	RUN_CANCEL_SENT,   /* its live supervisor was told to cancel it (SIGINT, as Ctrl-C) */
	RUN_CANCEL_ENDED,  /* it had already ended (no live supervisor) */
};
/* Cancel the run in run_dir: signal its supervisor, and only it: the pid its held claim names,
 * when that process is the one that took the claim (its start time and boot match). */
int run_cancel(const char *run_dir, enum run_cancel_result *res, struct rp_err *err);
/* Whether the run in run_dir is over: its supervisor gone and its run.json not queued or
 * running (or none at all, a run lost before its first record). */
bool run_is_over(const char *run_dir);

#endif
