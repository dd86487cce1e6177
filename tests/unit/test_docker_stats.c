/* docker_stats.c: the figures kept from the engine's stats samples (v1 and v2 answers, a stopped
 * container's zeros) and the usage made of them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "docker_stats.h"

/* Docker 20.10 on cgroup v1 (trimmed). */
static const char *v1(long long total, long long usage, long long max_usage, long long pids)
{
	static char buf[1024];
	snprintf(buf, sizeof buf,
		 "{\"read\":\"2026-01-01T00:00:00Z\",\"pids_stats\":{\"current\":%lld},"
		 "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":%lld,\"usage_in_kernelmode\":%lld,"
		 "\"usage_in_usermode\":%lld},\"throttling_data\":{\"throttled_time\":7000000}},"
		 "\"memory_stats\":{\"usage\":%lld,\"max_usage\":%lld}}",
		 pids, total, total / 4, total / 2, usage, max_usage);
	return buf;
}

/* A container that is not running (any cgroup version). */
static const char *stopped = "{\"read\":\"0001-01-01T00:00:00Z\",\"pids_stats\":{},"
			     "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":0}},\"memory_stats\":{}}";

static void test_v1_newest_cpu_and_peaks(void **state)
{
	(void)state;
	struct dk_stats s;
	dk_stats_init(&s);
	assert_true(dk_stats_add(&s, v1(1000000000LL, 5000000, 9000000, 3)));
	assert_true(dk_stats_add(&s, v1(2000000000LL, 4000000, 9500000, 2)));
	assert_false(dk_stats_add(&s, stopped)); /* the end's zeros change nothing */
	assert_false(dk_stats_add(&s, "not json"));
	assert_int_equal(s.samples, 2);
	assert_int_equal(s.cpu_total_ns, 2000000000LL);
	assert_int_equal(s.memory_peak, 9500000);
	assert_true(s.memory_max_usage);
	assert_int_equal(s.pids_peak, 3);
	struct rp_usage u;
	dk_stats_usage(&s, 4.0, &u);
	assert_true(u.valid);
	assert_true(u.cpu_total_s == 2.0);
	assert_true(u.cpu_avg_cores == 0.5);
	/* The split (500 ms system, 1 s user) scaled to the total. */
	assert_true(u.cpu_user_s > 1.33 && u.cpu_user_s < 1.34);
	assert_true(u.cpu_user_s + u.cpu_system_s == 2.0);
	assert_true(u.throttled_s == 0.007);
	assert_int_equal(u.memory_peak_bytes, 9500000);
	assert_int_equal(u.max_rss_bytes, -1);
	assert_int_equal(u.oom_kills, -1);
	assert_string_equal(u.source, "engine stats");
	assert_non_null(strstr(u.memory_peak_source, "max_usage"));
}

static void test_v2_peak_of_usage_seen(void **state)
{
	(void)state;
	struct dk_stats s;
	dk_stats_init(&s);
	const char *a = "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":300000000}},\"memory_stats\":{\"usage\":8000000}}";
	const char *b = "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":600000000}},\"memory_stats\":{\"usage\":6000000}}";
	assert_true(dk_stats_add(&s, a));
	assert_true(dk_stats_add(&s, b));
	assert_false(s.memory_max_usage);
	assert_int_equal(s.memory_peak, 8000000);
	struct rp_usage u;
	dk_stats_usage(&s, 1.0, &u);
	assert_true(u.cpu_total_s == 0.6);
	assert_true(u.cpu_user_s == -1 && u.cpu_system_s == -1); /* no split given: unknown */
	assert_int_equal(u.pids_peak, -1);
	assert_true(u.throttled_s == -1);
	assert_non_null(strstr(u.memory_peak_source, "sampled"));
}

static void test_no_sample_all_unknown(void **state)
{
	(void)state;
	struct dk_stats s;
	dk_stats_init(&s);
	assert_false(dk_stats_add(&s, stopped));
	struct rp_usage u;
	dk_stats_usage(&s, 1.0, &u);
	assert_int_equal(s.samples, 0);
	assert_true(u.cpu_total_s == -1);
	assert_int_equal(u.memory_peak_bytes, -1);
	assert_true(u.cpu_avg_cores == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_newest_cpu_and_peaks),
		cmocka_unit_test(test_v2_peak_of_usage_seen),
		cmocka_unit_test(test_no_sample_all_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
