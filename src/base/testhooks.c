/* testhooks.h, in the test build only. */
#include "testhooks.h"

#ifdef RUNPILOT_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

bool test_hook(const char *name)
{
	return getenv(name) != NULL;
}

void test_hook_stop_at(const char *point)
{
	const char *at = getenv("RUNPILOT_TEST_STOP_AT");
	if (at && strcmp(at, point) == 0)
		raise(SIGSTOP);
}
#else
/* ISO C wants something in every file. */
typedef int testhooks_not_built;
#endif
