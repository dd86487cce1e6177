/* runpilot run: the options and what is printed; the run itself is the core's (run.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "log.h"
#include "print.h"
#include "run.h"
#include "util.h"

const char usage_run[] =
	"usage: runpilot run CONFIG [options]\n"
	"\n"
	"Run the job CONFIG describes and record it as a new run (rp_NNNN).\n"
	"The job's output is streamed here and kept in the run's logs.txt; runpilot exits with\n"
	"the job's exit code (128+N when it was killed by signal N).\n"
	"\n"
	"  --name NAME        override the config's name\n"
	"  --tag TAG          add a tag (repeatable)\n"
	"  --param KEY=VALUE  override or add a param (repeatable)\n"
	"  --runner RUNNER    auto (default), local or sandbox\n"
	"  --cpus N           CPU limit, e.g. 1.5\n"
	"  --memory SIZE      memory limit, e.g. 512m, 2g\n"
	"  --pids N           process limit\n"
	"  --timeout DUR      stop the job after DUR (90s, 30m, 2h)\n"
	"  -q, --quiet        do not stream the job's output (it is still logged)\n";

struct run_opts {
	const char *config;
	const char *runner;
	bool quiet;
	struct rp_overrides ov;
	struct strvec tags, params;
};

static int parse_run_args(int argc, char **argv, struct run_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'},   {"tag", required_argument, NULL, 't'},
		{"param", required_argument, NULL, 'p'},  {"runner", required_argument, NULL, 'r'},
		{"cpus", required_argument, NULL, 'C'},   {"memory", required_argument, NULL, 'M'},
		{"pids", required_argument, NULL, 'P'},   {"timeout", required_argument, NULL, 'T'},
		{"quiet", no_argument, NULL, 'q'},        {NULL, 0, NULL, 0},
	};
	o->runner = "auto";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":q", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->ov.name = optarg; break;
		case 't': strvec_push(&o->tags, optarg); break;
		case 'p': strvec_push(&o->params, optarg); break;
		case 'r': o->runner = optarg; break;
		case 'q': o->quiet = true; break;
		case 'C':
			if (parse_cpus(optarg, &o->ov.resources.cpus) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--cpus '%s': expected a positive number, e.g. 1.5", optarg);
			break;
		case 'M':
			if (parse_memory(optarg, &o->ov.resources.memory_bytes) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--memory '%s': expected a size, e.g. 512m or 2g", optarg);
			break;
		case 'P':
			if (parse_count(optarg, &o->ov.resources.pids) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--pids '%s': expected a positive integer", optarg);
			break;
		case 'T':
			if (parse_duration(optarg, &o->ov.resources.timeout_s) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--timeout '%s': expected a duration, e.g. 90s, 30m, 2h", optarg);
			break;
		case ':':
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot run --help`)", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return rp_err_set(err, RP_ERR_USAGE, "missing CONFIG (usage: runpilot run CONFIG [options])");
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one CONFIG per run)", argv[optind + 1]);
	o->config = argv[optind];
	o->ov.tags = (const char **)strvec_items(&o->tags);
	o->ov.ntags = o->tags.n;
	o->ov.params = (const char **)strvec_items(&o->params);
	o->ov.nparams = o->params.n;
	return 0;
}

static double kill_grace_seconds(void)
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

int cmd_run(int argc, char **argv, struct rp_err *err)
{
	struct run_opts o = {0};
	struct rp_spec spec;
	int rc = -1;
	if (parse_run_args(argc, argv, &o, err) < 0)
		goto out;
	if (config_load(o.config, &o.ov, &spec, err) < 0)
		goto out;
	trace_phase("config loaded");
	struct run_request req = {.spec = &spec, .overrides = &o.ov, .runner = o.runner,
				  .output_fd = o.quiet ? -1 : STDOUT_FILENO, .kill_grace_s = kill_grace_seconds()};
	static const struct run_events events = {.started = print_started, .warning = print_warning,
						 .notice = print_notice, .ended = print_summary};
	struct run_outcome res;
	if (run_execute(&req, &events, &res, err) == 0) {
		if (res.setup_signal)
			fprintf(stderr, "runpilot: run %s cancelled during setup (%s)\n", res.id,
				strsignal(res.setup_signal));
		rc = res.exit_code;
	}
	config_free(&spec);
	trace_phase("done");
out:
	strvec_free(&o.tags);
	strvec_free(&o.params);
	return rc;
}
