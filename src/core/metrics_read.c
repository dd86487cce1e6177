/* metrics_read.c: a run's metrics read back (metrics.h): the series from metrics.jsonl (the same
 * file while the run is going, after it ended, or after it was lost), the summaries from
 * run.json when the run has ended. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "metrics_int.h"
#include "util.h"

const char *mx_source_name(enum mx_source s)
{
	return s == MX_SRC_FILE ? "file" : "log";
}

void mx_format_value(double v, char *out, size_t n)
{
	if (isnan(v)) {
		snprintf(out, n, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v < 0 ? "-inf" : "inf");
		return;
	}
	/* the shortest text that reads back as the same double */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

cJSON *mx_value_json(double v)
{
	if (isfinite(v))
		return cJSON_CreateNumber(v);
	return cJSON_CreateString(isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
}

bool mx_value_from_json(const cJSON *j, double *v)
{
	if (cJSON_IsNumber(j)) {
		*v = j->valuedouble;
		return true;
	}
	if (!cJSON_IsString(j))
		return false;
	if (!strcmp(j->valuestring, "nan"))
		*v = NAN;
	else if (!strcmp(j->valuestring, "inf"))
		*v = INFINITY;
	else if (!strcmp(j->valuestring, "-inf"))
		*v = -INFINITY;
	else
		return false;
	return true;
}

/* ---- sets ---- */

static struct mx_series *set_add(struct mx_set *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	struct mx_series *e = &s->v[s->n++];
	*e = (struct mx_series){.name = xstrdup(name), .sum = {.min = NAN, .max = NAN}};
	return e;
}

static int series_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mx_series *)a)->name, ((const struct mx_series *)b)->name);
}

const struct mx_series *mx_set_find(const struct mx_set *s, const char *name)
{
	if (!s->n)
		return NULL;
	struct mx_series key = {.name = (char *)name};
	return bsearch(&key, s->v, s->n, sizeof *s->v, series_cmp);
}

void mx_set_free(struct mx_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].pts);
	}
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* ---- series ---- */

/* While reading: name → index in the set, so a million points do not search the set each. */
struct name_index {
	uint64_t *hash;
	size_t *idx;
	size_t cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h | 1; /* 0 marks a free slot */
}

static struct mx_series *series_for(struct mx_set *set, struct name_index *ix, const char *name)
{
	if (set->n * 2 >= ix->cap) {
		struct name_index bigger = {.cap = ix->cap ? ix->cap * 2 : 64};
		bigger.hash = xcalloc(bigger.cap, sizeof *bigger.hash);
		bigger.idx = xcalloc(bigger.cap, sizeof *bigger.idx);
		for (size_t k = 0; k < set->n; k++) {
			size_t i = hash_str(set->v[k].name) & (bigger.cap - 1);
			while (bigger.hash[i])
				i = (i + 1) & (bigger.cap - 1);
			bigger.hash[i] = hash_str(set->v[k].name);
			bigger.idx[i] = k;
		}
		free(ix->hash);
		free(ix->idx);
		*ix = bigger;
	}
	uint64_t h = hash_str(name);
	size_t i = h & (ix->cap - 1);
	for (; ix->hash[i]; i = (i + 1) & (ix->cap - 1))
		if (ix->hash[i] == h && !strcmp(set->v[ix->idx[i]].name, name))
			return &set->v[ix->idx[i]];
	ix->hash[i] = h;
	ix->idx[i] = set->n;
	return set_add(set, name);
}

static void series_push(struct mx_series *s, const struct mx_point *p)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->pts = xrealloc(s->pts, s->cap * sizeof *s->pts);
	}
	s->pts[s->n++] = *p;
	mx_summary_add(&s->sum, p->value, p->step);
}

/* The field after `"key":` at *p, up to the byte stop; advances *p past it. */
static bool take_field(const char **p, const char *end, const char *key, char stop, const char **val, size_t *len)
{
	size_t kl = strlen(key);
	if ((size_t)(end - *p) < kl || memcmp(*p, key, kl))
		return false;
	*val = *p + kl;
	const char *e = memchr(*val, stop, (size_t)(end - *val));
	if (!e || e == *val)
		return false;
	*len = (size_t)(e - *val);
	*p = e;
	return true;
}

bool mx_split_point(const char *line, size_t n, struct mx_point_text *pt)
{
	const char *p = line, *end = line + n;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	return take_field(&p, end, "{\"name\":\"", '"', &pt->name, &pt->name_len) &&
	       take_field(&p, end, "\",\"step\":", ',', &pt->step, &pt->step_len) &&
	       take_field(&p, end, ",\"value\":", ',', &pt->value, &pt->value_len) &&
	       take_field(&p, end, ",\"time\":", ',', &pt->time, &pt->time_len) &&
	       take_field(&p, end, ",\"source\":\"", '"', &pt->source, &pt->source_len) &&
	       end - p == 2 && !memcmp(p, "\"}", 2);
}

static bool number_text(const char *s, size_t n, double *v)
{
	char buf[64];
	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "\"nan\""))
		*v = NAN;
	else if (!strcmp(buf, "\"inf\""))
		*v = INFINITY;
	else if (!strcmp(buf, "\"-inf\""))
		*v = -INFINITY;
	else {
		char *e;
		*v = strtod(buf, &e);
		return *e == '\0';
	}
	return true;
}

