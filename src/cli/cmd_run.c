/* runpilot run: the options and what is printed; the run itself is the core's (run.h). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "log.h"
#include "run_print.h"
#include "sweep.h"

const char usage_run[] =
	"usage: runpilot run [CONFIG] [options]\n"
	"\n"
	"Run the job CONFIG describes and record it as a new run (rp_NNNN).\n"
	"The job's output is streamed here and kept in the run's logs.txt; runpilot exits with\n"
	"the job's exit code (128+N when it was killed by signal N).\n"
	"Without CONFIG: ./runpilot.yaml, else the nearest runpilot.yaml in a parent folder up to\n"
	"the repository root (the first folder holding .git). Settings the config leaves out come\n"
	"from the project's defaults (runpilot.yaml) and the user's ($RUNPILOT_HOME/config.yaml);\n"
	"`runpilot config --explain` shows each one's source (docs/config.md).\n"
	"\n"
	"  --name NAME        override the config's name\n"
	"  --tag TAG          add a tag (repeatable)\n"
	"  --param KEY=VALUE  override or add a param (repeatable)\n"
	"  --runner RUNNER    auto (default), local, sandbox, docker or slurm; else the config's\n"
	"                     runner: (docs/cluster.md for slurm)\n"
	"  --cpus N           CPU limit, e.g. 1.5\n"
	"  --memory SIZE      memory limit, e.g. 512m, 2g\n"
	"  --pids N           process limit\n"
	"  --timeout DUR      stop the job after DUR (90s, 30m, 2h)\n"
	"  -q, --quiet        do not stream the job's output (it is still logged)\n"
	"  -d, --detach       run in the background: print the run's id and return at once\n"
	"                     (runpilot logs -f, wait and cancel take it from there); with\n"
	"                     slurm: return once it is submitted (a sweep too)\n"
	"\n"
	"A sweep (docs/sweep.md): a --param value with commas is a list, and lists make a grid\n"
	"(--param lr=0.1,0.01 --param bs=32,64: 4 runs); KEY=\"a,b\" is one value. --random N draws\n"
	"N runs from ranges: loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH, choice:a,b,c.\n"
	"Each point is a normal run tagged with the sweep; `runpilot sweep status ID` follows it.\n"
	"A sweep exits 0 when every run succeeded, else 1 (130/143 when Ctrl-C/SIGTERM cancelled it).\n"
	"  --parallel N       run at most N at once (default 1), as the host's CPUs and memory allow;\n"
	"                     above 1 the jobs' output goes only to their logs. With slurm the\n"
	"                     sweep is one job array, N its limit of tasks at once (default: none)\n"
	"  --random N         N runs with params drawn from the ranges (no lists with it)\n"
	"  --seed S           the seed of the draws, 0 to 2^32-1 (default: a random one; recorded)\n";

struct sweep_opts {
	long parallel, nrandom;   /* 0: not given */
	bool has_seed;
	uint64_t seed;
};

static int parse_sweep_opt(struct sweep_opts *w, int c, const char *arg, struct rp_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	bool ok = *arg >= '0' && *arg <= '9' && !*end && !errno;
	switch (c) {
	case 'J':
		if (!ok || v < 1 || v > 1024)
			return rp_err_set(err, RP_ERR_USAGE, "--parallel '%s': expected a count from 1 to 1024", arg);
		w->parallel = (long)v;
		return 0;
	case 'R':
		if (!ok || v < 1 || v > 100000)
			return rp_err_set(err, RP_ERR_USAGE, "--random '%s': expected a count from 1 to 100000", arg);
		w->nrandom = (long)v;
		return 0;
	default:
		if (!ok)
			return rp_err_set(err, RP_ERR_USAGE, "--seed '%s': expected a non-negative integer", arg);
		w->has_seed = true;
		w->seed = v;
		return 0;
	}
}

static int parse_run_args(int argc, char **argv, const char **config, struct run_opts *o, struct sweep_opts *w,
			  struct rp_err *err)
{
	static const struct option longopts[] = {
		RUN_OPTS_LONGOPTS,
		{"parallel", required_argument, NULL, 'J'}, {"random", required_argument, NULL, 'R'},
		{"seed", required_argument, NULL, 'S'},
		{"cpus", required_argument, NULL, 'C'},   {"memory", required_argument, NULL, 'M'},
		{"pids", required_argument, NULL, 'P'},   {"timeout", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":qd", longopts, NULL)) != -1) {
		switch (c) {
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
		case 'J':
		case 'R':
		case 'S':
			if (parse_sweep_opt(w, c, optarg, err) < 0)
				return -1;
			break;
		case ':':
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (run_opts_take(o, c, optarg))
				break;
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot run --help`)", argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one CONFIG per run)", argv[optind + 1]);
	*config = optind < argc ? argv[optind] : NULL;
	run_opts_finish(o);
	return 0;
}

/* No CONFIG: the project's runpilot.yaml, here or above up to the repository root. */
int find_project_config(char **path, struct rp_err *err)
{
	char *cwd = getcwd(NULL, 0), *stop = NULL;
	if (!cwd)
		return rp_err_sys(err, "cannot read the current directory");
	int found = config_find_project(cwd, path, &stop);
	free(cwd);
	if (!found)
		rp_err_set(err, RP_ERR_USAGE,
			   "no CONFIG given and no " RP_PROJECT_FILE " here or up to the repository root (%s)",
			   stop ? stop : "/");
	free(stop);
	return found ? 0 : -1;
}

int cmd_run(int argc, char **argv, struct rp_err *err)
{
	struct run_opts o = {0};
	struct sweep_opts w = {0};
	struct sweep_plan plan = {0};
	const char *config = NULL;
	char *found = NULL;
	struct rp_spec spec;
	int rc = -1;
	if (parse_run_args(argc, argv, &config, &o, &w, err) < 0)
		goto out;
	if (sweep_plan_make(o.ov.params, o.ov.nparams, w.nrandom, w.has_seed, w.seed, &plan, err) < 0)
		goto out;
	if (!plan.is_sweep && (w.parallel || w.has_seed)) {
		rp_err_set(err, RP_ERR_USAGE, "--parallel and --seed are for a sweep: a --param with a list, or --random N");
		goto out;
	}
	/* the first point's params: a plain run's own, or checked for the whole sweep */
	o.ov.params = (const char **)strvec_items(&plan.runs[0]);
	o.ov.nparams = plan.runs[0].n;
	if (!config && find_project_config(&found, err) < 0)
		goto out;
	if (config_load(config ? config : found, &o.ov, &spec, err) < 0)
		goto out;
	/* --runner, else the config's (or its defaults'), else auto */
	const char *runner = o.runner ? o.runner : spec.runner ? spec.runner : "auto";
	if (plan.is_sweep && o.detach && strcmp(runner, "slurm")) {
		rp_err_set(err, RP_ERR_USAGE, "--detach is for one run, not a sweep (runpilot sweep status follows a sweep)");
		config_free(&spec);
		goto out;
	}
	if (plan.is_sweep) {
		rc = run_sweep_print(config ? config : found, &o, &plan, w.parallel, &spec, err);
		config_free(&spec);
		goto out;
	}
	trace_phase("config loaded");
	struct run_request req = {.spec = &spec, .overrides = &o.ov, .runner = runner, .detach = o.detach};
	rc = run_print_execute(&req, o.quiet, err);
	config_free(&spec);
	trace_phase("done");
out:
	sweep_plan_free(&plan);
	free(found);
	run_opts_free(&o);
	return rc;
}
