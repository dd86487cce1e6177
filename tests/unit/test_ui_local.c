/* ui_local.c: the UI's data over a small store of runs written here. Paging visits every run
 * once, in the order of its sort, whatever the sort; cursors are checked; --where, columns and
 * counts; one metric's series cut to min/max buckets; the log read from an offset or its tail;
 * outputs opened only inside outputs/; compare names the changed file; annotations go through
 * the code of `runpilot tag` and `note`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "record_test_util.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "ui_int.h"
#include "ui_source.h"
#include "util.h"

#define NRUNS 37

static char *home;
static struct ui_source *src;

/* ---- the store ---- */

static bool has_lr(int i) { return i % 4 != 0; }
static double lr_of(int i) { return (double[]){0.1, 0.01, 0.001}[i % 3]; }
static bool has_loss(int i) { return i % 6 != 0 && i != 9; }   /* 9: NaN (no value to sort by) */
static double loss_of(int i) { return (i * 7 % 11) / 10.0; }
static const char *name_of(int i, char buf[16])
{
	if (i % 5 == 0)
		return NULL;
	snprintf(buf, 16, "n%d", i % 7);
	return buf;
}
static double created_of(int i) { return 1795000000.0 + (i / 2) * 10; }   /* pairs tie */
static bool failed(int i) { return i % 3 == 0; }

static char *run_dir(int i)
{
	char *d = xasprintf("%s/runs/rp_%04d", home, i);
	return d;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = path_join(dir, name);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644, NULL), 0);
	free(p);
}

static void make_run(int i)
{
	char *dir = run_dir(i);
	assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
	struct rp_run r;
	full_run(&r);
	free(r.id);
	r.id = xasprintf("rp_%04d", i);
	char nb[16];
	const char *name = name_of(i, nb);
	free(r.name);
	r.name = name ? xstrdup(name) : NULL;
	r.status = failed(i) ? RP_FAILED : RP_SUCCESS;
	free(r.reason);
	r.reason = failed(i) ? xstrdup("exit") : NULL;
	r.created_at = created_of(i);
	r.started_at = created_of(i) + 1;
	r.ended_at = created_of(i) + 1 + i;
	r.duration_s = i;
	cJSON_Delete(r.params);
	r.params = cJSON_CreateObject();
	if (has_lr(i))
		cJSON_AddNumberToObject(r.params, "lr", lr_of(i));
	cJSON_AddStringToObject(r.params, "opt", i % 2 ? "adam" : "sgd");
	free(r.tags[0]);
	free(r.tags[1]);
	free(r.tags);
	r.tags = i % 10 == 0 ? strings("ten", NULL, NULL) : strings(NULL, NULL, NULL);
	cJSON_Delete(r.sections);
	r.sections = cJSON_CreateObject();
	cJSON *m = cJSON_AddObjectToObject(r.sections, "metrics");
	if (has_loss(i) || i == 9) {
		cJSON *l = cJSON_AddObjectToObject(m, "loss");
		if (i == 9)
			cJSON_AddStringToObject(l, "last", "nan");
		else
			cJSON_AddNumberToObject(l, "last", loss_of(i));
		cJSON_AddNumberToObject(l, "count", 1);
		cJSON_AddNumberToObject(l, "last_step", 0);
	}
	/* the environment: run 2's code differs from the others' by train.py */
	char *env = xasprintf("{\"fingerprint\": \"sha256:%s\", \"components\": {"
			      "\"config\": {\"hash\": \"sha256:c\"}, \"code\": {\"hash\": \"sha256:%s\"},"
			      "\"runtime\": {\"hash\": \"sha256:r\"}, \"packages\": {\"hash\": \"sha256:p\"},"
			      "\"env\": {\"hash\": \"sha256:e\"}}}",
			      i == 2 ? "f2" : "f1", i == 2 ? "code2" : "code1");
	cJSON_AddItemToObject(r.sections, "environment", cJSON_Parse(env));
	free(env);
	char *files = xasprintf("{\"version\": 1, \"code\": [\"%064d 100644 10 data.csv\", \"%064d 100644 20 train.py\"]}",
				1, i == 2 ? 3 : 2);
	write_file(dir, "files.json", files);
	free(files);
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	free(dir);
}

