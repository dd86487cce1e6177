/* Runs on Slurm (run.h): the submitter makes each run, queued, and submits its batch job; on the
 * node the job's batch script runs `runpilot __node-run RUN_DIR`, which drives run_execute for
 * that existing run. Readers follow the run through its run.json and Slurm (slurm_runs.c). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "index.h"
#include "run_int.h"
#include "runs.h"
#include "slurm.h"
#include "util.h"

struct queued_run {
	char id[RP_ID_MAX];
	char *run_dir;
	struct rp_run rec;
	bool have_rec;
};

/* The runner section while the run waits in Slurm's queue. */
static cJSON *queued_runner_section(const struct rp_spec *spec, long array_task)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "slurm");
	cJSON_AddNullToObject(o, "job_id");
	if (array_task >= 0)
		cJSON_AddNumberToObject(o, "array_task", (double)array_task);
	else
		cJSON_AddNullToObject(o, "array_task");
	if (spec->slurm.partition)
		cJSON_AddStringToObject(o, "partition", spec->slurm.partition);
	else
		cJSON_AddNullToObject(o, "partition");
	cJSON_AddNullToObject(o, "node");
	cJSON_AddNullToObject(o, "submit_time");
	cJSON_AddNullToObject(o, "queue_wait_s");
	cJSON_AddStringToObject(o, "script", SLURM_SCRIPT_NAME);
	return o;
}

static int make_queued_run(struct rp_store *st, const struct run_request *req, long array_task, struct queued_run *q,
			   struct rp_err *err)
{
	if (store_new_run(st, q->id, &q->run_dir, err) < 0)
		return -1;
	char uid[37];
	uuid_v4(uid);
	struct run_request as_queued = *req;
	as_queued.record_queued = true;
	char *no_env[] = {NULL};
	run_record_init(&q->rec, &as_queued, q->id, uid, q->run_dir, no_env);
	q->have_rec = true;
	q->rec.runner = queued_runner_section(req->spec, array_task);
	if (run_write_inputs(req->spec, q->run_dir, err) < 0)
		return -1;
	char *logs = path_join(q->run_dir, "logs.txt"), *outputs = path_join(q->run_dir, "outputs");
	int fd = open(logs, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0)
		rc = rp_err_sys(err, "cannot create %s", logs);
	else
		close(fd);
	if (rc == 0 && mkdir(outputs, 0755) < 0 && errno != EEXIST)
		rc = rp_err_sys(err, "cannot create %s", outputs);
	free(logs);
	free(outputs);
	if (rc == 0)
		rc = record_write(q->run_dir, &q->rec, err);
	if (rc == 0)
		index_note_run(st, q->run_dir, &q->rec, NULL, NULL);
	return rc;
}

/* The runs that never reached Slurm: failed, reason "setup", with why. */
static void record_not_submitted(struct rp_store *st, struct queued_run *runs, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (!runs[i].have_rec)
			continue;
		struct rp_run *r = &runs[i].rec;
		r->status = RP_FAILED;
		free(r->reason);
		r->reason = xstrdup("setup");
		r->ended_at = now_realtime();
		record_set_section(r, "error", cJSON_CreateString(why));
		if (record_write(runs[i].run_dir, r, NULL) == 0)
			index_note_run(st, runs[i].run_dir, r, NULL, NULL);
	}
}

static int write_scripts(struct rp_store *st, const struct run_request *reqs, struct queued_run *runs, size_t n,
			 char **output_dir, struct rp_err *err)
{
	char *exe = realpath("/proc/self/exe", NULL);
	if (!exe)
		return rp_err_sys(err, "cannot tell where the runpilot binary is");
	*output_dir = path_join(st->home, "slurm");
	if (mkdir_p(*output_dir, 0755, err) < 0) {
		free(exe);
		return -1;
	}
	struct strvec dirs = {0};
	for (size_t i = 0; i < n; i++)
		strvec_push(&dirs, runs[i].run_dir);
	char *output = path_join(*output_dir, n > 1 ? "%A_%a.out" : "%j.out");
	char *name = xasprintf("%s-%s", runs[0].id, reqs[0].spec->name);
	struct slurm_batch b = {.spec = reqs[0].spec, .home = st->home, .run_dirs = dirs.v, .nruns = n,
				.array = n > 1, .array_parallel = reqs[0].array_parallel, .job_name = name,
				.output = output, .exe = exe};
	char *script = slurm_batch_script(&b);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *p = path_join(runs[i].run_dir, SLURM_SCRIPT_NAME);
		rc = write_file_atomic(p, script, strlen(script), 0755, err);
		free(p);
	}
	free(script);
	free(name);
	free(output);
	free(exe);
	strvec_free(&dirs);
	return rc;
}

