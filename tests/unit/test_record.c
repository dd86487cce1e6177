/* record.c: run.json round trip (every field, nulls, times, unknown sections), atomic write,
 * read errors, and lost-run derivation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dir_test_util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record.h"
#include "util.h"

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-record-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	*state = xstrdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	int rc = rm_rf(*state, NULL);
	free(*state);
	return rc;
}

static char **strings(const char *a, const char *b, const char *c)
{
	struct strvec sv = {0};
	const char *in[] = {a, b, c};
	for (int i = 0; i < 3; i++)
		if (in[i])
			strvec_push(&sv, in[i]);
	return strvec_items(&sv);
}

/* A finished run with every field set. */
static void full_run(struct rp_run *r)
{
	memset(r, 0, sizeof *r);
	r->schema_version = RP_SCHEMA_VERSION;
	r->id = xstrdup("rp_0042");
	r->uid = xstrdup("0f8e2a4c-1b7d-4c3e-9a5f-6d2e8b1c0a97");
	r->name = xstrdup("mnist-cnn-baseline");
	r->status = RP_FAILED;
	r->reason = xstrdup("signal");
	r->created_at = 1795891801.123;
	r->started_at = 1795891801.456;
	r->ended_at = 1795891931.789;
	r->duration_s = 130.333;
	r->has_exit_code = true;
	r->exit_code = -1;
	r->signal = 9;
	r->entrypoint = xstrdup("python train.py");
	r->argv = strings("/bin/sh", "-c", "python train.py");
	r->workdir = xstrdup("/home/u/mnist");
	r->image = xstrdup("python:3.11-slim");
	r->params = cJSON_Parse("{\"lr\": 0.001, \"epochs\": 10, \"opt\": \"adam\", \"gpu\": true, \"x\": null}");
	r->tags = strings("mnist", "cnn", NULL);
	r->env = cJSON_Parse("{\"PYTHONUNBUFFERED\": \"1\", \"HF_TOKEN\": \"<redacted>\"}");
	r->runner = cJSON_Parse("{\"type\": \"local\", \"fallback_reason\": \"no sandbox support\"}");
	r->host_hostname = xstrdup("gpu-box");
	r->host_kernel = xstrdup("6.1.0-18-amd64");
	r->host_arch = xstrdup("x86_64");
	r->host_user = xstrdup("alice");
	r->supervisor_pid = 12345;
	r->supervisor_start_ticks = 9876543210ULL;
	r->supervisor_boot_id = xstrdup("7eb68fd8-8e59-4cc1-aa03-63ae02000c26");
	r->runpilot_version = xstrdup("0.1.0");
	r->paths = cJSON_Parse("{\"run_dir\": \"/r/rp_0042\", \"logs\": \"/r/rp_0042/logs.txt\"}");
	r->sections = cJSON_Parse("{\"resources\": {\"limits\": {\"memory\": 2147483648}, \"usage\": [1, 2.5, \"x\"]},"
				  " \"metrics\": [{\"step\": 1, \"loss\": 0.5}], \"future_flag\": true,"
				  " \"future_null\": null, \"future_text\": \"t\"}");
}

static void assert_json_equal(const cJSON *a, const cJSON *b)
{
	if (!cJSON_Compare(a, b, 1)) {
		char *sa = cJSON_Print(a), *sb = cJSON_Print(b);
		fail_msg("JSON differs:\n%s\n---\n%s", sa, sb);
	}
}

