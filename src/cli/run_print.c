/* The options and the printing run and rerun share (run_print.h). */
#include "run_print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "print.h"

bool run_opts_take(struct run_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'n': o->ov.name = arg; return true;
	case 't': strvec_push(&o->tags, arg); return true;
	case 'p': strvec_push(&o->params, arg); return true;
	case 'r': o->runner = arg; return true;
	case 'q': o->quiet = true; return true;
	case 'd': o->detach = true; return true;
	default: return false;
	}
}

void run_opts_finish(struct run_opts *o)
{
	o->ov.tags = (const char **)strvec_items(&o->tags);
	o->ov.ntags = o->tags.n;
	o->ov.params = (const char **)strvec_items(&o->params);
	o->ov.nparams = o->params.n;
}

void run_opts_free(struct run_opts *o)
{
	strvec_free(&o->tags);
	strvec_free(&o->params);
}

double run_kill_grace(void)
{
	const char *g = getenv("RUNPILOT_KILL_GRACE");
	double s;
	if (g && parse_duration(g, &s) == 0)
		return s;
	return 10.0;
}

static void print_started(void *ctx, const char *id, const char *runner, const char *fallback_reason)
{
	fprintf(stderr, "runpilot: run %s started (%s runner%s%s)\n", id, runner, fallback_reason ? ": " : "",
		fallback_reason ? fallback_reason : "");
}

static void print_warning(void *ctx, const char *msg)
{
	fprintf(stderr, "runpilot: warning: %s\n", msg);
	fflush(stderr);
}

static void print_notice(void *ctx, const char *id, const char *msg)
{
	fprintf(stderr, "runpilot: %s: %s\n", id, msg);
}

static void print_summary(void *ctx, const struct rp_run *r, int exit_code)
{
	char status[64], colored[80], dur[32];
	fmt_status(r, status, sizeof status);
	fmt_colored_status(stderr, status, colored, sizeof colored);
	fmt_duration(r->duration_s, dur, sizeof dur);
	fprintf(stderr, "runpilot: run %s %s in %s (exit %d); logs: runpilot logs %s\n", r->id, colored, dur,
		exit_code, r->id);
}

static void print_submitted(void *ctx, const char *id, const char *job_id)
{
	fprintf(stderr, "runpilot: run %s submitted to Slurm as job %s\n", id, job_id);
	fflush(stderr);
}

static void print_slurm_started(void *ctx, size_t i, const char *id, const char *node)
{
	fprintf(stderr, "runpilot: run %s running%s%s\n", id, node ? " on " : "", node ? node : "");
	fflush(stderr);
}

static void print_slurm_ended(void *ctx, size_t i, const struct rp_run *r)
{
	*(int *)ctx = run_exit_code(r);
	if (!r->has_exit_code && !r->signal) {
		char status[128], colored[160];
		fmt_status(r, status, sizeof status);
		fmt_colored_status(stderr, status, colored, sizeof colored);
		fprintf(stderr, "runpilot: run %s %s; logs: runpilot logs %s\n", r->id, colored, r->id);
		return;
	}
	print_summary(NULL, r, run_exit_code(r));
}

/* runner "slurm": submit, then follow the run here unless detached. */
static int submit_and_follow(struct run_request *req, bool quiet, struct rp_err *err)
{
	static const struct run_events events = {.warning = print_warning, .submitted = print_submitted};
	struct run_outcome res;
	if (run_execute(req, &events, &res, err) < 0)
		return -1;
	if (req->detach) {
		printf("%s\n", res.id);
		fflush(stdout);
		fprintf(stderr, "runpilot: follow: runpilot logs -f %s; wait: runpilot wait %s\n", res.id, res.id);
		return 0;
	}
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	int code = 1;
	struct follow_events ev = {.ctx = &code, .started = print_slurm_started, .ended = print_slurm_ended};
	char ids[1][RP_ID_MAX];
	snprintf(ids[0], sizeof ids[0], "%s", res.id);
	follow_runs(&st, ids, 1, !quiet, &ev);
	store_close(&st);
	return code;
}

int run_print_execute(struct run_request *req, bool quiet, struct rp_err *err)
{
	static const struct run_events events = {.started = print_started, .warning = print_warning,
						 .notice = print_notice, .ended = print_summary};
	req->output_fd = quiet ? -1 : STDOUT_FILENO;
	req->kill_grace_s = run_kill_grace();
	if (!strcmp(req->runner, "slurm"))
		return submit_and_follow(req, quiet, err);
	if (req->detach) {
		char id[RP_ID_MAX];
		int rc = run_detach(req, id, err);
		if (rc != 0)
			return rc < 0 ? -1 : 0; /* 1: the detached supervisor, its run over */
		printf("%s\n", id);
		fflush(stdout);
		fprintf(stderr, "runpilot: run %s started in the background; follow: runpilot logs -f %s\n", id, id);
		return 0;
	}
	struct run_outcome res;
	if (run_execute(req, &events, &res, err) < 0)
		return -1;
	if (res.setup_signal)
		fprintf(stderr, "runpilot: run %s cancelled during setup (%s)\n", res.id, strsignal(res.setup_signal));
	return res.exit_code;
}
