/* Local parameter sweeps (docs/sweep.md): a grid of --param lists or --random draws from ranges,
 * each point a normal run (run_execute in a child of the sweep), tagged with run.json's "sweep".
 * The plan (which params each run gets) is pure and seeded; the scheduler starts runs as
 * --parallel and the host's CPUs and memory allow, and cancels them all on SIGINT/SIGTERM. */
#ifndef RP_SWEEP_H
#define RP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "err.h"
#include "util.h"

#define SWEEP_ID_MAX 16   /* "sw_" + 8 hex digits */

struct sweep_plan {
	char id[SWEEP_ID_MAX];
	uint64_t seed;
	size_t size;              /* how many runs */
	struct strvec *runs;      /* per run: its --param "key=value" overrides, in the given order */
	struct strvec varying;    /* the keys whose value differs between runs */
	bool is_sweep;            /* a list or --random: else one plain run (runs[0]) */
};

/* The plan for --param values (KEY=VALUE): a value with a comma is a list, unless the whole value
 * is double-quoted ("a,b": one value, without the quotes); other values are taken as given.
 * The grid (the product of the lists, the first param varying slowest) or, with
 * nrandom > 0, that many draws from the ranges (loguniform:A:B, uniform:A:B, int:A:B,
 * choice:a,b,c) by xoshiro256** seeded from seed (a random one from getrandom when !has_seed).
 * Bad syntax, a range without --random, or a list with --random: RP_ERR_USAGE. */
int sweep_plan_make(const char *const *params, size_t nparams, long nrandom, bool has_seed, uint64_t seed,
		    struct sweep_plan *plan, struct rp_err *err);
void sweep_plan_free(struct sweep_plan *plan);

/* The value of key in run i's overrides, or NULL. */
const char *sweep_plan_value(const struct sweep_plan *plan, size_t i, const char *key);

/* How many runs may be in flight at once: at most parallel, and the sum of the runs' CPUs
 * (cpus, 0: counts as 1) within the host's CPUs and of their memory limits (0: none) within
 * MemAvailable, but at least 1. */
int sweep_capacity(int parallel, double cpus, uint64_t memory_bytes);

struct sweep_request {
	const char *config_path;            /* loaded again in each child, with its run's params */
	const struct rp_overrides *base;    /* the other overrides (name, tags, limits) */
	const char *runner;
	bool stream;                        /* the job's output also goes to stdout (one at a time) */
	double kill_grace_s;
	int capacity;                       /* runs in flight at most (sweep_capacity) */
};

struct sweep_events {
	void *ctx;
	/* run i (0-based) has its run id and its job runs */
	void (*started)(void *ctx, size_t i, const char *id);
	/* run i ended: status as run.json has it ("success", ...), or "error" with msg when it could
	 * not start (id may be "") */
	void (*ended)(void *ctx, size_t i, const char *id, const char *status, double duration_s, const char *msg);
};

struct sweep_outcome {
	size_t started, succeeded, failed, cancelled, never_started;
	int signal;               /* the signal that cancelled the sweep, or 0 */
};

/* Run the plan. 0 with out filled once every started run has ended (each child reaped), -1 with
 * err when the sweep itself could not go on (its running runs are cancelled first). */
int sweep_execute(const struct sweep_plan *plan, const struct sweep_request *req, const struct sweep_events *ev,
		  struct sweep_outcome *out, struct rp_err *err);

/* runner "slurm": submit the plan as one Slurm job array (run_submit), at most parallel tasks at
 * once (0: as Slurm schedules them). Each run's config is loaded with its params; ids gets the
 * runs' ids in plan order, *job_id the array's. -1 with err when a config does not load (nothing
 * made) or Slurm refused the job (the runs recorded failed). */
int sweep_submit(const struct sweep_plan *plan, const struct sweep_request *req, long parallel,
		 char (*ids)[RP_ID_MAX], char **job_id, struct rp_err *err);

#endif
