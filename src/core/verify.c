/* verify.c: a run's environment recomputed now and compared with the recorded one (verify.h). */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "environment.h"
#include "fingerprint.h"
#include "runner.h"
#include "runs.h"
#include "sections.h"
#include "util.h"

/* The kind of runtime the run recorded ("host", "rootfs"), so the same one is recomputed. */
static const char *recorded_runner(const cJSON *old_env)
{
	const cJSON *rt = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(old_env, "components"),
							   "runtime");
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rt, "kind"));
	return kind && !strcmp(kind, "rootfs") ? "sandbox" : "local";
}

static const cJSON *recorded_environment(const struct rp_run *r, struct rp_err *err)
{
	const cJSON *old_env = record_section(r, "environment");
	if (cJSON_IsObject(old_env) && cJSON_GetObjectItemCaseSensitive(old_env, "fingerprint"))
		return old_env;
	const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old_env, "error"));
	rp_err_set(err, RP_ERR_RUNTIME, "run %s has no environment fingerprint%s%s", r->id, why ? ": " : "",
		   why ? why : " (recorded by an older runpilot)");
	return NULL;
}

/* The old per-file list is only needed to name files: only read it when something changed. A
 * missing or broken list (files.json is not flushed for jobs that end within 0.1 s: a power loss
 * may empty it) only costs the file names: the hashes in run.json decide. */
static void name_changed_files(cJSON *cmp, const char *run_dir, const cJSON *new_files)
{
	if (verify_same(cmp))
		return;
	char *files_path = path_join(run_dir, FP_FILES_NAME);
	cJSON *old_files = NULL;
	if (path_exists(files_path) && fp_files_load(files_path, &old_files, NULL) == 0)
		fp_compare_files(cmp, old_files, new_files);
	cJSON_Delete(old_files);
	free(files_path);
}

int verify_environment(const struct rp_run *r, const char *run_dir, const char *home, const struct rp_spec *spec,
		       cJSON **cmp, struct rp_err *err)
{
	*cmp = NULL;
	const cJSON *old_env = recorded_environment(r, err);
	if (!old_env)
		return -1;
	/* The environment the run's runner would give the job now. */
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "type"));
	const struct runner_ops *ops = type ? runner_ops_named(type) : NULL;
	/* The image as that runner would run it now: a pull or rebuild shows as a new id. */
	struct runner_image image = {0};
	if (type && runner_image_resolve(type, spec, home, false, &image, err) < 0)
		return -1;
	char **envp = fp_job_env_now(spec, ops && ops->isolated_env, image.id ? strvec_items(&image.env) : NULL);
	struct fp_spec_input si;
	fp_spec_input_init(&si, spec, home, envp, recorded_runner(old_env), NULL);
	fp_spec_input_image(&si, image.id, strvec_items(&image.digests));
	si.in.no_context = true;
	fp_spec_input_sandbox_probes(&si, spec);
	cJSON *new_env = NULL, *new_files = NULL;
	int rc = fp_compute_files(&si.in, &new_env, &new_files, err);
	if (rc == 0) {
		*cmp = fp_compare(old_env, new_env);
		name_changed_files(*cmp, run_dir, new_files);
	}
	cJSON_Delete(new_env);
	cJSON_Delete(new_files);
	fp_spec_input_free(&si);
	fp_env_free(envp);
	runner_image_free(&image);
	return rc;
}

const char *verify_unredact_env(struct rp_spec *spec)
{
	const char *missing = NULL;
	for (size_t i = 0; i < spec->nenv; i++) {
		struct rp_kv *kv = &spec->env[i];
		if (!kv->value || strcmp(kv->value, "<redacted>") != 0)
			continue;
		const char *v = getenv(kv->key);
		if (!v) {
			missing = missing ? missing : kv->key;
			continue;
		}
		free(kv->value);
		kv->value = xstrdup(v);
		kv->type = RP_STR;
	}
	return missing;
}

/* The question is "would the same `runpilot run` now get the same environment?": the original
 * config file with the run's own overrides, unless the user names another file. When the
 * original is gone, the run's resolved copy stands in for it. */
static int load_verified_config(const struct rp_run *r, const char *run_dir, const char *config_path,
				char *const *params, size_t nparams, struct rp_spec *spec, struct rp_err *err)
{
	struct run_invocation inv;
	invocation_read(record_section(r, "invocation"), &inv);
	struct rp_overrides ov = {0};
	char *path;
	if (config_path) {
		path = xstrdup(config_path);
	} else if (inv.config_path && path_exists(inv.config_path)) {
		path = xstrdup(inv.config_path);
		ov = inv.ov;
	} else {
		path = path_join(run_dir, "config.yaml");
		ov.resolved = true;
	}
	struct strvec all = {0};
	for (size_t i = 0; i < ov.nparams; i++)
		strvec_push(&all, ov.params[i]);
	for (size_t i = 0; i < nparams; i++)
		strvec_push(&all, params[i]);
	ov.params = (const char **)strvec_items(&all);
	ov.nparams = all.n;
	int rc = config_load(path, &ov, spec, err);
	/* A secret not in our environment stays redacted: verify shows it changed. */
	if (rc == 0 && ov.resolved)
		verify_unredact_env(spec);
	strvec_free(&all);
	invocation_free(&inv);
	free(path);
	return rc;
}

