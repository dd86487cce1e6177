/* runpilot diff: two runs side by side — params, config, tags, status, runner, resources used,
 * and every environment fingerprint component with what changed. Differences only, unless --all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cli.h"
#include "cmds.h"
#include "fingerprint.h"
#include "print.h"
#include "runs.h"
#include "util.h"

const char usage_diff[] =
	"usage: runpilot diff RUN_A RUN_B [--all] [--json]\n"
	"\n"
	"Compare two runs: name, status, runner, params, tags, config, resources used, and each\n"
	"environment fingerprint component (files, packages, env names, interpreter... that changed).\n"
	"\n"
	"  --all    show every field, not only the differences\n"
	"  --json   print the comparison as JSON\n";

struct diff_side {
	struct rp_store st;
	struct rp_run r;
	char *dir;
	bool loaded;
	cJSON *files;   /* the run's per-file list, or NULL */
};

static char *text_of(const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return NULL;
	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	return cJSON_PrintUnformatted(v);
}

/* One row: field, value in A, value in B (NULL = absent). Takes ownership of a and b. */
static void add_row(cJSON *rows, const char *field, char *a, char *b)
{
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "field", field);
	cJSON_AddItemToObject(row, "a", a ? cJSON_CreateString(a) : cJSON_CreateNull());
	cJSON_AddItemToObject(row, "b", b ? cJSON_CreateString(b) : cJSON_CreateNull());
	cJSON_AddBoolToObject(row, "same", (!a && !b) || (a && b && !strcmp(a, b)));
	cJSON_AddItemToArray(rows, row);
	free(a);
	free(b);
}

/* Rows for every key of two flat-ish objects, prefixed ("params.lr"). */
static void add_object_rows(cJSON *rows, const char *prefix, const cJSON *a, const cJSON *b)
{
	for (const cJSON *x = cJSON_IsObject(a) ? a->child : NULL; x; x = x->next) {
		char *f = xasprintf("%s.%s", prefix, x->string);
		add_row(rows, f, text_of(x), text_of(cJSON_GetObjectItemCaseSensitive(b, x->string)));
		free(f);
	}
	for (const cJSON *y = cJSON_IsObject(b) ? b->child : NULL; y; y = y->next) {
		if (cJSON_GetObjectItemCaseSensitive(a, y->string))
			continue;
		char *f = xasprintf("%s.%s", prefix, y->string);
		add_row(rows, f, NULL, text_of(y));
		free(f);
	}
}

static char *joined(char **v)
{
	if (!v || !v[0])
		return NULL;
	size_t n = 1;
	for (size_t i = 0; v[i]; i++)
		n += strlen(v[i]) + 2;
	char *s = xcalloc(n, 1);
	for (size_t i = 0; v[i]; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, v[i]);
	}
	return s;
}

static char *status_text(const struct rp_run *r)
{
	char buf[128];
	fmt_status(r, buf, sizeof buf);
	return xstrdup(buf);
}

static char *runner_text(const struct rp_run *r)
{
	return text_of(cJSON_GetObjectItemCaseSensitive(r->runner, "type"));
}

static char *duration_text(const struct rp_run *r)
{
	if (r->duration_s < 0)
		return NULL;
	char buf[32];
	fmt_duration(r->duration_s, buf, sizeof buf);
	return xstrdup(buf);
}

static const cJSON *env_config_values(const struct rp_run *r)
{
	const cJSON *env = record_section(r, "environment");
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(env, "components"), "config"),
		"values");
}

static cJSON *run_rows(const struct rp_run *a, const struct rp_run *b)
{
	cJSON *rows = cJSON_CreateArray();
	add_row(rows, "name", a->name ? xstrdup(a->name) : NULL, b->name ? xstrdup(b->name) : NULL);
	add_row(rows, "status", status_text(a), status_text(b));
	add_row(rows, "runner", runner_text(a), runner_text(b));
	add_row(rows, "duration", duration_text(a), duration_text(b));
	add_row(rows, "entrypoint", a->entrypoint ? xstrdup(a->entrypoint) : NULL,
		b->entrypoint ? xstrdup(b->entrypoint) : NULL);
	add_row(rows, "workdir", a->workdir ? xstrdup(a->workdir) : NULL, b->workdir ? xstrdup(b->workdir) : NULL);
	add_row(rows, "tags", joined(a->tags), joined(b->tags));
	add_object_rows(rows, "params", a->params, b->params);
	/* The resolved config, flattened, as the fingerprint recorded it (params again under
	 * config.params.*: left out here). */
	const cJSON *ca = env_config_values(a), *cb = env_config_values(b);
	cJSON *fa = cJSON_CreateObject(), *fb = cJSON_CreateObject();
	for (const cJSON *x = ca ? ca->child : NULL; x; x = x->next)
		if (strncmp(x->string, "params.", 7))
			cJSON_AddItemToObject(fa, x->string, cJSON_Duplicate(x, true));
	for (const cJSON *y = cb ? cb->child : NULL; y; y = y->next)
		if (strncmp(y->string, "params.", 7))
			cJSON_AddItemToObject(fb, y->string, cJSON_Duplicate(y, true));
	add_object_rows(rows, "config", fa, fb);
	cJSON_Delete(fa);
	cJSON_Delete(fb);
	const cJSON *ua = cJSON_GetObjectItemCaseSensitive(record_section(a, "resources"), "usage");
	const cJSON *ub = cJSON_GetObjectItemCaseSensitive(record_section(b, "resources"), "usage");
	add_object_rows(rows, "resources", ua, ub);
	const cJSON *ma = record_section(a, "metrics"), *mb = record_section(b, "metrics");
	if (ma || mb)
		add_object_rows(rows, "metrics", ma, mb);
	return rows;
}