static void assert_same_run(const struct rp_run *a, const struct rp_run *b)
{
	assert_int_equal(b->schema_version, a->schema_version);
	assert_string_equal(b->id, a->id);
	assert_string_equal(b->uid, a->uid);
	assert_string_equal(b->name, a->name);
	assert_int_equal(b->status, a->status);
	assert_string_equal(b->reason, a->reason);
	assert_float_equal(b->created_at, a->created_at, 0.0005);
	assert_float_equal(b->started_at, a->started_at, 0.0005);
	assert_float_equal(b->ended_at, a->ended_at, 0.0005);
	assert_float_equal(b->duration_s, a->duration_s, 1e-9);
	assert_int_equal(b->has_exit_code, a->has_exit_code);
	assert_int_equal(b->exit_code, a->exit_code);
	assert_int_equal(b->signal, a->signal);
	assert_string_equal(b->entrypoint, a->entrypoint);
	for (size_t i = 0; a->argv[i] || b->argv[i]; i++) {
		assert_non_null(a->argv[i]);
		assert_non_null(b->argv[i]);
		assert_string_equal(b->argv[i], a->argv[i]);
	}
	assert_string_equal(b->workdir, a->workdir);
	assert_string_equal(b->image, a->image);
	assert_json_equal(a->params, b->params);
	for (size_t i = 0; a->tags[i] || b->tags[i]; i++) {
		assert_non_null(a->tags[i]);
		assert_non_null(b->tags[i]);
		assert_string_equal(b->tags[i], a->tags[i]);
	}
	assert_json_equal(a->env, b->env);
	assert_json_equal(a->runner, b->runner);
	assert_string_equal(b->host_hostname, a->host_hostname);
	assert_string_equal(b->host_kernel, a->host_kernel);
	assert_string_equal(b->host_arch, a->host_arch);
	assert_string_equal(b->host_user, a->host_user);
	assert_int_equal(b->supervisor_pid, a->supervisor_pid);
	assert_int_equal(b->supervisor_start_ticks, a->supervisor_start_ticks);
	assert_string_equal(b->supervisor_boot_id, a->supervisor_boot_id);
	assert_string_equal(b->runpilot_version, a->runpilot_version);
	assert_json_equal(a->paths, b->paths);
	assert_json_equal(a->sections, b->sections);
}

/* ---- JSON shape and round trip ---- */

static void test_to_json_fields(void **state)
{
	struct rp_run r;
	full_run(&r);
	cJSON *j = record_to_json(&r);
	assert_int_equal(cJSON_GetObjectItem(j, "schema_version")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "rp_0042");
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "failed");
	assert_string_equal(cJSON_GetObjectItem(j, "reason")->valuestring, "signal");
	/* RFC 3339 UTC, to the millisecond */
	assert_string_equal(cJSON_GetObjectItem(j, "created_at")->valuestring, "2026-11-28T18:50:01.123Z");
	assert_string_equal(cJSON_GetObjectItem(j, "started_at")->valuestring, "2026-11-28T18:50:01.456Z");
	assert_string_equal(cJSON_GetObjectItem(j, "ended_at")->valuestring, "2026-11-28T18:52:11.789Z");
	assert_float_equal(cJSON_GetObjectItem(j, "duration_s")->valuedouble, 130.333, 1e-9);
	assert_int_equal(cJSON_GetObjectItem(j, "exit_code")->valueint, -1);
	assert_int_equal(cJSON_GetObjectItem(j, "signal")->valueint, 9);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "argv")), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "runner"), "type")->valuestring, "local");
	cJSON *host = cJSON_GetObjectItem(j, "host");
	assert_string_equal(cJSON_GetObjectItem(host, "hostname")->valuestring, "gpu-box");
	assert_string_equal(cJSON_GetObjectItem(host, "kernel")->valuestring, "6.1.0-18-amd64");
	assert_string_equal(cJSON_GetObjectItem(host, "arch")->valuestring, "x86_64");
	assert_string_equal(cJSON_GetObjectItem(host, "user")->valuestring, "alice");
	cJSON *sup = cJSON_GetObjectItem(j, "supervisor");
	assert_int_equal(cJSON_GetObjectItem(sup, "pid")->valueint, 12345);
	assert_string_equal(cJSON_GetObjectItem(sup, "boot_id")->valuestring, "7eb68fd8-8e59-4cc1-aa03-63ae02000c26");
	assert_string_equal(cJSON_GetObjectItem(j, "runpilot_version")->valuestring, "0.1.0");
	/* sections sit at the top level, verbatim */
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "metrics")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "future_flag")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "future_null")));
	assert_null(cJSON_GetObjectItem(j, "sections"));
	cJSON_Delete(j);
	record_free(&r);
}