int verify_run(const char *ref, const char *config_path, char *const *params, size_t nparams, char id[RP_ID_MAX],
	       cJSON **cmp, struct rp_err *err)
{
	struct rp_store st = {0};
	struct rp_run r;
	char *run_dir = NULL;
	*cmp = NULL;
	if (runs_load(ref, &st, &r, &run_dir, err) < 0) {
		store_close(&st);
		return -1;
	}
	snprintf(id, RP_ID_MAX, "%s", r.id);
	struct rp_spec spec;
	int rc = -1;
	if (recorded_environment(&r, err) &&
	    load_verified_config(&r, run_dir, config_path, params, nparams, &spec, err) == 0) {
		rc = verify_environment(&r, run_dir, st.home, &spec, cmp, err);
		config_free(&spec);
	}
	record_free(&r);
	free(run_dir);
	store_close(&st);
	return rc;
}

bool verify_same(const cJSON *cmp)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmp, "same"));
}

/* ---- what changed, in one line per component ---- */

static int count(const cJSON *o, const char *key)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int count_files(const cJSON *o)
{
	return count(o, "added") + count(o, "removed") + count(o, "modified");
}

static bool field_changed(const cJSON *c, const char *field)
{
	const cJSON *ch;
	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(c, "changes")) {
		const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "field"));
		if (f && !strcmp(f, field))
			return true;
	}
	return false;
}

/* The runtime's changed fields by name ("interpreter.path, interpreter.hash"), at most three. */
static char *runtime_fields(const cJSON *c)
{
	struct strvec names = {0};
	const cJSON *ch;
	int n = 0;
	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(c, "changes")) {
		const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "field"));
		if (f && n++ < 3)
			strvec_push(&names, f);
	}
	if (n > 3)
		strvec_pushf(&names, "%d more", n - 3);
	char *s = names.n ? strvec_join(&names, ", ") : NULL;
	strvec_free(&names);
	return s;
}

static void runtime_line(struct strvec *out, const cJSON *c)
{
	/* Under an image the runtime is the image's id: the digest of its config. */
	if (field_changed(c, "image_id")) {
		strvec_push(out, "image: digest changed");
		return;
	}
	int rootfs = count_files(cJSON_GetObjectItemCaseSensitive(c, "rootfs_files"));
	char *fields = runtime_fields(c);
	if (rootfs)
		strvec_pushf(out, "runtime: %d rootfs file%s changed", rootfs, rootfs == 1 ? "" : "s");
	else if (fields)
		strvec_pushf(out, "runtime: %s changed", fields);
	else
		strvec_push(out, "runtime: changed");
	free(fields);
}

/* "N things changed", or "changed" when the comparison could not count them. */
static void counted_line(struct strvec *out, const char *name, int n, const char *one, const char *many)
{
	if (n > 0)
		strvec_pushf(out, "%s: %d %s%schanged", name, n, n == 1 ? one : many, *one ? " " : "");
	else
		strvec_pushf(out, "%s: changed", name);
}

static void component_line(struct strvec *out, const char *name, const cJSON *c)
{
	const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "note"));
	if (note)
		strvec_pushf(out, "%s: changed (%s)", name, note);
	else if (!strcmp(name, "config"))
		counted_line(out, name, count(c, "keys"), "key", "keys");
	else if (!strcmp(name, "code"))
		counted_line(out, name, count_files(c), "file", "files");
	else if (!strcmp(name, "runtime"))
		runtime_line(out, c);
	else if (!strcmp(name, "packages"))
		counted_line(out, name, count(c, "added") + count(c, "removed") + count(c, "upgraded") +
			     count(c, "lock_files"), "", "");
	else if (!strcmp(name, "env"))
		counted_line(out, name, count(c, "vars"), "variable", "variables");
	else
		strvec_pushf(out, "%s: changed", name);
}

char **verify_changes(const cJSON *cmp)
{
	struct strvec out = {0};
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cmp, "components")) {
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));
		if (c->string && !(st && !strcmp(st, "same")))
			component_line(&out, c->string, c);
	}
	return strvec_items(&out);
}

void verify_changes_free(char **lines)
{
	for (char **l = lines; l && *l; l++)
		free(*l);
	free(lines);
}