/* The job's id in every run.json, before the job is released (it could start at once). */
static int record_job_ids(struct rp_store *st, struct queued_run *runs, size_t n, const char *job_id,
			  const char *output_dir, struct rp_err *err)
{
	double now = now_realtime();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = runs[i].rec.runner;
		cJSON_ReplaceItemInObjectCaseSensitive(o, "job_id", cJSON_CreateString(job_id));
		cJSON_ReplaceItemInObjectCaseSensitive(o, "submit_time", cJSON_CreateNumber(now));
		char *out = n > 1 ? xasprintf("%s/%s_%zu.out", output_dir, job_id, i)
				  : xasprintf("%s/%s.out", output_dir, job_id);
		cJSON_AddStringToObject(o, "batch_output", out);
		free(out);
		if (record_write(runs[i].run_dir, &runs[i].rec, err) < 0)
			return -1;
		index_note_run(st, runs[i].run_dir, &runs[i].rec, NULL, NULL);
	}
	return 0;
}

static int submit_runs(struct rp_store *st, const struct run_request *reqs, struct queued_run *runs, size_t n,
		       const struct run_events *ev, char **job_id, struct rp_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (make_queued_run(st, &reqs[i], n > 1 ? (long)i : -1, &runs[i], err) < 0)
			return -1;
		if (ev && ev->queued)
			ev->queued(ev->ctx, runs[i].id);
	}
	char *output_dir = NULL;
	int rc = write_scripts(st, reqs, runs, n, &output_dir, err);
	char *script = rc == 0 ? path_join(runs[0].run_dir, SLURM_SCRIPT_NAME) : NULL;
	if (rc == 0)
		rc = slurm_submit_held(script, job_id, err);
	if (rc == 0 && (record_job_ids(st, runs, n, *job_id, output_dir, err) < 0 || slurm_release(*job_id, err) < 0)) {
		struct rp_err ignored = {0};
		slurm_cancel(*job_id, &ignored);
		rc = -1;
	}
	free(script);
	free(output_dir);
	return rc;
}

int run_submit(const struct run_request *reqs, size_t n, const struct run_events *ev, char (*ids)[RP_ID_MAX],
	       char **job_id, struct rp_err *err)
{
	*job_id = NULL;
	if (!slurm_usable(err))
		return -1;
	struct rp_store st;
	if (store_open(&st, true, err) < 0)
		return -1;
	struct queued_run *runs = xcalloc(n, sizeof *runs);
	int rc = submit_runs(&st, reqs, runs, n, ev, job_id, err);
	if (rc < 0) {
		record_not_submitted(&st, runs, n, err->msg);
		if (runs[0].have_rec && n > 1)
			rp_err_wrap(err, "runs %s..%s", runs[0].id, runs[n - 1].id);
		else if (runs[0].have_rec)
			rp_err_wrap(err, "run %s", runs[0].id);
		free(*job_id);
		*job_id = NULL;
	} else if (ev && ev->submitted) {
		ev->submitted(ev->ctx, runs[0].id, *job_id);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], RP_ID_MAX, "%s", runs[i].id);
		if (runs[i].have_rec)
			record_free(&runs[i].rec);
		free(runs[i].run_dir);
	}
	free(runs);
	store_close(&st);
	return rc;
}

int submit_one(const struct run_request *req, const struct run_events *ev, struct run_outcome *out,
	       struct rp_err *err)
{
	char ids[1][RP_ID_MAX] = {""};
	char *job_id = NULL;
	int rc = run_submit(req, 1, ev, ids, &job_id, err);
	free(job_id);
	if (rc < 0)
		return -1;
	snprintf(out->id, sizeof out->id, "%s", ids[0]);
	out->status = RP_QUEUED;
	return 0;
}

/* ---- on the node ---- */

