/* runpilot compare: runs side by side, one row each: id, name, status, duration, the params that
 * differ between them, and the last value of every metric any of them reported. The metrics
 * come from run.json's summary for runs that ended, so the series are never read for them. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "select.h"
#include "metrics.h"
#include "print.h"
#include "runs.h"
#include "sync_client.h"
#include "util.h"

const char usage_compare[] =
	"usage: runpilot compare RUN... | SELECTION [--json | --csv] [--sort [-]METRIC] [--all-params]\n"
	"\n"
	"Put runs side by side, one row each: id, name, status, duration, the params whose values\n"
	"differ between the runs, and the last value of each metric any of them reported ('-' where\n"
	"a run has none). One run is fine too (it has no differing params: use --all-params). RUN is\n"
	"a run id (rp_0007), its number, a unique run name, or 'last'; or the uid of a run\n"
	"`runpilot pull` fetched from a team server.\n"
	"\n"
	"  --sort METRIC   order the rows by that metric's last value (METRIC or metrics.METRIC),\n"
	"                  lowest first; -METRIC for highest first. Runs without it (or with NaN)\n"
	"                  come last, in the order given\n"
	SELECTION_USAGE
	"  --all-params    show every param, also those that are the same in all runs\n"
	"  --json          a JSON array: {\"id\", \"name\", \"status\", \"duration_s\", \"params\": {..},\n"
	"                  \"metrics\": {NAME: last value, or null}} per run\n"
	"  --csv           a header (id,name,status,duration_s,params.NAME..,metrics.NAME..) and a row\n"
	"                  per run\n";

struct compare_opts {
	bool json, csv, all_params;
	const char *sort;        /* the metric, without its '-' */
	bool descending;
	struct run_selection sel;
};

struct cmp_run {
	struct rp_store st;
	struct rp_run r;
	char *dir;
	bool loaded;
	struct mx_set metrics;   /* summaries only */
};

