/* Slurm runs as readers see them (run_int.h): run.json says what the node recorded; Slurm says
 * what happened to the job when the node could not record it (queued, killed, lost), and why a
 * job the node saw cancelled ended (its time limit, a preemption). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "claim.h"
#include "index.h"
#include "run_int.h"
#include "runs.h"
#include "slurm.h"
#include "util.h"

/* A run submitted this long ago and still without a job id: its submitter died before sbatch. */
#define SUBMIT_GRACE_S 120

bool slurm_run(const struct rp_run *r)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "type"));
	return type && !strcmp(type, "slurm");
}

/* Slurm's name for the run's job: "<job>" or "<job>_<task>"; NULL before it was submitted. */
static char *slurm_job_name(const struct rp_run *r)
{
	const char *job = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "job_id"));
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(r->runner, "array_task");
	if (!job)
		return NULL;
	return cJSON_IsNumber(task) ? xasprintf("%s_%d", job, task->valueint) : xstrdup(job);
}

static void set_runner_string(struct rp_run *r, const char *key, const char *value)
{
	if (!cJSON_GetObjectItemCaseSensitive(r->runner, key))
		cJSON_AddStringToObject(r->runner, key, value);
	else
		cJSON_ReplaceItemInObjectCaseSensitive(r->runner, key, cJSON_CreateString(value));
}

static void set_status(struct rp_run *r, enum rp_status status, const char *reason)
{
	r->status = status;
	free(r->reason);
	r->reason = reason ? xstrdup(reason) : NULL;
}

/* The last line of the batch job's own output: why a job failed before runpilot ran on the node. */
static char *batch_output_last_line(const struct rp_run *r)
{
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "batch_output"));
	char *text = NULL;
	if (!path || read_file(path, &text, NULL, NULL) < 0)
		return NULL;
	size_t len = strlen(text);
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	char *nl = strrchr(text, '\n');
	char *line = *text ? xstrdup(nl ? nl + 1 : text) : NULL;
	free(text);
	return line;
}

/* A record the node never finished, ended as Slurm says. */
static void end_unrecorded(struct rp_run *r, const struct slurm_job *j, const char *job)
{
	const char *s = j->state;
	/* Slurm gives a job cancelled while pending the cancel as its start. */
	bool never_started = r->status == RP_QUEUED && !strcmp(s, "CANCELLED");
	if (!strcmp(s, "CANCELLED")) {
		set_status(r, RP_CANCELLED, "cancelled");
	} else if (!strcmp(s, "TIMEOUT") || !strcmp(s, "DEADLINE")) {
		set_status(r, RP_FAILED, "timeout");
	} else if (!strcmp(s, "OUT_OF_MEMORY")) {
		set_status(r, RP_FAILED, "oom");
	} else if (!strcmp(s, "NODE_FAIL") || !strcmp(s, "BOOT_FAIL") || !strcmp(s, "PREEMPTED")) {
		char *why = xasprintf("Slurm: %s%s%s", s, *j->node ? " on " : "", j->node);
		set_status(r, RP_LOST, why);
		free(why);
	} else if (!strcmp(s, "FAILED")) {
		set_status(r, RP_FAILED, "setup");
		char *line = batch_output_last_line(r);
		char *why = xasprintf("Slurm job %s failed before its run started on the node (exit %d)%s%s", job,
				      j->exit_code, line ? ": " : "", line ? line : "");
		record_set_section(r, "error", cJSON_CreateString(why));
		free(why);
		free(line);
	} else {
		char *why = xasprintf("Slurm job %s ended %s without its node recording the run", job, s);
		set_status(r, RP_LOST, why);
		free(why);
	}
	if (j->has_exit && r->status != RP_LOST && strcmp(s, "CANCELLED")) {
		r->has_exit_code = !j->exit_signal;
		r->exit_code = j->exit_code;
		r->signal = j->exit_signal;
	}
	if (!r->started_at && j->start_time > 0 && !never_started)
		r->started_at = j->start_time;
	r->ended_at = j->end_time > 0 ? j->end_time : now_realtime();
	if (r->started_at > 0 && r->ended_at >= r->started_at)
		r->duration_s = r->ended_at - r->started_at;
}

/* A record the node finished on a signal: what Slurm's SIGTERM meant. */
static void end_cancelled(struct rp_run *r, const struct slurm_job *j)
{
	const char *s = j->state;
	if (!strcmp(s, "CANCELLED"))
		set_status(r, RP_CANCELLED, "cancelled");
	else if (!strcmp(s, "TIMEOUT") || !strcmp(s, "DEADLINE"))
		set_status(r, RP_FAILED, "timeout");
	else if (!strcmp(s, "OUT_OF_MEMORY"))
		set_status(r, RP_FAILED, "oom");
	else if (!strcmp(s, "PREEMPTED") || !strcmp(s, "NODE_FAIL"))
		set_status(r, RP_LOST, !strcmp(s, "PREEMPTED") ? "Slurm: PREEMPTED" : "Slurm: NODE_FAIL");
}

