/* The UI's compare: runs side by side (rows as the table's), the params that differ, every
 * metric any of them has, and per fingerprint component what changed against the first run,
 * compared as `runpilot diff` compares two runs (fp_compare, then the per-file lists). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "fingerprint.h"
#include "ui_int.h"
#include "ui_parts.h"
#include "ui_source.h"
#include "util.h"

#define NAMES_SHOWN 50            /* file names per list in a summary */

static const char *const components[] = {"code", "config", "runtime", "packages", "env"};

struct cmp_side {
	struct rp_run r;
	char *dir;
	bool loaded;
	cJSON *files;             /* the per-file list, or NULL */
};

static char *scalar(const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return NULL;
	return cJSON_IsString(v) ? xstrdup(v->valuestring) : cJSON_PrintUnformatted(v);
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* "label: name" for each string of a list (at most NAMES_SHOWN, then how many more). */
static void add_names(cJSON *out, const char *label, const cJSON *arr)
{
	int i = 0, n = cJSON_GetArraySize(arr);
	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
		if (i == NAMES_SHOWN) {
			char *s = xasprintf("%s: ... and %d more", label, n - NAMES_SHOWN);
			cJSON_AddItemToArray(out, cJSON_CreateString(s));
			free(s);
			break;
		}
		if (!cJSON_IsString(e))
			continue;
		char *s = xasprintf("%s: %s", label, e->valuestring);
		cJSON_AddItemToArray(out, cJSON_CreateString(s));
		free(s);
	}
}

/* {keyname, old, new} changes as "k: old → new", "k: added", "k: removed" (values hidden). */
static void add_changes(cJSON *out, const cJSON *arr, const char *keyname, bool values)
{
	for (const cJSON *c = arr ? arr->child : NULL; c; c = c->next) {
		const char *k = cJSON_GetStringValue(get(c, keyname));
		char *o = scalar(get(c, "old")), *n = scalar(get(c, "new")), *s;
		bool show = values && !cJSON_IsTrue(get(c, "secret"));
		if (!o)
			s = show ? xasprintf("%s: added = %s", k ? k : "?", n ? n : "") : xasprintf("%s: added", k ? k : "?");
		else if (!n)
			s = show ? xasprintf("%s: removed (was %s)", k ? k : "?", o) : xasprintf("%s: removed", k ? k : "?");
		else
			s = show ? xasprintf("%s: %s \u2192 %s", k ? k : "?", o, n) : xasprintf("%s: changed", k ? k : "?");
		cJSON_AddItemToArray(out, cJSON_CreateString(s));
		free(s);
		free(o);
		free(n);
	}
}

static void add_packages(cJSON *out, const cJSON *c)
{
	for (const cJSON *e = get(c, "upgraded") ? get(c, "upgraded")->child : NULL; e; e = e->next) {
		char *o = scalar(get(e, "old")), *n = scalar(get(e, "new"));
		char *s = xasprintf("%s %s \u2192 %s", cJSON_GetStringValue(get(e, "name")) ?: "?", o ?: "?", n ?: "?");
		cJSON_AddItemToArray(out, cJSON_CreateString(s));
		free(s);
		free(o);
		free(n);
	}
	static const char *const lists[] = {"added", "removed"};
	for (int k = 0; k < 2; k++)
		for (const cJSON *e = get(c, lists[k]) ? get(c, lists[k])->child : NULL; e; e = e->next) {
			char *v = scalar(get(e, k ? "old" : "new"));
			char *s = xasprintf("%s: %s %s", lists[k], cJSON_GetStringValue(get(e, "name")) ?: "?", v ?: "");
			cJSON_AddItemToArray(out, cJSON_CreateString(s));
			free(s);
			free(v);
		}
	add_changes(out, get(c, "lock_files"), "file", false);
}

/* One component's comparison (fp_compare's) as lines a person reads. */
static cJSON *summary(const char *name, const cJSON *c)
{
	cJSON *out = cJSON_CreateArray();
	if (cJSON_GetStringValue(get(c, "note")))
		cJSON_AddItemToArray(out, cJSON_CreateString(get(c, "note")->valuestring));
	add_changes(out, get(c, "keys"), "key", true);
	if (!strcmp(name, "packages")) {
		add_packages(out, c);
	} else {
		add_names(out, "modified", get(c, "modified"));
		add_names(out, "added", get(c, "added"));
		add_names(out, "removed", get(c, "removed"));
	}
	add_changes(out, get(c, "vars"), "name", false);
	const cJSON *rf = get(c, "rootfs_files");
	add_names(out, "rootfs modified", get(rf, "modified"));
	add_names(out, "rootfs added", get(rf, "added"));
	add_names(out, "rootfs removed", get(rf, "removed"));
	add_changes(out, get(c, "changes"), "field", true);
	return out;
}

