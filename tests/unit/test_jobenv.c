/* jobenv.c: under an isolating runner only the allow list of runpilot's variables, the config's
 * sandbox.env_pass and env, and the run's own reach the job; under the local runner all of
 * runpilot's do; and run.json's env_sources says where each name came from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "jobenv.h"

static char *const caller[] = {
	"PATH=/usr/bin", "HOME=/home/u", "LC_ALL=C.UTF-8", "CUDA_VISIBLE_DEVICES=0", "OMP_NUM_THREADS=4",
	"AWS_SECRET_ACCESS_KEY=leak", "PROBE_SECRET=leak", "HF_HOME=/data/hf", "WANDB_MODE=offline",
	"PYTHONPATH=.", "RUNPILOT_RUN_ID=rp_0001", "RUNPILOT_PARAM_LR=9", "SHADOWED=caller", NULL,
};

static const struct job_env_run run = {.id = "rp_0002", .uid = "u-2", .run_dir = "/r", .output_dir = "/r/o"};

static const char *value_of(struct strvec *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], name, n) && env->v[i][n] == '=')
			return env->v[i] + n + 1;
	return NULL;
}

static bool listed(const cJSON *sources, const char *from, const char *name)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sources, from))
		if (!strcmp(it->valuestring, name))
			return true;
	return false;
}

static void spec_with(struct rp_spec *spec, struct rp_kv *env, size_t nenv, char **pass, size_t npass)
{
	memset(spec, 0, sizeof *spec);
	spec->env = env;
	spec->nenv = nenv;
	spec->sandbox.env_pass = pass;
	spec->sandbox.nenv_pass = npass;
	static struct rp_kv params[] = {{.key = "lr", .value = "0.1", .type = RP_FLOAT}};
	spec->params = params;
	spec->nparams = 1;
}

static void test_isolated_gets_the_allow_list(void **state)
{
	struct rp_kv env[] = {{.key = "SHADOWED", .value = "config"}, {.key = "PYTHONUNBUFFERED", .value = "1"}};
	char *pass[] = {"HF_*"};
	struct rp_spec spec;
	spec_with(&spec, env, 2, pass, 1);
	struct strvec out = {0};
	cJSON *src;
	job_env_build(&spec, true, caller, NULL, &run, &out, &src);
	assert_string_equal(value_of(&out, "PATH"), "/usr/bin");
	assert_string_equal(value_of(&out, "LC_ALL"), "C.UTF-8");
	assert_string_equal(value_of(&out, "CUDA_VISIBLE_DEVICES"), "0");
	assert_string_equal(value_of(&out, "OMP_NUM_THREADS"), "4");
	assert_null(value_of(&out, "AWS_SECRET_ACCESS_KEY"));
	assert_null(value_of(&out, "PROBE_SECRET"));
	assert_null(value_of(&out, "WANDB_MODE"));
	assert_null(value_of(&out, "PYTHONPATH")); /* a workdir's modules on the path: not without asking */
	assert_string_equal(value_of(&out, "HF_HOME"), "/data/hf"); /* env_pass */
	assert_string_equal(value_of(&out, "SHADOWED"), "config");
	assert_string_equal(value_of(&out, "RUNPILOT_RUN_ID"), "rp_0002"); /* the run's own, not the caller's */
	assert_string_equal(value_of(&out, "RUNPILOT_PARAM_LR"), "0.1");
	assert_true(listed(src, "inherited", "PATH"));
	assert_false(listed(src, "inherited", "AWS_SECRET_ACCESS_KEY"));
	assert_true(listed(src, "env_pass", "HF_HOME"));
	assert_true(listed(src, "config", "SHADOWED"));
	assert_false(listed(src, "inherited", "SHADOWED"));
	assert_true(listed(src, "runpilot", "RUNPILOT_RUN_DIR"));
	assert_true(listed(src, "runpilot", "RUNPILOT_PARAM_LR"));
	cJSON_Delete(src);
	strvec_free(&out);
}

static void test_local_inherits_everything(void **state)
{
	struct rp_spec spec;
	spec_with(&spec, NULL, 0, NULL, 0);
	struct strvec out = {0};
	cJSON *src;
	job_env_build(&spec, false, caller, NULL, &run, &out, &src);
	assert_string_equal(value_of(&out, "AWS_SECRET_ACCESS_KEY"), "leak");
	assert_string_equal(value_of(&out, "WANDB_MODE"), "offline");
	assert_string_equal(value_of(&out, "RUNPILOT_RUN_ID"), "rp_0002");
	assert_true(listed(src, "inherited", "PROBE_SECRET"));
	assert_false(listed(src, "inherited", "RUNPILOT_RUN_ID"));
	cJSON_Delete(src);
	strvec_free(&out);
}

/* An image's Env replaces what the allow list passes of this host (its PATH means nothing in the
 * image), and yields to the config, env_pass and the run's own variables. */
static void test_image_env_between_host_and_config(void **state)
{
	struct rp_kv env[] = {{.key = "SHADOWED", .value = "config"}};
	char *pass[] = {"HF_*"};
	char *image[] = {"PATH=/opt/conda/bin:/usr/bin", "LANG=C.UTF-8", "SHADOWED=image", "HF_HOME=/image/hf",
			 "RUNPILOT_RUN_ID=image", "PYTHONDONTWRITEBYTECODE=1", NULL};
	struct rp_spec spec;
	spec_with(&spec, env, 1, pass, 1);
	struct strvec out = {0};
	cJSON *src;
	job_env_build(&spec, true, caller, image, &run, &out, &src);
	assert_string_equal(value_of(&out, "PATH"), "/opt/conda/bin:/usr/bin");
	assert_string_equal(value_of(&out, "HOME"), "/home/u"); /* the image sets none: the host's stays */
	assert_string_equal(value_of(&out, "PYTHONDONTWRITEBYTECODE"), "1");
	assert_string_equal(value_of(&out, "SHADOWED"), "config");
	assert_string_equal(value_of(&out, "HF_HOME"), "/data/hf"); /* asked for with env_pass */
	assert_string_equal(value_of(&out, "RUNPILOT_RUN_ID"), "rp_0002");
	assert_true(listed(src, "image", "PATH"));
	assert_false(listed(src, "inherited", "PATH"));
	assert_true(listed(src, "image", "PYTHONDONTWRITEBYTECODE"));
	assert_false(listed(src, "image", "SHADOWED"));
	assert_false(listed(src, "image", "HF_HOME"));
	assert_false(listed(src, "image", "RUNPILOT_RUN_ID"));
	size_t paths = 0;
	for (size_t i = 0; i < out.n; i++)
		paths += !strncmp(out.v[i], "PATH=", 5);
	assert_int_equal(paths, 1);
	cJSON_Delete(src);
	strvec_free(&out);
}

static void test_allow_list_names(void **state)
{
	assert_true(job_env_allowed("LC_MESSAGES"));
	assert_true(job_env_allowed("NVIDIA_DRIVER_CAPABILITIES"));
	assert_true(job_env_allowed("TERM"));
	assert_false(job_env_allowed("SSH_AUTH_SOCK"));
	assert_false(job_env_allowed("GITHUB_TOKEN"));
	assert_false(job_env_allowed("LD_PRELOAD"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isolated_gets_the_allow_list),
		cmocka_unit_test(test_local_inherits_everything),
		cmocka_unit_test(test_image_env_between_host_and_config),
		cmocka_unit_test(test_allow_list_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