static void test_round_trip_every_field(void **state)
{
	struct rp_run a, b;
	full_run(&a);
	cJSON *j1 = record_to_json(&a);
	struct rp_err e = {0};
	assert_int_equal(record_from_json(j1, &b, &e), 0);
	assert_same_run(&a, &b);
	/* and the JSON itself is stable: times come back to the same millisecond text */
	cJSON *j2 = record_to_json(&b);
	assert_json_equal(j1, j2);
	cJSON_Delete(j1);
	cJSON_Delete(j2);
	record_free(&a);
	record_free(&b);
}

/* A running record: no end, no duration, no exit code, no signal → JSON null, and back. */
static void test_round_trip_nulls(void **state)
{
	struct rp_run a, b;
	memset(&a, 0, sizeof a);
	a.id = xstrdup("rp_0001");
	a.name = xstrdup("n");
	a.status = RP_RUNNING;
	a.created_at = 1795891801.001;
	a.started_at = 1795891801.002;
	a.duration_s = -1;
	cJSON *j = record_to_json(&a);
	const char *nulls[] = {"uid", "reason", "ended_at", "duration_s", "exit_code", "signal", "entrypoint",
			       "workdir", "image", "runpilot_version"};
	for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
		if (!cJSON_IsNull(cJSON_GetObjectItem(j, nulls[i])))
			fail_msg("%s should be null", nulls[i]);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "host"), "hostname")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "supervisor"), "boot_id")));
	/* empty collections are present, not null */
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "argv")));
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "tags")));
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "params")));
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "env")));
	assert_int_equal(cJSON_GetObjectItem(j, "schema_version")->valueint, RP_SCHEMA_VERSION);
	struct rp_err e = {0};
	assert_int_equal(record_from_json(j, &b, &e), 0);
	assert_int_equal(b.status, RP_RUNNING);
	assert_false(b.has_exit_code);
	assert_int_equal(b.signal, 0);
	assert_true(b.duration_s < 0);
	assert_float_equal(b.ended_at, 0, 0);
	assert_null(b.reason);
	assert_null(b.image);
	assert_non_null(b.argv);
	assert_null(b.argv[0]);
	assert_non_null(b.tags);
	assert_null(b.tags[0]);
	cJSON_Delete(j);
	record_free(&a);
	record_free(&b);
}

/* exit code 0 is a value, not "none" */
static void test_exit_code_zero_is_not_null(void **state)
{
	struct rp_run a, b;
	full_run(&a);
	a.status = RP_SUCCESS;
	a.exit_code = 0;
	a.signal = 0;
	cJSON *j = record_to_json(&a);
	cJSON *ec = cJSON_GetObjectItem(j, "exit_code");
	assert_true(cJSON_IsNumber(ec));
	assert_int_equal(ec->valueint, 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "signal")));
	assert_int_equal(record_from_json(j, &b, NULL), 0);
	assert_true(b.has_exit_code);
	assert_int_equal(b.exit_code, 0);
	assert_int_equal(b.status, RP_SUCCESS);
	cJSON_Delete(j);
	record_free(&a);
	record_free(&b);
}

