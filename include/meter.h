/* Resource usage of one run (sandbox/meter.c, cgroup.c): a plain struct the runners fill and
 * the core records as run.json's resources.usage. */
#ifndef RP_METER_H
#define RP_METER_H

#include <stdbool.h>
#include <sys/resource.h>

struct rp_usage {
	bool valid;
	double cpu_user_s, cpu_system_s, cpu_total_s;
	double cpu_avg_cores;          /* cpu_total_s / wall_s */
	double wall_s;
	long long memory_peak_bytes;   /* -1 unknown */
	long long max_rss_bytes;       /* largest single-process RSS (rusage) */
	long long pids_peak;           /* -1 unknown */
	long long oom_kills;           /* -1 unknown */
	double throttled_s;            /* -1 unknown */
	char source[16];               /* "cgroup2", "cgroup1", "rusage" */
	char memory_peak_source[48];   /* which counter memory_peak_bytes came from */
};

/* Fill usage from a wait4() rusage and the wall time (the fallback when no cgroup meters). */
void meter_from_rusage(struct rp_usage *u, const struct rusage *ru, double wall_s);

#endif
