/* Comparing two fingerprints (verify, diff): per component same/changed and what changed, in
 * JSON, and the human-readable report built from that JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "fingerprint.h"
#include "hash.h"
#include "util.h"

static const char *const components[] = { "config", "code", "runtime", "packages", "env" };

/* Fields compared by their own rules (or too big to list), not by the generic scalar diff. */
static bool special_field(const char *k)
{
	static const char *const names[] = { "hash", "values", "distributions", "vars", "hashed", "dirty_files",
					     "site_dirs", "lock_files", "files_list", "count", "rootfs_hash" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcmp(k, names[i]))
			return true;
	return false;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static char *scalar_text(const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return NULL;
	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	return fp_canonical_json(v);
}

/* Flatten scalars of o (not the special fields at top level) into out: "a.b" -> text. */
static void flatten(const cJSON *o, const char *prefix, cJSON *out, bool top)
{
	for (const cJSON *c = o ? o->child : NULL; c; c = c->next) {
		if (top && special_field(c->string))
			continue;
		char *k = *prefix ? xasprintf("%s.%s", prefix, c->string) : xstrdup(c->string);
		if (cJSON_IsObject(c)) {
			flatten(c, k, out, false);
		} else {
			char *t = scalar_text(c);
			cJSON_AddItemToObject(out, k, t ? cJSON_CreateString(t) : cJSON_CreateNull());
			free(t);
		}
		free(k);
	}
}

static cJSON *change(const char *keyname, const char *key, const cJSON *old, const cJSON *new)
{
	cJSON *ch = cJSON_CreateObject();
	cJSON_AddStringToObject(ch, keyname, key);
	cJSON_AddItemToObject(ch, "old", old ? cJSON_Duplicate(old, true) : cJSON_CreateNull());
	cJSON_AddItemToObject(ch, "new", new ? cJSON_Duplicate(new, true) : cJSON_CreateNull());
	return ch;
}

/* Every key whose value differs between two flat objects, as [{keyname, old, new}]. */
static cJSON *diff_maps(const cJSON *a, const cJSON *b, const char *keyname)
{
	cJSON *arr = cJSON_CreateArray();
	for (const cJSON *x = a ? a->child : NULL; x; x = x->next) {
		const cJSON *y = get(b, x->string);
		if (!y || !cJSON_Compare(x, y, true))
			cJSON_AddItemToArray(arr, change(keyname, x->string, x, y));
	}
	for (const cJSON *y = b ? b->child : NULL; y; y = y->next)
		if (!get(a, y->string))
			cJSON_AddItemToArray(arr, change(keyname, y->string, NULL, y));
	return arr;
}

static void add_nonempty(cJSON *o, const char *k, cJSON *arr)
{
	if (cJSON_GetArraySize(arr) > 0)
		cJSON_AddItemToObject(o, k, arr);
	else
		cJSON_Delete(arr);
}

/* "numpy==1.24.2" list -> {"numpy": "1.24.2"} (several versions of one name joined by ", "). */
static cJSON *dist_map(const cJSON *dists)
{
	cJSON *m = cJSON_CreateObject();
	for (const cJSON *e = dists ? dists->child : NULL; e; e = e->next) {
		if (!cJSON_IsString(e))
			continue;
		const char *s = e->valuestring, *eq = strstr(s, "==");
		char *name = eq ? xstrndup(s, (size_t)(eq - s)) : xstrdup(s);
		const char *ver = eq ? eq + 2 : "";
		cJSON *have = cJSON_GetObjectItemCaseSensitive(m, name);
		if (have) {
			char *joined = xasprintf("%s, %s", have->valuestring, ver);
			cJSON_ReplaceItemInObjectCaseSensitive(m, name, cJSON_CreateString(joined));
			free(joined);
		} else {
			cJSON_AddStringToObject(m, name, ver);
		}
		free(name);
	}
	return m;
}

static void compare_packages(const cJSON *a, const cJSON *b, cJSON *res)
{
	cJSON *ma = dist_map(get(a, "distributions")), *mb = dist_map(get(b, "distributions"));
	cJSON *added = cJSON_CreateArray(), *removed = cJSON_CreateArray(), *changed = cJSON_CreateArray();
	cJSON *all = diff_maps(ma, mb, "name");
	for (cJSON *c = all->child; c; c = c->next) {
		const cJSON *o = get(c, "old"), *n = get(c, "new");
		if (cJSON_IsNull(o))
			cJSON_AddItemToArray(added, cJSON_Duplicate(c, true));
		else if (cJSON_IsNull(n))
			cJSON_AddItemToArray(removed, cJSON_Duplicate(c, true));
		else
			cJSON_AddItemToArray(changed, cJSON_Duplicate(c, true));
	}
	cJSON_Delete(all);
	cJSON_Delete(ma);
	cJSON_Delete(mb);
	add_nonempty(res, "added", added);
	add_nonempty(res, "removed", removed);
	add_nonempty(res, "upgraded", changed);
	add_nonempty(res, "lock_files", diff_maps(get(a, "lock_files"), get(b, "lock_files"), "file"));
}

static void compare_env(const cJSON *a, const cJSON *b, cJSON *res)
{
	cJSON *all = diff_maps(get(a, "vars"), get(b, "vars"), "name");
	/* Never show a hashed secret's hash as if it were a value: names only for those. */
	for (cJSON *c = all->child; c; c = c->next) {
		const char *name = get(c, "name")->valuestring;
		bool secret = false;
		for (const cJSON *h = get(a, "hashed") ? get(a, "hashed")->child : NULL; h; h = h->next)
			secret |= cJSON_IsString(h) && !strcmp(h->valuestring, name);
		for (const cJSON *h = get(b, "hashed") ? get(b, "hashed")->child : NULL; h; h = h->next)
			secret |= cJSON_IsString(h) && !strcmp(h->valuestring, name);
		if (secret)
			cJSON_AddBoolToObject(c, "secret", true);
	}
	add_nonempty(res, "vars", all);
}

static cJSON *compare_component(const char *name, const cJSON *a, const cJSON *b)
{
	cJSON *res = cJSON_CreateObject();
	const char *ha = cJSON_GetStringValue(get(a, "hash")), *hb = cJSON_GetStringValue(get(b, "hash"));
	bool same = ha && hb && !strcmp(ha, hb);
	cJSON_AddStringToObject(res, "status", same ? "same" : "changed");
	if (same)
		return res;
	if (!a || !b) {
		cJSON_AddStringToObject(res, "note", a ? "not recorded now" : "not recorded in the run");
		return res;
	}
	if (!strcmp(name, "config"))
		add_nonempty(res, "keys", diff_maps(get(a, "values"), get(b, "values"), "key"));
	else if (!strcmp(name, "packages"))
		compare_packages(a, b, res);
	else if (!strcmp(name, "env"))
		compare_env(a, b, res);
	cJSON *fa = cJSON_CreateObject(), *fb = cJSON_CreateObject();
	flatten(a, "", fa, true);
	flatten(b, "", fb, true);
	add_nonempty(res, "changes", diff_maps(fa, fb, "field"));
	cJSON_Delete(fa);
	cJSON_Delete(fb);
	return res;
}

cJSON *fp_compare(const cJSON *old_env, const cJSON *new_env)
{
	cJSON *res = cJSON_CreateObject();
	const cJSON *fa = get(old_env, "fingerprint"), *fb = get(new_env, "fingerprint");
	bool same = cJSON_IsString(fa) && cJSON_IsString(fb) && !strcmp(fa->valuestring, fb->valuestring);
	cJSON_AddBoolToObject(res, "same", same);
	cJSON *f = cJSON_AddObjectToObject(res, "fingerprint");
	cJSON_AddItemToObject(f, "old", fa ? cJSON_Duplicate(fa, true) : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "new", fb ? cJSON_Duplicate(fb, true) : cJSON_CreateNull());
	cJSON *comps = cJSON_AddObjectToObject(res, "components");
	const cJSON *ca = get(old_env, "components"), *cb = get(new_env, "components");
	for (size_t i = 0; i < sizeof components / sizeof *components; i++)
		cJSON_AddItemToObject(comps, components[i],
				      compare_component(components[i], get(ca, components[i]), get(cb, components[i])));
	return res;
}

/* ---- file lists ---- */

static const char *row_path(const cJSON *row)
{
	return fp_files_row_path(row);
}

/* Same hash and mode (the size follows from the hash). */
static bool rows_equal(const cJSON *a, const cJSON *b)
{
	const char *pa = fp_files_row_path(a), *pb = fp_files_row_path(b);
	size_t la = pa ? (size_t)(pa - a->valuestring) : 0, lb = pb ? (size_t)(pb - b->valuestring) : 0;
	return la && la == lb && !strncmp(a->valuestring, b->valuestring, la);
}

/* Merge two path-sorted lists into {added, removed, modified} (each a list of paths). */
static void diff_lists(const cJSON *a, const cJSON *b, cJSON *into)
{
	cJSON *added = cJSON_CreateArray(), *removed = cJSON_CreateArray(), *modified = cJSON_CreateArray();
	const cJSON *x = a ? a->child : NULL, *y = b ? b->child : NULL;
	while (x || y) {
		const char *px = x ? row_path(x) : NULL, *py = y ? row_path(y) : NULL;
		if (x && !px) {
			x = x->next;
			continue;
		}
		if (y && !py) {
			y = y->next;
			continue;
		}
		int c = !px ? 1 : !py ? -1 : strcmp(px, py);
		if (c < 0) {
			cJSON_AddItemToArray(removed, cJSON_CreateString(px));
			x = x->next;
		} else if (c > 0) {
			cJSON_AddItemToArray(added, cJSON_CreateString(py));
			y = y->next;
		} else {
			if (!rows_equal(x, y))
				cJSON_AddItemToArray(modified, cJSON_CreateString(px));
			x = x->next;
			y = y->next;
		}
	}
	add_nonempty(into, "added", added);
	add_nonempty(into, "removed", removed);
	add_nonempty(into, "modified", modified);
}

void fp_compare_files(cJSON *cmp, const cJSON *old_files, const cJSON *new_files)
{
	cJSON *comps = cJSON_GetObjectItemCaseSensitive(cmp, "components");
	cJSON *code = cJSON_GetObjectItemCaseSensitive(comps, "code");
	cJSON *runtime = cJSON_GetObjectItemCaseSensitive(comps, "runtime");
	if (!old_files || !new_files)
		return;
	if (code && strcmp(cJSON_GetStringValue(get(code, "status")), "same"))
		diff_lists(get(old_files, "code"), get(new_files, "code"), code);
	const cJSON *ra = get(old_files, "rootfs"), *rb = get(new_files, "rootfs");
	if (runtime && (ra || rb) && strcmp(cJSON_GetStringValue(get(runtime, "status")), "same"))
		diff_lists(ra, rb, cJSON_AddObjectToObject(runtime, "rootfs_files"));
}

/* ---- text ---- */

static const char *text_or(const cJSON *v, const char *dflt)
{
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static void print_names(FILE *f, const char *label, const cJSON *arr)
{
	int i = 0, n = cJSON_GetArraySize(arr);
	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
		if (i == 20) {
			fprintf(f, "    %s: ... and %d more\n", label, n - 20);
			break;
		}
		fprintf(f, "    %s: %s\n", label, text_or(e, "?"));
	}
}

static void print_changes(FILE *f, const cJSON *arr, const char *keyname, bool values)
{
	for (const cJSON *c = arr ? arr->child : NULL; c; c = c->next) {
		const char *k = text_or(get(c, keyname), "?");
		const cJSON *o = get(c, "old"), *n = get(c, "new");
		char *os = scalar_text(o), *ns = scalar_text(n);
		bool show = values && !cJSON_IsTrue(get(c, "secret"));
		if (!os)
			fprintf(f, "    %s: added%s%s\n", k, show ? " = " : "", show ? ns : "");
		else if (!ns)
			fprintf(f, "    %s: removed%s%s%s\n", k, show ? " (was " : "", show ? os : "", show ? ")" : "");
		else if (show)
			fprintf(f, "    %s: %s \u2192 %s\n", k, os, ns);
		else
			fprintf(f, "    %s: changed\n", k);
		free(os);
		free(ns);
	}
}

static void print_packages(FILE *f, const cJSON *c)
{
	for (const cJSON *e = get(c, "upgraded") ? get(c, "upgraded")->child : NULL; e; e = e->next)
		fprintf(f, "    %s %s \u2192 %s\n", text_or(get(e, "name"), "?"), text_or(get(e, "old"), "?"),
			text_or(get(e, "new"), "?"));
	for (const cJSON *e = get(c, "added") ? get(c, "added")->child : NULL; e; e = e->next)
		fprintf(f, "    added: %s %s\n", text_or(get(e, "name"), "?"), text_or(get(e, "new"), "?"));
	for (const cJSON *e = get(c, "removed") ? get(c, "removed")->child : NULL; e; e = e->next)
		fprintf(f, "    removed: %s %s\n", text_or(get(e, "name"), "?"), text_or(get(e, "old"), "?"));
	print_changes(f, get(c, "lock_files"), "file", false);
}

static void short_hash(const cJSON *v, char out[13])
{
	const char *s = cJSON_GetStringValue(v);
	if (s && !strncmp(s, "sha256:", 7) && strlen(s) >= 19)
		snprintf(out, 13, "%s", s + 7);
	else
		snprintf(out, 13, "-");
}

char *fp_compare_text(const cJSON *cmp, bool all)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	const cJSON *fpr = get(cmp, "fingerprint");
	char a[13], b[13];
	short_hash(get(fpr, "old"), a);
	short_hash(get(fpr, "new"), b);
	if (cJSON_IsTrue(get(cmp, "same")))
		fprintf(f, "fingerprint  same     %s\n", a);
	else
		fprintf(f, "fingerprint  changed  %s \u2192 %s\n", a, b);
	const cJSON *comps = get(cmp, "components");
	for (size_t i = 0; i < sizeof components / sizeof *components; i++) {
		const cJSON *c = get(comps, components[i]);
		const char *st = text_or(get(c, "status"), "?");
		if (!all && !strcmp(st, "same"))
			continue;
		fprintf(f, "  %-10s %s\n", components[i], st);
		if (get(c, "note"))
			fprintf(f, "    %s\n", text_or(get(c, "note"), ""));
		print_changes(f, get(c, "keys"), "key", true);
		if (!strcmp(components[i], "packages"))
			print_packages(f, c);
		else {
			print_names(f, "modified", get(c, "modified"));
			print_names(f, "added", get(c, "added"));
			print_names(f, "removed", get(c, "removed"));
		}
		print_changes(f, get(c, "vars"), "name", true);
		const cJSON *rf = get(c, "rootfs_files");
		if (rf) {
			print_names(f, "rootfs modified", get(rf, "modified"));
			print_names(f, "rootfs added", get(rf, "added"));
			print_names(f, "rootfs removed", get(rf, "removed"));
		}
		print_changes(f, get(c, "changes"), "field", true);
	}
	if (fclose(f) != 0)
		abort();
	return buf;
}
