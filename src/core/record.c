/* record.c: run.json, the run's single source of truth. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "util.h"

static const char *const status_names[] = {"running", "success", "failed", "cancelled", "lost", "queued"};

/* Keys record.c owns; everything else at the top level is a section. */
static const char *const core_keys[] = {
	"schema_version", "id", "uid", "name", "status", "reason", "created_at", "started_at", "ended_at",
	"duration_s", "exit_code", "signal", "entrypoint", "argv", "workdir", "image", "params", "tags",
	"env", "runner", "host", "supervisor", "runpilot_version", "paths", "parent", NULL};

const char *status_name(enum rp_status s)
{
	return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : "unknown";
}

int status_parse(const char *s, enum rp_status *out)
{
	for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++)
		if (s && !strcmp(s, status_names[i])) {
			*out = (enum rp_status)i;
			return 0;
		}
	return -1;
}

bool status_live(enum rp_status s)
{
	return s == RP_RUNNING || s == RP_QUEUED;
}

static void add_time(cJSON *o, const char *key, double t)
{
	if (t > 0) {
		char buf[40];
		format_rfc3339(t, buf);
		cJSON_AddStringToObject(o, key, buf);
	} else {
		cJSON_AddNullToObject(o, key);
	}
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *dup_or_empty_object(const cJSON *j)
{
	return j ? cJSON_Duplicate(j, 1) : cJSON_CreateObject();
}

static cJSON *strings_to_array(char **v)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

cJSON *record_to_json(const struct rp_run *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "schema_version", r->schema_version ? r->schema_version : RP_SCHEMA_VERSION);
	add_str_or_null(o, "id", r->id);
	add_str_or_null(o, "uid", r->uid);
	if (r->parent) /* only a rerun has one */
		cJSON_AddStringToObject(o, "parent", r->parent);
	add_str_or_null(o, "name", r->name);
	cJSON_AddStringToObject(o, "status", status_name(r->status));
	add_str_or_null(o, "reason", r->reason);
	add_time(o, "created_at", r->created_at);
	add_time(o, "started_at", r->started_at);
	add_time(o, "ended_at", r->ended_at);
	if (r->duration_s >= 0)
		cJSON_AddNumberToObject(o, "duration_s", r->duration_s);
	else
		cJSON_AddNullToObject(o, "duration_s");
	if (r->has_exit_code)
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	if (r->signal)
		cJSON_AddNumberToObject(o, "signal", r->signal);
	else
		cJSON_AddNullToObject(o, "signal");
	add_str_or_null(o, "entrypoint", r->entrypoint);
	cJSON_AddItemToObject(o, "argv", strings_to_array(r->argv));
	add_str_or_null(o, "workdir", r->workdir);
	add_str_or_null(o, "image", r->image);
	cJSON_AddItemToObject(o, "params", dup_or_empty_object(r->params));
	cJSON_AddItemToObject(o, "tags", strings_to_array(r->tags));
	cJSON_AddItemToObject(o, "env", dup_or_empty_object(r->env));
	cJSON_AddItemToObject(o, "runner", dup_or_empty_object(r->runner));
	cJSON *host = cJSON_AddObjectToObject(o, "host");
	add_str_or_null(host, "hostname", r->host_hostname);
	add_str_or_null(host, "kernel", r->host_kernel);
	add_str_or_null(host, "arch", r->host_arch);
	add_str_or_null(host, "user", r->host_user);
	cJSON *sup = cJSON_AddObjectToObject(o, "supervisor");
	cJSON_AddNumberToObject(sup, "pid", r->supervisor_pid);
	cJSON_AddNumberToObject(sup, "start_ticks", (double)r->supervisor_start_ticks);
	add_str_or_null(sup, "boot_id", r->supervisor_boot_id);
	add_str_or_null(o, "runpilot_version", r->runpilot_version);
	cJSON_AddItemToObject(o, "paths", dup_or_empty_object(r->paths));
	for (const cJSON *c = r->sections ? r->sections->child : NULL; c; c = c->next)
		cJSON_AddItemToObject(o, c->string, cJSON_Duplicate(c, 1));
	return o;
}

static char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static double get_time(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double t = 0;
	if (cJSON_IsString(v) && parse_rfc3339(v->valuestring, &t) == 0)
		return t;
	return 0;
}

static char **get_strings(const cJSON *o, const char *key)
{
	struct strvec sv = {0};
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *it;
	cJSON_ArrayForEach(it, a)
		if (cJSON_IsString(it))
			strvec_push(&sv, it->valuestring);
	return strvec_items(&sv);
}

