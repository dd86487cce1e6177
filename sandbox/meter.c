/* The metering record: usage from wait4()'s rusage (the fallback, and max_rss everywhere) and
 * run.json's resources.usage object. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
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

/* Non-negative x rounded to 1/scale (no libm: the build does not link it). */
static double round_to(double x, double scale)
{
	return (double)(long long)(x * scale + 0.5) / scale;
}

/* Seconds rounded to the microsecond, so run.json shows 1.039453 rather than 1.0394530000000001. */
static void add_seconds(cJSON *o, const char *key, double s)
{
	if (s < 0)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, round_to(s, 1e6));
}

static void add_count(cJSON *o, const char *key, long long v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)v);
}

struct cJSON *meter_usage_json(const struct rp_usage *u)
{
	cJSON *o = cJSON_CreateObject();
	if (!u || !u->valid)
		return o;
	add_seconds(o, "cpu_user_s", u->cpu_user_s);
	add_seconds(o, "cpu_system_s", u->cpu_system_s);
	add_seconds(o, "cpu_total_s", u->cpu_total_s);
	cJSON_AddNumberToObject(o, "cpu_avg_cores", round_to(u->cpu_avg_cores, 1000.0));
	add_seconds(o, "wall_s", u->wall_s);
	add_count(o, "memory_peak_bytes", u->memory_peak_bytes);
	cJSON_AddStringToObject(o, "memory_peak_source", u->memory_peak_source);
	add_count(o, "max_rss_bytes", u->max_rss_bytes);
	add_count(o, "pids_peak", u->pids_peak);
	add_count(o, "oom_kills", u->oom_kills);
	add_seconds(o, "throttled_s", u->throttled_s);
	return o;
}
