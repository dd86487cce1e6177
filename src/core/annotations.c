/* annotations.h: tags and a note added to a run after it ran. */
#include "annotations.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "index.h"
#include "runs.h"

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
		const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "revision");
		a->revision = cJSON_IsNumber(rev) && rev->valuedouble >= 1 ? (long long)rev->valuedouble : 1;
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
	if (!a->added.n && !a->removed.n && !a->note && a->revision == 0) {
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
	if (a->revision > 0)
		cJSON_AddNumberToObject(j, "revision", (double)a->revision);
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

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 64)
		return false;
	for (; *t; t++)
		if (!isalnum((unsigned char)*t) && !strchr("._-:/", *t))
			return false;
	return true;
}

int annotations_check_tag(const char *change, struct rp_err *err)
{
	const char *t = change[0] == '+' || change[0] == '-' ? change + 1 : change;
	if (!valid_tag(t))
		return rp_err_set(err, RP_ERR_USAGE,
				  "tag '%s' may only use letters, digits and '._-:/' (at most 64); -TAG removes one", change);
	return 0;
}

int annotations_check_note(const char *note, struct rp_err *err)
{
	if (strlen(note) > RP_NOTE_MAX || strchr(note, '\n'))
		return rp_err_set(err, RP_ERR_USAGE, "a note is one line of at most %d bytes", RP_NOTE_MAX);
	return 0;
}

/* The run's row again, now that its annotations changed (readers do not watch that file). */
static void reindex_run(const struct rp_store *st, const char *dir)
{
	struct rp_run raw;
	if (record_read(dir, &raw, NULL) == 0) {
		index_note_run(st, dir, &raw, NULL, NULL);
		record_free(&raw);
	}
}

int annotate_run(const char *ref, void (*change)(struct rp_annotations *a, void *ctx), void *ctx, struct rp_err *err)
{
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(ref, &st, &r, &dir, err) < 0)
		return -1;
	struct rp_annotations a;
	int rc = annotations_read(dir, &a, err);
	if (rc == 0) {
		change(&a, ctx);
		a.revision++;
		rc = annotations_write(dir, &a, err);
	}
	if (rc == 0)
		reindex_run(&st, dir);
	annotations_free(&a);
	record_free(&r);
	free(dir);
	store_close(&st);
	return rc;
}