static int parse_compare_args(int argc, char **argv, struct compare_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},       {"csv", no_argument, NULL, 'c'},
		{"sort", required_argument, NULL, 's'}, {"all-params", no_argument, NULL, 'a'},
		SELECTION_LONGOPTS, {NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'c': o->csv = true; break;
		case 'a': o->all_params = true; break;
		case 's':
			o->descending = optarg[0] == '-';
			o->sort = optarg + o->descending;
			if (!*o->sort)
				return rp_err_set(err, RP_ERR_USAGE, "--sort needs a metric name (-NAME: highest first)");
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: {
			int taken = selection_option(&o->sel, c, optarg, err);
			if (taken < 0)
				return -1;
			if (!taken)
				return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot compare --help`)",
						  argv[optind - 1]);
		}
		}
	}
	if (o->json && o->csv)
		return rp_err_set(err, RP_ERR_USAGE, "--json and --csv: pick one");
	if (optind >= argc && !o->sel.given)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot compare RUN... | SELECTION "
				  "[--json | --csv] [--sort [-]METRIC] [--all-params])");
	return optind;
}

/* A run `runpilot pull` fetched, by its uid. */
static int load_remote(const char *uid, struct cmp_run *c, struct rp_err *err)
{
	if (store_open(&c->st, false, err) < 0)
		return -1;
	c->dir = sync_remote_find(c->st.home, uid);
	struct rp_err why = {0};
	if (!c->dir || runs_read_dir(c->dir, &c->r, &why) != RUNS_READ_OK) {
		store_close(&c->st);
		return -1;
	}
	return 0;
}

static int load_run(const char *ref, struct cmp_run *c, struct rp_err *err)
{
	if (runs_load(ref, &c->st, &c->r, &c->dir, err) < 0) {
		free(c->dir);
		c->dir = NULL;
		if (load_remote(ref, c, err) < 0)
			return -1;
		*err = (struct rp_err){0};
	}
	c->loaded = true;
	if (mx_read_summary(c->dir, &c->r, &c->metrics, err) < 0)
		return rp_err_wrap(err, "%s", c->r.id);
	return 0;
}

static void free_run(struct cmp_run *c)
{
	if (c->loaded) {
		record_free(&c->r);
		store_close(&c->st);
		mx_set_free(&c->metrics);
	}
	free(c->dir);
}


static bool strvec_has(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return true;
	return false;
}

/* Whether key has the same value (or is absent) in every run. */
static bool param_same(const struct cmp_run *runs, size_t n, const char *key)
{
	char *first = param_text(&runs[0].r, key);
	bool same = true;
	for (size_t i = 1; i < n && same; i++) {
		char *t = param_text(&runs[i].r, key);
		same = (!first && !t) || (first && t && !strcmp(first, t));
		free(t);
	}
	free(first);
	return same;
}

/* The param columns: keys in the order the runs first have them; only those that differ
 * unless all. */
static void param_columns(const struct cmp_run *runs, size_t n, bool all, struct strvec *out)
{
	for (size_t i = 0; i < n; i++)
		for (const cJSON *p = cJSON_IsObject(runs[i].r.params) ? runs[i].r.params->child : NULL; p; p = p->next)
			if (p->string && !strvec_has(out, p->string) && (all || !param_same(runs, n, p->string)))
				strvec_push(out, p->string);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The metric columns: every name any run reported, sorted. */
static void metric_columns(const struct cmp_run *runs, size_t n, struct strvec *out)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < runs[i].metrics.n; k++)
			if (!strvec_has(out, runs[i].metrics.v[k].name))
				strvec_push(out, runs[i].metrics.v[k].name);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, str_cmp);
}

/* A run's last value of a metric; false when it has none. */
static bool metric_last(const struct cmp_run *c, const char *name, double *v)
{
	const struct mx_series *s = mx_set_find(&c->metrics, name);
	if (!s)
		return false;
	*v = s->sum.last;
	return true;
}

/* ---- --sort ---- */

struct sort_key {
	size_t idx;
	bool has;
	double v;
	bool descending;
};

static int sort_key_cmp(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	if (x->has != y->has)
		return x->has ? -1 : 1;
	if (x->has && x->v != y->v)
		return (x->v < y->v) != x->descending ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;   /* stable: the order given */
}

/* The rows' order: as given, or by the --sort metric. */
static int row_order(const struct cmp_run *runs, size_t n, const struct compare_opts *o,
		     const struct strvec *metrics, size_t *order, struct rp_err *err)
{
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (!o->sort)
		return 0;
	/* metrics.NAME, as in --where, names the metric NAME */
	const char *sort = o->sort;
	if (!strvec_has(metrics, sort) && !strncmp(sort, "metrics.", 8) && strvec_has(metrics, sort + 8))
		sort += 8;
	if (!strvec_has(metrics, sort))
		return rp_err_set(err, RP_ERR_USAGE, "--sort %s: none of these runs reported a metric '%s'%s", sort,
				  sort, metrics->n ? " (see `runpilot metrics RUN`)" : " (they have no metrics)");
	struct sort_key *keys = xcalloc(n, sizeof *keys);
	for (size_t i = 0; i < n; i++) {
		keys[i] = (struct sort_key){.idx = i, .descending = o->descending};
		keys[i].has = metric_last(&runs[i], sort, &keys[i].v) && !isnan(keys[i].v);
	}
	qsort(keys, n, sizeof *keys, sort_key_cmp);
	for (size_t i = 0; i < n; i++)
		order[i] = keys[i].idx;
	free(keys);
	return 0;
}

/* ---- output ---- */

static void print_table(const struct cmp_run *runs, const size_t *order, size_t n, const struct strvec *params,
			const struct strvec *metrics)
{
	size_t ncols = 4 + params->n + metrics->n;
	const char **row = xcalloc(ncols, sizeof *row);
	row[0] = "ID";
	row[1] = "NAME";
	row[2] = "STATUS";
	row[3] = "DURATION";
	for (size_t k = 0; k < params->n; k++)
		row[4 + k] = params->v[k];
	for (size_t k = 0; k < metrics->n; k++)
		row[4 + params->n + k] = metrics->v[k];
	struct table t;
	table_init(&t, ncols, row);
	char **cells = xcalloc(ncols, sizeof *cells);
	for (size_t i = 0; i < n; i++) {
		const struct cmp_run *c = &runs[order[i]];
		char status[128], dur[32];
		fmt_status(&c->r, status, sizeof status);
		fmt_duration(status_live(c->r.status) ? -1 : c->r.duration_s, dur, sizeof dur);
		row[0] = c->r.id;
		row[1] = c->r.name ? c->r.name : "-";
		row[2] = status;
		row[3] = dur;
		for (size_t k = 0; k < params->n; k++) {
			cells[k] = param_text(&c->r, params->v[k]);
			row[4 + k] = cells[k] ? cells[k] : "-";
		}
		for (size_t k = 0; k < metrics->n; k++) {
			double v;
			char *cell = cells[params->n + k] = xcalloc(64, 1);
			if (metric_last(c, metrics->v[k], &v))
				mx_format_value(v, cell, 64);
			else
				snprintf(cell, 64, "-");
			row[4 + params->n + k] = cell;
		}
		table_add(&t, row);
		for (size_t k = 0; k < ncols; k++) {
			free(cells[k]);
			cells[k] = NULL;
		}
	}
	table_print(&t, stdout);
	table_free(&t);
	free(cells);
	free(row);
}

static void print_json(const struct cmp_run *runs, const size_t *order, size_t n, const struct strvec *params,
		       const struct strvec *metrics)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		const struct cmp_run *c = &runs[order[i]];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", c->r.id);
		cJSON_AddItemToObject(o, "name", c->r.name ? cJSON_CreateString(c->r.name) : cJSON_CreateNull());
		cJSON_AddStringToObject(o, "status", status_name(c->r.status));
		cJSON_AddItemToObject(o, "duration_s", !status_live(c->r.status) && c->r.duration_s >= 0
							      ? cJSON_CreateNumber(c->r.duration_s) : cJSON_CreateNull());
		cJSON *p = cJSON_AddObjectToObject(o, "params");
		for (size_t k = 0; k < params->n; k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->r.params, params->v[k]);
			cJSON_AddItemToObject(p, params->v[k], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
		}
		cJSON *m = cJSON_AddObjectToObject(o, "metrics");
		for (size_t k = 0; k < metrics->n; k++) {
			double v;
			cJSON_AddItemToObject(m, metrics->v[k], metric_last(c, metrics->v[k], &v) ? mx_value_json(v)
												: cJSON_CreateNull());
		}
		cJSON_AddItemToArray(a, o);
	}
	char *s = cJSON_Print(a);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(a);
}

static void print_csv(const struct cmp_run *runs, const size_t *order, size_t n, const struct strvec *params,
		      const struct strvec *metrics)
{
	fputs("id,name,status,duration_s", stdout);
	for (size_t k = 0; k < params->n; k++) {
		char *h = xasprintf("params.%s", params->v[k]);
		putchar(',');
		print_csv_field(stdout, h);
		free(h);
	}
	for (size_t k = 0; k < metrics->n; k++)
		printf(",metrics.%s", metrics->v[k]);
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		const struct cmp_run *c = &runs[order[i]];
		print_csv_field(stdout, c->r.id);
		putchar(',');
		print_csv_field(stdout, c->r.name ? c->r.name : "");
		printf(",%s,", status_name(c->r.status));
		if (!status_live(c->r.status) && c->r.duration_s >= 0)
			printf("%.3f", c->r.duration_s);
		for (size_t k = 0; k < params->n; k++) {
			char *t = param_text(&c->r, params->v[k]);
			putchar(',');
			print_csv_field(stdout, t ? t : "");
			free(t);
		}
		for (size_t k = 0; k < metrics->n; k++) {
			double v;
			char num[64] = "";
			if (metric_last(c, metrics->v[k], &v))
				mx_format_value(v, num, sizeof num);
			printf(",%s", num);
		}
		putchar('\n');
	}
}

int cmd_compare(int argc, char **argv, struct rp_err *err)
{
	struct compare_opts o = {0};
	int first = parse_compare_args(argc, argv, &o, err);
	struct strvec refs = {0};
	if (first < 0) {
		selection_free(&o.sel);
		return -1;
	}
	for (int i = first; i < argc; i++)
		strvec_push(&refs, argv[i]);
	int selected = o.sel.given ? select_runs(&o.sel, &refs, err) : 0;
	selection_free(&o.sel);
	if (selected < 0 || !refs.n) {
		strvec_free(&refs);
		return selected < 0 ? -1 : rp_err_set(err, RP_ERR_USAGE, "no run matches the selection");
	}
	struct cmp_run *runs = xcalloc(refs.n, sizeof *runs);
	size_t *order = xcalloc(refs.n, sizeof *order);
	struct strvec params = {0}, metrics = {0};
	int rc = 0;
	size_t n = 0;
	/* a damaged run is left out, named, and the others compared */
	for (size_t i = 0; i < refs.n && rc == 0; i++) {
		struct rp_err why = {0};
		if (load_run(refs.v[i], &runs[n], &why) == 0) {
			n++;
		} else if (why.kind == RP_ERR_USAGE) {
			*err = why;
			rc = -1;
		} else {
			fprintf(stderr, "runpilot: warning: left out %s: %s (runpilot fsck checks the store)\n", refs.v[i],
				why.msg);
			free_run(&runs[n]);
			memset(&runs[n], 0, sizeof runs[n]);
		}
	}
	if (rc == 0 && !n)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "no run left to compare (see the warnings above)");
	if (rc == 0) {
		param_columns(runs, n, o.all_params, &params);
		metric_columns(runs, n, &metrics);
		rc = row_order(runs, n, &o, &metrics, order, err);
	}
	if (rc == 0) {
		if (o.json)
			print_json(runs, order, n, &params, &metrics);
		else if (o.csv)
			print_csv(runs, order, n, &params, &metrics);
		else
			print_table(runs, order, n, &params, &metrics);
	}
	for (size_t i = 0; i < refs.n; i++)
		free_run(&runs[i]);
	free(runs);
	free(order);
	strvec_free(&params);
	strvec_free(&metrics);
	strvec_free(&refs);
	return rc;
}
