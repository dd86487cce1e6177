/* record.c: run.json round trip (every field, nulls, times, unknown sections), atomic write,
 * read errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dir_test_util.h"
#include "record_test_util.h"

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, tmpdir_setup, tmpdir_teardown)

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