/* What Slurm says of a job not ended yet. */
static bool apply_live_state(struct rp_run *r, const struct slurm_job *j)
{
	set_runner_string(r, "state", j->state);
	if (!strcmp(j->state, "PENDING") || !strcmp(j->state, "REQUEUED") || !strcmp(j->state, "CONFIGURING") ||
	    !strncmp(j->state, "REQUEUE", 7)) {
		set_status(r, RP_QUEUED, *j->reason ? j->reason : NULL);
		return true;
	}
	if (*j->node)
		set_runner_string(r, "node", j->node);
	if (r->status == RP_QUEUED)
		set_status(r, RP_RUNNING, NULL);
	return true;
}

/* Whether the node's supervisor holds the run (it records the run itself, then). */
static bool node_supervisor_holds(const char *run_dir)
{
	char *lock = path_join(run_dir, "run.lock");
	int fd;
	enum claim_state state = claim_try(lock, false, &fd);
	free(lock);
	if (state == CLAIM_FREE)
		close(fd);
	return state == CLAIM_HELD;
}

/* Read run.json again: the node may have recorded its end since r was read. */
static bool reread(const char *run_dir, struct rp_run *r)
{
	struct rp_run fresh;
	if (record_read(run_dir, &fresh, NULL) < 0)
		return false;
	record_free(r);
	*r = fresh;
	return true;
}

/* A record the node ended on a signal (cancelled, or its job killed by one): Slurm's SIGTERM
 * reaches the job's processes too, so either may come first, and Slurm knows why it came. */
static bool ended_by_signal(const struct rp_run *r)
{
	return r->status == RP_CANCELLED || (r->status == RP_FAILED && r->signal);
}

static bool settled_cancel(const struct rp_run *r)
{
	return !ended_by_signal(r) || cJSON_GetObjectItemCaseSensitive(r->runner, "state");
}

bool slurm_status_now(const char *run_dir, struct rp_run *r)
{
	bool live = status_live(r->status);
	if (!live && settled_cancel(r))
		return false;
	if (live && node_supervisor_holds(run_dir))
		return false;
	char *job = slurm_job_name(r);
	if (!job) {
		if (!live || now_realtime() - r->created_at < SUBMIT_GRACE_S)
			return false;
		set_status(r, RP_LOST, "never submitted to Slurm (its submitter stopped first)");
		return true;
	}
	struct slurm_job j;
	struct rp_err e = {0};
	enum slurm_answer a = slurm_query(job, &j, &e);
	bool changed = false;
	if (a == SLURM_KNOWN && !slurm_state_final(j.state)) {
		changed = live && apply_live_state(r, &j);
	} else if (a == SLURM_KNOWN || a == SLURM_UNKNOWN_JOB) {
		changed = live && reread(run_dir, r);
		if (status_live(r->status) && a == SLURM_UNKNOWN_JOB) {
			char *why = xasprintf("Slurm no longer knows job %s", job);
			set_status(r, RP_LOST, why);
			free(why);
			set_runner_string(r, "state", "UNKNOWN");
			changed = true;
		} else if (status_live(r->status)) {
			end_unrecorded(r, &j, job);
			set_runner_string(r, "state", j.state);
			changed = true;
		} else if (a == SLURM_KNOWN && !settled_cancel(r)) {
			end_cancelled(r, &j);
			set_runner_string(r, "state", j.state);
			changed = true;
		}
	}
	free(job);
	return changed;
}

void runs_settle(const struct rp_store *st, const char *run_dir, double wait_s)
{
	double until = now_monotonic() + wait_s;
	for (;;) {
		struct rp_run r;
		if (record_read(run_dir, &r, NULL) < 0)
			return;
		bool slurm = slurm_run(&r), changed = slurm && slurm_status_now(run_dir, &r);
		bool settled = !status_live(r.status) && cJSON_GetObjectItemCaseSensitive(r.runner, "state");
		if (changed && settled && record_write(run_dir, &r, NULL) == 0)
			index_note_run(st, run_dir, &r, NULL, NULL);
		/* A record the node finished, while Slurm still ends its job: ask again shortly. */
		bool again = slurm && !changed && ended_by_signal(&r) && !settled && now_monotonic() < until;
		record_free(&r);
		if (!again)
			return;
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
