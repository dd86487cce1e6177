/* meter.c: usage from rusage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "meter.h"
#include "meter_test_util.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_rusage),
		cmocka_unit_test(test_zero_wall_has_no_average),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