/* environment: per component, whether any run differs from the first and what changed. */
static cJSON *environment(struct ui_compare_side *sides, size_t n)
{
	cJSON *cmps[UI_COMPARE_TABLE_MAX] = {0};
	const cJSON *e0 = record_section(sides[0].r, "environment");
	for (size_t i = 1; i < n; i++) {
		const cJSON *ei = record_section(sides[i].r, "environment");
		if (get(e0, "fingerprint") && get(ei, "fingerprint")) {
			cmps[i] = fp_compare(e0, ei);
			fp_compare_files(cmps[i], sides[0].files, sides[i].files);
		}
	}
	cJSON *out = cJSON_CreateArray();
	for (size_t k = 0; k < sizeof components / sizeof *components; k++) {
		cJSON *entry = cJSON_CreateObject();
		cJSON_AddStringToObject(entry, "component", components[k]);
		cJSON *changes = cJSON_CreateArray();
		bool differs = false;
		for (size_t i = 1; i < n; i++) {
			const cJSON *c = cmps[i] ? get(get(cmps[i], "components"), components[k]) : NULL;
			if (c && !strcmp(cJSON_GetStringValue(get(c, "status")) ?: "", "same"))
				continue;
			differs = true;
			cJSON *ch = cJSON_CreateObject();
			cJSON_AddStringToObject(ch, "run", sides[i].label);
			cJSON_AddStringToObject(ch, "against", sides[0].label);
			if (c) {
				cJSON_AddItemToObject(ch, "summary", summary(components[k], c));
				cJSON_AddItemToObject(ch, "detail", cJSON_Duplicate(c, true));
			} else {
				cJSON *s = cJSON_AddArrayToObject(ch, "summary");
				cJSON_AddItemToArray(s, cJSON_CreateString("no fingerprint recorded"));
			}
			cJSON_AddItemToArray(changes, ch);
		}
		cJSON_AddBoolToObject(entry, "differs", differs);
		cJSON_AddItemToObject(entry, "changes", changes);
		cJSON_AddItemToArray(out, entry);
	}
	for (size_t i = 1; i < n; i++)
		cJSON_Delete(cmps[i]);
	return out;
}

/* params: {"differing": {k: [v per run]}, "same": {k: v}}, keys in the order first seen. */
static cJSON *params(struct ui_compare_side *sides, size_t n)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *diff = cJSON_AddObjectToObject(out, "differing"), *same = cJSON_AddObjectToObject(out, "same");
	struct strvec keys = {0};
	for (size_t i = 0; i < n; i++)
		for (const cJSON *p = cJSON_IsObject(sides[i].r->params) ? sides[i].r->params->child : NULL; p; p = p->next) {
			bool seen = false;
			for (size_t k = 0; k < keys.n && !seen; k++)
				seen = !strcmp(keys.v[k], p->string);
			if (!seen)
				strvec_push(&keys, p->string);
		}
	for (size_t k = 0; k < keys.n; k++) {
		const cJSON *first = get(sides[0].r->params, keys.v[k]);
		bool all_same = first != NULL;
		for (size_t i = 1; i < n && all_same; i++) {
			const cJSON *v = get(sides[i].r->params, keys.v[k]);
			all_same = v && cJSON_Compare(first, v, true);
		}
		if (all_same) {
			cJSON_AddItemToObject(same, keys.v[k], cJSON_Duplicate(first, true));
			continue;
		}
		cJSON *vals = cJSON_AddArrayToObject(diff, keys.v[k]);
		for (size_t i = 0; i < n; i++) {
			const cJSON *v = get(sides[i].r->params, keys.v[k]);
			cJSON_AddItemToArray(vals, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
		}
	}
	strvec_free(&keys);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

_Static_assert(sizeof UI_FILES_NAME == sizeof FP_FILES_NAME, "UI_FILES_NAME is FP_FILES_NAME");

cJSON *ui_files_load(const char *path)
{
	cJSON *files = NULL;
	if (fp_files_load(path, &files, NULL) < 0)
		return NULL;
	return files;
}

cJSON *ui_compare_answer(struct ui_compare_side *sides, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *rows = cJSON_AddArrayToObject(o, "runs");
	struct strvec metrics = {0};
	for (size_t i = 0; i < n; i++) {
		cJSON *row = sides[i].row;
		sides[i].row = NULL;
		for (const cJSON *v = get(row, "values") ? get(row, "values")->child : NULL; v; v = v->next)
			if (!strncmp(v->string, "metrics.", 8)) {
				bool seen = false;
				for (size_t k = 0; k < metrics.n && !seen; k++)
					seen = !strcmp(metrics.v[k], v->string + 8);
				if (!seen)
					strvec_push(&metrics, v->string + 8);
			}
		cJSON_AddItemToArray(rows, row);
	}
	if (metrics.n > 1)
		qsort(metrics.v, metrics.n, sizeof *metrics.v, cmp_str);
	cJSON_AddItemToObject(o, "params", params(sides, n));
	cJSON *m = cJSON_AddArrayToObject(o, "metrics");
	for (size_t k = 0; k < metrics.n; k++)
		cJSON_AddItemToArray(m, cJSON_CreateString(metrics.v[k]));
	strvec_free(&metrics);
	cJSON_AddItemToObject(o, "environment", environment(sides, n));
	return o;
}

int ui_compare_runs(const struct rp_store *st, char **ids, size_t n, cJSON **out, struct rp_err *err)
{
	if (n == 0)
		return rp_err_set(err, RP_ERR_USAGE, "ids: name at least one run");
	if (n > UI_COMPARE_TABLE_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "ids: at most %d runs", UI_COMPARE_TABLE_MAX);
	struct cmp_side *sides = xcalloc(n, sizeof *sides);
	struct ui_compare_side *cs = xcalloc(n, sizeof *cs);
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		if (ui_load_run(st, ids[i], &sides[i].r, &sides[i].dir, err) < 0)
			goto out;
		sides[i].loaded = true;
		char *fp = path_join(sides[i].dir, FP_FILES_NAME);
		if (path_exists(fp) && fp_files_load(fp, &sides[i].files, NULL) < 0)
			sides[i].files = NULL; /* a broken list only costs the file names */
		free(fp);
	}
	for (size_t i = 0; i < n; i++)
		cs[i] = (struct ui_compare_side){&sides[i].r, sides[i].r.id, ui_row_from_record(sides[i].dir, &sides[i].r),
						 sides[i].files};
	*out = ui_compare_answer(cs, n);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		if (sides[i].loaded)
			record_free(&sides[i].r);
		free(sides[i].dir);
		cJSON_Delete(sides[i].files);
	}
	free(cs);
	free(sides);
	return rc;
}
