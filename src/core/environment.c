/* run.json's "environment" section: the fingerprint input of a loaded config (environment.h).
 * What `run` records and what `verify` recomputes must be built the same way. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "environment.h"
#include "jobenv.h"
#include "runner.h"
#include "util.h"

static char **copy_names(const struct rp_kv *kv, size_t n)
{
	char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(kv[i].key);
	return v;
}

static char **copy_strings(char *const *s, size_t n)
{
	char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(s[i]);
	return v;
}

static void free_strings(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void fp_spec_input_init(struct fp_spec_input *si, const struct rp_spec *spec, const char *home, char *const *envp,
			const char *runner_type, const char *run_dir)
{
	memset(si, 0, sizeof *si);
	si->config = config_to_json(spec);
	si->declared = copy_names(spec->env, spec->nenv);
	si->extra = copy_strings(spec->fingerprint.env, spec->fingerprint.nenv);
	si->files_path = run_dir ? path_join(run_dir, FP_FILES_NAME) : NULL;
	si->in = (struct fp_input){
		.home = home,
		.workdir = spec->workdir,
		.exclude_dir = home,
		.config = si->config,
		.argv = spec->argv,
		.envp = envp,
		.declared_env = si->declared,
		.extra_env = si->extra,
		.rootfs = runner_type && !strcmp(runner_type, "sandbox") ? spec->sandbox.rootfs : NULL,
		.image_id = NULL,
		.max_bytes = spec->fingerprint.max_bytes,
		.files_path = si->files_path,
	};
}

void fp_spec_input_free(struct fp_spec_input *si)
{
	cJSON_Delete(si->config);
	free_strings(si->declared);
	free_strings(si->extra);
	free(si->files_path);
	memset(si, 0, sizeof *si);
}

/* fp_input's capture through a runner's own (runner.h). */
static int runner_capture(void *ctx, char *const *argv, char *const *envp, const char *cwd, double timeout_s,
			  char **out, struct rp_err *err)
{
	struct runner *rn = ctx;
	return rn->ops->capture(rn, argv, envp, cwd, timeout_s, out, err);
}

static int sandboxed_capture(void *ctx, char *const *argv, char *const *envp, const char *cwd, double timeout_s,
			     char **out, struct rp_err *err)
{
	return runner_sandboxed_capture(ctx, argv, envp, cwd, timeout_s, out, err);
}

void fp_spec_input_sandbox_probes(struct fp_spec_input *si, const struct rp_spec *spec)
{
	struct rp_err why = { 0 };
	if (runner_sandbox_usable(&why)) {
		si->in.capture = sandboxed_capture;
		si->in.capture_ctx = (void *)spec;
	} else {
		si->in.no_capture = "not probed: no program of the workdir runs outside a sandbox, and no sandbox "
				    "can be built here (runpilot doctor)";
	}
}

cJSON *fp_run_environment(const struct rp_spec *spec, const char *home, char *const *envp, struct runner *rn,
			  const char *run_dir, char **warning)
{
	struct fp_spec_input si;
	struct rp_err err = { 0 };
	cJSON *env = NULL;
	*warning = NULL;
	fp_spec_input_init(&si, spec, home, envp, rn->ops->type, run_dir);
	si.in.image_id = rn->image_id; /* the runtime is the image's, when the runner resolved one */
	if (rn->ops->capture) {
		si.in.capture = runner_capture;
		si.in.capture_ctx = rn;
	}
	if (fp_compute(&si.in, &env, &err) < 0) {
		*warning = xasprintf("environment fingerprint not recorded: %s", err.msg);
		env = cJSON_CreateObject();
		cJSON_AddStringToObject(env, "error", err.msg);
	}
	fp_spec_input_free(&si);
	return env;
}

char **fp_job_env_now(const struct rp_spec *spec, bool isolated)
{
	extern char **environ;
	/* The run's own variables are never fingerprinted: placeholders do. */
	struct job_env_run none = {.id = "", .uid = "", .run_dir = "", .output_dir = ""};
	struct strvec env = {0};
	cJSON *sources;
	job_env_build(spec, isolated, environ, &none, &env, &sources);
	cJSON_Delete(sources);
	return strvec_items(&env);
}

void fp_env_free(char **envp)
{
	free_strings(envp);
}
