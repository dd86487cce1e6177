/* A fixed rusage for metering tests: 1.25 s user, 0.5 s system, 2 MiB max RSS. */
#ifndef METER_TEST_UTIL_H
#define METER_TEST_UTIL_H

#include <string.h>
#include <sys/resource.h>

static inline struct rusage sample_rusage(void)
{
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	ru.ru_utime.tv_sec = 1;
	ru.ru_utime.tv_usec = 250000;
	ru.ru_stime.tv_usec = 500000;
	ru.ru_maxrss = 2048; /* KiB */
	return ru;
}

#endif
