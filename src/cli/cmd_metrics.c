/* runpilot metrics: the metrics a run reported (a table with a trend line per metric, or every
 * point as JSON or CSV), read from its metrics.jsonl so a running run shows what it has so far;
 * and --test-patterns, which shows what a config's metrics section finds in a log, running
 * nothing. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "metrics.h"
#include "print.h"
#include "runs.h"
#include "util.h"

const char usage_metrics[] =
	"usage: runpilot metrics RUN [--json | --csv] [--name GLOB]...\n"
	"       runpilot metrics --test-patterns CONFIG [--json | --csv] [--name GLOB]... < LOG\n"
	"\n"
	"Show the metrics a run reported, one row per metric: its last value, min and max (NaN left\n"
	"out), STEPS (how many points), the step of the last one, and a trend line of the series\n"
	"(▁ low .. █ high, each column the mean of a stretch of points; · a stretch with no finite\n"
	"value). A running run shows what it reported so far. RUN is a run id (rp_0007), its number,\n"
	"a unique run name, or 'last'.\n"
	"\n"
	"  --json                  every point: {\"run\", \"name\", \"status\", \"metrics\": {NAME: {\"steps\",\n"
	"                          \"values\", \"timestamps\", \"sources\", \"last\", \"min\", \"max\", \"count\",\n"
	"                          \"last_step\"}}}; values that are not finite are \"nan\", \"inf\", \"-inf\"\n"
	"  --csv                   every point: name,step,value,time,source\n"
	"  --name GLOB             only metrics whose name matches GLOB (fnmatch: *, ?, [..]); repeat\n"
	"                          it for more (a metric matching any is shown)\n"
	"  --test-patterns CONFIG  run nothing: read a log on stdin and print the points that CONFIG's\n"
	"                          metrics section would record from it (name, step, value; --json an\n"
	"                          array of {\"name\", \"step\", \"value\"})\n";

#define SPARK_COLS 24

struct metrics_opts {
	bool json, csv;
	const char *test_config;
	const char *run;
	const char **globs;
	size_t nglobs;
};

static int parse_metrics_args(int argc, char **argv, struct metrics_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},        {"csv", no_argument, NULL, 'c'},
		{"name", required_argument, NULL, 'n'},  {"test-patterns", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'c': o->csv = true; break;
		case 't': o->test_config = optarg; break;
		case 'n':
			o->globs = xrealloc(o->globs, (o->nglobs + 1) * sizeof *o->globs);
			o->globs[o->nglobs++] = optarg;
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot metrics --help`)",
					  argv[optind - 1]);
		}
	}
	if (o->json && o->csv)
		return rp_err_set(err, RP_ERR_USAGE, "--json and --csv: pick one");
	int have = argc - optind;
	if (o->test_config && have > 0)
		return rp_err_set(err, RP_ERR_USAGE, "--test-patterns reads a log on stdin: unexpected argument '%s'",
				  argv[optind]);
	if (o->test_config)
		return 0;
	if (have == 0)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot metrics RUN [--json | --csv] [--name GLOB])");
	if (have > 1)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one run at a time; "
				  "`runpilot compare` puts several side by side)", argv[optind + 1]);
	o->run = argv[optind];
	return 0;
}

static bool name_wanted(const struct metrics_opts *o, const char *name)
{
	if (!o->nglobs)
		return true;
	for (size_t i = 0; i < o->nglobs; i++)
		if (fnmatch(o->globs[i], name, 0) == 0)
			return true;
	return false;
}

/* A value in JSON: a number, or "nan" / "inf" / "-inf" (as mx_value_json writes them). */
static void put_json_value(FILE *f, double v)
{
	char num[64];
	mx_format_value(v, num, sizeof num);
	if (isfinite(v))
		fputs(num, f);
	else
		fprintf(f, "\"%s\"", num);
}

/* min/max: null when the metric has no value but NaN (as run.json's summary has them). */
static void put_json_extreme(FILE *f, double v)
{
	if (isnan(v))
		fputs("null", f);
	else
		put_json_value(f, v);
}

/* ---- trend line ---- */

/* The series as SPARK_COLS columns (one per point when fewer): each the mean of its stretch's
 * finite values, scaled between the lowest and highest column. out holds 3 bytes a column. */