/* A run.json written by a later version keeps what this version does not know. */
static void test_unknown_sections_kept_verbatim(void **state)
{
	const char *text =
		"{\"schema_version\": 1, \"id\": \"rp_0003\", \"name\": \"x\", \"status\": \"success\","
		" \"fingerprint\": {\"code\": \"sha256:ab\", \"parts\": [1, {\"deep\": [null, false]}]},"
		" \"metrics\": [0.5, 0.25], \"note\": \"hello\", \"count\": 3}";
	cJSON *in = cJSON_Parse(text);
	struct rp_run r;
	assert_int_equal(record_from_json(in, &r, NULL), 0);
	const cJSON *fp = record_section(&r, "fingerprint");
	assert_non_null(fp);
	assert_json_equal(cJSON_GetObjectItem(in, "fingerprint"), fp);
	assert_non_null(record_section(&r, "note"));
	assert_null(record_section(&r, "id")); /* core keys are not sections */
	assert_null(record_section(&r, "status"));
	cJSON *out = record_to_json(&r);
	const char *keys[] = {"fingerprint", "metrics", "note", "count"};
	for (size_t i = 0; i < 4; i++)
		assert_json_equal(cJSON_GetObjectItem(in, keys[i]), cJSON_GetObjectItem(out, keys[i]));

	/* set and replace a section */
	record_set_section(&r, "metrics", cJSON_CreateString("replaced"));
	record_set_section(&r, "resources", cJSON_Parse("{\"usage\": {\"cpu_total_s\": 1.5}}"));
	assert_string_equal(record_section(&r, "metrics")->valuestring, "replaced");
	assert_float_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(record_section(&r, "resources"), "usage"),
					       "cpu_total_s")->valuedouble, 1.5, 0);
	cJSON *out2 = record_to_json(&r);
	assert_string_equal(cJSON_GetObjectItem(out2, "metrics")->valuestring, "replaced");
	assert_int_equal(cJSON_GetArraySize(out2), cJSON_GetArraySize(out) + 1);
	cJSON_Delete(out2);
	cJSON_Delete(out);
	cJSON_Delete(in);
	record_free(&r);
}

static void test_set_section_on_empty_record(void **state)
{
	struct rp_run r;
	memset(&r, 0, sizeof r);
	assert_null(record_section(&r, "x"));
	record_set_section(&r, "x", cJSON_CreateNumber(1));
	assert_int_equal(record_section(&r, "x")->valueint, 1);
	record_free(&r);
}

static void test_status_names(void **state)
{
	const char *names[] = {"running", "success", "failed", "cancelled", "lost"};
	enum rp_status st[] = {RP_RUNNING, RP_SUCCESS, RP_FAILED, RP_CANCELLED, RP_LOST};
	for (int i = 0; i < 5; i++) {
		assert_string_equal(status_name(st[i]), names[i]);
		enum rp_status out = (enum rp_status)-1;
		assert_int_equal(status_parse(names[i], &out), 0);
		assert_int_equal(out, st[i]);
	}
	enum rp_status out;
	assert_int_equal(status_parse("Running", &out), -1);
	assert_int_equal(status_parse("", &out), -1);
	assert_int_equal(status_parse(NULL, &out), -1);
	assert_string_equal(status_name((enum rp_status)99), "unknown");
}

static void test_from_json_rejects_bad_input(void **state)
{
	struct rp_run r;
	struct rp_err e = {0};
	cJSON *arr = cJSON_Parse("[1, 2]");
	assert_int_equal(record_from_json(arr, &r, &e), -1);
	assert_string_equal(e.msg, "run.json is not a JSON object");
	cJSON_Delete(arr);
	cJSON *nostatus = cJSON_Parse("{\"id\": \"rp_0001\"}");
	assert_int_equal(record_from_json(nostatus, &r, &e), -1);
	assert_string_equal(e.msg, "run.json has no valid status");
	assert_null(r.id); /* nothing left allocated */
	cJSON_Delete(nostatus);
	cJSON *badstatus = cJSON_Parse("{\"id\": \"rp_0001\", \"status\": \"exploded\"}");
	assert_int_equal(record_from_json(badstatus, &r, &e), -1);
	cJSON_Delete(badstatus);
}

/* ---- files ---- */

static void test_write_then_read(void **state)
{
	const char *dir = *state;
	struct rp_run a, b;
	full_run(&a);
	struct rp_err e = {0};
	assert_int_equal(record_write(dir, &a, &e), 0);
	/* write again over it (start, then end of a run) */
	a.status = RP_CANCELLED;
	assert_int_equal(record_write(dir, &a, &e), 0);
	assert_int_equal(count_entries(dir), 1); /* just run.json: no temp file left */
	char *path = path_join(dir, "run.json");
	char *text;
	size_t len;
	assert_int_equal(read_file(path, &text, &len, NULL), 0);
	assert_true(len > 2);
	assert_int_equal(text[0], '{');
	assert_int_equal(text[len - 1], '\n'); /* a proper text file */
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "cancelled");
	cJSON_Delete(j);
	free(text);
	assert_int_equal(record_read(dir, &b, &e), 0);
	assert_same_run(&a, &b);
	record_free(&a);
	record_free(&b);
	free(path);
}

