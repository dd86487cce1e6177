/* report_svg.c: line charts as inline SVG for `runpilot report` (report_svg.h). The output
 * depends only on the series: coordinates are printed with one decimal, in a fixed order. */
#include "report_svg.h"

#include <math.h>   /* isfinite: a macro, no libm */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The chart's geometry (SVG user units; the page scales it to its width). */
#define W 1100.0
#define PLOT_LEFT 76.0
#define PLOT_RIGHT (W - 24.0)
#define PLOT_TOP 44.0
#define PLOT_BOTTOM (PLOT_TOP + 280.0)
#define LEGEND_TOP (PLOT_BOTTOM + 56.0)
#define LEGEND_ROW 22.0
#define LEGEND_COLS 2
#define LEGEND_LABEL_MAX 60   /* bytes of a legend label before it is cut */
#define MARKERS_MAX 40        /* a series this short gets a dot on each point */
#define MAX_TICKS 16

/* Tableau 10: distinct for most eyes, printable. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
				      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPALETTE (sizeof palette / sizeof *palette)
static const char *const dashes[] = {NULL, "7 4", "2 3", "9 3 2 3"};

const char *chart_color(size_t style)
{
	return palette[style % NPALETTE];
}

const char *chart_dash(size_t style)
{
	return dashes[(style / NPALETTE) % (sizeof dashes / sizeof *dashes)];
}

/* ---- text ---- */

static void escape_n(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(c < 0x20 || c == 0x7f ? '?' : c, f); break;
		}
	}
}

void html_escape(FILE *f, const char *s)
{
	escape_n(f, s, strlen(s));
}

void html_escape_max(FILE *f, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max) {
		escape_n(f, s, n);
		return;
	}
	/* back up to the first byte of a UTF-8 character */
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	escape_n(f, s, max);
	fputs("\u2026", f);
}

/* ---- ticks ----
 * Without libm: runpilot does not link it (every start would load it for these few lines). */

static double dabs(double x)
{
	return x < 0 ? -x : x;
}

static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

/* floor and ceil for |x| < 2^63 (callers keep to 1e15) */
static double dfloor(double x)
{
	double t = (double)(long long)x;
	return t > x ? t - 1 : t;
}

static double dceil(double x)
{
	double t = (double)(long long)x;
	return t < x ? t + 1 : t;
}

/* The decimal exponent of x > 0 (0.05 → -2, 20 → 1), as printf finds it. */
static int exp10_of(double x)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%.6e", x);
	const char *e = strchr(buf, 'e');
	return e ? atoi(e + 1) : 0;
}

/* 10^e, exactly as the decimal literal reads. */
static double pow10_of(int e)
{
	char buf[16];
	snprintf(buf, sizeof buf, "1e%d", e);
	return strtod(buf, NULL);
}

size_t nice_ticks(double lo, double hi, int target, double min_step, double *ticks, size_t max)
{
	double range = hi - lo;
	if (!isfinite(range) || range <= 0 || target < 1 || max < 2)
		goto plain;
	double rough = range / target;
	double mag = pow10_of(exp10_of(rough));
	double norm = rough / mag;
	double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
	if (step < min_step)
		step = min_step;
	/* a range tiny beside its values (1e12 + 1e-6) has no round ticks worth the name */
	if (dabs(lo / step) > 1e15 || dabs(hi / step) > 1e15)
		goto plain;
	double first = dfloor(lo / step), last = dceil(hi / step);
	while (last - first + 1 > (double)max) {   /* a min_step far above rough */
		step *= 2;
		first = dfloor(lo / step);
		last = dceil(hi / step);
	}
	size_t n = 0;
	for (double k = first; k <= last; k++) {
		double t = k * step;
		ticks[n++] = dabs(t) < step * 1e-9 ? 0 : t;   /* no "-0" or 1e-17 */
	}
	return n;
plain:
	ticks[0] = lo;
	ticks[1] = hi;
	return 2;
}

/* Decimals a 1-2-5 spacing needs: 0.05 → 2, 0.5 → 1, 5 → 0. */
static int decimals_for(double spacing)
{
	if (!(spacing > 0) || spacing >= 1)
		return 0;
	int d = -exp10_of(spacing);
	return d > 12 ? 12 : d;
}

