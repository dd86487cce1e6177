/* docker_stats.h: usage from the engine's stats of a running container, for runner_docker.c where
 * no per-run cgroup parent can be read (not root, not the cgroupfs driver, cgroups not visible).
 *
 * A small sampler process asks the engine for one stats sample (GET /containers/NAME/stats?
 * stream=false&one-shot=true) at once and then every DK_STATS_INTERVAL_S while the container
 * runs (below), keeping the newest counters and the peaks seen; told to stop, it hands the figures back
 * over a socket and exits. A stopped container's stats are zeros: the last sample taken while it
 * ran is what counts. */
#ifndef RP_DOCKER_STATS_H
#define RP_DOCKER_STATS_H

#include <stdbool.h>
#include <sys/types.h>

#include "docker_api.h"
#include "err.h"
#include "meter.h"

/* Asked every 0.5 s; the engine itself refreshes a container's stats once a second (its stats
 * collector's fixed interval: a call waits for the next refresh), so what is sampled is each of
 * those, and the job's last second at most is missing from the counters. */
#define DK_STATS_INTERVAL_S 0.5
#define DK_STATS_SAMPLED "sampled about every 1 s"

/* The figures kept from the samples; -1 where no sample told. */
struct dk_stats {
	int samples;                 /* samples that saw the container running */
	long long cpu_total_ns;      /* newest cpu_stats.cpu_usage.total_usage */
	long long cpu_user_ns, cpu_system_ns;
	long long throttled_ns;      /* newest cpu_stats.throttling_data.throttled_time */
	long long memory_peak;       /* v1 max_usage, else the largest usage seen */
	bool memory_max_usage;       /* memory_peak is v1's max_usage (a true peak) */
	long long pids_peak;         /* the largest pids_stats.current seen */
};

void dk_stats_init(struct dk_stats *s);
/* Fold one stats answer (JSON) into s; false (s unchanged) when it is not JSON or shows no
 * running container (a stopped one's zeros). */
bool dk_stats_add(struct dk_stats *s, const char *json);
/* Usage from the figures and the wall time; fields no sample told are unknown (-1). */
void dk_stats_usage(const struct dk_stats *s, double wall_s, struct rp_usage *u);

struct dk_sampler {
	pid_t pid;                   /* -1 when none */
	int fd;                      /* the supervisor's end of the socket, -1 when none */
};

/* Fork the sampler for container on engine e. */
int dk_sampler_start(struct dk_sampler *sp, const struct dk_engine *e, const char *container, struct rp_err *err);
/* Tell the sampler to stop and take its figures (waiting at most timeout_s): 0 with s filled
 * (s->samples may be 0), -1 with err when none came. The sampler is reaped either way. */
int dk_sampler_finish(struct dk_sampler *sp, struct dk_stats *s, double timeout_s, struct rp_err *err);
/* Kill and reap a sampler still running (cleanup); nothing when none. */
void dk_sampler_kill(struct dk_sampler *sp);

#endif
