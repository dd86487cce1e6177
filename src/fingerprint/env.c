/* The env component: the part of the job's environment that can change what it does.
 * Hashed: the config's declared env, the documented inherited names below, and the names the
 * config adds (fingerprint.env, trailing * allowed). Never recorded: RunPilot's own variables
 * and incidental shell state. Everything else goes to the context, outside the hash.
 * Secret-looking values (by name, or URLs with credentials) are stored hashed. */
#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "components.h"
#include "proc.h"
#include "util.h"

/* Inherited names that change behaviour (docs/fingerprint.md lists them). */
static const char *const tracked_names[] = {
	"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED",
	"PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONSAFEPATH", "PYTHONOPTIMIZE", "PYTHONWARNINGS",
	"PYTHONUTF8", "PYTHONIOENCODING", "PYTHONPLATLIBDIR", "PYTHONDEVMODE", "VIRTUAL_ENV", "CONDA_PREFIX",
	"CONDA_DEFAULT_ENV", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "CUDA_LAUNCH_BLOCKING",
	"CUDA_DEVICE_ORDER", "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
	"ROCR_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
	"NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "XLA_FLAGS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
	"HF_DATASETS_OFFLINE", "LANG", "LANGUAGE", "TZ", "MALLOC_ARENA_MAX",
};
/* Prefixes of tracked families. */
static const char *const tracked_prefixes[] = { "LC_", "OMP_", "MKL_", "NCCL_", "TORCH_", "TF_", "JAX_",
						"CUDA_", "KMP_", "GOMP_" };

bool fp_env_name_never(const char *name)
{
	return !strncmp(name, "RUNPILOT_", 9) || !strncmp(name, "SSH_", 4) || !strcmp(name, "PWD") ||
	       !strcmp(name, "OLDPWD") || !strcmp(name, "SHLVL") || !strcmp(name, "TERM") || !strcmp(name, "_");
}

bool fp_env_name_tracked(const char *name)
{
	for (size_t i = 0; i < sizeof tracked_names / sizeof *tracked_names; i++)
		if (!strcmp(name, tracked_names[i]))
			return true;
	for (size_t i = 0; i < sizeof tracked_prefixes / sizeof *tracked_prefixes; i++)
		if (!strncmp(name, tracked_prefixes[i], strlen(tracked_prefixes[i])))
			return true;
	return false;
}

static bool in_list(char *const *list, const char *name)
{
	for (char *const *p = list; p && *p; p++)
		if (!strcmp(*p, name) || fnmatch(*p, name, 0) == 0)
			return true;
	return false;
}

/* scheme://user:password@host — credentials in a URL. */
/* Value as recorded: itself, or "sha256:<hex>" of it for a secret-looking one. */
static char *recorded_value(const char *name, const char *value, bool *secret)
{
	*secret = env_looks_secret(name, value);
	if (!*secret)
		return xstrdup(value);
	unsigned char h[FP_HASH_LEN];
	fp_sha256(value, strlen(value), h);
	return fp_hash_str(h);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int fp_env_component(const struct fp_input *in, cJSON **comp, cJSON **other)
{
	struct strvec names = { 0 };
	for (char *const *e = in->envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		strvec_push(&names, name);
		free(name);
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof *names.v, cmp_str);

	cJSON *c = cJSON_CreateObject(), *o = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "hash", "");
	cJSON *vars = cJSON_AddObjectToObject(c, "vars");
	cJSON *hashed = cJSON_AddArrayToObject(c, "hashed");
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "env-v1");
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		if ((i && !strcmp(n, names.v[i - 1])) || fp_env_name_never(n))
			continue;
		bool secret;
		char *v = recorded_value(n, fp_getenv(in->envp, n), &secret);
		if (fp_env_name_tracked(n) || in_list(in->declared_env, n) || in_list(in->extra_env, n)) {
			cJSON_AddStringToObject(vars, n, v);
			if (secret)
				cJSON_AddItemToArray(hashed, cJSON_CreateString(n));
			fp_hasher_str(&h, n);
			fp_hasher_str(&h, v);
		} else {
			cJSON_AddStringToObject(o, n, v);
		}
		free(v);
	}
	strvec_free(&names);
	unsigned char out[FP_HASH_LEN];
	fp_hasher_final(&h, out);
	char *hs = fp_hash_str(out);
	cJSON_ReplaceItemInObjectCaseSensitive(c, "hash", cJSON_CreateString(hs));
	free(hs);
	*comp = c;
	*other = o;
	return 0;
}
