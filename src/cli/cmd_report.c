/* runpilot report: one self-contained HTML file comparing runs — a table of the runs (status,
 * duration, params, resources) and a line chart per metric (report_svg.c). Inline CSS and SVG
 * only: no script, nothing fetched, so it opens anywhere and can be mailed or archived as is.
 * Everything but the generated-at line follows from the runs alone. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "select.h"
#include "metrics.h"
#include "print.h"
#include "report_svg.h"
#include "runs.h"
#include "util.h"

const char usage_report[] =
	"usage: runpilot report RUN... | SELECTION -o FILE\n"
	"\n"
	"Write one HTML file comparing runs: a table of the runs (status, duration, params with the\n"
	"ones that differ marked, resources used) and, per metric, a chart of each run's values by\n"
	"step. The file is self-contained (inline CSS and SVG, no script, nothing loaded from\n"
	"elsewhere): open it in any browser, attach it, archive it. RUN is a run id (rp_0007), its\n"
	"number (7), a unique run name, or 'last'.\n"
	"\n"
	"  -o, --output FILE  write the report to FILE (replaced atomically); '-' for stdout\n"
	SELECTION_USAGE;

#define USAGE_LINE "runpilot report RUN... | SELECTION -o FILE"

struct report_run {
	struct rp_store st;
	struct rp_run r;
	char *dir;
	bool loaded;
	struct mx_set mx;
	char *label;   /* "rp_0001 baseline", for legends */
};

struct report {
	struct report_run *runs;
	size_t n;
	struct strvec metrics;   /* the union of the runs' metric names, sorted */
};

/* ---- options ---- */

