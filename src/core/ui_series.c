/* A metric's series for a chart: the range asked, cut down to what a chart can show without
 * losing its spikes (min/max buckets). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ui_int.h"
#include "util.h"

size_t ui_downsample(const double *values, size_t n, size_t max_points, size_t *keep)
{
	if (max_points < 2)
		max_points = 2;
	if (n <= max_points) {
		for (size_t i = 0; i < n; i++)
			keep[i] = i;
		return n;
	}
	size_t buckets = max_points / 2, out = 0;
	for (size_t b = 0; b < buckets; b++) {
		size_t from = b * n / buckets, to = (b + 1) * n / buckets;
		size_t lo = from, hi = from;
		bool any = false;
		for (size_t i = from; i < to; i++) {
			if (isnan(values[i]))
				continue;
			if (!any || values[i] < values[lo])
				lo = i;
			if (!any || values[i] > values[hi])
				hi = i;
			any = true;
		}
		if (lo == hi) {
			keep[out++] = lo;
		} else {
			keep[out++] = lo < hi ? lo : hi;
			keep[out++] = lo < hi ? hi : lo;
		}
	}
	return out;
}

struct at_point {
	struct mx_point p;
	size_t at;                /* its place in the series: equal steps keep their order */
};

static int cmp_step(const void *a, const void *b)
{
	const struct at_point *x = a, *y = b;
	if (x->p.step != y->p.step)
		return (x->p.step > y->p.step) - (x->p.step < y->p.step);
	return (x->at > y->at) - (x->at < y->at);
}

static cJSON *value_json(double v)
{
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

cJSON *ui_series_json(const struct mx_series *s, double from, double to, int max_points)
{
	if (max_points <= 0 || max_points > 1000)
		max_points = 1000;
	/* in step order (points come in the order they were reported) */
	struct at_point *t = xmalloc((s->n ? s->n : 1) * sizeof *t);
	size_t n = 0;
	bool sorted = true;
	for (size_t i = 0; i < s->n; i++)
		if ((isnan(from) || (double)s->pts[i].step >= from) && (isnan(to) || (double)s->pts[i].step <= to)) {
			sorted &= !n || s->pts[i].step >= t[n - 1].p.step;
			t[n] = (struct at_point){s->pts[i], n};
			n++;
		}
	if (!sorted)
		qsort(t, n, sizeof *t, cmp_step);
	struct mx_point *pts = xmalloc((n ? n : 1) * sizeof *pts);
	for (size_t i = 0; i < n; i++)
		pts[i] = t[i].p;
	free(t);
	double *values = xmalloc((n ? n : 1) * sizeof *values);
	size_t *keep = xmalloc((n ? n : 1) * sizeof *keep);
	for (size_t i = 0; i < n; i++)
		values[i] = pts[i].value;
	size_t k = ui_downsample(values, n, (size_t)max_points, keep);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON *steps = cJSON_AddArrayToObject(o, "steps"), *vals = cJSON_AddArrayToObject(o, "values");
	for (size_t i = 0; i < k; i++) {
		cJSON_AddItemToArray(steps, cJSON_CreateNumber((double)pts[keep[i]].step));
		cJSON_AddItemToArray(vals, value_json(pts[keep[i]].value));
	}
	cJSON_AddNumberToObject(o, "count", (double)n);
	cJSON_AddBoolToObject(o, "downsampled", k < n);
	free(values);
	free(keep);
	free(pts);
	return o;
}
