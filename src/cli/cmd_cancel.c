/* runpilot cancel: cancel runs as Ctrl-C where they run would (their supervisor records them
 * cancelled); runs already over get a note. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "run.h"
#include "runs.h"
#include "select.h"
#include "util.h"

/* How long cancel waits for the runs it signalled to be recorded cancelled. */
#define CANCEL_WAIT_S 60

const char usage_cancel[] =
	"usage: runpilot cancel RUN... | SELECTION\n"
	"\n"
	"Cancel running or queued runs, as Ctrl-C where they run would: each run's supervisor stops\n"
	"its job (SIGTERM, then SIGKILL after the grace period) and records it cancelled. cancel\n"
	"waits until they are. A run already over is left as it is, with a note.\n"
	"\n"
	SELECTION_USAGE
	"\n"
	"Exit status: 0 when every run is cancelled or had already ended, 1 otherwise, 2 for an\n"
	"unknown run.\n";

static int resolve_run_args(int first, int argc, char **argv, const struct run_selection *sel, struct rp_store *st,
			    struct strvec *ids, struct rp_err *err)
{
	struct strvec refs = {0};
	int rc = 0;
	for (int i = first; i < argc; i++)
		strvec_push(&refs, argv[i]);
	if (sel->given && select_runs(sel, &refs, err) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < refs.n; i++) {
		char id[RP_ID_MAX];
		if (runs_resolve(st, refs.v[i], id, err) < 0)
			rc = -1;
		else
			strvec_push(ids, id);
	}
	strvec_free(&refs);
	return rc;
}

static int parse_runs_args(int argc, char **argv, struct run_selection *sel, const char *usage, double *timeout,
			   struct rp_err *err)
{
	static const struct option with_timeout[] = {SELECTION_LONGOPTS, {"timeout", required_argument, NULL, 'T'},
						     {NULL, 0, NULL, 0}};
	static const struct option plain[] = {SELECTION_LONGOPTS, {NULL, 0, NULL, 0}};
	const struct option *longopts = timeout ? with_timeout : plain;
	optind = 1;
	opterr = 0;
	int c, taken;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if ((taken = selection_option(sel, c, optarg, err)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		if (c == 'T' && timeout) {
			if (parse_duration(optarg, timeout) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--timeout '%s': expected a duration, e.g. 90s, 30m, 2h",
						  optarg);
			continue;
		}
		if (c == ':')
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot %s --help`)", argv[optind - 1],
				  argv[0]);
	}
	if (optind >= argc && !sel->given)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: %s)", usage);
	return optind;
}

bool await_runs_over(const struct rp_store *st, const struct strvec *ids, const bool *only, double timeout_s)
{
	double until = timeout_s > 0 ? now_monotonic() + timeout_s : 0;
	size_t next = 0; /* runs before it are over: an ended run never runs again */
	for (;;) {
		for (; next < ids->n; next++) {
			if (only && !only[next])
				continue;
			char *dir = store_run_dir(st, ids->v[next]);
			bool over = run_is_over(dir);
			free(dir);
			if (!over)
				break;
		}
		if (next == ids->n)
			return true;
		if (until && now_monotonic() >= until)
			return false;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The run's status as of now, "" when it cannot be read. */
static void status_now(const char *dir, char *out, size_t n)
{
	struct rp_run r;
	struct rp_err e = {0};
	out[0] = '\0';
	if (runs_read_dir(dir, &r, &e) != RUNS_READ_OK)
		return;
	runs_status_now(dir, &r);
	snprintf(out, n, "%s", status_name(r.status));
	record_free(&r);
}

int runs_from_args(int argc, char **argv, const char *usage, double *timeout, struct rp_store *st, struct strvec *ids,
		   struct rp_err *err)
{
	struct run_selection sel = {0};
	int first = parse_runs_args(argc, argv, &sel, usage, timeout, err);
	int rc = first < 0 ? -1 : store_open(st, false, err);
	if (rc == 0 && resolve_run_args(first, argc, argv, &sel, st, ids, err) < 0) {
		store_close(st);
		rc = -1;
	}
	selection_free(&sel);
	return rc;
}

int cmd_cancel(int argc, char **argv, struct rp_err *err)
{
	struct strvec ids = {0};
	struct rp_store st;
	bool have_store = false, *sent = NULL;
	int rc = -1;
	if (runs_from_args(argc, argv, "runpilot cancel RUN... | SELECTION", NULL, &st, &ids, err) < 0)
		goto out;
	have_store = true;
	if (!ids.n) {
		fprintf(stderr, "runpilot: no run matches the selection; nothing cancelled\n");
		rc = 0;
		goto out;
	}
	sent = xcalloc(ids.n, sizeof *sent);
	rc = 0;
	char status[32];
	for (size_t i = 0; i < ids.n; i++) {
		char *dir = store_run_dir(&st, ids.v[i]);
		enum run_cancel_result res;
		struct rp_err e = {0};
		if (run_cancel(dir, &res, &e) < 0) {
			fprintf(stderr, "runpilot: %s: %s\n", ids.v[i], e.msg);
			rc = 1;
		} else if (res == RUN_CANCEL_SENT) {
			sent[i] = true;
		} else {
			status_now(dir, status, sizeof status);
			fprintf(stderr, "runpilot: %s already ended (%s)\n", ids.v[i], status[0] ? status : "unreadable");
		}
		free(dir);
	}
	await_runs_over(&st, &ids, sent, CANCEL_WAIT_S);
	for (size_t i = 0; i < ids.n; i++) {
		if (!sent[i])
			continue;
		char *dir = store_run_dir(&st, ids.v[i]);
		if (!run_is_over(dir)) {
			fprintf(stderr, "runpilot: %s is still stopping after %d s\n", ids.v[i], CANCEL_WAIT_S);
			rc = 1;
		} else {
			status_now(dir, status, sizeof status);
			if (!strcmp(status, "cancelled"))
				fprintf(stderr, "runpilot: %s cancelled\n", ids.v[i]);
			else
				fprintf(stderr, "runpilot: %s ended (%s) before it could be cancelled\n", ids.v[i], status);
		}
		free(dir);
	}
out:
	free(sent);
	if (have_store)
		store_close(&st);
	strvec_free(&ids);
	return rc;
}