static void sparkline(const struct mx_series *s, char *out, size_t size)
{
	static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	size_t cols = s->n < SPARK_COLS ? s->n : SPARK_COLS;
	double mean[SPARK_COLS];
	bool has[SPARK_COLS];
	double lo = INFINITY, hi = -INFINITY;
	for (size_t c = 0; c < cols; c++) {
		size_t a = c * s->n / cols, b = (c + 1) * s->n / cols;
		double m = 0;
		size_t k = 0;
		for (size_t i = a; i < b; i++) {
			double v = s->pts[i].value;
			if (isfinite(v))
				m += (v - m) / (double)++k;   /* a running mean cannot overflow */
		}
		has[c] = k > 0;
		mean[c] = m;
		if (has[c]) {
			lo = m < lo ? m : lo;
			hi = m > hi ? m : hi;
		}
	}
	size_t len = 0;
	out[0] = '\0';
	for (size_t c = 0; c < cols && len + 4 <= size; c++) {
		const char *b = "·";
		if (has[c]) {
			/* halves, so hi - lo cannot overflow */
			double span = hi / 2 - lo / 2;
			int level = span > 0 ? (int)((mean[c] / 2 - lo / 2) / span * 7 + 0.5) : 0;
			b = blocks[level < 0 ? 0 : level > 7 ? 7 : level];
		}
		len += (size_t)snprintf(out + len, size - len, "%s", b);
	}
}

/* ---- a run's metrics ---- */

static void print_header(const struct rp_run *r, FILE *f)
{
	char status[128];
	fmt_status(r, status, sizeof status);
	fprintf(f, "%s %s (%s)", r->id, r->name ? r->name : "-", status);
}

static void print_table(const struct rp_run *r, const struct mx_series *const *v, size_t n)
{
	print_header(r, stdout);
	printf("\n\n");
	static const char *const header[] = {"NAME", "LAST", "MIN", "MAX", "STEPS", "LAST_STEP", "TREND"};
	struct table t;
	table_init(&t, 7, header);
	for (size_t i = 0; i < n; i++) {
		const struct mx_summary *s = &v[i]->sum;
		char last[64], min[64] = "-", max[64] = "-", count[32], step[32], trend[SPARK_COLS * 4 + 1];
		mx_format_value(s->last, last, sizeof last);
		if (!isnan(s->min))
			mx_format_value(s->min, min, sizeof min);
		if (!isnan(s->max))
			mx_format_value(s->max, max, sizeof max);
		snprintf(count, sizeof count, "%lld", s->count);
		snprintf(step, sizeof step, "%lld", s->last_step);
		sparkline(v[i], trend, sizeof trend);
		const char *row[] = {v[i]->name, last, min, max, count, step, trend};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_free(&t);
}

/* The points, written as they are read: a million-point series never becomes a JSON tree. */
static void print_series_json(const struct rp_run *r, const struct mx_series *const *v, size_t n)
{
	char status[128];
	fmt_status(r, status, sizeof status);
	fputs("{\"run\": ", stdout);
	print_json_string(stdout, r->id);
	fputs(", \"name\": ", stdout);
	if (r->name)
		print_json_string(stdout, r->name);
	else
		fputs("null", stdout);
	fputs(", \"status\": ", stdout);
	print_json_string(stdout, status_name(r->status));
	fputs(", \"metrics\": {", stdout);
	for (size_t i = 0; i < n; i++) {
		const struct mx_series *s = v[i];
		fputs(i ? ",\n  " : "\n  ", stdout);
		print_json_string(stdout, s->name);
		fputs(": {\"steps\": [", stdout);
		for (size_t k = 0; k < s->n; k++)
			printf(k ? ",%lld" : "%lld", s->pts[k].step);
		fputs("], \"values\": [", stdout);
		for (size_t k = 0; k < s->n; k++) {
			if (k)
				putchar(',');
			put_json_value(stdout, s->pts[k].value);
		}
		fputs("], \"timestamps\": [", stdout);
		for (size_t k = 0; k < s->n; k++)
			printf(k ? ",%.3f" : "%.3f", s->pts[k].time);
		fputs("], \"sources\": [", stdout);
		for (size_t k = 0; k < s->n; k++)
			printf(k ? ",\"%s\"" : "\"%s\"", mx_source_name(s->pts[k].source));
		fputs("], \"last\": ", stdout);
		put_json_value(stdout, s->sum.last);
		fputs(", \"min\": ", stdout);
		put_json_extreme(stdout, s->sum.min);
		fputs(", \"max\": ", stdout);
		put_json_extreme(stdout, s->sum.max);
		printf(", \"count\": %lld, \"last_step\": %lld}", s->sum.count, s->sum.last_step);
	}
	fputs(n ? "\n}}\n" : "}}\n", stdout);
}

static void print_series_csv(const struct mx_series *const *v, size_t n)
{
	puts("name,step,value,time,source");
	char num[64];
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < v[i]->n; k++) {
			const struct mx_point *p = &v[i]->pts[k];
			mx_format_value(p->value, num, sizeof num);
			print_csv_field(stdout, v[i]->name);
			printf(",%lld,%s,%.3f,%s\n", p->step, num, p->time, mx_source_name(p->source));
		}
}