static void test_read_missing_run_json(void **state)
{
	const char *dir = *state;
	struct rp_run r;
	struct rp_err e = {0};
	assert_int_equal(record_read(dir, &r, &e), -1);
	char *want = xasprintf("cannot open %s/run.json: No such file or directory", dir);
	assert_string_equal(e.msg, want);
	free(want);
	assert_null(r.id);
}

static void test_read_broken_run_json(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "run.json");
	struct rp_run r;
	struct rp_err e = {0};

	const char *half = "{\"id\": \"rp_0001\", \"status\": \"runn";
	assert_int_equal(write_file_atomic(path, half, strlen(half), 0644, NULL), 0);
	assert_int_equal(record_read(dir, &r, &e), -1);
	char *want = xasprintf("%s is not valid JSON", path);
	assert_string_equal(e.msg, want);
	free(want);

	assert_int_equal(write_file_atomic(path, "", 0, 0644, NULL), 0);
	assert_int_equal(record_read(dir, &r, &e), -1);
	assert_non_null(strstr(e.msg, "is not valid JSON"));

	const char *nostatus = "{\"id\": \"rp_0001\"}";
	assert_int_equal(write_file_atomic(path, nostatus, strlen(nostatus), 0644, NULL), 0);
	assert_int_equal(record_read(dir, &r, &e), -1);
	want = xasprintf("%s: run.json has no valid status", path);
	assert_string_equal(e.msg, want);
	free(want);

	const char *array = "[]";
	assert_int_equal(write_file_atomic(path, array, 2, 0644, NULL), 0);
	assert_int_equal(record_read(dir, &r, &e), -1);
	want = xasprintf("%s: run.json is not a JSON object", path);
	assert_string_equal(e.msg, want);
	free(want);
	free(path);
}

static void test_write_failure_reports(void **state)
{
	char *dir = path_join(*state, "no-such-dir");
	struct rp_run a;
	full_run(&a);
	struct rp_err e = {0};
	assert_int_equal(record_write(dir, &a, &e), -1);
	assert_non_null(strstr(e.msg, dir));
	assert_non_null(strstr(e.msg, "No such file or directory"));
	record_free(&a);
	free(dir);
}

/* ---- lost runs ---- */

