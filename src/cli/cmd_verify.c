/* runpilot verify: recompute a run's environment fingerprint now (without running anything)
 * and say, per component, whether it is the same and what changed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "config.h"
#include "environment.h"
#include "runner.h"
#include "runs.h"
#include "sections.h"
#include "util.h"

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

/* The kind of runtime the run recorded ("host", "rootfs"), so the same one is recomputed. */
static const char *recorded_runner(const cJSON *old_env)
{
	const cJSON *rt = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(old_env, "components"),
							   "runtime");
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rt, "kind"));
	return kind && !strcmp(kind, "rootfs") ? "sandbox" : "local";
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
	bool same = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmp, "same"));
	printf("%s: environment %s\n", id, same ? "identical" : "changed");
	char *text = fp_compare_text(cmp, true);
	fputs(text, stdout);
	free(text);
}

int cmd_verify(int argc, char **argv, struct rp_err *err)
{
	struct verify_opts o = {0};
	struct rp_store st = {0};
	struct rp_run r;
	struct rp_spec spec;
	struct fp_spec_input si;
	struct runner_image image = {0};
	char *run_dir = NULL, *config_path = NULL, *files_path = NULL, **envp = NULL;
	cJSON *new_env = NULL, *new_files = NULL, *old_files = NULL, *cmp = NULL;
	bool have_run = false, have_spec = false, have_si = false;
	int rc = -1;

	if (parse_verify_args(argc, argv, &o, err) < 0)
		goto out;
	if (runs_load(o.run, &st, &r, &run_dir, err) < 0)
		goto out;
	have_run = true;
	const cJSON *old_env = record_section(&r, "environment");
	if (!cJSON_IsObject(old_env) || !cJSON_GetObjectItemCaseSensitive(old_env, "fingerprint")) {
		const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old_env, "error"));
		rp_err_set(err, RP_ERR_RUNTIME, "run %s has no environment fingerprint%s%s", r.id, why ? ": " : "",
			   why ? why : " (recorded by an older runpilot)");
		goto out;
	}
	/* The question is "would the same `runpilot run` now get the same environment?": the
	 * original config file with the run's own overrides, unless the user names another file.
	 * When the original is gone, the run's resolved copy stands in for it. */
	struct run_invocation inv;
	invocation_read(record_section(&r, "invocation"), &inv);
	struct rp_overrides ov = {0};
	if (o.config) {
		config_path = xstrdup(o.config);
	} else if (inv.config_path && path_exists(inv.config_path)) {
		config_path = xstrdup(inv.config_path);
		ov = inv.ov;
	} else {
		config_path = path_join(run_dir, "config.yaml");
		ov.resolved = true; /* already resolved: today's defaults must not add to it */
	}
	struct strvec params = {0};
	for (size_t i = 0; i < ov.nparams; i++)
		strvec_push(&params, ov.params[i]);
	for (size_t i = 0; i < o.params.n; i++)
		strvec_push(&params, o.params.v[i]);
	ov.params = (const char **)strvec_items(&params);
	ov.nparams = params.n;
	int loaded = config_load(config_path, &ov, &spec, err);
	strvec_free(&params);
	invocation_free(&inv);
	if (loaded < 0)
		goto out;
	have_spec = true;
	/* The environment the run's runner would give the job now. */
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.runner, "type"));
	const struct runner_ops *ops = type ? runner_ops_named(type) : NULL;
	/* The image as that runner would run it now: a pull or rebuild shows as a new id. */
	if (type && runner_image_resolve(type, &spec, st.home, false, &image, err) < 0)
		goto out;
	envp = fp_job_env_now(&spec, ops && ops->isolated_env, image.id ? strvec_items(&image.env) : NULL);
	fp_spec_input_init(&si, &spec, st.home, envp, recorded_runner(old_env), NULL);
	fp_spec_input_image(&si, image.id, strvec_items(&image.digests));
	have_si = true;
	si.in.no_context = true;
	fp_spec_input_sandbox_probes(&si, &spec);
	if (fp_compute_files(&si.in, &new_env, &new_files, err) < 0)
		goto out;
	cmp = fp_compare(old_env, new_env);
	/* The old per-file list is only needed to name files: only read it when something changed. */
	files_path = path_join(run_dir, FP_FILES_NAME);
	/* A missing or broken list (files.json is not flushed for jobs that end within 0.1 s: a
	 * power loss may empty it) only costs the file names: the hashes in run.json decide. */
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmp, "same")) && path_exists(files_path) &&
	    fp_files_load(files_path, &old_files, NULL) == 0)
		fp_compare_files(cmp, old_files, new_files);
	print_result(r.id, cmp, o.json);
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmp, "same")) ? 0 : 1;
out:
	cJSON_Delete(cmp);
	cJSON_Delete(new_env);
	cJSON_Delete(new_files);
	cJSON_Delete(old_files);
	if (have_si)
		fp_spec_input_free(&si);
	runner_image_free(&image);
	fp_env_free(envp);
	if (have_spec)
		config_free(&spec);
	if (have_run)
		record_free(&r);
	free(run_dir);
	free(config_path);
	free(files_path);
	store_close(&st);
	strvec_free(&o.params);
	return rc;
}
