/* The Slurm runner's side of the scheduler (runner_slurm.c): the batch script, sbatch, the
 * job's state from squeue / sacct / scontrol, scancel. The run itself is the core's: it makes
 * the runs, queued, submits them, and on the node `runpilot __node-run` drives the lifecycle
 * for the existing run (run.h). Every Slurm command is run with a short time limit: a
 * controller that does not answer never blocks a reader for long. */
#ifndef RP_SLURM_H
#define RP_SLURM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

/* The name of the batch script in each run directory. */
#define SLURM_SCRIPT_NAME "slurm.sbatch"

/* One batch job: a run, or a sweep's runs as one job array (task i runs run_dirs[i]). */
struct slurm_batch {
	const struct rp_spec *spec;          /* slurm: and resources: */
	const char *home;                    /* RUNPILOT_HOME, absolute */
	char *const *run_dirs;               /* absolute */
	size_t nruns;
	bool array;                          /* a job array, even of one run */
	long array_parallel;                 /* at most this many tasks at once; 0: no limit */
	const char *job_name;
	const char *output;                  /* the batch job's own output (sbatch --output) */
	const char *exe;                     /* the runpilot binary the node runs */
};

/* The batch script's text (owned). */
char *slurm_batch_script(const struct slurm_batch *b);

/* The job's time limit in whole minutes for --time: slurm.time, else resources.timeout and a
 * minute more (the supervisor on the node times the job out first and records it); 0: none. */
long slurm_time_minutes(const struct rp_spec *spec);

/* Whether sbatch can be run here; why not in why. */
bool slurm_usable(struct rp_err *why);

/* sbatch --parsable --hold SCRIPT: the job id (owned). Held until slurm_release, so the
 * submitter records the id before the job can start. */
int slurm_submit_held(const char *script_path, char **job_id, struct rp_err *err);
int slurm_release(const char *job_id, struct rp_err *err);
/* scancel: for a job, an array (job id) or one task ("<job>_<task>"). */
int slurm_cancel(const char *job_id, struct rp_err *err);

/* A job as Slurm sees it. */
struct slurm_job {
	char state[32];          /* PENDING, RUNNING, COMPLETED, ... ("CANCELLED by 0" → CANCELLED) */
	char reason[128];        /* the queue's reason while PENDING, or "" */
	char node[128];          /* NodeList, or "" */
	bool has_exit;
	int exit_code, exit_signal;  /* ExitCode=code:signal */
	double submit_time, start_time, end_time;  /* epoch seconds; 0: unknown */
	const char *source;      /* "squeue", "sacct" or "scontrol" */
};
enum slurm_answer {
	SLURM_KNOWN,             /* j filled */
	SLURM_UNKNOWN_JOB,       /* no Slurm command knows the job (purged, or never existed) */
	SLURM_NO_ANSWER,         /* Slurm did not answer (err says why) */
};
/* The job's state: squeue while it is queued or running; once it ended, sacct (accounting)
 * or scontrol show job (no accounting: for MinJobAge after its end). A job being killed for its
 * time limit (COMPLETING, reason TimeLimit) is TIMEOUT already. */
enum slurm_answer slurm_query(const char *job_id, struct slurm_job *j, struct rp_err *err);

/* Whether a Slurm state is final (the job will not run again). */
bool slurm_state_final(const char *state);

#endif