static cJSON *get_object(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsObject(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateObject();
}

static bool is_core_key(const char *k)
{
	for (size_t i = 0; core_keys[i]; i++)
		if (!strcmp(core_keys[i], k))
			return true;
	return false;
}

int record_from_json(const cJSON *j, struct rp_run *r, struct rp_err *err)
{
	memset(r, 0, sizeof *r);
	if (!cJSON_IsObject(j))
		return rp_err_set(err, RP_ERR_RUNTIME, "run.json is not a JSON object");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "schema_version");
	r->schema_version = cJSON_IsNumber(v) ? v->valueint : 0;
	r->id = get_str(j, "id");
	r->uid = get_str(j, "uid");
	r->parent = get_str(j, "parent");
	r->name = get_str(j, "name");
	char *st = get_str(j, "status");
	if (status_parse(st, &r->status) < 0) {
		free(st);
		record_free(r);
		return rp_err_set(err, RP_ERR_RUNTIME, "run.json has no valid status");
	}
	free(st);
	r->reason = get_str(j, "reason");
	r->created_at = get_time(j, "created_at");
	r->started_at = get_time(j, "started_at");
	r->ended_at = get_time(j, "ended_at");
	v = cJSON_GetObjectItemCaseSensitive(j, "duration_s");
	r->duration_s = cJSON_IsNumber(v) ? v->valuedouble : -1;
	v = cJSON_GetObjectItemCaseSensitive(j, "exit_code");
	r->has_exit_code = cJSON_IsNumber(v);
	r->exit_code = r->has_exit_code ? v->valueint : 0;
	v = cJSON_GetObjectItemCaseSensitive(j, "signal");
	r->signal = cJSON_IsNumber(v) ? v->valueint : 0;
	r->entrypoint = get_str(j, "entrypoint");
	r->argv = get_strings(j, "argv");
	r->workdir = get_str(j, "workdir");
	r->image = get_str(j, "image");
	r->params = get_object(j, "params");
	r->tags = get_strings(j, "tags");
	r->env = get_object(j, "env");
	r->runner = get_object(j, "runner");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "host");
	r->host_hostname = get_str(host, "hostname");
	r->host_kernel = get_str(host, "kernel");
	r->host_arch = get_str(host, "arch");
	r->host_user = get_str(host, "user");
	const cJSON *sup = cJSON_GetObjectItemCaseSensitive(j, "supervisor");
	v = cJSON_GetObjectItemCaseSensitive(sup, "pid");
	r->supervisor_pid = cJSON_IsNumber(v) ? v->valueint : 0;
	v = cJSON_GetObjectItemCaseSensitive(sup, "start_ticks");
	/* an edited value out of range is unknown, not a conversion with undefined behaviour */
	r->supervisor_start_ticks = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 18446744073709551616.0
		? (unsigned long long)v->valuedouble : 0;
	r->supervisor_boot_id = get_str(sup, "boot_id");
	r->runpilot_version = get_str(j, "runpilot_version");
	r->paths = get_object(j, "paths");
	r->sections = cJSON_CreateObject();
	for (const cJSON *c = j->child; c; c = c->next)
		if (c->string && !is_core_key(c->string))
			cJSON_AddItemToObject(r->sections, c->string, cJSON_Duplicate(c, 1));
	return 0;
}

int record_write(const char *run_dir, const struct rp_run *r, struct rp_err *err)
{
	return record_write_flags(run_dir, r, 0, err);
}

int record_write_begin(const char *run_dir, const struct rp_run *r, struct atomic_file *f, struct rp_err *err)
{
	cJSON *j = record_to_json(r);
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	if (!text)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot serialise run.json");
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	char *path = path_join(run_dir, "run.json");
	int rc = atomic_file_begin(f, path, text, len, 0644, err);
	free(path);
	free(text);
	return rc;
}

int record_write_flags(const char *run_dir, const struct rp_run *r, int flags, struct rp_err *err)
{
	struct atomic_file f;
	if (record_write_begin(run_dir, r, &f, err) < 0)
		return -1;
	return atomic_file_commit(&f, flags, err);
}

int record_read(const char *run_dir, struct rp_run *r, struct rp_err *err)
{
	char *path = path_join(run_dir, "run.json");
	char *text;
	memset(r, 0, sizeof *r);
	if (read_file(path, &text, NULL, err) < 0) {
		free(path);
		return -1;
	}
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!j) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s is not valid JSON", path);
		free(path);
		return -1;
	}
	int rc = record_from_json(j, r, err);
	cJSON_Delete(j);
	if (rc < 0)
		rp_err_wrap(err, "%s", path);
	free(path);
	return rc;
}

static void free_strings(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void record_free(struct rp_run *r)
{
	free(r->id);
	free(r->uid);
	free(r->parent);
	free(r->name);
	free(r->reason);
	free(r->entrypoint);
	free_strings(r->argv);
	free(r->workdir);
	free(r->image);
	cJSON_Delete(r->params);
	free_strings(r->tags);
	cJSON_Delete(r->env);
	cJSON_Delete(r->runner);
	free(r->host_hostname);
	free(r->host_kernel);
	free(r->host_arch);
	free(r->host_user);
	free(r->supervisor_boot_id);
	free(r->runpilot_version);
	cJSON_Delete(r->paths);
	cJSON_Delete(r->sections);
	memset(r, 0, sizeof *r);
}

const cJSON *record_section(const struct rp_run *r, const char *name)
{
	return r->sections ? cJSON_GetObjectItemCaseSensitive(r->sections, name) : NULL;
}

void record_set_section(struct rp_run *r, const char *name, cJSON *value)
{
	if (!r->sections)
		r->sections = cJSON_CreateObject();
	if (cJSON_GetObjectItemCaseSensitive(r->sections, name))
		cJSON_ReplaceItemInObjectCaseSensitive(r->sections, name, value);
	else
		cJSON_AddItemToObject(r->sections, name, value);
}

const char *record_supervisor_gone_reason(const struct rp_run *r, const char *boot_id)
{
	if (!status_live(r->status))
		return NULL;
	if (r->supervisor_boot_id && boot_id && strcmp(r->supervisor_boot_id, boot_id) != 0)
		return "host rebooted";
	if (r->supervisor_pid <= 0)
		return "supervisor unknown";
	if (!process_alive(r->supervisor_pid))
		return "supervisor died";
	if (r->supervisor_start_ticks &&
	    process_start_ticks(r->supervisor_pid) != r->supervisor_start_ticks)
		return "supervisor died";
	return NULL;
}

void record_cgroup_name(const char *id, const char *uid, char out[48])
{
	snprintf(out, 48, "%s-%.8s", id ? id : "run", uid && *uid ? uid : "0");
}
