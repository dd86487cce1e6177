/* annotations.h: tags and a note added to a run after it ran. */
#include "annotations.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

static bool has(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return true;
	return false;
}

static void drop(struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s)) {
			free(sv->v[i]);
			memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i - 1) * sizeof *sv->v);
			sv->n--;
			return;
		}
}

static void strings_into(const cJSON *a, struct strvec *out)
{
	for (const cJSON *it = cJSON_IsArray(a) ? a->child : NULL; it; it = it->next)
		if (cJSON_IsString(it) && !has(out, it->valuestring))
			strvec_push(out, it->valuestring);
}

int annotations_read(const char *run_dir, struct rp_annotations *a, struct rp_err *err)
{
	memset(a, 0, sizeof *a);
	char *path = path_join(run_dir, RP_ANNOTATIONS_FILE);
	char *text = NULL;
	size_t len;
	struct rp_err why = {0};
	int rc = 0;
	if (read_file(path, &text, &len, &why) < 0) {
		if (why.sys_errno != ENOENT) {
			*err = why;
			rc = -1;
		}
		free(path);
		return rc;
	}
	cJSON *j = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(j)) {
		rc = rp_err_set(err, RP_ERR_RUNTIME, "%s is not a JSON object", path);
	} else {
		strings_into(cJSON_GetObjectItemCaseSensitive(j, "tags_added"), &a->added);
		strings_into(cJSON_GetObjectItemCaseSensitive(j, "tags_removed"), &a->removed);
		const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "note"));
		a->note = note && *note ? xstrdup(note) : NULL;
	}
	cJSON_Delete(j);
	free(text);
	free(path);
	return rc;
}

static cJSON *string_array(const struct strvec *sv)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

int annotations_write(const char *run_dir, const struct rp_annotations *a, struct rp_err *err)
{
	char *path = path_join(run_dir, RP_ANNOTATIONS_FILE);
	int rc = 0;
	if (!a->added.n && !a->removed.n && !a->note) {
		if (unlink(path) < 0 && errno != ENOENT)
			rc = rp_err_sys(err, "cannot remove %s", path);
		free(path);
		return rc;
	}
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "tags_added", string_array(&a->added));
	cJSON_AddItemToObject(j, "tags_removed", string_array(&a->removed));
	if (a->note)
		cJSON_AddStringToObject(j, "note", a->note);
	else
		cJSON_AddNullToObject(j, "note");
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	rc = write_file_atomic(path, text, n + 1, 0644, err);
	free(text);
	free(path);
	return rc;
}

void annotations_free(struct rp_annotations *a)
{
	strvec_free(&a->added);
	strvec_free(&a->removed);
	free(a->note);
	a->note = NULL;
}

void annotations_tag(struct rp_annotations *a, const char *change)
{
	bool remove = change[0] == '-';
	const char *tag = change[0] == '+' || remove ? change + 1 : change;
	if (remove) {
		drop(&a->added, tag);
		if (!has(&a->removed, tag))
			strvec_push(&a->removed, tag);
	} else {
		drop(&a->removed, tag);
		if (!has(&a->added, tag))
			strvec_push(&a->added, tag);
	}
}

void annotations_tags(const struct rp_annotations *a, char **record_tags, struct strvec *out)
{
	for (size_t i = 0; record_tags && record_tags[i]; i++)
		if (!has(&a->removed, record_tags[i]) && !has(out, record_tags[i]))
			strvec_push(out, record_tags[i]);
	for (size_t i = 0; i < a->added.n; i++)
		if (!has(out, a->added.v[i]))
			strvec_push(out, a->added.v[i]);
}

void annotations_apply_json(const struct rp_annotations *a, cJSON *record)
{
	if (!a->added.n && !a->removed.n && !a->note)
		return;
	struct strvec tags = {0};
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(record, "tags");
	struct strvec record_tags = {0};
	strings_into(old, &record_tags);
	annotations_tags(a, record_tags.v, &tags);
	strvec_free(&record_tags);
	if (old)
		cJSON_ReplaceItemInObjectCaseSensitive(record, "tags", string_array(&tags));
	else
		cJSON_AddItemToObject(record, "tags", string_array(&tags));
	cJSON_DeleteItemFromObjectCaseSensitive(record, "note");
	if (a->note)
		cJSON_AddStringToObject(record, "note", a->note);
	strvec_free(&tags);
}
