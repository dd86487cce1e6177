/* meter.c: usage from rusage and run.json's resources.usage object. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "cgroup.h"
#include "meter.h"

static struct rusage sample_rusage(void)
{
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	ru.ru_utime.tv_sec = 1;
	ru.ru_utime.tv_usec = 250000;
	ru.ru_stime.tv_usec = 500000;
	ru.ru_maxrss = 2048; /* KiB */
	return ru;
}

static void test_from_rusage(void **state)
{
	struct rusage ru = sample_rusage();
	struct rp_usage u;
	meter_from_rusage(&u, &ru, 3.5);
	assert_true(u.valid);
	assert_true(u.cpu_user_s > 1.2499 && u.cpu_user_s < 1.2501);
	assert_true(u.cpu_system_s > 0.4999 && u.cpu_system_s < 0.5001);
	assert_true(u.cpu_total_s > 1.7499 && u.cpu_total_s < 1.7501);
	assert_true(u.cpu_avg_cores > 0.4999 && u.cpu_avg_cores < 0.5001);
	assert_int_equal(u.max_rss_bytes, 2048 * 1024);
	assert_int_equal(u.memory_peak_bytes, 2048 * 1024);
	assert_int_equal(u.pids_peak, -1);
	assert_int_equal(u.oom_kills, -1);
	assert_true(u.throttled_s < 0);
	assert_string_equal(u.source, "rusage");
	assert_non_null(strstr(u.memory_peak_source, "rusage"));
}

static void test_zero_wall_has_no_average(void **state)
{
	struct rusage ru = sample_rusage();
	struct rp_usage u;
	meter_from_rusage(&u, &ru, 0);
	assert_true(u.cpu_avg_cores == 0);
}

static void test_usage_json_unknown_is_null(void **state)
{
	struct rusage ru = sample_rusage();
	struct rp_usage u;
	meter_from_rusage(&u, &ru, 3.5);
	cJSON *o = meter_usage_json(&u);
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
	cJSON *o = meter_usage_json(&u);
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
	cJSON *o = meter_usage_json(&u);
	assert_null(o->child);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_rusage),
		cmocka_unit_test(test_zero_wall_has_no_average),
		cmocka_unit_test(test_usage_json_unknown_is_null),
		cmocka_unit_test(test_usage_json_rounds_to_microseconds),
		cmocka_unit_test(test_invalid_usage_is_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
