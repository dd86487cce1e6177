/* runpilot wait: wait until runs have ended, and exit with their job's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "print.h"
#include "run.h"
#include "run_print.h"
#include "runs.h"
#include "select.h"
#include "util.h"

/* wait's exit status when --timeout passes first, as timeout(1)'s. */
#define WAIT_TIMED_OUT 124

const char usage_wait[] =
	"usage: runpilot wait RUN... | SELECTION [--timeout DUR]\n"
	"\n"
	"Wait until every run has ended, print one line per run on stderr (its status, duration and\n"
	"exit code), and exit with the first non-zero exit code among them in the order given, as\n"
	"runpilot run would have (128+N for a job killed by signal N); 0 when all succeeded.\n"
	"\n"
	SELECTION_USAGE
	"  --timeout DUR     give up after DUR (90s, 30m, 2h): exit 124\n";

/* Print the run's line; its exit code. */
static int report_run(const struct rp_store *st, const char *id)
{
	char *dir = store_run_dir(st, id);
	struct rp_run r;
	struct rp_err e = {0};
	int code = 1;
	runs_settle(st, dir, 10); /* a Slurm run's end, before Slurm forgets its job */
	if (runs_read_dir(dir, &r, &e) != RUNS_READ_OK) {
		fprintf(stderr, "runpilot: %s: %s\n", id, e.msg[0] ? e.msg : "no run.json");
		free(dir);
		return code;
	}
	runs_status_now(dir, &r);
	code = run_exit_code(&r);
	char dur[32], colored[64];
	double d = r.duration_s >= 0 ? r.duration_s : r.ended_at > 0 && r.started_at > 0 ? r.ended_at - r.started_at : -1;
	fmt_duration(d, dur, sizeof dur);
	fmt_colored_status(stderr, status_name(r.status), colored, sizeof colored);
	if (r.has_exit_code || r.signal)
		fprintf(stderr, "runpilot: %s %s in %s (exit %d)\n", id, colored, dur, code);
	else
		fprintf(stderr, "runpilot: %s %s%s%s%s\n", id, colored, r.reason ? " (" : "", r.reason ? r.reason : "",
			r.reason ? ")" : "");
	record_free(&r);
	free(dir);
	return code;
}

int cmd_wait(int argc, char **argv, struct rp_err *err)
{
	struct strvec ids = {0};
	struct rp_store st;
	bool have_store = false;
	double timeout_s = 0;
	int rc = -1;
	if (runs_from_args(argc, argv, "runpilot wait RUN... | SELECTION [--timeout DUR]", &timeout_s, &st, &ids, err) < 0)
		goto out;
	have_store = true;
	if (!await_runs_over(&st, &ids, NULL, timeout_s)) {
		char dur[32];
		fmt_duration(timeout_s, dur, sizeof dur);
		fprintf(stderr, "runpilot: wait: gave up after %s: some runs have not ended\n", dur);
		rc = WAIT_TIMED_OUT;
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < ids.n; i++) {
		int code = report_run(&st, ids.v[i]);
		if (!rc)
			rc = code;
	}
out:
	if (have_store)
		store_close(&st);
	strvec_free(&ids);
	return rc;
}
