/* What the run lifecycle's files share (run.c, submit.c, slurm_runs.c, runs.c). */
#ifndef RP_RUN_INT_H
#define RP_RUN_INT_H

#include "record.h"
#include "run.h"

/* A new run's record as its lifecycle starts it (status queued or running, as req says); on a
 * Slurm node (req->existing) with what its submitter recorded kept. */
void run_record_init(struct rp_run *r, const struct run_request *req, const char *id, const char *uid,
		     const char *run_dir, char **env);
/* config.yaml and params.json: the resolved config as it runs. */
int run_write_inputs(const struct rp_spec *spec, const char *run_dir, struct rp_err *err);
/* run_execute for runner "slurm": submit req's run (run_submit), out->status queued. */
int submit_one(const struct run_request *req, const struct run_events *ev, struct run_outcome *out,
	       struct rp_err *err);
/* On the node: run.json's runner section, the submitter's (submitted, type "slurm") with the
 * node, the queue wait and the runner that ran the job there ("on_node": inner, taken). */
struct cJSON *slurm_node_runner_section(const struct cJSON *submitted, struct cJSON *inner, double started_at);

/* A run the Slurm runner submitted (runner.type "slurm"). */
bool slurm_run(const struct rp_run *r);
/* Its status as of now (runs_status_now hands Slurm runs here): a queued or running record
 * completed from Slurm's view of its job when no supervisor on a node holds it, and a cancelled
 * one that Slurm ended otherwise (a time limit, a preemption: the node saw only SIGTERM).
 * Nothing is written. True when r changed. */
bool slurm_status_now(const char *run_dir, struct rp_run *r);

#endif