void fmt_tick(double v, double spacing, double largest, char *out, size_t n)
{
	static const struct {
		double div;
		const char *suffix;
	} units[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
	largest = dabs(largest);
	if (v == 0)
		v = 0;   /* not "-0.0" */
	if (largest >= 1e15 || (largest < 1e-4 && largest > 0)) {
		snprintf(out, n, "%.3g", v);
		return;
	}
	if (largest >= 1e4 && spacing >= 10) {
		for (size_t i = 0; i < sizeof units / sizeof *units; i++)
			if (largest >= units[i].div) {
				if (v == 0)
					snprintf(out, n, "0");
				else
					snprintf(out, n, "%.*f%s", decimals_for(spacing / units[i].div),
						 v / units[i].div, units[i].suffix);
				return;
			}
	}
	snprintf(out, n, "%.*f", decimals_for(spacing), v);
}

/* ---- downsampling ---- */

struct ipt {
	long long step;
	double value;
	size_t i;   /* the order reported: ties keep it */
};

static int ipt_cmp(const void *a, const void *b)
{
	const struct ipt *x = a, *y = b;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

size_t downsample_minmax(const struct mx_point *pts, size_t n, double x0, double x1, size_t buckets,
			 struct svg_pt **out)
{
	struct ipt *v = xmalloc((n ? n : 1) * sizeof *v);
	size_t m = 0;
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(pts[i].value))
			continue;
		if (m && pts[i].step < v[m - 1].step)
			sorted = false;
		v[m] = (struct ipt){pts[i].step, pts[i].value, i};
		m++;
	}
	if (!sorted)   /* a job that counted its steps again from 0, or two sources */
		qsort(v, m, sizeof *v, ipt_cmp);
	struct svg_pt *o = xmalloc((m ? m : 1) * sizeof *o);
	size_t k = 0;
	if (m <= 2 * buckets || !(x1 > x0)) {
		for (size_t i = 0; i < m; i++)
			o[k++] = (struct svg_pt){(double)v[i].step, v[i].value};
	} else {
		size_t start = 0;
		while (start < m) {
			/* the bucket of v[start], and its min and max */
			double pos = ((double)v[start].step - x0) / (x1 - x0) * (double)buckets;
			size_t b = pos <= 0 ? 0 : pos >= (double)buckets ? buckets - 1 : (size_t)pos;
			double end = x0 + (x1 - x0) * (double)(b + 1) / (double)buckets;
			size_t lo = start, hi = start, i = start + 1;
			for (; i < m && (b == buckets - 1 || (double)v[i].step < end); i++) {
				if (v[i].value < v[lo].value)
					lo = i;
				if (v[i].value > v[hi].value)
					hi = i;
			}
			size_t a = lo < hi ? lo : hi, z = lo < hi ? hi : lo;
			o[k++] = (struct svg_pt){(double)v[a].step, v[a].value};
			if (z != a)
				o[k++] = (struct svg_pt){(double)v[z].step, v[z].value};
			start = i;
		}
	}
	free(v);
	*out = o;
	return k;
}

/* ---- the chart ---- */

struct frame {
	double x0, x1, y0, y1;   /* the data range at the plot's edges */
};

static double px_x(const struct frame *fr, double x)
{
	return PLOT_LEFT + (x - fr->x0) / (fr->x1 - fr->x0) * (PLOT_RIGHT - PLOT_LEFT);
}

static double px_y(const struct frame *fr, double y)
{
	return PLOT_BOTTOM - (y - fr->y0) / (fr->y1 - fr->y0) * (PLOT_BOTTOM - PLOT_TOP);
}

/* The finite range of every line; false when no line has a finite point. */
static bool data_range(const struct chart_line *lines, size_t nlines, struct frame *fr)
{
	bool any = false;
	for (size_t l = 0; l < nlines; l++) {
		const struct mx_series *s = lines[l].s;
		for (size_t i = 0; s && i < s->n; i++) {
			const struct mx_point *p = &s->pts[i];
			if (!isfinite(p->value))
				continue;
			double x = (double)p->step;
			if (!any) {
				*fr = (struct frame){x, x, p->value, p->value};
				any = true;
				continue;
			}
			fr->x0 = dmin(fr->x0, x);
			fr->x1 = dmax(fr->x1, x);
			fr->y0 = dmin(fr->y0, p->value);
			fr->y1 = dmax(fr->y1, p->value);
		}
	}
	return any;
}

/* A flat range gets some room around it, so its line sits in the middle. */
static void widen(double *lo, double *hi, double pad)
{
	if (*hi > *lo)
		return;
	double d = dabs(*lo) * 0.1;
	*lo -= d > 0 ? d : pad;
	*hi += d > 0 ? d : pad;
}

