/* The environment fingerprint: fp_compute builds the config component here and the others in
 * code.c, runtime.c, packages.c and env.c, and hashes their hashes in a fixed order, each
 * length-prefixed. */
#include "fingerprint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "components.h"
#include "files.h"
#include "hash.h"
#include "util.h"

/* ---- the config component ---- */

/* Labels that do not change what runs: never part of the config hash. */
static bool config_key_is_label(const char *k)
{
	return strcmp(k, "name") == 0 || strcmp(k, "tags") == 0;
}

static void flatten_into(cJSON *out, const cJSON *v, const char *prefix)
{
	if (cJSON_IsObject(v)) {
		for (const cJSON *c = v->child; c; c = c->next) {
			char *k = *prefix ? xasprintf("%s.%s", prefix, c->string) : xstrdup(c->string);
			flatten_into(out, c, k);
			free(k);
		}
		return;
	}
	const char *last = strrchr(prefix, '.');
	last = last ? last + 1 : prefix;
	char *text = cJSON_IsString(v) ? xstrdup(v->valuestring) : fp_canonical_json(v);
	if (env_looks_secret(last, text)) {
		unsigned char h[FP_HASH_LEN];
		fp_sha256(text, strlen(text), h);
		char *hs = fp_hash_str(h);
		cJSON_AddStringToObject(out, prefix, hs);
		free(hs);
	} else {
		cJSON_AddStringToObject(out, prefix, text);
	}
	free(text);
}

/* {"hash", "values": {"params.lr": "0.1", ...}} — flattened leaves so verify can name keys. */
static cJSON *config_component(const cJSON *config)
{
	cJSON *hashed = cJSON_CreateObject();
	if (cJSON_IsObject(config))
		for (const cJSON *c = config->child; c; c = c->next)
			if (!config_key_is_label(c->string))
				cJSON_AddItemToObject(hashed, c->string, cJSON_Duplicate(c, true));
	char *canon = fp_canonical_json(hashed);
	unsigned char h[FP_HASH_LEN];
	fp_sha256(canon, strlen(canon), h);
	free(canon);

	cJSON *comp = cJSON_CreateObject();
	char *hs = fp_hash_str(h);
	cJSON_AddStringToObject(comp, "hash", hs);
	free(hs);
	cJSON *values = cJSON_AddObjectToObject(comp, "values");
	flatten_into(values, hashed, "");
	cJSON_Delete(hashed);
	return comp;
}

/* ---- fp_compute ---- */

/* The fixed order of the components in the final hash. Never reorder: it changes every
 * recorded fingerprint. */
static const char *const component_order[] = { "config", "code", "runtime", "packages", "env" };

static char *final_fingerprint(const cJSON *components)
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "runpilot-fingerprint-v1");
	for (size_t i = 0; i < sizeof component_order / sizeof *component_order; i++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(components, component_order[i]);
		const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "hash"));
		fp_hasher_str(&h, component_order[i]);
		fp_hasher_str(&h, hash);
	}
	unsigned char out[FP_HASH_LEN];
	fp_hasher_final(&h, out);
	return fp_hash_str(out);
}

int fp_compute_files(const struct fp_input *in, cJSON **environment, cJSON **files, struct rp_err *err)
{
	struct fp_filelist code_files = { 0 }, rootfs_files = { 0 };
	struct fp_interp ip = { 0 };
	cJSON *env = cJSON_CreateObject(), *list = NULL, *other = NULL;
	cJSON *components = cJSON_CreateObject(), *comp = NULL;
	int rc = -1;

	cJSON_AddItemToObject(components, "config", config_component(in->config));
	if (fp_code_component(in, &comp, &code_files, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "code", comp);
	if (fp_runtime_component(in, &ip, &comp, &rootfs_files, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "runtime", comp);
	if (fp_packages_component(in, &ip, &comp, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "packages", comp);
	if (fp_env_component(in, &comp, &other) < 0)
		goto out;
	cJSON_AddItemToObject(components, "env", comp);

	char *fp = final_fingerprint(components);
	cJSON_AddStringToObject(env, "fingerprint", fp);
	free(fp);
	cJSON_AddItemToObject(env, "components", components);
	components = NULL;
	if (!in->no_context) {
		cJSON_AddItemToObject(env, "context", fp_context(in, other));
		other = NULL;
	}

	list = cJSON_CreateObject();
	cJSON_AddNumberToObject(list, "version", 1);
	cJSON_AddItemToObject(list, "code", fp_filelist_json(&code_files));
	if (in->rootfs)
		cJSON_AddItemToObject(list, "rootfs", fp_filelist_json(&rootfs_files));
	if (in->files_path) {
		char *text = cJSON_PrintUnformatted(list);
		if (!text)
			abort();
		/* Atomic, not flushed: the run lifecycle flushes it once the job runs. */
		rc = write_file_atomic_flags(in->files_path, text, strlen(text), 0644, RP_WRITE_NO_FSYNC, err);
		free(text);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(components);
	cJSON_Delete(other);
	fp_filelist_free(&code_files);
	fp_filelist_free(&rootfs_files);
	fp_interp_free(&ip);
	if (rc < 0) {
		cJSON_Delete(env);
		cJSON_Delete(list);
		return -1;
	}
	*environment = env;
	if (files)
		*files = list;
	else
		cJSON_Delete(list);
	return 0;
}

int fp_compute(const struct fp_input *in, cJSON **environment, struct rp_err *err)
{
	return fp_compute_files(in, environment, NULL, err);
}

void fp_short(const cJSON *environment, char out[13])
{
	const char *fp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(environment, "fingerprint"));
	if (fp && strncmp(fp, "sha256:", 7) == 0 && strlen(fp) >= 7 + 12) {
		memcpy(out, fp + 7, 12);
		out[12] = '\0';
	} else {
		strcpy(out, "-");
	}
}
