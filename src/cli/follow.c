/* Following runs submitted to Slurm from the submitting terminal (run_print.h). */
#include "run_print.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "print.h"
#include "runs.h"

/* How often Slurm is asked while a run waits in its queue, and the logs read. */
#define QUERY_EVERY_S 1.0
#define POLL_S 0.2
/* How long a run's end waits for Slurm to finish ending its job (its verdict on a cancel). */
#define SETTLE_WAIT_S 10.0

static volatile sig_atomic_t follow_signal;

static void on_signal(int sig)
{
	follow_signal = sig;
}

static void catch_signals(struct sigaction old[2])
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old[0]);
	sigaction(SIGTERM, &sa, &old[1]);
}

int run_exit_code(const struct rp_run *r)
{
	if (r->has_exit_code)
		return r->exit_code;
	if (r->signal)
		return 128 + r->signal;
	return r->status == RP_CANCELLED ? 130 : r->status == RP_SUCCESS ? 0 : 1;
}

struct followed {
	char *dir;
	int log_fd;               /* streamed runs only */
	enum rp_status shown;     /* the last status printed */
	char reason[128];         /* the last queue reason printed */
	bool over;
};

static void copy_new_output(int fd)
{
	char buf[65536];
	ssize_t n;
	while (fd >= 0 && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0 && write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
			break;
	fflush(stdout);
}

/* Print what changed for run f since it was last looked at; true once it is over. */
static bool look_at(struct followed *f, const char *id, size_t i, const struct follow_events *ev)
{
	struct rp_run r;
	struct rp_err e = {0};
	if (runs_read_dir(f->dir, &r, &e) != RUNS_READ_OK)
		return false;
	runs_status_now(f->dir, &r);
	const char *reason = r.reason ? r.reason : "";
	if (r.status == RP_QUEUED && (f->shown != RP_QUEUED || strcmp(f->reason, reason))) {
		fprintf(stderr, "runpilot: %s PENDING%s%s%s\n", id, *reason ? " (" : "", reason, *reason ? ")" : "");
		snprintf(f->reason, sizeof f->reason, "%s", reason);
	} else if (r.status == RP_RUNNING && f->shown != RP_RUNNING) {
		const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.runner, "node"));
		if (ev->started)
			ev->started(ev->ctx, i, id, node);
	}
	f->shown = r.status;
	bool over = !status_live(r.status);
	record_free(&r);
	return over;
}

static void cancel_all(const struct rp_store *st, char (*ids)[RP_ID_MAX], struct followed *runs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (runs[i].over)
			continue;
		enum run_cancel_result res;
		struct rp_err e = {0};
		if (run_cancel(runs[i].dir, &res, &e) < 0)
			fprintf(stderr, "runpilot: warning: %s: %s\n", ids[i], e.msg);
		else if (res == RUN_CANCEL_SENT)
			fprintf(stderr, "runpilot: cancelling %s\n", ids[i]);
	}
	(void)st;
}

/* The run's end, settled in its run.json, to ev->ended. */
static void report_end(const struct rp_store *st, struct followed *f, size_t i, const struct follow_events *ev)
{
	runs_settle(st, f->dir, SETTLE_WAIT_S);
	struct rp_run r;
	struct rp_err e = {0};
	if (runs_read_dir(f->dir, &r, &e) != RUNS_READ_OK)
		return;
	runs_status_now(f->dir, &r);
	if (ev->ended)
		ev->ended(ev->ctx, i, &r);
	record_free(&r);
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

int follow_runs(const struct rp_store *st, char (*ids)[RP_ID_MAX], size_t n, bool stream,
		const struct follow_events *ev)
{
	struct followed *runs = xcalloc(n, sizeof *runs);
	for (size_t i = 0; i < n; i++) {
		runs[i].dir = store_run_dir(st, ids[i]);
		runs[i].shown = RP_QUEUED;
		runs[i].log_fd = -1;
		runs[i].reason[0] = '\x01'; /* the first PENDING is printed, with or without a reason */
		if (stream && n == 1) {
			char *logs = path_join(runs[i].dir, "logs.txt");
			runs[i].log_fd = open(logs, O_RDONLY | O_CLOEXEC);
			free(logs);
		}
	}
	struct sigaction old[2];
	follow_signal = 0;
	catch_signals(old);
	int cancelled_by = 0;
	size_t left = n;
	double next_query = 0;
	while (left) {
		if (follow_signal && !cancelled_by) {
			cancelled_by = follow_signal;
			cancel_all(st, ids, runs, n);
		}
		bool query = now_monotonic() >= next_query;
		for (size_t i = 0; i < n; i++) {
			copy_new_output(runs[i].log_fd);
			if (!runs[i].over && query && look_at(&runs[i], ids[i], i, ev)) {
				copy_new_output(runs[i].log_fd);
				runs[i].over = true;
				left--;
				report_end(st, &runs[i], i, ev);
			}
		}
		if (query)
			next_query = now_monotonic() + QUERY_EVERY_S;
		if (left)
			sleep_s(POLL_S);
	}
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	for (size_t i = 0; i < n; i++) {
		if (runs[i].log_fd >= 0)
			close(runs[i].log_fd);
		free(runs[i].dir);
	}
	free(runs);
	return cancelled_by;
}
