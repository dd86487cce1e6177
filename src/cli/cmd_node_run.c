/* runpilot __node-run RUN_DIR (hidden): what a Slurm batch script runpilot made runs on the node.
 * It runs the queued run's job and records it, as `runpilot run` would locally; its messages go
 * to the batch job's output. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "run.h"
#include "run_print.h"

static void node_started(void *ctx, const char *id, const char *runner, const char *fallback_reason)
{
	fprintf(stderr, "runpilot: run %s started on this node (%s runner%s%s)\n", id, runner,
		fallback_reason ? ": " : "", fallback_reason ? fallback_reason : "");
}

static void node_warning(void *ctx, const char *msg)
{
	fprintf(stderr, "runpilot: warning: %s\n", msg);
}

static void node_notice(void *ctx, const char *id, const char *msg)
{
	fprintf(stderr, "runpilot: %s: %s\n", id, msg);
}

int cmd_node_run(int argc, char **argv, struct rp_err *err)
{
	if (argc != 2 || argv[1][0] != '/')
		return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot __node-run RUN_DIR (absolute; in a Slurm batch "
						     "job runpilot made)");
	static const struct run_events events = {.started = node_started, .warning = node_warning,
						 .notice = node_notice};
	struct run_outcome out;
	if (run_on_node(argv[1], run_kill_grace(), &events, &out, err) < 0)
		return -1;
	fprintf(stderr, "runpilot: run %s %s (exit %d)\n", out.id, status_name(out.status), out.exit_code);
	return out.exit_code;
}