static int show_run(const struct metrics_opts *o, struct rp_err *err)
{
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(o->run, &st, &r, &dir, err) < 0)
		return -1;
	struct mx_set set;
	int rc = mx_read_series(dir, &set, err);
	if (rc == 0) {
		const struct mx_series **v = xcalloc(set.n ? set.n : 1, sizeof *v);
		size_t n = 0;
		for (size_t i = 0; i < set.n; i++)
			if (name_wanted(o, set.v[i].name))
				v[n++] = &set.v[i];
		if (o->json) {
			print_series_json(&r, v, n);
		} else if (o->csv) {
			print_series_csv(v, n);
		} else if (n == 0) {
			/* one line, exit 0: no metrics is an answer, not a failure */
			print_header(&r, stdout);
			printf(": %s\n", set.n ? "no metric matches --name" :
					 status_live(r.status) ? "no metrics reported yet" : "no metrics recorded");
		} else {
			print_table(&r, v, n);
		}
		free(v);
		mx_set_free(&set);
	}
	record_free(&r);
	free(dir);
	store_close(&st);
	return rc;
}

/* ---- --test-patterns ---- */

struct found_point {
	char *name;
	long long step;
	double value;
};

struct found_list {
	const struct metrics_opts *o;
	struct found_point *v;
	size_t n, cap;
};

static void collect_point(void *ctx, const struct mx_found *f)
{
	struct found_list *l = ctx;
	char *name = xstrndup(f->name, f->name_len);
	if (!name_wanted(l->o, name)) {
		free(name);
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = (struct found_point){name, f->step, f->value};
}

static void print_found(const struct found_list *l, const struct metrics_opts *o)
{
	char num[64], step[32];
	if (o->json) {
		fputs("[", stdout);
		for (size_t i = 0; i < l->n; i++) {
			fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
			print_json_string(stdout, l->v[i].name);
			printf(", \"step\": %lld, \"value\": ", l->v[i].step);
			put_json_value(stdout, l->v[i].value);
			fputs("}", stdout);
		}
		fputs(l->n ? "\n]\n" : "]\n", stdout);
		return;
	}
	if (o->csv) {
		puts("name,step,value");
		for (size_t i = 0; i < l->n; i++) {
			mx_format_value(l->v[i].value, num, sizeof num);
			print_csv_field(stdout, l->v[i].name);
			printf(",%lld,%s\n", l->v[i].step, num);
		}
		return;
	}
	if (!l->n) {
		printf("no metrics found in the input\n");
		return;
	}
	static const char *const header[] = {"NAME", "STEP", "VALUE"};
	struct table t;
	table_init(&t, 3, header);
	for (size_t i = 0; i < l->n; i++) {
		mx_format_value(l->v[i].value, num, sizeof num);
		snprintf(step, sizeof step, "%lld", l->v[i].step);
		const char *row[] = {l->v[i].name, step, num};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_free(&t);
}

/* Feed stdin to a parser built from the config's metrics section. */
static int test_patterns(const struct metrics_opts *o, struct rp_err *err)
{
	struct rp_spec spec;
	if (config_load(o->test_config, NULL, &spec, err) < 0)
		return -1;
	struct mx_parser *p;
	int rc = mx_parser_new(&spec.metrics, &p, err);
	config_free(&spec);
	if (rc < 0)
		return -1;
	struct found_list l = {.o = o};
	char buf[65536];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rp_err_sys(err, "cannot read the log on stdin");
			break;
		}
		if (n == 0)
			break;
		mx_feed(p, buf, (size_t)n, collect_point, &l);
	}
	if (rc == 0) {
		mx_feed_end(p, collect_point, &l);
		print_found(&l, o);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	mx_parser_free(p);
	return rc;
}

int cmd_metrics(int argc, char **argv, struct rp_err *err)
{
	struct metrics_opts o = {0};
	int rc = parse_metrics_args(argc, argv, &o, err);
	if (rc == 0)
		rc = o.test_config ? test_patterns(&o, err) : show_run(&o, err);
	free(o.globs);
	return rc;
}
