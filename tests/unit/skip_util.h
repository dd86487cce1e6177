/* A skipped test says why (include after <cmocka.h>): tests/run-unit.sh counts the skips and
 * lists these lines. */
#ifndef SKIP_UTIL_H
#define SKIP_UTIL_H

#define skip_because(why)                                                     \
	do {                                                                  \
		print_message("skipped: %s: %s\n", __func__, (why));          \
		skip();                                                       \
	} while (0)

#endif