static int load_side(const char *ref, struct diff_side *s, struct rp_err *err)
{
	if (runs_load(ref, &s->st, &s->r, &s->dir, err) < 0)
		return -1;
	s->loaded = true;
	char *fp = path_join(s->dir, FP_FILES_NAME);
	if (path_exists(fp) && fp_files_load(fp, &s->files, NULL) < 0)
		s->files = NULL; /* a broken list only costs the file names */
	free(fp);
	return 0;
}

static void free_side(struct diff_side *s)
{
	if (s->loaded) {
		record_free(&s->r);
		store_close(&s->st);
	}
	free(s->dir);
	cJSON_Delete(s->files);
}

static void print_text(const struct rp_run *a, const struct rp_run *b, const cJSON *rows, const cJSON *cmp, bool all)
{
	size_t w = 12;
	for (const cJSON *r = rows->child; r; r = r->next) {
		size_t l = strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "field")));
		if ((all || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "same"))) && l > w)
			w = l;
	}
	printf("%-*s  %-24s  %s\n", (int)w, "", a->id, b->id);
	int shown = 0;
	for (const cJSON *r = rows->child; r; r = r->next) {
		if (!all && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "same")))
			continue;
		const char *va = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "a"));
		const char *vb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "b"));
		printf("%-*s  %-24s  %s\n", (int)w, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "field")),
		       va ? va : "-", vb ? vb : "-");
		shown++;
	}
	if (!shown)
		printf("(no differences in run fields)\n");
	printf("\nenvironment\n");
	if (!cmp) {
		printf("  (not recorded for %s)\n", record_section(a, "environment") ? b->id : a->id);
		return;
	}
	char *text = fp_compare_text(cmp, all);
	fputs(text, stdout);
	free(text);
}

int cmd_diff(int argc, char **argv, struct rp_err *err)
{
	bool json = false, all = false;
	const struct cli_flag flags[] = {{"json", 0, &json}, {"all", 0, &all}, {NULL, 0, NULL}};
	int first = cli_parse(argc, argv, flags, 2, "runpilot diff RUN_A RUN_B [--all] [--json]", err);
	if (first < 0)
		return -1;
	struct diff_side a = {0}, b = {0};
	int rc = -1;
	if (load_side(argv[first], &a, err) < 0 || load_side(argv[first + 1], &b, err) < 0)
		goto out;
	cJSON *rows = run_rows(&a.r, &b.r), *cmp = NULL;
	const cJSON *ea = record_section(&a.r, "environment"), *eb = record_section(&b.r, "environment");
	if (cJSON_GetObjectItemCaseSensitive(ea, "fingerprint") && cJSON_GetObjectItemCaseSensitive(eb, "fingerprint")) {
		cmp = fp_compare(ea, eb);
		fp_compare_files(cmp, a.files, b.files);
	}
	if (json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "a", a.r.id);
		cJSON_AddStringToObject(out, "b", b.r.id);
		cJSON *fields = cJSON_AddArrayToObject(out, "fields");
		for (cJSON *r = rows->child; r; r = r->next)
			if (all || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "same")))
				cJSON_AddItemToArray(fields, cJSON_Duplicate(r, true));
		cJSON_AddItemToObject(out, "environment", cmp ? cJSON_Duplicate(cmp, true) : cJSON_CreateNull());
		char *s = cJSON_Print(out);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(out);
	} else {
		print_text(&a.r, &b.r, rows, cmp, all);
	}
	cJSON_Delete(rows);
	cJSON_Delete(cmp);
	rc = 0;
out:
	free_side(&a);
	free_side(&b);
	return rc;
}
