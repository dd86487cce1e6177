/* jobenv.h: what the job's environment holds, and where each name came from. */
#include "jobenv.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "runner.h"

/* What a job on an isolated runner gets of runpilot's environment without asking: where to find
 * programs, who and where it is, its language and time zone, its terminal type, and the settings
 * GPU and numeric libraries read. Globs as fnmatch(3). */
static const char *const allow_list[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM",
	"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_*", "HIP_VISIBLE_DEVICES",
	"ROCR_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
	"NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", NULL,
};

static bool matches_any(const char *name, char *const *globs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], name, 0) == 0)
			return true;
	return false;
}

bool job_env_allowed(const char *name)
{
	return matches_any(name, (char *const *)allow_list, sizeof allow_list / sizeof *allow_list - 1);
}

/* RUNPILOT_PARAM_<KEY>: upper case, anything but letters and digits becomes '_'. */
static char *param_env_name(const char *key)
{
	char *name = xasprintf("RUNPILOT_PARAM_%s", key);
	for (char *p = name + strlen("RUNPILOT_PARAM_"); *p; p++)
		*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	return name;
}

/* The run's own variables: a runpilot started inside a job does not pass its parent run's on. */
static bool is_per_run_var(const char *name)
{
	static const char *const names[] = {"RUNPILOT_RUN_ID", "RUNPILOT_RUN_UID", "RUNPILOT_RUN_DIR",
					    "RUNPILOT_OUTPUT_DIR", "RUNPILOT_METRICS_FILE", NULL};
	if (!strncmp(name, "RUNPILOT_PARAM_", 15))
		return true;
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static bool set_by_config(const char *name, const struct rp_spec *spec)
{
	for (size_t i = 0; i < spec->nenv; i++)
		if (!strcmp(spec->env[i].key, name))
			return true;
	return false;
}

/* Whether entries (NAME=value) set name. */
static bool set_in(const char *name, char *const *entries)
{
	size_t n = strlen(name);
	for (char *const *e = entries; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static cJSON *sorted_names(struct strvec *names)
{
	if (names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, cmp_str);
	return cJSON_CreateStringArray((const char **)strvec_items(names), (int)names->n);
}

static void push_name_of(struct strvec *names, const char *entry)
{
	const char *eq = strchr(entry, '=');
	char *name = xstrndup(entry, eq ? (size_t)(eq - entry) : strlen(entry));
	strvec_push(names, name);
	free(name);
}

void job_env_build(const struct rp_spec *spec, bool allow_list_only, char *const *from, char *const *image_env,
		   const struct job_env_run *run, struct strvec *env, cJSON **sources)
{
	struct strvec inherited = {0}, passed = {0}, from_image = {0}, config = {0}, own = {0};
	const struct rp_sandbox_cfg *sb = &spec->sandbox;
	for (char *const *e = from; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		if (!is_per_run_var(name) && !set_by_config(name, spec)) {
			bool allowed = !allow_list_only || job_env_allowed(name);
			bool asked = allow_list_only && matches_any(name, sb->env_pass, sb->nenv_pass);
			if (allowed && (asked || !set_in(name, image_env))) {
				strvec_push(env, *e);
				strvec_push(&inherited, name);
			} else if (asked) {
				strvec_push(env, *e);
				strvec_push(&passed, name);
			}
		}
		free(name);
	}
	/* The image's defaults: under the config's and what env_pass asks for, over what this
	 * host's allow list would pass (its PATH and HOME mean nothing inside the image). */
	for (char *const *e = image_env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		if (!is_per_run_var(name) && !set_by_config(name, spec) && !set_in(name, strvec_items(env))) {
			strvec_push(env, *e);
			strvec_push(&from_image, name);
		}
		free(name);
	}
	for (size_t i = 0; i < spec->nenv; i++) {
		strvec_pushf(env, "%s=%s", spec->env[i].key, spec->env[i].value);
		strvec_push(&config, spec->env[i].key);
	}
	size_t first_own = env->n;
	strvec_pushf(env, "RUNPILOT_RUN_ID=%s", run->id);
	strvec_pushf(env, "RUNPILOT_RUN_UID=%s", run->uid);
	strvec_pushf(env, "RUNPILOT_RUN_DIR=%s", run->run_dir);
	strvec_pushf(env, "RUNPILOT_OUTPUT_DIR=%s", run->output_dir);
	strvec_pushf(env, "RUNPILOT_METRICS_FILE=%s/" RP_METRICS_JOB_FILE, run->output_dir);
	for (size_t i = 0; i < spec->nparams; i++) {
		char *name = param_env_name(spec->params[i].key);
		strvec_pushf(env, "%s=%s", name, spec->params[i].value);
		free(name);
	}
	for (size_t i = first_own; i < env->n; i++)
		push_name_of(&own, env->v[i]);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "inherited", sorted_names(&inherited));
	cJSON_AddItemToObject(o, "env_pass", sorted_names(&passed));
	if (image_env)
		cJSON_AddItemToObject(o, "image", sorted_names(&from_image));
	cJSON_AddItemToObject(o, "config", sorted_names(&config));
	cJSON_AddItemToObject(o, "runpilot", sorted_names(&own));
	strvec_free(&inherited);
	strvec_free(&passed);
	strvec_free(&from_image);
	strvec_free(&config);
	strvec_free(&own);
	*sources = o;
}
