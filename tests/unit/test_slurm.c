/* The Slurm runner's pieces that the one-node test cluster cannot show: the batch script's
 * options for every setting, and how each job state Slurm reports (a node failure, a preemption,
 * the OOM killer, a job Slurm forgot) becomes the run's status. Slurm's commands are stand-ins on
 * PATH here that print what a real squeue / sacct / scontrol prints; tests/slurm/ runs the real ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record_test_util.h"
#include "run_int.h"
#include "runs.h"
#include "slurm.h"

static char tmp[64];
static char *saved_path;

/* Write an executable stand-in for a Slurm command that prints out (and exits rc). */
static void fake(const char *name, const char *out, int rc)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\ncat <<'EOF'\n%sEOF\nexit %d\n", out, rc);
	fclose(f);
	chmod(path, 0755);
}

static void fake_unknown(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho '%s: error: Invalid job id specified' >&2\nexit 1\n", name);
	fclose(f);
	chmod(path, 0755);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "/tmp/rp-slurm-unit.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	saved_path = xstrdup(getenv("PATH"));
	char *path = xasprintf("%s:/usr/bin:/bin", tmp);
	setenv("PATH", path, 1);
	free(path);
	fake_unknown("squeue");
	fake("sacct", "", 1);
	fake_unknown("scontrol");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf %s", tmp);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	setenv("PATH", saved_path, 1);
	free(saved_path);
	return 0;
}

static void test_batch_script_options(void **state)
{
	(void)state;
	char *extra[] = {"--constraint=a100", "--exclusive"};
	struct rp_spec spec = {.name = "mnist"};
	spec.slurm = (struct rp_slurm_cfg){.partition = "gpu", .account = "proj1", .qos = "high", .nodes = 1,
					   .gpus = "a100:2", .extra_args = extra, .nextra_args = 2};
	spec.resources = (struct rp_resources){.cpus = 1.5, .memory_bytes = 512LL << 20, .timeout_s = 90};
	char *dirs[] = {"/h/runs/rp_0001", "/h/runs/rp_0002", "/h/runs/it's"};
	struct slurm_batch b = {.spec = &spec, .home = "/h", .run_dirs = dirs, .nruns = 3, .array = true,
				.array_parallel = 2, .job_name = "rp_0001-mnist", .output = "/h/slurm/%A_%a.out",
				.exe = "/opt/rp/runpilot"};
	char *s = slurm_batch_script(&b);
	const char *want[] = {"#!/bin/bash\n", "#SBATCH --job-name=rp_0001-mnist\n", "#SBATCH --output=/h/slurm/%A_%a.out\n",
			      "#SBATCH --partition=gpu\n", "#SBATCH --account=proj1\n", "#SBATCH --qos=high\n",
			      "#SBATCH --nodes=1\n", "#SBATCH --cpus-per-task=2\n", "#SBATCH --mem=512M\n",
			      /* 90 s: two minutes, and one more so the node's supervisor times out first */
			      "#SBATCH --time=3\n", "#SBATCH --gres=gpu:a100:2\n", "#SBATCH --array=0-2%2\n",
			      "#SBATCH --constraint=a100\n", "#SBATCH --exclusive\n", "export RUNPILOT_HOME='/h'\n",
			      "\t'/h/runs/rp_0001'\n", "\t'/h/runs/it'\\''s'\n",
			      "run_dir=${run_dirs[${SLURM_ARRAY_TASK_ID:-0}]}\n", "is not visible on node",
			      "exec '/opt/rp/runpilot' __node-run \"$run_dir\"\n"};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!strstr(s, want[i]))
			fail_msg("missing %s in:\n%s", want[i], s);
	free(s);
	/* slurm.time wins over the timeout; nothing set: no --time, no array */
	spec.slurm = (struct rp_slurm_cfg){.time_s = 3601};
	assert_int_equal(slurm_time_minutes(&spec), 61);
	spec.resources = (struct rp_resources){0};
	spec.slurm.time_s = 0;
	assert_int_equal(slurm_time_minutes(&spec), 0);
	b.array = false;
	b.nruns = 1;
	s = slurm_batch_script(&b);
	assert_null(strstr(s, "--time"));
	assert_null(strstr(s, "--array"));
	assert_null(strstr(s, "--partition"));
	free(s);
}

