/* spin SECONDS: busy loop on one CPU for SECONDS of wall-clock time (a CPU quota stretches the CPU
 * time it gets, not the wall time). Test workload for cpu limits and CPU metering. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: spin SECONDS\n");
		return 2;
	}
	double end = now() + atof(argv[1]);
	volatile unsigned long x = 0;
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			x++;
	printf("spin: done\n");
	return 0;
}