static void axes(FILE *f, struct frame *fr)
{
	double xt[MAX_TICKS], yt[MAX_TICKS];
	widen(&fr->x0, &fr->x1, 1);
	widen(&fr->y0, &fr->y1, 1);
	size_t nx = nice_ticks(fr->x0, fr->x1, 8, 1, xt, MAX_TICKS);
	size_t ny = nice_ticks(fr->y0, fr->y1, 5, 0, yt, MAX_TICKS);
	fr->x0 = xt[0], fr->x1 = xt[nx - 1];
	fr->y0 = yt[0], fr->y1 = yt[ny - 1];
	double xs = nx > 1 ? xt[1] - xt[0] : 0, ys = ny > 1 ? yt[1] - yt[0] : 0;
	double xl = dmax(dabs(xt[0]), dabs(xt[nx - 1])), yl = dmax(dabs(yt[0]), dabs(yt[ny - 1]));
	char label[64];
	fputs("<g class=\"grid\">", f);
	for (size_t i = 0; i < nx; i++)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px_x(fr, xt[i]), PLOT_TOP,
			px_x(fr, xt[i]), PLOT_BOTTOM);
	for (size_t i = 0; i < ny; i++)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PLOT_LEFT, px_y(fr, yt[i]),
			PLOT_RIGHT, px_y(fr, yt[i]));
	fputs("</g>\n", f);
	fprintf(f, "<path class=\"axis\" d=\"M%.1f %.1fV%.1fH%.1f\"/>\n", PLOT_LEFT, PLOT_TOP, PLOT_BOTTOM, PLOT_RIGHT);
	fputs("<g class=\"tick x\">", f);
	for (size_t i = 0; i < nx; i++) {
		fmt_tick(xt[i], xs, xl, label, sizeof label);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", px_x(fr, xt[i]), PLOT_BOTTOM + 18, label);
	}
	fputs("</g>\n<g class=\"tick y\">", f);
	for (size_t i = 0; i < ny; i++) {
		fmt_tick(yt[i], ys, yl, label, sizeof label);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", PLOT_LEFT - 8, px_y(fr, yt[i]) + 4, label);
	}
	fputs("</g>\n", f);
	fprintf(f, "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\">step</text>\n", (PLOT_LEFT + PLOT_RIGHT) / 2,
		PLOT_BOTTOM + 40);
}

static size_t non_finite(const struct mx_series *s)
{
	size_t k = 0;
	for (size_t i = 0; s && i < s->n; i++)
		k += !isfinite(s->pts[i].value);
	return k;
}

static void stroke_attrs(FILE *f, size_t style)
{
	fprintf(f, " stroke=\"%s\"", chart_color(style));
	if (chart_dash(style))
		fprintf(f, " stroke-dasharray=\"%s\"", chart_dash(style));
}

/* One run's polyline (and dots when it is short); nothing when it has no finite point. */
static void series_line(FILE *f, const struct frame *fr, const struct chart_line *l)
{
	struct svg_pt *p;
	size_t n = downsample_minmax(l->s->pts, l->s->n, fr->x0, fr->x1, SVG_BUCKETS, &p);
	if (n) {
		fputs("<polyline class=\"series\" data-run-index=\"", f);
		fprintf(f, "%zu\" fill=\"none\"", l->style);
		stroke_attrs(f, l->style);
		fputs(" points=\"", f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", px_x(fr, p[i].x), px_y(fr, p[i].y));
		fputs("\"><title>", f);
		html_escape(f, l->label);
		fputs("</title></polyline>\n", f);
	}
	if (n && n <= MARKERS_MAX) {
		fprintf(f, "<g class=\"dots\" fill=\"%s\">", chart_color(l->style));
		for (size_t i = 0; i < n; i++)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", px_x(fr, p[i].x), px_y(fr, p[i].y));
		fputs("</g>\n", f);
	}
	free(p);
}

static void legend(FILE *f, const struct chart_line *lines, size_t nlines)
{
	const double col_w = (PLOT_RIGHT - PLOT_LEFT) / LEGEND_COLS;
	fputs("<g class=\"legend\">\n", f);
	for (size_t l = 0; l < nlines; l++) {
		double x = PLOT_LEFT + col_w * (double)(l % LEGEND_COLS);
		double y = LEGEND_TOP + LEGEND_ROW * (double)(l / LEGEND_COLS);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"3\"", x, y - 4, x + 24, y - 4);
		stroke_attrs(f, lines[l].style);
		fprintf(f, "/><text x=\"%.1f\" y=\"%.1f\">", x + 32, y);
		html_escape_max(f, lines[l].label, LEGEND_LABEL_MAX);
		size_t bad = non_finite(lines[l].s);
		if (!lines[l].s)
			fputs(" (no data)", f);
		else if (bad == lines[l].s->n)
			fputs(" (no finite value)", f);
		else if (bad)
			fprintf(f, " (%zu not finite, not drawn)", bad);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
}

void svg_line_chart(FILE *f, const char *title, const struct chart_line *lines, size_t nlines)
{
	size_t rows = (nlines + LEGEND_COLS - 1) / LEGEND_COLS;
	double h = LEGEND_TOP + LEGEND_ROW * (double)rows - 6;
	/* inline in HTML: no xmlns needed, and the page names no URL at all */
	fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, h);
	html_escape(f, title);
	fputs("\">\n<text class=\"title\" x=\"", f);
	fprintf(f, "%.1f\" y=\"26\">", PLOT_LEFT);
	html_escape(f, title);
	fputs("</text>\n", f);
	struct frame fr;
	if (data_range(lines, nlines, &fr)) {
		axes(f, &fr);
		for (size_t l = 0; l < nlines; l++)
			if (lines[l].s)
				series_line(f, &fr, &lines[l]);
	} else {
		fprintf(f, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\">no finite value to draw</text>\n",
			(PLOT_LEFT + PLOT_RIGHT) / 2, (PLOT_TOP + PLOT_BOTTOM) / 2);
	}
	legend(f, lines, nlines);
	fputs("</svg>\n", f);
}