static void test_query_sources(void **state)
{
	(void)state;
	struct slurm_job j;
	struct rp_err err = {0};
	/* queued: squeue's reason */
	fake("squeue", "PENDING|Resources||2026-12-03T10:00:00|N/A|\n", 0);
	assert_int_equal(slurm_query("7", &j, &err), SLURM_KNOWN);
	assert_string_equal(j.state, "PENDING");
	assert_string_equal(j.reason, "Resources");
	assert_string_equal(j.source, "squeue");
	assert_true(j.submit_time > 0);
	/* ended, accounting on: sacct's exit code ("CANCELLED by 0" is CANCELLED) */
	fake("squeue", "COMPLETED|None|n1|2026-12-03T10:00:00|2026-12-03T10:00:01|\n", 0);
	fake("sacct", "FAILED|3:0|n1|2026-12-03T10:00:00|2026-12-03T10:00:01|2026-12-03T10:00:09\n", 0);
	assert_int_equal(slurm_query("7", &j, &err), SLURM_KNOWN);
	assert_string_equal(j.state, "FAILED");
	assert_true(j.has_exit);
	assert_int_equal(j.exit_code, 3);
	assert_string_equal(j.node, "n1");
	assert_string_equal(j.source, "sacct");
	assert_int_equal((int)(j.end_time - j.start_time), 8);
	fake("sacct", "CANCELLED by 0|0:15|n1|2026-12-03T10:00:00|2026-12-03T10:00:01|2026-12-03T10:00:09\n", 0);
	assert_int_equal(slurm_query("7", &j, &err), SLURM_KNOWN);
	assert_string_equal(j.state, "CANCELLED");
	assert_int_equal(j.exit_signal, 15);
	/* accounting off: scontrol show job */
	fake_unknown("squeue");
	fake("sacct", "", 1);
	fake("scontrol", "JobId=7 JobName=x JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 "
			 "DerivedExitCode=9:0 SubmitTime=2026-12-03T10:00:00 StartTime=2026-12-03T10:00:01 "
			 "EndTime=2026-12-03T10:01:09 ReqNodeList=(null) NodeList=n2 BatchHost=n2\n", 0);
	assert_int_equal(slurm_query("7", &j, &err), SLURM_KNOWN);
	assert_string_equal(j.state, "TIMEOUT");
	assert_string_equal(j.node, "n2");
	assert_int_equal(j.exit_code, 0);
	assert_int_equal(j.exit_signal, 15);
	assert_string_equal(j.source, "scontrol");
	/* nobody knows it */
	fake_unknown("scontrol");
	assert_int_equal(slurm_query("7", &j, &err), SLURM_UNKNOWN_JOB);
	/* a controller that fails otherwise is no answer, not an unknown job */
	fake("squeue", "", 1);
	assert_int_equal(slurm_query("7", &j, &err), SLURM_NO_ANSWER);
	fake_unknown("squeue");
}

