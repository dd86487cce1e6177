/* run.json's "resources" section (resources.h). */
#include <cjson/cJSON.h>

#include "resources.h"

static cJSON *limit_json(double requested, bool as_int, const char *by, const char *why)
{
	cJSON *o = cJSON_CreateObject();
	if (requested > 0)
		cJSON_AddNumberToObject(o, "requested", as_int ? (double)(long long)requested : requested);
	else
		cJSON_AddNullToObject(o, "requested");
	if (by)
		cJSON_AddStringToObject(o, "enforced_by", by);
	else
		cJSON_AddNullToObject(o, "enforced_by");
	if (requested > 0 && !by)
		cJSON_AddStringToObject(o, "not_enforced", why ? why : "no mechanism on this host");
	return o;
}

cJSON *resources_limits_json(const struct rp_resources *l, const struct cg_enforced *by)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "cpus", limit_json(l->cpus, false, by->cpus, by->why_not));
	cJSON_AddItemToObject(o, "memory", limit_json((double)l->memory_bytes, true, by->memory, by->why_not));
	cJSON_AddItemToObject(o, "pids", limit_json((double)l->pids, true, by->pids, by->why_not_pids));
	cJSON_AddItemToObject(o, "timeout_s",
			      limit_json(l->timeout_s, false, l->timeout_s > 0 ? "supervisor" : NULL, NULL));
	return o;
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

cJSON *resources_usage_json(const struct rp_usage *u)
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

cJSON *resources_section(const struct rp_resources *requested, const struct cg_enforced *by,
			 const struct rp_usage *u)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "limits", resources_limits_json(requested, by));
	cJSON_AddItemToObject(o, "usage", resources_usage_json(u));
	cJSON_AddStringToObject(o, "source", u->source[0] ? u->source : "rusage");
	return o;
}
