/* runpilot rerun: a new run of an earlier run's own config, after saying what in its environment
 * changed since; the work is the core's (rerun.h, verify.h, run.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "config.h"
#include "rerun.h"
#include "run_print.h"
#include "util.h"
#include "verify.h"

const char usage_rerun[] =
	"usage: runpilot rerun RUN [options]\n"
	"\n"
	"Run RUN again as a new run (rp_NNNN), from its own config.yaml as it ran (its params and\n"
	"overrides included, workdir absolute), with the options below on top; the new run's\n"
	"run.json names RUN's uid as its \"parent\". First RUN's environment is checked as\n"
	"`runpilot verify` does, and each component that changed since is named on stderr\n"
	"(\"code: 2 files changed\", \"image: digest changed\"); the overrides given here are not\n"
	"counted. Env values config.yaml keeps redacted (secret-looking names) are taken from\n"
	"this environment. runpilot exits with the job's exit code, as `runpilot run` does.\n"
	"\n"
	"  --param KEY=VALUE  override or add a param (repeatable)\n"
	"  --runner RUNNER    auto, local or sandbox (default: the runner RUN ran under)\n"
	"  --strict           start nothing when the environment changed, or cannot be\n"
	"                     checked (exit 2)\n"
	"  --name NAME        override the name\n"
	"  --tag TAG          add a tag (repeatable)\n"
	"  -q, --quiet        do not stream the job's output (it is still logged)\n"
	"  -d, --detach       run in the background: print the run's id and return at once\n";

static int parse_rerun_args(int argc, char **argv, const char **run, bool *strict, struct run_opts *o,
			    struct rp_err *err)
{
	static const struct option longopts[] = {RUN_OPTS_LONGOPTS, {"strict", no_argument, NULL, 's'},
						 {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":qd", longopts, NULL)) != -1) {
		if (c == 's')
			*strict = true;
		else if (c == ':')
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		else if (!run_opts_take(o, c, optarg))
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot rerun --help`)",
					  argv[optind - 1]);
	}
	if (optind >= argc)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot rerun RUN [options])");
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one RUN per rerun)", argv[optind + 1]);
	*run = argv[optind];
	run_opts_finish(o);
	return 0;
}

/* What changed since the run, one line a component; the components' names, for --strict. */
static void print_changes(const struct rerun *rr, struct strvec *changed)
{
	if (!rr->cmp) {
		fprintf(stderr, "runpilot: rerun: environment not checked: %s\n", rr->check_error);
		return;
	}
	char **lines = verify_changes(rr->cmp);
	for (char **l = lines; *l; l++) {
		fprintf(stderr, "runpilot: rerun: %s\n", *l);
		strvec_push(changed, *l);
		char *colon = strchr(changed->v[changed->n - 1], ':');
		if (colon)
			*colon = '\0';
	}
	if (!changed->n)
		fprintf(stderr, "runpilot: rerun: %s's environment unchanged\n", rr->id);
	verify_changes_free(lines);
}

int cmd_rerun(int argc, char **argv, struct rp_err *err)
{
	struct run_opts o = {0};
	const char *ref = NULL;
	bool strict = false;
	struct rerun rr;
	struct rp_spec spec;
	struct strvec changed = {0};
	int rc = -1;
	if (parse_rerun_args(argc, argv, &ref, &strict, &o, err) < 0) {
		run_opts_free(&o);
		return -1;
	}
	o.ov.resolved = true; /* the run's own config.yaml, as the invocation records */
	if (rerun_open(ref, &rr, err) < 0) {
		run_opts_free(&o);
		return -1;
	}
	if (rerun_config(&rr, &o.ov, &spec, err) < 0)
		goto out;
	print_changes(&rr, &changed);
	if (strict && !rr.cmp) {
		rp_err_set(err, RP_ERR_USAGE, "rerun --strict: %s's environment cannot be checked (%s): nothing started",
			   rr.id, rr.check_error);
	} else if (strict && changed.n) {
		char *names = strvec_join(&changed, ", ");
		rp_err_set(err, RP_ERR_USAGE,
			   "rerun --strict: %s's environment changed (%s): nothing started; `runpilot verify %s` "
			   "says what changed",
			   rr.id, names, rr.id);
		free(names);
	} else {
		struct run_request req = {.spec = &spec, .overrides = &o.ov, .runner = o.runner ? o.runner : rr.runner,
					  .parent_uid = rr.uid, .parent_id = rr.id, .detach = o.detach};
		rc = run_print_execute(&req, o.quiet, err);
	}
	config_free(&spec);
out:
	strvec_free(&changed);
	rerun_close(&rr);
	run_opts_free(&o);
	return rc;
}