/* A run.json as the submitter left it (queued, job 7) or the node (cancelled), in a run dir. */
static char *slurm_run_dir(enum rp_status status)
{
	char *dir = xasprintf("%s/rp_0042", tmp);
	char *cmd = xasprintf("rm -rf %s && mkdir -p %s", dir, dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	struct rp_run r;
	full_run(&r);
	r.status = status;
	free(r.reason);
	r.reason = status == RP_CANCELLED ? xstrdup("cancelled") : NULL;
	r.has_exit_code = false;
	r.signal = status == RP_CANCELLED || status == RP_FAILED ? 15 : 0;
	cJSON_Delete(r.runner);
	r.runner = cJSON_Parse("{\"type\": \"slurm\", \"job_id\": \"7\", \"array_task\": 2, \"node\": null}");
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	return dir;
}

/* The status a reader sees for a run whose job Slurm reports as scontrol_state. */
static void expect(enum rp_status recorded, const char *scontrol_state, const char *status, const char *reason)
{
	char *dir = slurm_run_dir(recorded);
	fake_unknown("squeue");
	if (scontrol_state) {
		char *line = xasprintf("JobId=7 JobState=%s Reason=None ExitCode=0:9 NodeList=n3\n", scontrol_state);
		fake("scontrol", line, 0);
		free(line);
	} else {
		fake_unknown("scontrol");
	}
	struct rp_run r;
	assert_int_equal(record_read(dir, &r, NULL), 0);
	runs_status_now(dir, &r);
	if (strcmp(status_name(r.status), status) || !r.reason || !strstr(r.reason, reason))
		fail_msg("%s recorded, Slurm says %s: got %s (%s), want %s (%s)", status_name(recorded),
			 scontrol_state ? scontrol_state : "nothing", status_name(r.status), r.reason ? r.reason : "",
			 status, reason);
	record_free(&r);
	free(dir);
}

static void test_state_mapping(void **state)
{
	(void)state;
	expect(RP_QUEUED, "CANCELLED", "cancelled", "cancelled");
	expect(RP_QUEUED, "TIMEOUT", "failed", "timeout");
	expect(RP_RUNNING, "OUT_OF_MEMORY", "failed", "oom");
	expect(RP_RUNNING, "NODE_FAIL", "lost", "NODE_FAIL on n3");
	expect(RP_RUNNING, "PREEMPTED", "lost", "PREEMPTED");
	expect(RP_QUEUED, "FAILED", "failed", "setup");
	expect(RP_RUNNING, NULL, "lost", "Slurm no longer knows job 7_2");
	/* the node saw SIGTERM; Slurm says why */
	expect(RP_CANCELLED, "TIMEOUT", "failed", "timeout");
	expect(RP_CANCELLED, "PREEMPTED", "lost", "PREEMPTED");
	expect(RP_CANCELLED, "CANCELLED", "cancelled", "cancelled");
	/* Slurm's SIGTERM reached the job before the node's supervisor took it as a cancel */
	expect(RP_FAILED, "CANCELLED", "cancelled", "cancelled");
	expect(RP_FAILED, "TIMEOUT", "failed", "timeout");
	/* the node saw SIGTERM while Slurm still ends the job for its time limit */
	char *tl = slurm_run_dir(RP_CANCELLED);
	fake("squeue", "COMPLETING|TimeLimit|n1|2026-12-03T10:00:00|2026-12-03T10:00:01|\n", 0);
	fake("scontrol", "JobId=7 JobState=COMPLETING Reason=TimeLimit ExitCode=0:15 NodeList=n1\n", 0);
	struct rp_run t;
	assert_int_equal(record_read(tl, &t, NULL), 0);
	runs_status_now(tl, &t);
	assert_string_equal(status_name(t.status), "failed");
	assert_string_equal(t.reason, "timeout");
	record_free(&t);
	fake_unknown("squeue");
	free(tl);
	/* still queued: the queue's reason */
	char *dir = slurm_run_dir(RP_QUEUED);
	fake("squeue", "PENDING|Priority||2026-12-03T10:00:00|N/A|\n", 0);
	struct rp_run r;
	assert_int_equal(record_read(dir, &r, NULL), 0);
	runs_status_now(dir, &r);
	assert_int_equal(r.status, RP_QUEUED);
	assert_string_equal(r.reason, "Priority");
	record_free(&r);
	fake("squeue", "RUNNING|None|n4|2026-12-03T10:00:00|2026-12-03T10:00:01|\n", 0);
	assert_int_equal(record_read(dir, &r, NULL), 0);
	runs_status_now(dir, &r);
	assert_int_equal(r.status, RP_RUNNING);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.runner, "node")), "n4");
	record_free(&r);
	fake_unknown("squeue");
	free(dir);
}

/* runs_settle writes the end Slurm gave a run, once; readers alone never write. */
static void test_settle_writes_once(void **state)
{
	(void)state;
	char *dir = slurm_run_dir(RP_RUNNING);
	fake("scontrol", "JobId=7 JobState=NODE_FAIL Reason=None ExitCode=0:9 NodeList=n3\n", 0);
	struct rp_run r;
	assert_int_equal(record_read(dir, &r, NULL), 0);
	runs_status_now(dir, &r);
	record_free(&r);
	assert_int_equal(record_read(dir, &r, NULL), 0);
	assert_int_equal(r.status, RP_RUNNING); /* a reader wrote nothing */
	record_free(&r);
	struct rp_store st = {.home = tmp};
	runs_settle(&st, dir, 0);
	fake_unknown("scontrol"); /* Slurm forgot it: the record remembers */
	assert_int_equal(record_read(dir, &r, NULL), 0);
	runs_status_now(dir, &r);
	assert_int_equal(r.status, RP_LOST);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.runner, "state")), "NODE_FAIL");
	record_free(&r);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_script_options),
		cmocka_unit_test(test_query_sources),
		cmocka_unit_test(test_state_mapping),
		cmocka_unit_test(test_settle_writes_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