/* A running record whose supervisor is this test process (alive, real start time, this boot). */
static void running_run(struct rp_run *r)
{
	full_run(r);
	r->status = RP_RUNNING;
	free(r->reason);
	r->reason = NULL;
	r->ended_at = 0;
	r->duration_s = -1;
	r->has_exit_code = false;
	r->signal = 0;
	r->supervisor_pid = getpid();
	r->supervisor_start_ticks = process_start_ticks(getpid());
	free(r->supervisor_boot_id);
	r->supervisor_boot_id = current_boot_id();
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void expect_marked_lost(const char *dir, struct rp_run *r, const char *reason)
{
	struct rp_err e = {0};
	assert_int_equal(record_write(dir, r, &e), 0);
	assert_int_equal(record_mark_lost_if_gone(dir, r, &e), 1);
	assert_int_equal(r->status, RP_LOST);
	assert_string_equal(r->reason, reason);
	/* persisted */
	struct rp_run back;
	assert_int_equal(record_read(dir, &back, &e), 0);
	assert_int_equal(back.status, RP_LOST);
	assert_string_equal(back.reason, reason);
	assert_string_equal(back.id, r->id);
	assert_json_equal(back.sections, r->sections); /* nothing else lost on the way */
	record_free(&back);
	/* a second look changes nothing */
	assert_int_equal(record_mark_lost_if_gone(dir, r, &e), 0);
}

static void test_lost_when_supervisor_dead(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = dead_pid();
	assert_true(record_supervisor_gone(&r, r.supervisor_boot_id));
	expect_marked_lost(*state, &r, "supervisor died");
	record_free(&r);
}

static void test_lost_when_supervisor_zombie(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* wait until it is a zombie, without reaping it */
	for (int i = 0; i < 2000 && process_alive(pid); i++)
		usleep(1000);
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = pid;
	r.supervisor_start_ticks = process_start_ticks(pid);
	bool gone = record_supervisor_gone(&r, r.supervisor_boot_id);
	int rc = record_mark_lost_if_gone(*state, &r, NULL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_true(gone);
	assert_int_equal(rc, 1);
	assert_int_equal(r.status, RP_LOST);
	record_free(&r);
}

static void test_lost_when_pid_reused(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_start_ticks += 1; /* same pid, a different process */
	assert_true(record_supervisor_gone(&r, r.supervisor_boot_id));
	expect_marked_lost(*state, &r, "supervisor died");
	record_free(&r);
}

static void test_lost_when_host_rebooted(void **state)
{
	struct rp_run r;
	running_run(&r);
	if (!r.supervisor_boot_id) {
		record_free(&r);
		skip();
	}
	assert_false(record_supervisor_gone(&r, r.supervisor_boot_id));
	free(r.supervisor_boot_id);
	r.supervisor_boot_id = xstrdup("00000000-0000-4000-8000-000000000000");
	/* even though the pid and start time match a live process */
	char *boot = current_boot_id();
	assert_true(record_supervisor_gone(&r, boot));
	free(boot);
	expect_marked_lost(*state, &r, "host rebooted");
	record_free(&r);
}

static void test_lost_when_no_supervisor_pid(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = 0;
	assert_true(record_supervisor_gone(&r, r.supervisor_boot_id));
	expect_marked_lost(*state, &r, "supervisor unknown");
	record_free(&r);
}

static void test_alive_supervisor_stays_running(void **state)
{
	const char *dir = *state;
	struct rp_run r;
	running_run(&r);
	assert_true(r.supervisor_start_ticks > 0);
	struct rp_err e = {0};
	assert_int_equal(record_write(dir, &r, &e), 0);
	char *path = path_join(dir, "run.json");
	char *before, *after;
	assert_int_equal(read_file(path, &before, NULL, NULL), 0);
	assert_false(record_supervisor_gone(&r, r.supervisor_boot_id));
	assert_int_equal(record_mark_lost_if_gone(dir, &r, &e), 0);
	assert_int_equal(r.status, RP_RUNNING);
	assert_null(r.reason);
	assert_int_equal(read_file(path, &after, NULL, NULL), 0);
	assert_string_equal(before, after);

	/* a live child process as supervisor, too */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	r.supervisor_pid = pid;
	r.supervisor_start_ticks = process_start_ticks(pid);
	int rc = record_mark_lost_if_gone(dir, &r, &e);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, RP_RUNNING);
	/* and once it is gone, the same record is lost */
	assert_int_equal(record_mark_lost_if_gone(dir, &r, &e), 1);
	assert_int_equal(r.status, RP_LOST);
	free(before);
	free(after);
	free(path);
	record_free(&r);
}

/* Finished runs are history: a dead supervisor does not touch them. */
static void test_finished_runs_never_change(void **state)
{
	enum rp_status st[] = {RP_SUCCESS, RP_FAILED, RP_CANCELLED, RP_LOST};
	pid_t dead = dead_pid();
	char *nowhere = path_join(*state, "missing-dir"); /* any write would fail here */
	for (int i = 0; i < 4; i++) {
		struct rp_run r;
		running_run(&r);
		r.status = st[i];
		r.supervisor_pid = dead;
		free(r.supervisor_boot_id);
		r.supervisor_boot_id = xstrdup("00000000-0000-4000-8000-000000000000");
		r.reason = xstrdup("kept");
		assert_false(record_supervisor_gone(&r, "11111111-0000-4000-8000-000000000000"));
		struct rp_err e = {0};
		assert_int_equal(record_mark_lost_if_gone(nowhere, &r, &e), 0);
		assert_int_equal(r.status, st[i]);
		assert_string_equal(r.reason, "kept");
		record_free(&r);
	}
	assert_false(path_exists(nowhere));
	free(nowhere);
}

static void test_mark_lost_write_error(void **state)
{
	char *nowhere = path_join(*state, "missing-dir");
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = dead_pid();
	struct rp_err e = {0};
	assert_int_equal(record_mark_lost_if_gone(nowhere, &r, &e), -1);
	assert_non_null(strstr(e.msg, nowhere));
	record_free(&r);
	free(nowhere);
}

/* The supervisor's lock decides when it exists: held → alive, whatever the pid says. */
static void test_lock_held_means_alive(void **state)
{
	const char *dir = *state;
	/* One pipe per direction, unused ends closed: if either side dies, the other reads EOF
	 * instead of waiting for ever (and nobody can read back their own byte). */
	int locked[2], release[2];
	assert_int_equal(pipe(locked), 0);
	assert_int_equal(pipe(release), 0);
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		char c;
		close(locked[0]);
		close(release[1]);
		int fd = record_lock_supervisor(dir, NULL);
		if (fd < 0)
			_exit(1);
		(void)!write(locked[1], "l", 1);
		(void)!read(release[0], &c, 1); /* hold the lock until the parent says so, or dies */
		_exit(0);
	}
	close(locked[1]);
	close(release[0]);
	char c;
	ssize_t got = read(locked[0], &c, 1);
	close(locked[0]);
	if (got != 1) {
		close(release[1]);
		waitpid(holder, NULL, 0);
		fail_msg("the lock holder could not lock %s/run.lock", dir);
	}
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = dead_pid(); /* the pid alone would say "dead" */
	int held_rc = record_write(dir, &r, NULL) == 0 ? record_mark_lost_if_gone(dir, &r, NULL) : -1;
	enum rp_status held_status = r.status;
	/* the holder exits: the kernel drops its lock, and the run is lost */
	close(release[1]);
	assert_int_equal(waitpid(holder, NULL, 0), holder);
	assert_int_equal(held_rc, 0);
	assert_int_equal(held_status, RP_RUNNING);
	expect_marked_lost(dir, &r, "supervisor died");
	record_free(&r);
}

