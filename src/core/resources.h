/* run.json's "resources" section: each requested limit with what enforced it, and what the job
 * used (docs/resources.md). Built from the runners' plain structs. */
#ifndef RP_RESOURCES_H
#define RP_RESOURCES_H

#include "cgroup.h"
#include "config.h"
#include "meter.h"

struct cJSON;

/* {"limits": resources_limits_json, "usage": resources_usage_json, "source": ...} */
struct cJSON *resources_section(const struct rp_resources *requested, const struct cg_enforced *by,
				const struct rp_usage *u);
/* {"cpus": {"requested": 1.5, "enforced_by": "cgroup1"|null, "not_enforced": why}, "memory",
 * "pids", "timeout_s"}: the supervisor's timer enforces the timeout on every host. */
struct cJSON *resources_limits_json(const struct rp_resources *requested, const struct cg_enforced *by);
/* resources.usage: unknown counters are null, seconds rounded to the microsecond. */
struct cJSON *resources_usage_json(const struct rp_usage *u);

#endif
