/* Usage from wait4()'s rusage: the fallback where no cgroup meters, and max_rss everywhere. */
#include <stdio.h>
#include <string.h>

#include "meter.h"

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void meter_from_rusage(struct rp_usage *u, const struct rusage *ru, double wall_s)
{
	memset(u, 0, sizeof *u);
	u->valid = true;
	u->cpu_user_s = tv_s(ru->ru_utime);
	u->cpu_system_s = tv_s(ru->ru_stime);
	u->cpu_total_s = u->cpu_user_s + u->cpu_system_s;
	u->wall_s = wall_s;
	u->cpu_avg_cores = wall_s > 0 ? u->cpu_total_s / wall_s : 0;
	/* ru_maxrss (KiB) of wait4() is the largest single process among the job and the
	 * descendants it reaped: a lower bound of the job's total peak. */
	u->max_rss_bytes = (long long)ru->ru_maxrss * 1024LL;
	u->memory_peak_bytes = u->max_rss_bytes;
	u->pids_peak = -1;
	u->oom_kills = -1;
	u->throttled_s = -1;
	snprintf(u->source, sizeof u->source, "rusage");
	snprintf(u->memory_peak_source, sizeof u->memory_peak_source, "rusage max_rss (largest process)");
}