/* A reader that loaded "running" just before the supervisor wrote its final record and exited
 * must not overwrite that record with "lost". */
static void test_stale_reader_keeps_final_record(void **state)
{
	const char *dir = *state;
	int fd = record_lock_supervisor(dir, NULL);
	assert_true(fd >= 0);
	struct rp_run stale, final;
	running_run(&stale);
	stale.supervisor_pid = dead_pid(); /* by the pid alone the reader would mark it lost */
	running_run(&final);
	final.status = RP_SUCCESS;
	final.has_exit_code = true;
	final.exit_code = 0;
	assert_int_equal(record_write(dir, &final, NULL), 0);
	close(fd); /* the supervisor is gone */
	assert_int_equal(record_mark_lost_if_gone(dir, &stale, NULL), 0);
	assert_int_equal(stale.status, RP_SUCCESS);
	struct rp_run back;
	assert_int_equal(record_read(dir, &back, NULL), 0);
	assert_int_equal(back.status, RP_SUCCESS);
	record_free(&back);
	record_free(&stale);
	record_free(&final);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_json_fields),
		cmocka_unit_test(test_round_trip_every_field),
		cmocka_unit_test(test_round_trip_nulls),
		cmocka_unit_test(test_exit_code_zero_is_not_null),
		cmocka_unit_test(test_unknown_sections_kept_verbatim),
		cmocka_unit_test(test_set_section_on_empty_record),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_from_json_rejects_bad_input),
		T(test_write_then_read),
		T(test_read_missing_run_json),
		T(test_read_broken_run_json),
		T(test_write_failure_reports),
		T(test_lost_when_supervisor_dead),
		T(test_lost_when_supervisor_zombie),
		T(test_lost_when_pid_reused),
		T(test_lost_when_host_rebooted),
		T(test_lost_when_no_supervisor_pid),
		T(test_alive_supervisor_stays_running),
		T(test_finished_runs_never_change),
		T(test_mark_lost_write_error),
		T(test_lock_held_means_alive),
		T(test_stale_reader_keeps_final_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
