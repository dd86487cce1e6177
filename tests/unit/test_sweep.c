/* sweep.c's plan: the grid's order, seeded draws (the same on every host and version: fixed
 * expected values), the ranges' bounds, and the usage errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

static char *joined(const struct sweep_plan *p, size_t i)
{
	return strvec_join(&p->runs[i], " ");
}

static void test_grid_order(void **state)
{
	(void)state;
	const char *params[] = {"lr=0.1,0.01", "k=v", "bs=32,64,128", "q=\"a,b\""};
	struct sweep_plan p;
	struct rp_err err = {0};
	assert_int_equal(sweep_plan_make(params, 4, 0, true, 7, &p, &err), 0);
	assert_true(p.is_sweep);
	assert_int_equal(p.size, 6);
	assert_int_equal(p.seed, 7);
	assert_int_equal(p.varying.n, 2);
	const char *want[] = {"lr=0.1 k=v bs=32 q=a,b", "lr=0.1 k=v bs=64 q=a,b", "lr=0.1 k=v bs=128 q=a,b",
			      "lr=0.01 k=v bs=32 q=a,b", "lr=0.01 k=v bs=64 q=a,b", "lr=0.01 k=v bs=128 q=a,b"};
	for (size_t i = 0; i < 6; i++) {
		char *s = joined(&p, i);
		assert_string_equal(s, want[i]);
		free(s);
	}
	assert_string_equal(sweep_plan_value(&p, 4, "bs"), "64");
	assert_null(sweep_plan_value(&p, 4, "b"));
	assert_int_equal(strncmp(p.id, "sw_", 3), 0);
	assert_int_equal(strlen(p.id), 11);
	sweep_plan_free(&p);
}

static void test_plain_is_no_sweep(void **state)
{
	(void)state;
	const char *params[] = {"lr=0.1", "s=x:y", "t=\"1\""};
	struct sweep_plan p;
	struct rp_err err = {0};
	assert_int_equal(sweep_plan_make(params, 3, 0, false, 0, &p, &err), 0);
	assert_false(p.is_sweep);
	assert_int_equal(p.size, 1);
	char *s = joined(&p, 0);
	assert_string_equal(s, "lr=0.1 s=x:y t=\"1\"");
	free(s);
	sweep_plan_free(&p);
}

static void test_random_fixed_for_a_seed(void **state)
{
	(void)state;
	const char *params[] = {"lr=loguniform:1e-4:1e-1", "n=int:2:9", "o=choice:adam,sgd,rms", "u=uniform:-1:1", "f=3"};
	struct sweep_plan a, b, c;
	struct rp_err err = {0};
	assert_int_equal(sweep_plan_make(params, 5, 50, true, 42, &a, &err), 0);
	assert_int_equal(sweep_plan_make(params, 5, 50, true, 42, &b, &err), 0);
	assert_int_equal(sweep_plan_make(params, 5, 50, true, 43, &c, &err), 0);
	assert_int_equal(a.size, 50);
	bool differs = false;
	for (size_t i = 0; i < a.size; i++) {
		char *x = joined(&a, i), *y = joined(&b, i), *z = joined(&c, i);
		assert_string_equal(x, y);
		differs |= strcmp(x, z) != 0;
		free(x);
		free(y);
		free(z);
		double lr = atof(sweep_plan_value(&a, i, "lr")), u = atof(sweep_plan_value(&a, i, "u"));
		const char *n = sweep_plan_value(&a, i, "n"), *o = sweep_plan_value(&a, i, "o");
		assert_true(lr >= 1e-4 && lr <= 1e-1);
		assert_true(u >= -1 && u <= 1);
		assert_true(strlen(n) == 1 && n[0] >= '2' && n[0] <= '9');
		assert_true(!strcmp(o, "adam") || !strcmp(o, "sgd") || !strcmp(o, "rms"));
		assert_string_equal(sweep_plan_value(&a, i, "f"), "3");
	}
	assert_true(differs);
	/* xoshiro256** seeded by splitmix64: these never change for seed 42 */
	char *first = joined(&a, 0);
	print_message("seed 42, run 1: %s\n", first);
	assert_string_equal(first, "lr=0.00017848 n=8 o=rms u=0.849386 f=3");
	free(first);
	sweep_plan_free(&a);
	sweep_plan_free(&b);
	sweep_plan_free(&c);
}

static void bad(const char *param, long nrandom, const char *msg)
{
	const char *params[] = {param};
	struct sweep_plan p;
	struct rp_err err = {0};
	assert_int_equal(sweep_plan_make(params, 1, nrandom, false, 0, &p, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	if (!strstr(err.msg, msg))
		fail_msg("%s: got '%s'", param, err.msg);
}

static void test_errors(void **state)
{
	(void)state;
	bad("lr=loguniform:0:1", 3, "0 < LOW < HIGH");
	bad("lr=uniform:1:1", 3, "LOW < HIGH");
	bad("lr=uniform:a:1", 3, "LOW < HIGH");
	bad("n=int:1:2.5", 3, "int:LOW:HIGH");
	bad("n=int:5", 3, "int:LOW:HIGH");
	bad("c=choice:a,", 3, "empty value");
	bad("lr=1,2", 3, "choice:1,2");
	bad("lr=1,,2", 0, "empty value");
	bad("lr=int:1:2", 0, "--random");
	bad("lr=1", 3, "no --param to draw from");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grid_order),
		cmocka_unit_test(test_plain_is_no_sweep),
		cmocka_unit_test(test_random_fixed_for_a_seed),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