static int parse_args(int argc, char **argv, const char **out, struct run_selection *sel, struct rp_err *err)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'}, SELECTION_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	*out = NULL;
	int c, taken;
	while ((c = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
		if ((taken = selection_option(sel, c, optarg, err)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'o': *out = optarg; break;
		case ':':
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value (usage: " USAGE_LINE ")",
					  argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot report --help`)",
					  argv[optind - 1]);
		}
	}
	if (optind >= argc && !sel->given)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: " USAGE_LINE ")");
	if (!*out)
		return rp_err_set(err, RP_ERR_USAGE, "missing -o FILE, where to write the report (usage: " USAGE_LINE ")");
	return optind;
}

/* Refuse an output that cannot be written before reading any run (a large run takes a while). */
static int check_output(const char *path, struct rp_err *err)
{
	if (!strcmp(path, "-"))
		return 0;
	if (!*path || path[strlen(path) - 1] == '/' || path_is_dir(path))
		return rp_err_set(err, RP_ERR_USAGE, "-o '%s' is a directory: give a file name, e.g. -o report.html", path);
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int rc = 0;
	if (!path_is_dir(dir))
		rc = rp_err_set(err, RP_ERR_USAGE, "cannot write '%s': directory '%s' does not exist (create it first)",
				path, dir);
	free(dir);
	return rc;
}

/* ---- the runs ---- */

static int load_run(const char *ref, struct report_run *rr, struct rp_err *err)
{
	if (runs_load(ref, &rr->st, &rr->r, &rr->dir, err) < 0)
		return -1;
	rr->loaded = true;
	if (mx_read_series(rr->dir, &rr->mx, err) < 0)
		return rp_err_wrap(err, "run %s: metrics", rr->r.id);
	rr->label = rr->r.name ? xasprintf("%s %s", rr->r.id, rr->r.name) : xstrdup(rr->r.id);
	return 0;
}

static void free_run(struct report_run *rr)
{
	if (rr->loaded) {
		record_free(&rr->r);
		store_close(&rr->st);
	}
	mx_set_free(&rr->mx);
	free(rr->dir);
	free(rr->label);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every metric name of any run, once each, sorted. */
static void metric_union(struct report *rep)
{
	struct strvec all = {0};
	for (size_t i = 0; i < rep->n; i++)
		for (size_t k = 0; k < rep->runs[i].mx.n; k++)
			strvec_push(&all, rep->runs[i].mx.v[k].name);
	if (all.n)
		qsort(all.v, all.n, sizeof *all.v, cmp_str);
	for (size_t k = 0; k < all.n; k++)
		if (!k || strcmp(all.v[k], all.v[k - 1]))
			strvec_push(&rep->metrics, all.v[k]);
	strvec_free(&all);
}

static int load_runs(char **refs, size_t n, struct report *rep, struct rp_err *err)
{
	rep->runs = xcalloc(n, sizeof *rep->runs);
	/* a damaged run is left out, named, and the others reported */
	for (size_t i = 0; i < n; i++) {
		size_t at = rep->n++;
		struct rp_err why = {0};
		if (load_run(refs[i], &rep->runs[at], &why) < 0) {
			if (why.kind == RP_ERR_USAGE) {
				*err = why;
				return -1;
			}
			fprintf(stderr, "runpilot: warning: left out %s: %s (runpilot fsck checks the store)\n", refs[i], why.msg);
			free_run(&rep->runs[at]);
			memset(&rep->runs[at], 0, sizeof rep->runs[at]);
			rep->n--;
			continue;
		}
		for (size_t j = 0; j < at; j++)
			if (!strcmp(rep->runs[j].r.id, rep->runs[at].r.id))
				return rp_err_set(err, RP_ERR_USAGE, "run %s is given twice ('%s' and '%s')",
						  rep->runs[at].r.id, rep->runs[j].r.id, refs[i]);
	}
	if (!rep->n)
		return rp_err_set(err, RP_ERR_RUNTIME, "no run left to report (see the warnings above)");
	metric_union(rep);
	return 0;
}

static void free_report(struct report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		free_run(&rep->runs[i]);
	free(rep->runs);
	strvec_free(&rep->metrics);
}

/* ---- the page ---- */

static const char css[] =
	"body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;color:#222;"
	"margin:24px auto;max-width:1200px;padding:0 16px;line-height:1.4}\n"
	"h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}\n"
	".meta{color:#555;margin:2px 0}\n"
	".scroll{overflow-x:auto}\n"
	"table{border-collapse:collapse;font-size:13px}\n"
	"th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}\n"
	"th{background:#f4f4f4}th.group{text-align:center}\n"
	"td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
	"td.diff,th.diff{background:#fff3bf}\n"
	".swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;"
	"vertical-align:-1px}\n"
	".st-success{color:#2b8a3e;font-weight:600}.st-failed,.st-lost{color:#c92a2a;font-weight:600}"
	".st-cancelled,.st-running{color:#e67700;font-weight:600}\n"
	".err{color:#c92a2a;white-space:normal;max-width:320px}\n"
	".absent{color:#999}\n"
	"section.metric{margin:18px 0 28px}\n"
	"svg.chart{display:block;width:100%;height:auto;background:#fff}\n"
	"svg .grid line{stroke:#e8e8e8;stroke-width:1}\n"
	"svg .axis{stroke:#666;stroke-width:1;fill:none}\n"
	"svg text{font-family:inherit;fill:#333}\n"
	"svg .tick text{font-size:12px;fill:#555}svg .tick.x text{text-anchor:middle}"
	"svg .tick.y text{text-anchor:end}\n"
	"svg .title{font-size:17px;font-weight:600}\n"
	"svg .axis-title{font-size:12px;fill:#777;text-anchor:middle}\n"
	"svg .empty{font-size:14px;fill:#999;text-anchor:middle}\n"
	"svg .legend text{font-size:13px}\n"
	"svg polyline.series{stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}\n"
	"table.summary{margin-top:6px}\n";

static void now_text(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

static void page_head(FILE *f, const struct report *rep)
{
	/* The policy makes the "loads nothing" promise the browser's to keep as well. */
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>RunPilot report: ",
	      f);
	for (size_t i = 0; i < rep->n; i++)
		fprintf(f, "%s%s", i ? ", " : "", rep->runs[i].r.id);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
	fputs("<header>\n<h1>RunPilot report</h1>\n<p class=\"meta\">Runs compared: ", f);
	for (size_t i = 0; i < rep->n; i++) {
		fprintf(f, "%s<b>%s</b>", i ? ", " : "", rep->runs[i].r.id);
		if (rep->runs[i].r.name) {
			fputs(" (", f);
			html_escape(f, rep->runs[i].r.name);
			fputs(")", f);
		}
	}
	char when[64];
	now_text(when, sizeof when);
	fprintf(f, "</p>\n<p class=\"meta generated\">Generated %s by runpilot %s</p>\n</header>\n", when,
		RUNPILOT_VERSION);
}


/* The params of every run, in the order they first appear. */
static void param_keys(const struct report *rep, struct strvec *keys)
{
	for (size_t i = 0; i < rep->n; i++) {
		const cJSON *p = rep->runs[i].r.params;
		for (const cJSON *it = cJSON_IsObject(p) ? p->child : NULL; it; it = it->next) {
			bool seen = false;
			for (size_t k = 0; k < keys->n && !seen; k++)
				seen = !strcmp(keys->v[k], it->string);
			if (!seen)
				strvec_push(keys, it->string);
		}
	}
}

/* True when the runs do not all have the same value (or absence) for key. */
static bool param_differs(const struct report *rep, const char *key)
{
	char *first = param_text(&rep->runs[0].r, key);
	bool differs = false;
	for (size_t i = 1; i < rep->n && !differs; i++) {
		char *v = param_text(&rep->runs[i].r, key);
		differs = (!first != !v) || (first && strcmp(first, v));
		free(v);
	}
	free(first);
	return differs;
}

/* Resources used, from run.json's resources.usage, with the limit where one was asked for. */
enum res_kind { RES_SECONDS, RES_CORES, RES_BYTES, RES_COUNT };
static const struct res_col {
	const char *key, *label, *limit;
	enum res_kind kind;
} res_cols[] = {
	{"cpu_total_s", "CPU time", NULL, RES_SECONDS},
	{"cpu_avg_cores", "CPU cores (avg)", "cpus", RES_CORES},
	{"memory_peak_bytes", "Peak memory", "memory", RES_BYTES},
	{"max_rss_bytes", "Max RSS", NULL, RES_BYTES},
	{"pids_peak", "Peak pids", "pids", RES_COUNT},
	{"oom_kills", "OOM kills", NULL, RES_COUNT},
};
#define NRES (sizeof res_cols / sizeof *res_cols)

static const cJSON *usage_of(const struct rp_run *r)
{
	return cJSON_GetObjectItemCaseSensitive(record_section(r, "resources"), "usage");
}

static bool res_present(const struct report *rep, const struct res_col *c)
{
	for (size_t i = 0; i < rep->n; i++)
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(usage_of(&rep->runs[i].r), c->key)))
			return true;
	return false;
}

/* A limit as recorded: a number, or {"requested": number}; 0 when none. */
static double res_limit(const struct rp_run *r, const char *key)
{
	if (!key)
		return 0;
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(record_section(r, "resources"), "limits");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(limits, key);
	if (!cJSON_IsNumber(l))
		l = cJSON_GetObjectItemCaseSensitive(l, "requested");
	return cJSON_IsNumber(l) ? l->valuedouble : 0;
}

static void res_format(enum res_kind kind, double v, char *out, size_t n)
{
	switch (kind) {
	case RES_SECONDS: snprintf(out, n, "%.2f s", v); break;
	case RES_CORES: snprintf(out, n, "%.2f", v); break;
	case RES_BYTES: fmt_bytes(v, out, n); break;
	case RES_COUNT: snprintf(out, n, "%.0f", v); break;
	}
}

static void res_cell(FILE *f, const struct rp_run *r, const struct res_col *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage_of(r), c->key);
	if (!cJSON_IsNumber(v)) {
		fputs("<td class=\"absent\">-</td>", f);
		return;
	}
	char a[48], b[48];
	res_format(c->kind, v->valuedouble, a, sizeof a);
	double lim = res_limit(r, c->limit);
	if (lim > 0) {
		res_format(c->kind, lim, b, sizeof b);
		fprintf(f, "<td class=\"num\">%s / %s</td>", a, b);
	} else {
		fprintf(f, "<td class=\"num\">%s</td>", a);
	}
}

static void status_cell(FILE *f, const struct rp_run *r)
{
	char st[128];
	fmt_status(r, st, sizeof st);
	/* fmt_status gives a failure's reason; a lost or cancelled run's is worth saying too */
	if (r->status != RP_FAILED && r->reason)
		snprintf(st + strlen(st), sizeof st - strlen(st), " (%s)", r->reason);
	fprintf(f, "<td><span class=\"st-%s\">", status_name(r->status));
	html_escape(f, st);
	fputs("</span>", f);
	const cJSON *error = record_section(r, "error");
	if (cJSON_IsString(error)) {
		fputs("<div class=\"err\">", f);
		html_escape(f, error->valuestring);
		fputs("</div>", f);
	}
	fputs("</td>", f);
}

static void text_cell(FILE *f, const char *s, const char *cls)
{
	fprintf(f, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
	html_escape(f, s);
	fputs("</td>", f);
}

static void runs_table(FILE *f, const struct report *rep)
{
	struct strvec keys = {0};
	param_keys(rep, &keys);
	bool *differs = xcalloc(keys.n + 1, sizeof *differs);
	for (size_t k = 0; k < keys.n; k++)
		differs[k] = param_differs(rep, keys.v[k]);
	bool present[NRES];
	size_t nres = 0;
	for (size_t c = 0; c < NRES; c++)
		nres += present[c] = res_present(rep, &res_cols[c]);

	fputs("<h2>Runs</h2>\n<div class=\"scroll\">\n<table class=\"runs\">\n<thead>\n"
	      "<tr><th rowspan=\"2\">Run</th><th rowspan=\"2\">Name</th><th rowspan=\"2\">Status</th>"
	      "<th rowspan=\"2\">Started</th><th rowspan=\"2\">Duration</th>",
	      f);
	if (keys.n)
		fprintf(f, "<th class=\"group\" colspan=\"%zu\">Params</th>", keys.n);
	if (nres)
		fprintf(f, "<th class=\"group\" colspan=\"%zu\">Resources</th>", nres);
	fputs("</tr>\n<tr>", f);
	for (size_t k = 0; k < keys.n; k++) {
		fprintf(f, "<th class=\"param%s\"%s>", differs[k] ? " diff" : "", differs[k] ? " title=\"differs\"" : "");
		html_escape(f, keys.v[k]);
		fputs("</th>", f);
	}
	for (size_t c = 0; c < NRES; c++)
		if (present[c])
			fprintf(f, "<th>%s</th>", res_cols[c].label);
	fputs("</tr>\n</thead>\n<tbody>\n", f);

	for (size_t i = 0; i < rep->n; i++) {
		const struct rp_run *r = &rep->runs[i].r;
		char when[32], dur[32];
		fmt_local_time(r->started_at, when, sizeof when);
		fmt_duration(status_live(r->status) ? -1 : r->duration_s, dur, sizeof dur);
		fprintf(f, "<tr class=\"run\"><td><span class=\"swatch\" style=\"background:%s\"></span>%s</td>",
			chart_color(i), r->id);
		text_cell(f, r->name ? r->name : "-", NULL);
		status_cell(f, r);
		text_cell(f, when, NULL);
		text_cell(f, dur, "num");
		for (size_t k = 0; k < keys.n; k++) {
			char *v = param_text(r, keys.v[k]);
			text_cell(f, v ? v : "-", differs[k] ? (v ? "param diff" : "param diff absent") : (v ? "param" : "param absent"));
			free(v);
		}
		for (size_t c = 0; c < NRES; c++)
			if (present[c])
				res_cell(f, r, &res_cols[c]);
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n</div>\n", f);
	free(differs);
	strvec_free(&keys);
}

static void value_cell(FILE *f, double v)
{
	char buf[40];
	mx_format_value(v, buf, sizeof buf);
	fprintf(f, "<td class=\"num\">%s</td>", buf);
}

/* last, min, max, points, last step of each run that reported the metric. */
static void summary_table(FILE *f, const struct report *rep, const char *name)
{
	fputs("<table class=\"summary\">\n<tr><th>Run</th><th>last</th><th>min</th><th>max</th>"
	      "<th>points</th><th>last step</th></tr>\n",
	      f);
	for (size_t i = 0; i < rep->n; i++) {
		const struct mx_series *s = mx_set_find(&rep->runs[i].mx, name);
		if (!s)
			continue;
		fprintf(f, "<tr><td><span class=\"swatch\" style=\"background:%s\"></span>%s</td>", chart_color(i),
			rep->runs[i].r.id);
		value_cell(f, s->sum.last);
		value_cell(f, s->sum.min);
		value_cell(f, s->sum.max);
		fprintf(f, "<td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>\n", s->sum.count, s->sum.last_step);
	}
	fputs("</table>\n", f);
}

static void metrics_part(FILE *f, const struct report *rep)
{
	fputs("<h2>Metrics</h2>\n", f);
	if (!rep->metrics.n) {
		fputs("<p class=\"absent\">No metrics were recorded in these runs.</p>\n", f);
		return;
	}
	struct chart_line *lines = xcalloc(rep->n, sizeof *lines);
	for (size_t m = 0; m < rep->metrics.n; m++) {
		const char *name = rep->metrics.v[m];
		for (size_t i = 0; i < rep->n; i++)
			lines[i] = (struct chart_line){mx_set_find(&rep->runs[i].mx, name), rep->runs[i].label, i};
		fputs("<section class=\"metric\">\n", f);
		svg_line_chart(f, name, lines, rep->n);
		summary_table(f, rep, name);
		fputs("</section>\n", f);
	}
	free(lines);
}

/* The whole page, in memory (it is written atomically, and is small whatever the runs' size). */
static int render(const struct report *rep, char **buf, size_t *len, struct rp_err *err)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		return rp_err_sys(err, "cannot build the report");
	page_head(f, rep);
	runs_table(f, rep);
	metrics_part(f, rep);
	fputs("</body>\n</html>\n", f);
	bool failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(*buf);
		*buf = NULL;
		return rp_err_sys(err, "cannot build the report");
	}
	return 0;
}

static int write_report(const char *path, const char *buf, size_t len, struct rp_err *err)
{
	if (!strcmp(path, "-")) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
			return rp_err_sys(err, "cannot write the report to stdout");
		return 0;
	}
	if (write_file_atomic(path, buf, len, 0644, err) < 0)
		return rp_err_wrap(err, "cannot write the report");
	return 0;
}

int cmd_report(int argc, char **argv, struct rp_err *err)
{
	const char *out;
	struct run_selection sel = {0};
	struct report rep = {0};
	struct strvec refs = {0};
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;
	int first = parse_args(argc, argv, &out, &sel, err);
	if (first < 0 || check_output(out, err) < 0)
		goto out;
	for (int i = first; i < argc; i++)
		strvec_push(&refs, argv[i]);
	if (sel.given && select_runs(&sel, &refs, err) < 0)
		goto out;
	if (!refs.n) {
		rp_err_set(err, RP_ERR_USAGE, "no run matches the selection");
		goto out;
	}
	if (load_runs(refs.v, refs.n, &rep, err) < 0 || render(&rep, &buf, &len, err) < 0 ||
	    write_report(out, buf, len, err) < 0)
		goto out;
	if (strcmp(out, "-")) {
		char size[32];
		fmt_bytes((double)len, size, sizeof size);
		printf("wrote %s: %zu run%s, %zu metric%s, %s\n", out, rep.n, rep.n == 1 ? "" : "s", rep.metrics.n,
		       rep.metrics.n == 1 ? "" : "s", size);
	}
	rc = 0;
out:
	free(buf);
	free_report(&rep);
	strvec_free(&refs);
	selection_free(&sel);
	return rc;
}