cJSON *slurm_node_runner_section(const cJSON *submitted, cJSON *inner, double started_at)
{
	cJSON *o = cJSON_Duplicate(submitted, true);
	char host[256] = "";
	const char *node = getenv("SLURMD_NODENAME");
	if (!node && gethostname(host, sizeof host - 1) == 0)
		node = host;
	if (node)
		cJSON_ReplaceItemInObjectCaseSensitive(o, "node", cJSON_CreateString(node));
	const char *partition = getenv("SLURM_JOB_PARTITION");
	if (partition && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "partition")))
		cJSON_ReplaceItemInObjectCaseSensitive(o, "partition", cJSON_CreateString(partition));
	const cJSON *submit = cJSON_GetObjectItemCaseSensitive(o, "submit_time");
	if (cJSON_IsNumber(submit) && started_at > 0)
		cJSON_ReplaceItemInObjectCaseSensitive(o, "queue_wait_s",
						       cJSON_CreateNumber(started_at - submit->valuedouble));
	cJSON_DeleteItemFromObjectCaseSensitive(o, "on_node");
	cJSON_AddItemToObject(o, "on_node", inner);
	return o;
}

/* Whether this process is the batch job of the run (its job id, and its task for an array). */
static int check_own_job(const struct rp_run *r, struct rp_err *err)
{
	const char *job = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "job_id"));
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(r->runner, "array_task");
	const char *env_job = getenv(cJSON_IsNumber(task) ? "SLURM_ARRAY_JOB_ID" : "SLURM_JOB_ID");
	const char *env_task = getenv("SLURM_ARRAY_TASK_ID");
	bool ok = job && env_job && !strcmp(job, env_job) &&
		  (!cJSON_IsNumber(task) || (env_task && atol(env_task) == (long)task->valuedouble));
	if (!ok)
		return rp_err_set(err, RP_ERR_USAGE, "run %s is not this Slurm job's (job %s): __node-run runs only in "
						     "the batch job runpilot submitted for it", r->id, job ? job : "none");
	return 0;
}

static void record_node_setup_failure(const char *run_dir, struct rp_run *r, const char *why)
{
	r->status = RP_FAILED;
	free(r->reason);
	r->reason = xstrdup("setup");
	r->ended_at = now_realtime();
	record_set_section(r, "error", cJSON_CreateString(why));
	record_write(run_dir, r, NULL);
}

int run_on_node(const char *run_dir, double kill_grace_s, const struct run_events *ev, struct run_outcome *out,
		struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	struct rp_run rec;
	if (record_read(run_dir, &rec, err) < 0)
		return -1;
	int rc = -1;
	if (!slurm_run(&rec)) {
		rp_err_set(err, RP_ERR_USAGE, "run %s was not submitted to Slurm", rec.id);
		goto out;
	}
	if (check_own_job(&rec, err) < 0)
		goto out;
	if (rec.status != RP_QUEUED) {
		rp_err_set(err, RP_ERR_RUNTIME, "run %s is %s, not queued: not started again", rec.id,
			   status_name(rec.status));
		goto out;
	}
	struct rp_overrides ov = {.resolved = true};
	struct rp_spec spec;
	char *config = path_join(run_dir, "config.yaml");
	int loaded = config_load(config, &ov, &spec, err);
	free(config);
	if (loaded < 0) {
		rp_err_wrap(err, "on node %s", getenv("SLURMD_NODENAME") ? getenv("SLURMD_NODENAME") : "?");
		record_node_setup_failure(run_dir, &rec, err->msg);
		rp_err_wrap(err, "run %s", rec.id);
		goto out;
	}
	struct run_request req = {.spec = &spec, .overrides = &ov, .runner = "auto", .output_fd = -1,
				  .kill_grace_s = kill_grace_s, .existing_run_dir = run_dir, .existing = &rec};
	rc = run_execute(&req, ev, out, err);
	config_free(&spec);
	/* SIGTERM is all the node sees of a cancel, a time limit or a preemption: Slurm says which. */
	if (rc == 0 && (out->status == RP_CANCELLED || (out->status == RP_FAILED && out->exit_code > 128))) {
		struct rp_store st;
		struct rp_err ignored = {0};
		if (store_open(&st, false, &ignored) == 0) {
			runs_settle(&st, run_dir, 0);
			store_close(&st);
		}
	}
out:
	record_free(&rec);
	return rc;
}
