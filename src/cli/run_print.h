/* What the commands that start a run (run, rerun) share: the options that shape the run, and the
 * printing of its events. */
#ifndef RP_RUN_PRINT_H
#define RP_RUN_PRINT_H

#include <getopt.h>
#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "run.h"
#include "store.h"
#include "util.h"

struct run_opts {
	const char *runner;       /* NULL: the command's default */
	bool quiet;
	bool detach;              /* -d, --detach */
	struct rp_overrides ov;
	struct strvec tags, params;
};

/* The getopt_long entries of the shared options: --name, --tag, --param, --runner, -q/--quiet,
 * -d/--detach. */
#define RUN_OPTS_LONGOPTS                                                                           \
	{"name", required_argument, NULL, 'n'}, {"tag", required_argument, NULL, 't'},              \
	{"param", required_argument, NULL, 'p'}, {"runner", required_argument, NULL, 'r'},          \
	{"quiet", no_argument, NULL, 'q'}, {"detach", no_argument, NULL, 'd'}

/* Take option c (with its argument) when it is a shared one; false when it is not. */
bool run_opts_take(struct run_opts *o, int c, const char *arg);
/* After parsing: the overrides point at the collected tags and params. */
void run_opts_finish(struct run_opts *o);
void run_opts_free(struct run_opts *o);

/* RUNPILOT_KILL_GRACE, else 10 s: SIGTERM -> SIGKILL on cancel and timeout. */
double run_kill_grace(void);

/* Run req (its output_fd and kill_grace_s set here, from quiet and RUNPILOT_KILL_GRACE), printing
 * its events to stderr: runpilot's exit code (the job's), or -1 with err. */
int run_print_execute(struct run_request *req, bool quiet, struct rp_err *err);

/* The exit code `runpilot run` gives for a run's record: the job's, 128+N for signal N, 130 for
 * a run cancelled before its job ended, else 0 for success and 1. */
int run_exit_code(const struct rp_run *r);

/* Following runs submitted to Slurm (follow.c). */
struct follow_events {
	void *ctx;
	/* run i's job runs (on node, or NULL when unknown) */
	void (*started)(void *ctx, size_t i, const char *id, const char *node);
	/* run i ended; r is its settled record */
	void (*ended)(void *ctx, size_t i, const struct rp_run *r);
};
/* Until every run has ended: print a run's queue state (PENDING and its reason) as it changes,
 * stream one run's logs to stdout (stream, n == 1), and pass each run's start and end to ev. The
 * first Ctrl-C or SIGTERM cancels the runs (scancel); following goes on until they end. Each
 * run's end is settled in its run.json (runs_settle). Returns that signal, or 0. */
int follow_runs(const struct rp_store *st, char (*ids)[RP_ID_MAX], size_t n, bool stream,
		const struct follow_events *ev);

#endif
