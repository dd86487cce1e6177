/* run.json's env, paths, host, runner and invocation sections (sections.h). */
#include "sections.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "runner.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

cJSON *env_section(char *const *envp)
{
	size_t n = 0;
	while (envp[n])
		n++;
	char **sorted = xmalloc((n + 1) * sizeof *sorted);
	memcpy(sorted, envp, (n + 1) * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_str);
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(sorted[i], '=');
		if (!eq)
			continue;
		char *name = xstrndup(sorted[i], (size_t)(eq - sorted[i]));
		cJSON_AddStringToObject(o, name, env_looks_secret(name, eq + 1) ? "<redacted>" : eq + 1);
		free(name);
	}
	free(sorted);
	return o;
}

cJSON *paths_section(const char *run_dir)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "run_dir", run_dir);
	static const char *const files[][2] = {{"logs", "logs.txt"}, {"outputs", "outputs"},
					       {"config", "config.yaml"}, {"params", "params.json"}};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char *f = path_join(run_dir, files[i][1]);
		cJSON_AddStringToObject(p, files[i][0], f);
		free(f);
	}
	return p;
}

void record_fill_host(struct rp_run *r)
{
	struct utsname u;
	if (uname(&u) == 0) {
		r->host_hostname = xstrdup(u.nodename);
		r->host_kernel = xstrdup(u.release);
		r->host_arch = xstrdup(u.machine);
	}
	struct passwd *pw = getpwuid(geteuid());
	r->host_user = pw ? xstrdup(pw->pw_name) : xasprintf("%d", (int)geteuid());
	r->supervisor_pid = (int)getpid();
	r->supervisor_start_ticks = process_start_ticks(getpid());
	r->supervisor_boot_id = current_boot_id();
}

cJSON *runner_section(struct runner *rn)
{
	cJSON *o = rn->ops->describe ? rn->ops->describe(rn) : cJSON_CreateObject();
	if (!cJSON_GetObjectItemCaseSensitive(o, "type"))
		cJSON_AddStringToObject(o, "type", rn->ops->type);
	if (rn->fallback_reason)
		cJSON_AddStringToObject(o, "fallback_reason", rn->fallback_reason);
	else
		cJSON_AddNullToObject(o, "fallback_reason");
	return o;
}

cJSON *invocation_section(const char *config_path, const char *runner, const struct rp_overrides *ov,
			  const char *rerun_of)
{
	cJSON *inv = cJSON_CreateObject();
	cJSON_AddStringToObject(inv, "command", rerun_of ? "rerun" : "run");
	if (rerun_of)
		cJSON_AddStringToObject(inv, "rerun_of", rerun_of);
	cJSON_AddStringToObject(inv, "config_path", config_path);
	cJSON_AddStringToObject(inv, "runner", runner);
	cJSON *o = cJSON_AddObjectToObject(inv, "overrides");
	if (ov->name)
		cJSON_AddStringToObject(o, "name", ov->name);
	cJSON_AddItemToObject(o, "tags", cJSON_CreateStringArray(ov->tags, (int)ov->ntags));
	cJSON_AddItemToObject(o, "params", cJSON_CreateStringArray(ov->params, (int)ov->nparams));
	cJSON_AddItemToObject(o, "resources", config_resources_json(&ov->resources));
	if (ov->resolved)
		cJSON_AddBoolToObject(o, "resolved", true);
	return inv;
}

cJSON *config_sources_section(const struct rp_spec *spec)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < spec->nsources; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", spec->sources[i].path);
		cJSON_AddStringToObject(o, "role", config_source_name(spec->sources[i].role));
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static char *string_or_null(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? xstrdup(s) : NULL;
}

static void read_strings(const cJSON *a, struct strvec *out)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, a)
		if (cJSON_IsString(it))
			strvec_push(out, it->valuestring);
}

void invocation_read(const cJSON *section, struct run_invocation *inv)
{
	memset(inv, 0, sizeof *inv);
	inv->command = string_or_null(section, "command");
	inv->rerun_of = string_or_null(section, "rerun_of");
	inv->config_path = string_or_null(section, "config_path");
	inv->runner = string_or_null(section, "runner");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(section, "overrides");
	inv->name = string_or_null(o, "name");
	read_strings(cJSON_GetObjectItemCaseSensitive(o, "tags"), &inv->tags);
	read_strings(cJSON_GetObjectItemCaseSensitive(o, "params"), &inv->params);
	inv->ov.name = inv->name;
	inv->ov.tags = (const char **)strvec_items(&inv->tags);
	inv->ov.ntags = inv->tags.n;
	inv->ov.params = (const char **)strvec_items(&inv->params);
	inv->ov.nparams = inv->params.n;
	config_resources_from_json(cJSON_GetObjectItemCaseSensitive(o, "resources"), &inv->ov.resources);
	inv->ov.resolved = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "resolved"));
}

void invocation_free(struct run_invocation *inv)
{
	free(inv->command);
	free(inv->rerun_of);
	free(inv->config_path);
	free(inv->runner);
	free(inv->name);
	strvec_free(&inv->tags);
	strvec_free(&inv->params);
	memset(inv, 0, sizeof *inv);
}