/* Run 1's outputs, with links that leave them; run 2's series of 5000 points. */
static void make_extras(void)
{
	char *d1 = run_dir(1), *out = path_join(d1, "outputs");
	char *sub = path_join(out, "sub/deep");
	assert_int_equal(mkdir_p(sub, 0755, NULL), 0);
	write_file(out, "a.txt", "hello");
	write_file(sub, "b.txt", "deep file");
	write_file(d1, "secret.txt", "outside outputs");
	write_file(d1, "logs.txt", "line1\nline2\nline3\n");
	char *p = path_join(out, "link_passwd");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);
	p = path_join(out, "linkdir");
	assert_int_equal(symlink("/etc", p), 0);
	free(p);
	p = path_join(out, "up");
	assert_int_equal(symlink("../secret.txt", p), 0);
	free(p);
	p = path_join(out, "updir");
	assert_int_equal(symlink("..", p), 0);
	free(p);
	free(sub);
	free(out);
	free(d1);

	char *d2 = run_dir(2), *mp = path_join(d2, "metrics.jsonl");
	FILE *f = fopen(mp, "w");
	assert_non_null(f);
	for (int s = 0; s < 5000; s++) {
		if (s == 777)
			fprintf(f, "{\"name\":\"loss\",\"step\":%d,\"value\":\"nan\",\"time\":1,\"source\":\"log\"}\n", s);
		else
			fprintf(f, "{\"name\":\"loss\",\"step\":%d,\"value\":%g,\"time\":1,\"source\":\"log\"}\n", s,
				s == 2345 ? 100.0 : 1.0 + sin(s / 50.0) * 0.1);
	}
	fclose(f);
	free(mp);
	free(d2);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-uilocal-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	home = xstrdup(tmpl);
	setenv("RUNPILOT_HOME", home, 1);
	for (int i = 1; i <= NRUNS; i++)
		make_run(i);
	make_extras();
	struct rp_err err = {0};
	if (ui_source_local_open(&src, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	src->ops->close(src);
	rm_rf(home, NULL);
	free(home);
	return 0;
}

/* ---- helpers ---- */

static cJSON *runs_ok(const char *where, const char *sort, const char *after, long limit, char **cols, size_t ncols)
{
	struct ui_runs_query q = {where, sort, after, limit, cols, ncols};
	struct rp_err err = {0};
	cJSON *out = NULL;
	if (src->ops->runs(src, &q, &out, &err) < 0)
		fail_msg("runs(%s, %s): %s", where ? where : "-", sort ? sort : "-", err.msg);
	return out;
}

static int runs_err(const char *where, const char *sort, const char *after, long limit, char **cols, size_t ncols,
		    struct rp_err *err)
{
	struct ui_runs_query q = {where, sort, after, limit, cols, ncols};
	cJSON *out = NULL;
	int rc = src->ops->runs(src, &q, &out, err);
	cJSON_Delete(out);
	return rc;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int num_of(const cJSON *row)
{
	return atoi(cJSON_GetStringValue(get(row, "id")) + 3);
}

/* A run's value under a sort: *has false when it has none. Text in *s, numbers in *d. */
static void key_of(int i, const char *field, bool *has, double *d, const char **s, char buf[16])
{
	*has = true;
	*s = NULL;
	*d = 0;
	if (!strcmp(field, "id"))
		*d = i;
	else if (!strcmp(field, "created"))
		*d = created_of(i);
	else if (!strcmp(field, "started"))
		*d = created_of(i) + 1;
	else if (!strcmp(field, "duration"))
		*d = i;
	else if (!strcmp(field, "name"))
		*has = (*s = name_of(i, buf)) != NULL;
	else if (!strcmp(field, "status"))
		*s = failed(i) ? "failed" : "success";
	else if (!strcmp(field, "params.lr"))
		*has = has_lr(i), *d = lr_of(i);
	else if (!strcmp(field, "params.opt"))
		*s = i % 2 ? "adam" : "sgd";
	else if (!strcmp(field, "metrics.loss"))
		*has = has_loss(i), *d = loss_of(i);
	else
		fail_msg("no key for %s", field);
}

static const char *cmp_field;
static bool cmp_desc;

/* The order the UI promises: runs with the value first, by value, ties by number, all in the
 * sort's direction; runs without it last, by number in the same direction. */
static int cmp_runs(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	bool hx, hy;
	double dx, dy;
	const char *sx, *sy;
	char bx[16], by[16];
	key_of(x, cmp_field, &hx, &dx, &sx, bx);
	key_of(y, cmp_field, &hy, &dy, &sy, by);
	if (hx != hy)
		return hx ? -1 : 1;
	int c = 0;
	if (hx)
		c = sx ? strcmp(sx, sy) : (dx > dy) - (dx < dy);
	if (!c)
		c = (x > y) - (x < y);
	return cmp_desc ? -c : c;
}

/* Page through sort with pages of limit rows: the ids in the order received. */
static int page_all(const char *where, const char *sort, long limit, int *seen)
{
	int n = 0, pages = 0;
	char *after = NULL;
	for (;;) {
		cJSON *o = runs_ok(where, sort, after, limit, NULL, 0);
		free(after);
		after = NULL;
		const cJSON *rows = get(o, "runs");
		assert_true(cJSON_GetArraySize(rows) <= limit);
		for (const cJSON *r = rows->child; r; r = r->next) {
			assert_true(n < NRUNS);
			seen[n++] = num_of(r);
		}
		const cJSON *next = get(o, "next");
		pages++;
		assert_true(pages <= NRUNS + 1);
		if (cJSON_IsNull(next)) {
			cJSON_Delete(o);
			break;
		}
		assert_int_equal(cJSON_GetArraySize(rows), limit);
		after = xstrdup(cJSON_GetStringValue(next));
		cJSON_Delete(o);
	}
	return n;
}

/* ---- paging ---- */

static void test_paging_every_sort(void **state)
{
	static const char *const sorts[] = {"-id", "id", "name", "-name", "created", "-created", "started",
					    "-duration", "status", "-status", "params.lr", "-params.lr",
					    "params.opt", "metrics.loss", "-metrics.loss"};
	for (size_t k = 0; k < sizeof sorts / sizeof *sorts; k++)
		for (long limit = 1; limit <= 8; limit += 3) {
			int seen[NRUNS], want[NRUNS];
			int n = page_all(NULL, sorts[k], limit, seen);
			assert_int_equal(n, NRUNS);
			for (int i = 0; i < NRUNS; i++)
				want[i] = i + 1;
			cmp_desc = sorts[k][0] == '-';
			cmp_field = sorts[k] + cmp_desc;
			qsort(want, NRUNS, sizeof *want, cmp_runs);
			for (int i = 0; i < NRUNS; i++)
				if (seen[i] != want[i])
					fail_msg("sort %s, limit %ld: position %d is rp_%04d, want rp_%04d", sorts[k], limit, i,
						 seen[i], want[i]);
		}
}

static void test_first_page_defaults(void **state)
{
	cJSON *o = runs_ok(NULL, NULL, NULL, 0, NULL, 0);
	const cJSON *rows = get(o, "runs");
	assert_int_equal(cJSON_GetArraySize(rows), NRUNS);      /* limit 0: 50 */
	assert_int_equal(num_of(rows->child), NRUNS);           /* newest first */
	assert_true(cJSON_IsNull(get(o, "next")));
	const cJSON *r10 = NULL;
	for (const cJSON *r = rows->child; r; r = r->next)
		if (num_of(r) == 10)
			r10 = r;
	assert_non_null(r10);
	assert_string_equal(cJSON_GetStringValue(get(r10, "status")), "success");
	assert_true(cJSON_IsNull(get(r10, "name")));
	assert_string_equal(cJSON_GetStringValue(get(r10, "tags")->child), "ten");
	assert_int_equal((int)get(r10, "duration")->valuedouble, 10);
	assert_true(get(r10, "created")->valuedouble == created_of(10));
	cJSON_Delete(o);
}

static void test_cursors_checked(void **state)
{
	cJSON *o = runs_ok(NULL, "name", NULL, 3, NULL, 0);
	char *next = xstrdup(cJSON_GetStringValue(get(o, "next")));
	cJSON_Delete(o);
	struct rp_err err = {0};
	/* the same cursor works for its own sort */
	cJSON_Delete(runs_ok(NULL, "name", next, 3, NULL, 0));
	/* another sort refuses it */
	assert_int_equal(runs_err(NULL, "-name", next, 3, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	assert_false(ui_err_is_not_found(&err));
	memset(&err, 0, sizeof err);
	assert_int_equal(runs_err(NULL, NULL, next, 3, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	/* any character changed, or cut short */
	size_t len = strlen(next);
	for (size_t i = 0; i < len; i++) {
		char *bad = xstrdup(next);
		bad[i] = bad[i] == '0' ? '1' : '0';
		memset(&err, 0, sizeof err);
		assert_int_equal(runs_err(NULL, "name", bad, 3, NULL, 0, &err), -1);
		assert_int_equal(err.kind, RP_ERR_USAGE);
		free(bad);
	}
	next[len - 2] = '\0';
	memset(&err, 0, sizeof err);
	assert_int_equal(runs_err(NULL, "name", next, 3, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	static const char *const junk[] = {"x", "zz", "00", "'; DROP TABLE runs; --", "7270310a"};
	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(runs_err(NULL, "name", junk[i], 3, NULL, 0, &err), -1);
		assert_int_equal(err.kind, RP_ERR_USAGE);
	}
	free(next);
}

static void test_bad_queries(void **state)
{
	struct rp_err err = {0};
	assert_int_equal(runs_err(NULL, "colour", NULL, 5, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	memset(&err, 0, sizeof err);
	assert_int_equal(runs_err("params.lr <", NULL, NULL, 5, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "--where"));
	memset(&err, 0, sizeof err);
	char *cols[] = {"name"};
	assert_int_equal(runs_err(NULL, NULL, NULL, 5, cols, 1, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	memset(&err, 0, sizeof err);
	assert_int_equal(runs_err(NULL, NULL, NULL, UI_PAGE_MAX + 1, NULL, 0, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
}

static void test_where_and_counts(void **state)
{
	const char *where = "params.lr = 0.01 and metrics.loss < 0.5";
	int seen[NRUNS];
	int n = page_all(where, "-id", 2, seen);
	int want = 0, success = 0, fail = 0;
	for (int i = NRUNS; i >= 1; i--)
		if (has_lr(i) && lr_of(i) == 0.01 && has_loss(i) && loss_of(i) < 0.5) {
			assert_true(want < n);
			assert_int_equal(seen[want++], i);
			failed(i) ? fail++ : success++;
		}
	assert_true(want > 1);
	assert_int_equal(n, want);
	cJSON *o = runs_ok(where, NULL, NULL, 1, NULL, 0);
	const cJSON *counts = get(o, "counts");
	assert_int_equal((int)cJSON_GetNumberValue(get(counts, "success")), success);
	if (fail)
		assert_int_equal((int)cJSON_GetNumberValue(get(counts, "failed")), fail);
	else
		assert_null(get(counts, "failed"));
	cJSON_Delete(o);
	/* unfiltered, twice (the second remembered) */
	for (int k = 0; k < 2; k++) {
		o = runs_ok(NULL, NULL, NULL, 5, NULL, 0);
		counts = get(o, "counts");
		int s = 0, f = 0;
		for (int i = 1; i <= NRUNS; i++)
			failed(i) ? f++ : s++;
		assert_int_equal((int)cJSON_GetNumberValue(get(counts, "success")), s);
		assert_int_equal((int)cJSON_GetNumberValue(get(counts, "failed")), f);
		cJSON_Delete(o);
	}
}

static void test_columns(void **state)
{
	char *cols[] = {"params.lr", "metrics.loss", "params.opt", "params.nope"};
	cJSON *o = runs_ok(NULL, "id", NULL, 12, cols, 4);
	for (const cJSON *r = get(o, "runs")->child; r; r = r->next) {
		int i = num_of(r);
		const cJSON *v = get(r, "values");
		if (has_lr(i))
			assert_true(get(v, "params.lr")->valuedouble == lr_of(i));
		else
			assert_null(get(v, "params.lr"));
		if (has_loss(i))
			assert_true(get(v, "metrics.loss")->valuedouble == loss_of(i));
		else if (i == 9)
			assert_true(cJSON_IsNull(get(v, "metrics.loss")));
		else
			assert_null(get(v, "metrics.loss"));
		assert_string_equal(cJSON_GetStringValue(get(v, "params.opt")), i % 2 ? "adam" : "sgd");
		assert_null(get(v, "params.nope"));
	}
	const cJSON *known = get(o, "columns");
	char *p = cJSON_PrintUnformatted(get(known, "params")), *m = cJSON_PrintUnformatted(get(known, "metrics"));
	assert_string_equal(p, "[\"lr\",\"opt\"]");
	assert_string_equal(m, "[\"loss\"]");
	free(p);
	free(m);
	cJSON_Delete(o);
}

/* Many threads at once, each through a connection of its own. */
static void *hammer(void *arg)
{
	for (int k = 0; k < 15; k++) {
		struct ui_runs_query q = {.where = k % 2 ? "status = failed" : NULL, .limit = 7};
		struct rp_err err = {0};
		cJSON *out = NULL;
		if (src->ops->runs(src, &q, &out, &err) < 0 || cJSON_GetArraySize(get(out, "runs")) != 7) {
			cJSON_Delete(out);
			return (void *)1;
		}
		cJSON_Delete(out);
		out = NULL;
		if (src->ops->run(src, "rp_0001", &out, &err) < 0)
			return (void *)2;
		cJSON_Delete(out);
		out = NULL;
		if (src->ops->metric(src, "rp_0002", "loss", NAN, NAN, 100, &out, &err) < 0)
			return (void *)3;
		cJSON_Delete(out);
		out = NULL;
		if (src->ops->log(src, "rp_0001", -8, 0, &out, &err) < 0)
			return (void *)4;
		cJSON_Delete(out);
		struct ui_output o;
		if (src->ops->output(src, "rp_0001", "sub/deep/b.txt", &o, &err) < 0)
			return (void *)5;
		close(o.fd);
		free(o.name);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 6; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
}

/* ---- one run ---- */

static void test_run_and_not_found(void **state)
{
	cJSON *o = NULL;
	struct rp_err err = {0};
	assert_int_equal(src->ops->run(src, "rp_0001", &o, &err), 0);
	assert_string_equal(cJSON_GetStringValue(get(get(o, "run"), "id")), "rp_0001");
	assert_int_equal((int)get(o, "log_size")->valuedouble, 18);
	char *outs = cJSON_PrintUnformatted(get(o, "outputs"));
	assert_non_null(strstr(outs, "\"path\":\"a.txt\",\"size\":5"));
	assert_non_null(strstr(outs, "\"path\":\"sub/deep/b.txt\""));
	assert_null(strstr(outs, "link_passwd"));
	assert_null(strstr(outs, "passwd"));
	free(outs);
	cJSON_Delete(o);
	static const char *const missing[] = {"rp_9999", "rp_01", "../rp_0001", "rp_0001/..", "", "last", "n1"};
	for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
		memset(&err, 0, sizeof err);
		o = NULL;
		assert_int_equal(src->ops->run(src, missing[i], &o, &err), -1);
		assert_true(ui_err_is_not_found(&err));
		assert_null(o);
	}
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->metric(src, "rp_0002", "accuracy", NAN, NAN, 1000, &o, &err), -1);
	assert_true(ui_err_is_not_found(&err));
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->log(src, "rp_9999", 0, 0, &o, &err), -1);
	assert_true(ui_err_is_not_found(&err));
}

/* ---- metrics ---- */

static void test_downsample(void **state)
{
	double v[100];
	size_t keep[100];
	for (int i = 0; i < 100; i++)
		v[i] = i % 10;
	/* few enough: every point */
	assert_int_equal(ui_downsample(v, 100, 100, keep), 100);
	assert_int_equal(keep[99], 99);
	/* 10 buckets of 10: each its lowest and highest, in order */
	assert_int_equal(ui_downsample(v, 100, 20, keep), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(keep[i], (i / 2) * 10 + (i % 2 ? 9 : 0));
	/* a spike survives */
	v[57] = 1000;
	v[23] = -1000;
	size_t k = ui_downsample(v, 100, 8, keep);
	assert_true(k <= 8);
	bool spike = false, dip = false;
	for (size_t i = 0; i < k; i++) {
		spike |= keep[i] == 57;
		dip |= keep[i] == 23;
		if (i)
			assert_true(keep[i] > keep[i - 1]);
	}
	assert_true(spike && dip);
	/* a flat bucket gives one point; NaN only when nothing else */
	double flat[6] = {5, 5, 5, NAN, NAN, NAN};
	k = ui_downsample(flat, 6, 4, keep);
	assert_int_equal(k, 2);
	assert_int_equal(keep[0], 0);
	assert_int_equal(keep[1], 3);
	/* an odd or tiny budget never overflows it */
	for (size_t max = 2; max < 12; max++)
		assert_true(ui_downsample(v, 100, max, keep) <= max);
}

static void test_metric_series(void **state)
{
	cJSON *o = NULL;
	struct rp_err err = {0};
	assert_int_equal(src->ops->metric(src, "rp_0002", "loss", NAN, NAN, 1000, &o, &err), 0);
	assert_string_equal(cJSON_GetStringValue(get(o, "name")), "loss");
	assert_int_equal((int)get(o, "count")->valuedouble, 5000);
	assert_true(cJSON_IsTrue(get(o, "downsampled")));
	const cJSON *steps = get(o, "steps"), *values = get(o, "values");
	int n = cJSON_GetArraySize(steps);
	assert_true(n <= 1000 && n > 500);
	assert_int_equal(cJSON_GetArraySize(values), n);
	bool spike = false;
	double prev = -1;
	for (const cJSON *s = steps->child, *v = values->child; s; s = s->next, v = v->next) {
		assert_true(s->valuedouble > prev);
		prev = s->valuedouble;
		if (s->valuedouble == 2345)
			spike = v->valuedouble == 100;
	}
	assert_true(spike);
	cJSON_Delete(o);
	/* a zoomed range: full resolution, NaN as null */
	assert_int_equal(src->ops->metric(src, "rp_0002", "loss", 700, 900, 1000, &o, &err), 0);
	assert_int_equal((int)get(o, "count")->valuedouble, 201);
	assert_false(cJSON_IsTrue(get(o, "downsampled")));
	steps = get(o, "steps");
	assert_int_equal(cJSON_GetArraySize(steps), 201);
	assert_int_equal((int)steps->child->valuedouble, 700);
	assert_int_equal((int)cJSON_GetArrayItem(steps, 200)->valuedouble, 900);
	assert_true(cJSON_IsNull(cJSON_GetArrayItem(get(o, "values"), 77)));
	cJSON_Delete(o);
	/* an open end */
	assert_int_equal(src->ops->metric(src, "rp_0002", "loss", 4990, NAN, 1000, &o, &err), 0);
	assert_int_equal((int)get(o, "count")->valuedouble, 10);
	cJSON_Delete(o);
}

/* ---- log ---- */

static void expect_log(long long offset, size_t max, const char *text, int at, int next)
{
	cJSON *o = NULL;
	struct rp_err err = {0};
	assert_int_equal(src->ops->log(src, "rp_0001", offset, max, &o, &err), 0);
	assert_string_equal(cJSON_GetStringValue(get(o, "text")), text);
	assert_int_equal((int)get(o, "offset")->valuedouble, at);
	assert_int_equal((int)get(o, "next")->valuedouble, next);
	assert_int_equal((int)get(o, "size")->valuedouble, 18);
	assert_false(cJSON_IsTrue(get(o, "running")));
	cJSON_Delete(o);
}

static void test_log(void **state)
{
	expect_log(0, 0, "line1\nline2\nline3\n", 0, 18);
	expect_log(0, 5, "line1", 0, 5);
	expect_log(6, 100, "line2\nline3\n", 6, 18);
	expect_log(-8, 0, "line3\n", 12, 18);    /* the tail starts at a line */
	expect_log(-100, 0, "line1\nline2\nline3\n", 0, 18);
	expect_log(18, 0, "", 18, 18);
	expect_log(500, 0, "", 18, 18);
}

/* ---- outputs ---- */

static void test_outputs(void **state)
{
	struct ui_output out;
	struct rp_err err = {0};
	assert_int_equal(src->ops->output(src, "rp_0001", "sub/deep/b.txt", &out, &err), 0);
	char buf[32] = {0};
	assert_int_equal(read(out.fd, buf, sizeof buf - 1), 9);
	assert_string_equal(buf, "deep file");
	assert_int_equal(out.size, 9);
	assert_string_equal(out.name, "b.txt");
	close(out.fd);
	free(out.name);
	assert_int_equal(src->ops->output(src, "rp_0001", "a.txt", &out, &err), 0);
	close(out.fd);
	free(out.name);
	static const char *const refused[] = {"../x", "../secret.txt", "a/../../x", "sub/../a.txt", "/etc/passwd",
					      "link_passwd", "linkdir/passwd", "up", "updir/secret.txt", "sub",
					      "sub/deep", "", "./a.txt", "sub//deep/b.txt", "a.txt/", "nope.txt",
					      "..", "."};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		memset(&err, 0, sizeof err);
		out.fd = -5;
		if (src->ops->output(src, "rp_0001", refused[i], &out, &err) == 0)
			fail_msg("output '%s' was opened", refused[i]);
		assert_true(ui_err_is_not_found(&err));
		assert_int_equal(out.fd, -1);
	}
	assert_false(ui_output_path_ok("a\0b", 3));
	assert_true(ui_output_path_ok("a/b.c", 5));
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->output(src, "rp_9999", "a.txt", &out, &err), -1);
	assert_true(ui_err_is_not_found(&err));
}

/* ---- compare ---- */

static void test_compare(void **state)
{
	char *ids[] = {"rp_0001", "rp_0002", "rp_0003"};
	cJSON *o = NULL;
	struct rp_err err = {0};
	assert_int_equal(src->ops->compare(src, ids, 3, &o, &err), 0);
	assert_int_equal(cJSON_GetArraySize(get(o, "runs")), 3);
	const cJSON *differing = get(get(o, "params"), "differing");
	assert_non_null(get(differing, "lr"));
	assert_non_null(get(differing, "opt"));
	char *metrics = cJSON_PrintUnformatted(get(o, "metrics"));
	assert_string_equal(metrics, "[\"loss\"]");
	free(metrics);
	const cJSON *code = NULL, *config = NULL;
	for (const cJSON *e = get(o, "environment")->child; e; e = e->next) {
		if (!strcmp(cJSON_GetStringValue(get(e, "component")), "code"))
			code = e;
		if (!strcmp(cJSON_GetStringValue(get(e, "component")), "config"))
			config = e;
	}
	assert_non_null(code);
	assert_true(cJSON_IsTrue(get(code, "differs")));
	assert_false(cJSON_IsTrue(get(config, "differs")));
	const cJSON *changes = get(code, "changes");
	assert_int_equal(cJSON_GetArraySize(changes), 1);     /* run 3 is the same as run 1 */
	assert_string_equal(cJSON_GetStringValue(get(changes->child, "run")), "rp_0002");
	char *summary = cJSON_PrintUnformatted(get(changes->child, "summary"));
	assert_non_null(strstr(summary, "modified: train.py"));
	assert_null(strstr(summary, "data.csv"));
	free(summary);
	cJSON_Delete(o);

	char *many[UI_COMPARE_TABLE_MAX + 1];
	for (int i = 0; i <= UI_COMPARE_TABLE_MAX; i++)
		many[i] = "rp_0001";
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->compare(src, many, UI_COMPARE_TABLE_MAX + 1, &o, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	assert_false(ui_err_is_not_found(&err));
	char *gone[] = {"rp_0001", "rp_4242"};
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->compare(src, gone, 2, &o, &err), -1);
	assert_true(ui_err_is_not_found(&err));
}

/* ---- annotations ---- */

/* The status counts a --where selects (remembered between calls). */
static int count_of(const char *where, const char *status)
{
	cJSON *o = runs_ok(where, NULL, NULL, 1, NULL, 0);
	const cJSON *c = get(get(o, "counts"), status);
	int n = c ? (int)c->valuedouble : 0;
	cJSON_Delete(o);
	return n;
}

static void test_annotate(void **state)
{
	assert_int_equal(count_of("tags contains \"best\"", "success"), 0);
	assert_int_equal(count_of("tags contains \"best\"", "success"), 0);
	cJSON *change = cJSON_Parse("{\"tags\": [\"+best\", \"-ten\"], \"note\": \"ship it\"}");
	cJSON *o = NULL;
	struct rp_err err = {0};
	char *before = NULL, *after = NULL;
	char *rj = xasprintf("%s/runs/rp_0010/run.json", home);
	assert_int_equal(read_file(rj, &before, NULL, NULL), 0);
	assert_int_equal(src->ops->annotate(src, "rp_0010", change, &o, &err), 0);
	cJSON_Delete(change);
	const cJSON *run = get(o, "run");
	char *tags = cJSON_PrintUnformatted(get(run, "tags"));
	assert_string_equal(tags, "[\"best\"]");
	free(tags);
	assert_string_equal(cJSON_GetStringValue(get(run, "note")), "ship it");
	cJSON_Delete(o);
	/* the record is never rewritten; the table sees the change */
	assert_int_equal(read_file(rj, &after, NULL, NULL), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(rj);
	o = runs_ok("tags contains \"best\" and note ~ \"*ship*\"", NULL, NULL, 5, NULL, 0);
	assert_int_equal(cJSON_GetArraySize(get(o, "runs")), 1);
	assert_int_equal(num_of(get(o, "runs")->child), 10);
	assert_string_equal(cJSON_GetStringValue(get(o, "runs")->child->child), "rp_0010");
	cJSON_Delete(o);
	/* the remembered count is forgotten once the index changed */
	assert_int_equal(count_of("tags contains \"best\"", "success"), 1);
	/* the note removed again */
	change = cJSON_Parse("{\"note\": \"\"}");
	assert_int_equal(src->ops->annotate(src, "rp_0010", change, &o, &err), 0);
	assert_null(get(get(o, "run"), "note"));
	cJSON_Delete(change);
	cJSON_Delete(o);
	static const char *const bad[] = {"{\"tags\": [\"bad tag\"]}", "{\"tags\": \"+x\"}", "{\"tags\": [1]}",
					  "{\"note\": \"two\\nlines\"}", "{\"note\": 3}", "{\"colour\": 1}", "[]"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		change = cJSON_Parse(bad[i]);
		memset(&err, 0, sizeof err);
		o = NULL;
		assert_int_equal(src->ops->annotate(src, "rp_0010", change, &o, &err), -1);
		assert_int_equal(err.kind, RP_ERR_USAGE);
		assert_null(o);
		cJSON_Delete(change);
	}
	change = cJSON_Parse("{\"tags\": [\"+x\"]}");
	memset(&err, 0, sizeof err);
	assert_int_equal(src->ops->annotate(src, "rp_9999", change, &o, &err), -1);
	assert_true(ui_err_is_not_found(&err));
	cJSON_Delete(change);
}

/* A run that arrives is counted and listed at once (last: the others count NRUNS runs). */
static void test_new_run_seen(void **state)
{
	int before = count_of(NULL, "success");
	make_run(NRUNS + 1);
	assert_int_equal(count_of(NULL, "success"), before + 1);
	cJSON *o = runs_ok(NULL, NULL, NULL, 1, NULL, 0);
	assert_int_equal(num_of(get(o, "runs")->child), NRUNS + 1);
	cJSON_Delete(o);
}

static int success_count(struct rp_index *ix)
{
	cJSON *c = NULL;
	struct rp_err err = {0};
	if (index_counts(ix, NULL, &c, &err) < 0)
		fail_msg("counts: %s", err.msg);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "success");
	int n = s ? (int)s->valuedouble : 0;
	cJSON_Delete(c);
	return n;
}

/* A pool opens handles as load grows: a new handle keeps what the others remembered while the
 * index is unchanged, and forgets it when a change was committed before its first look. */
static void test_memo_shared_by_new_handles(void **state)
{
	struct rp_store st;
	struct rp_err err = {0};
	src->ops->close(src); /* its connections too: these handles are then the index's only ones */
	assert_int_equal(store_open(&st, false, &err), 0);
	struct index_memo *m = index_memo_new();
	struct rp_index *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(index_open(&st, &a, &err), 0);
	assert_non_null(a);
	index_memo_share(a, m);
	int before = success_count(a);
	unsigned long long gen = index_memo_generation(m);
	assert_int_equal(index_open(&st, &b, &err), 0);
	index_memo_share(b, m);
	assert_int_equal(success_count(b), before);
	assert_int_equal(index_memo_generation(m), gen);
	/* every connection closed: the WAL goes, and comes back empty with the next */
	index_close(a);
	index_close(b);
	assert_int_equal(index_open(&st, &a, &err), 0);
	index_memo_share(a, m);
	assert_int_equal(success_count(a), before);
	assert_int_equal(index_memo_generation(m), gen);
	assert_int_equal(index_open(&st, &b, &err), 0);
	index_memo_share(b, m);
	make_run(NRUNS + 2);
	assert_int_equal(index_open(&st, &c, &err), 0);
	index_memo_share(c, m);
	assert_int_equal(success_count(c), before + (failed(NRUNS + 2) ? 0 : 1));
	assert_true(index_memo_generation(m) > gen);
	index_close(a);
	index_close(b);
	index_close(c);
	index_memo_free(m);
	store_close(&st);
	if (ui_source_local_open(&src, &err) < 0)
		fail_msg("open: %s", err.msg);
}

/* An idle source lets go of the index: `runpilot reindex` can replace it (it waits for the
 * connections open to close, and gives up after a while). */
static void test_idle_lets_reindex(void **state)
{
	cJSON_Delete(runs_ok(NULL, NULL, NULL, 1, NULL, 0));
	struct rp_store st;
	struct rp_err err = {0};
	assert_int_equal(store_open(&st, false, &err), 0);
	double t0 = now_monotonic();
	if (index_rebuild(&st, NULL, NULL, &err) < 0)
		fail_msg("reindex: %s", err.msg);
	assert_true(now_monotonic() - t0 < 8);
	store_close(&st);
	/* and the next page reads the new index */
	cJSON *o = runs_ok(NULL, NULL, NULL, 2, NULL, 0);
	assert_int_equal(num_of(get(o, "runs")->child), NRUNS + 1);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_every_sort),
		cmocka_unit_test(test_first_page_defaults),
		cmocka_unit_test(test_cursors_checked),
		cmocka_unit_test(test_bad_queries),
		cmocka_unit_test(test_where_and_counts),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_run_and_not_found),
		cmocka_unit_test(test_downsample),
		cmocka_unit_test(test_metric_series),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_outputs),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_annotate),
		cmocka_unit_test(test_new_run_seen),
		cmocka_unit_test(test_idle_lets_reindex),
		cmocka_unit_test(test_memo_shared_by_new_handles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