/* A step as the recorder writes them: a whole number a long long holds (a hand-edited file may
 * say anything). */
static bool valid_step(double step)
{
	return step >= -9.0e18 && step <= 9.0e18 && (double)(long long)step == step;
}

/* A point from the recorder's layout, without a JSON parse. */
static bool split_to_point(const char *line, size_t n, char *name, size_t name_size, struct mx_point *p)
{
	struct mx_point_text pt;
	double step;
	if (!mx_split_point(line, n, &pt) || pt.name_len >= name_size || !number_text(pt.step, pt.step_len, &step) ||
	    !valid_step(step) || !number_text(pt.value, pt.value_len, &p->value) ||
	    !number_text(pt.time, pt.time_len, &p->time))
		return false;
	memcpy(name, pt.name, pt.name_len);
	name[pt.name_len] = '\0';
	p->step = (long long)step;
	p->source = pt.source_len == 4 && !memcmp(pt.source, "file", 4) ? MX_SRC_FILE : MX_SRC_LOG;
	return true;
}

/* One line of metrics.jsonl; false for a line that is not a point (the last one may be half
 * written while the run goes on). */
static bool parse_point(const char *line, size_t n, char *name, size_t name_size, struct mx_point *p)
{
	if (split_to_point(line, n, name, name_size, p))
		return true;
	cJSON *j = cJSON_ParseWithLength(line, n);
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "name");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "time");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
	bool ok = cJSON_IsString(nm) && strlen(nm->valuestring) < name_size && cJSON_IsNumber(st) &&
		  valid_step(st->valuedouble) && mx_value_from_json(cJSON_GetObjectItemCaseSensitive(j, "value"), &p->value);
	if (ok) {
		snprintf(name, name_size, "%s", nm->valuestring);
		p->step = (long long)st->valuedouble;
		p->time = cJSON_IsNumber(tm) ? tm->valuedouble : 0;
		p->source = cJSON_IsString(src) && !strcmp(src->valuestring, "file") ? MX_SRC_FILE : MX_SRC_LOG;
	}
	cJSON_Delete(j);
	return ok;
}

int mx_read_series_file(const char *path, struct mx_set *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return rp_err_sys(err, "cannot read %s", path);
	}
	struct name_index ix = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char name[128];
	while ((len = getline(&line, &cap, f)) > 0) {
		struct mx_point p;
		if (line[len - 1] != '\n' || !parse_point(line, (size_t)len, name, sizeof name, &p))
			continue;
		series_push(series_for(out, &ix, name), &p);
	}
	bool failed = ferror(f);
	free(line);
	fclose(f);
	free(ix.hash);
	free(ix.idx);
	if (failed) {
		mx_set_free(out);
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot read %s", path);
	}
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, series_cmp);
	return 0;
}

int mx_check_series_file(const char *path, size_t *bad, size_t *first_bad, struct rp_err *err)
{
	*bad = *first_bad = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : rp_err_sys(err, "cannot read %s", path);
	char *line = NULL, name[128];
	size_t cap = 0, at = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		at++;
		struct mx_point p;
		bool nul = memchr(line, '\0', (size_t)len) != NULL;
		/* a last line without its newline is one the run was writing: readers skip it */
		if (!nul && line[len - 1] != '\n')
			continue;
		if (nul || !parse_point(line, (size_t)len, name, sizeof name, &p)) {
			if (!(*bad)++)
				*first_bad = at;
		}
	}
	bool failed = ferror(f);
	free(line);
	fclose(f);
	return failed ? rp_err_set(err, RP_ERR_RUNTIME, "cannot read %s", path) : 0;
}

int mx_read_series(const char *run_dir, struct mx_set *out, struct rp_err *err)
{
	char *path = path_join(run_dir, RP_METRICS_JSONL);
	int rc = mx_read_series_file(path, out, err);
	free(path);
	return rc;
}

/* ---- summaries ---- */

static bool summary_from_json(const cJSON *o, struct mx_summary *s)
{
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(o, "count");
	const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "last_step");
	if (!cJSON_IsNumber(count) || !cJSON_IsNumber(step) || !valid_step(count->valuedouble) ||
	    !valid_step(step->valuedouble) || !mx_value_from_json(cJSON_GetObjectItemCaseSensitive(o, "last"), &s->last))
		return false;
	s->count = (long long)count->valuedouble;
	s->last_step = (long long)step->valuedouble;
	if (!mx_value_from_json(cJSON_GetObjectItemCaseSensitive(o, "min"), &s->min))
		s->min = NAN;
	if (!mx_value_from_json(cJSON_GetObjectItemCaseSensitive(o, "max"), &s->max))
		s->max = NAN;
	return true;
}

int mx_read_summary(const char *run_dir, const struct rp_run *r, struct mx_set *out, struct rp_err *err)
{
	const cJSON *sec = status_live(r->status) || r->status == RP_LOST ? NULL : record_section(r, "metrics");
	if (!cJSON_IsObject(sec))
		return mx_read_series(run_dir, out, err);
	memset(out, 0, sizeof *out);
	for (const cJSON *it = sec->child; it; it = it->next) {
		struct mx_summary s;
		if (!it->string || !summary_from_json(it, &s))
			continue;
		set_add(out, it->string)->sum = s;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, series_cmp);
	return 0;
}
