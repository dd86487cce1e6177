/* The charts of `runpilot report` as inline SVG (cmd_report.c writes the page around them):
 * axes with nice ticks, gridlines, one polyline per run, a legend. Nothing a browser would fetch
 * or run: no script, no external reference. Long series are downsampled by min/max buckets over
 * the x axis, so a chart's size does not grow with the number of points. */
#ifndef RP_REPORT_SVG_H
#define RP_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "metrics.h"

/* Buckets across the plot's width; a series with more points than twice this keeps each
 * bucket's min and max only. */
#define SVG_BUCKETS 500

/* One run's line in a chart. */
struct chart_line {
	const struct mx_series *s;   /* NULL: the run did not report this metric */
	const char *label;           /* legend text ("rp_0001 baseline"), raw: escaped here */
	size_t style;                /* the run's index: its color and dash (chart_color) */
};

/* The color of the style-th run ("#1f77b4"), the same in the charts and the runs table. */
const char *chart_color(size_t style);
/* Its stroke-dasharray, NULL for a solid line (only past the palette's ten colors). */
const char *chart_dash(size_t style);

/* s as HTML (or SVG) text or attribute value: & < > " ' escaped, control characters as '?'. */
void html_escape(FILE *f, const char *s);
/* The same for at most max bytes of s, cut at a character boundary, "…" when cut. */
void html_escape_max(FILE *f, const char *s, size_t max);

/* Write one chart: the metric's name as its title, steps on x, values on y. Values that are
 * not finite are not drawn (the legend counts them). */
void svg_line_chart(FILE *f, const char *title, const struct chart_line *lines, size_t nlines);

/* Ticks covering [lo, hi] at a 1-2-5 spacing of at least min_step (0: any), about target of
 * them; the range is widened to the outer ticks. Returns their number (at most max). */
size_t nice_ticks(double lo, double hi, int target, double min_step, double *ticks, size_t max);
/* A tick's label: decimals as the spacing needs, k/M/G for round ticks past 10 000. */
void fmt_tick(double v, double spacing, double largest, char *out, size_t n);

/* A point as drawn. */
struct svg_pt {
	double x, y;
};
/* The finite points of pts in step order (stable), downsampled into buckets over [x0, x1]:
 * each bucket keeps its min and max, in step order. *out is allocated; returns its length. */
size_t downsample_minmax(const struct mx_point *pts, size_t n, double x0, double x1, size_t buckets,
			 struct svg_pt **out);

#endif
