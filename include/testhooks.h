/* Hooks that let tests reach states a user cannot reliably produce (a setup that hangs, a
 * supervisor killed at an exact point). They exist only in the test build of runpilot
 * (build/runpilot-test, compiled with -DRUNPILOT_TEST_HOOKS); in the product they are constants
 * the compiler removes. */
#ifndef RP_TESTHOOKS_H
#define RP_TESTHOOKS_H

#include <stdbool.h>

#ifdef RUNPILOT_TEST_HOOKS
/* True when the environment variable name is set. */
bool test_hook(const char *name);
/* When RUNPILOT_TEST_STOP_AT names point, the process stops itself there (SIGSTOP) for the
 * test to look, or to kill it. */
void test_hook_stop_at(const char *point);
#else
static inline bool test_hook(const char *name)
{
	(void)name;
	return false;
}
static inline void test_hook_stop_at(const char *point)
{
	(void)point;
}
#endif

#endif
