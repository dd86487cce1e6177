/* resources.c: run.json's resources section from the runners' plain structs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "meter_test_util.h"
#include "resources.h"

static void test_usage_json_unknown_is_null(void **state)
{
	struct rusage ru = sample_rusage();
	struct rp_usage u;
	meter_from_rusage(&u, &ru, 3.5);
	cJSON *o = resources_usage_json(&u);
	const char *keys[] = { "cpu_user_s", "cpu_system_s", "cpu_total_s", "cpu_avg_cores", "wall_s",
			       "memory_peak_bytes", "max_rss_bytes", "pids_peak", "oom_kills", "throttled_s" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_non_null(cJSON_GetObjectItemCaseSensitive(o, keys[i]));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "pids_peak")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "oom_kills")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "throttled_s")));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "max_rss_bytes")->valuedouble, 2097152);
	assert_true(cJSON_GetObjectItemCaseSensitive(o, "cpu_avg_cores")->valuedouble == 0.5);
	cJSON_Delete(o);
}

static void test_usage_json_rounds_to_microseconds(void **state)
{
	struct rp_usage u;
	struct rusage ru = sample_rusage();
	meter_from_rusage(&u, &ru, 1);
	u.cpu_total_s = 1.0394530000000001;
	u.cpu_avg_cores = 0.51234;
	cJSON *o = resources_usage_json(&u);
	char *s = cJSON_PrintUnformatted(o);
	assert_non_null(strstr(s, "\"cpu_total_s\":1.039453,"));
	assert_non_null(strstr(s, "\"cpu_avg_cores\":0.512,"));
	cJSON_free(s);
	cJSON_Delete(o);
}

static void test_invalid_usage_is_empty(void **state)
{
	struct rp_usage u;
	memset(&u, 0, sizeof u);
	cJSON *o = resources_usage_json(&u);
	assert_null(o->child);
	cJSON_Delete(o);
}

static const cJSON *limit(const cJSON *limits, const char *name, const char *field)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(limits, name), field);
}

/* Each requested limit names what enforces it; the timeout is always the supervisor's. */
static void test_limits_name_their_mechanism(void **state)
{
	struct rp_resources req = { .cpus = 0.5, .memory_bytes = 64LL << 20, .timeout_s = 7200 };
	struct cg_enforced by = { .cpus = "cgroup1", .memory = "cgroup1" };
	cJSON *l = resources_limits_json(&req, &by);
	assert_true(limit(l, "cpus", "requested")->valuedouble == 0.5);
	assert_string_equal(limit(l, "cpus", "enforced_by")->valuestring, "cgroup1");
	assert_true(limit(l, "memory", "requested")->valuedouble == 64 << 20);
	assert_string_equal(limit(l, "memory", "enforced_by")->valuestring, "cgroup1");
	assert_true(cJSON_IsNull(limit(l, "pids", "requested")));
	assert_true(cJSON_IsNull(limit(l, "pids", "enforced_by")));
	assert_null(limit(l, "pids", "not_enforced")); /* not asked for: nothing to explain */
	assert_string_equal(limit(l, "timeout_s", "enforced_by")->valuestring, "supervisor");
	cJSON_Delete(l);
}

/* A limit asked for but not enforced says why (pids with its own reason under rusage). */
static void test_unenforced_limits_say_why(void **state)
{
	struct rp_resources req = { .memory_bytes = 64LL << 20, .pids = 32 };
	struct cg_enforced by = { .why_not = "cgroups disabled", .why_not_pids = "RLIMIT_NPROC is per user" };
	cJSON *l = resources_limits_json(&req, &by);
	assert_true(cJSON_IsNull(limit(l, "memory", "enforced_by")));
	assert_string_equal(limit(l, "memory", "not_enforced")->valuestring, "cgroups disabled");
	assert_string_equal(limit(l, "pids", "not_enforced")->valuestring, "RLIMIT_NPROC is per user");
	assert_true(cJSON_IsNull(limit(l, "timeout_s", "enforced_by")));
	cJSON_Delete(l);
}

static void test_section_has_limits_usage_source(void **state)
{
	struct rusage ru = sample_rusage();
	struct rp_usage u;
	meter_from_rusage(&u, &ru, 2);
	struct rp_resources req = { 0 };
	struct cg_enforced by = { 0 };
	cJSON *o = resources_section(&req, &by, &u);
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "limits")));
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "usage")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "source")->valuestring, "rusage");
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_json_unknown_is_null),
		cmocka_unit_test(test_usage_json_rounds_to_microseconds),
		cmocka_unit_test(test_invalid_usage_is_empty),
		cmocka_unit_test(test_limits_name_their_mechanism),
		cmocka_unit_test(test_unenforced_limits_say_why),
		cmocka_unit_test(test_section_has_limits_usage_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
