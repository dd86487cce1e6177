/* runpilot verify: recompute a run's environment fingerprint now (without running anything)
 * and say, per component, whether it is the same and what changed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "fingerprint.h"
#include "util.h"
#include "verify.h"

const char usage_verify[] =
	"usage: runpilot verify RUN [--json] [--config FILE] [--param KEY=VALUE]...\n"
	"\n"
	"Recompute RUN's environment fingerprint now, for the config file it was started from\n"
	"(with the same overrides; the run's own config.yaml when that file is gone) and its\n"
	"workdir, without running anything, and print each component\n"
	"(config, code, runtime, packages, env) as same or changed, with what changed.\n"
	"\n"
	"  --config FILE      check FILE instead of the run's own config (e.g. the edited original)\n"
	"  --param KEY=VALUE  with this param override (repeatable)\n"
	"  --json             print the comparison as JSON\n"
	"\n"
	"Exit status: 0 identical, 1 changed, 2 error.\n";

struct verify_opts {
	const char *run;
	const char *config;
	bool json;
	struct strvec params;
};

static int parse_verify_args(int argc, char **argv, struct verify_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
						 {"config", required_argument, NULL, 'c'},
						 {"param", required_argument, NULL, 'p'},
						 {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'c': o->config = optarg; break;
		case 'p': strvec_push(&o->params, optarg); break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot verify --help`)",
					  argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot verify RUN [--json])");
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s'", argv[optind + 1]);
	o->run = argv[optind];
	return 0;
}

static void print_result(const char *id, const cJSON *cmp, bool json)
{
	if (json) {
		cJSON *out = cJSON_Duplicate(cmp, true);
		cJSON_AddStringToObject(out, "run", id);
		char *s = cJSON_Print(out);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(out);
		return;
	}
	printf("%s: environment %s\n", id, verify_same(cmp) ? "identical" : "changed");
	char *text = fp_compare_text(cmp, true);
	fputs(text, stdout);
	free(text);
}

int cmd_verify(int argc, char **argv, struct rp_err *err)
{
	struct verify_opts o = {0};
	char id[RP_ID_MAX];
	cJSON *cmp = NULL;
	int rc = -1;
	if (parse_verify_args(argc, argv, &o, err) == 0 &&
	    verify_run(o.run, o.config, strvec_items(&o.params), o.params.n, id, &cmp, err) == 0) {
		print_result(id, cmp, o.json);
		rc = verify_same(cmp) ? 0 : 1;
	}
	cJSON_Delete(cmp);
	strvec_free(&o.params);
	return rc;
}
