/* runpilot list: the runs in the store, oldest first (newest last), selected and sorted through
 * the run index (index.h), as a table, JSON, JSON lines or CSV. Where the index cannot be used
 * (a read-only store), the run directories are scanned with the same filters, --where aside. */
#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "config.h"
#include "fingerprint.h"
#include "index.h"
#include "metrics.h"
#include "print.h"
#include "runs.h"
#include "select.h"
#include "sync_client.h"
#include "util.h"

const char usage_list[] =
	"usage: runpilot list [options]\n"
	"\n"
	"List runs, newest last. On a terminal the newest 50 are shown (with a note saying how many\n"
	"more there are); on a pipe all of them.\n"
	"\n"
	"  --status STATUS   only runs with this status (repeatable: any of them): running, success,\n"
	"                    failed, cancelled, lost, or unreadable (run directories whose run.json\n"
	"                    cannot be read)\n"
	"  --tag TAG         only runs with this tag (repeatable: all of them)\n"
	"  --name GLOB       only runs whose name matches\n"
	"  --since WHEN      only runs started at or after WHEN: a date (2025-11-14, a UTC day), an\n"
	"                    RFC 3339 time, or an age: 7d, 12h, 30m\n"
	"  --until WHEN      only runs started at or before WHEN\n"
	"  --where EXPR      only runs EXPR holds for: params.lr < 0.01 and metrics.val_acc >= 0.9\n"
	"                    (docs/where.md)\n"
	"  --sort FIELD      order by started, created, ended, duration, name, id, status,\n"
	"                    params.KEY or metrics.NAME; '-' first for descending; --limit then keeps\n"
	"                    the first N of that order\n"
	"  --limit N         only the N newest runs (0: all)\n"
	"  --columns LIST    the table's columns: id,name,status,started,duration,fingerprint,\n"
	"                    reason,params.KEY,metrics.NAME\n"
	"  --fingerprint     add a column with each run's environment fingerprint (first 12 hex)\n"
	"  --json            the runs' run.json records as a JSON array\n"
	"  --jsonl           the same, one record a line\n"
	"  --csv             the table's columns as CSV\n"
	"  --remote          the runs `runpilot pull` fetched from the team server's project of\n"
	"                    runpilot.yaml's sync: (or --remote=HOST:PORT/PROJECT) instead of the\n"
	"                    local ones; the id column is the pushing store's id (--where and --sort\n"
	"                    are for local runs)\n";

/* On a terminal without --limit: this many, and a note for the rest. */
#define TERMINAL_LIMIT 50
#define UNREADABLE "unreadable"

enum list_format { LIST_TABLE, LIST_JSON, LIST_JSONL, LIST_CSV };

struct list_opts {
	struct strvec statuses, tags;
	const char *name_glob, *where, *sort, *columns;
	double since, until;
	long limit;
	bool limit_given;
	enum list_format format;
	bool fingerprint;
	bool remote;
	const char *remote_target; /* SERVER/PROJECT, or NULL: runpilot.yaml's sync: */
};

static int set_format(struct list_opts *o, enum list_format f, struct rp_err *err)
{
	if (o->format != LIST_TABLE && o->format != f)
		return rp_err_set(err, RP_ERR_USAGE, "--json, --jsonl and --csv: give one");
	o->format = f;
	return 0;
}

static int parse_list_args(int argc, char **argv, struct list_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"status", required_argument, NULL, 's'},  {"tag", required_argument, NULL, 't'},
		{"limit", required_argument, NULL, 'n'},   {"json", no_argument, NULL, 'j'},
		{"jsonl", no_argument, NULL, 'J'},         {"csv", no_argument, NULL, 'c'},
		{"fingerprint", no_argument, NULL, 'f'},   {"name", required_argument, NULL, 'N'},
		{"since", required_argument, NULL, 'S'},   {"until", required_argument, NULL, 'U'},
		{"where", required_argument, NULL, 'w'},   {"sort", required_argument, NULL, 'o'},
		{"columns", required_argument, NULL, 'C'}, {"remote", optional_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		long long n;
		enum rp_status st;
		switch (c) {
		case 's':
			if (status_parse(optarg, &st) < 0 && strcmp(optarg, UNREADABLE) != 0)
				return rp_err_set(err, RP_ERR_USAGE,
						  "--status '%s': use running, success, failed, cancelled, lost or "
						  UNREADABLE, optarg);
			strvec_push(&o->statuses, optarg);
			break;
		case 't': strvec_push(&o->tags, optarg); break;
		case 'n':
			if (strcmp(optarg, "0") != 0 && parse_count(optarg, &n) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--limit '%s': expected a number of runs (0: all)", optarg);
			o->limit = strcmp(optarg, "0") ? (long)n : 0;
			o->limit_given = true;
			break;
		case 'j': if (set_format(o, LIST_JSON, err) < 0) return -1; break;
		case 'J': if (set_format(o, LIST_JSONL, err) < 0) return -1; break;
		case 'c': if (set_format(o, LIST_CSV, err) < 0) return -1; break;
		case 'f': o->fingerprint = true; break;
		case 'N': o->name_glob = optarg; break;
		case 'S': if (parse_when("--since", optarg, &o->since, err) < 0) return -1; break;
		case 'U': if (parse_when("--until", optarg, &o->until, err) < 0) return -1; break;
		case 'w': o->where = optarg; break;
		case 'o': o->sort = optarg; break;
		case 'C': o->columns = optarg; break;
		case 'R': o->remote = true, o->remote_target = optarg; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot list --help`)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
	if (!o->limit_given && o->format == LIST_TABLE && isatty(STDOUT_FILENO))
		o->limit = TERMINAL_LIMIT;
	return 0;
}

/* ---- the selection: one list of runs, from the index or from a scan ---- */

struct listed {
	struct index_row row;
	struct rp_run rec;        /* read only when the output needs the record */
	bool have_rec;
	char *problem;            /* an unreadable run's, from a scan */
};

static void listed_free(struct listed *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].row.name);
		free(v[i].row.status);
		free(v[i].row.reason);
		free(v[i].row.fingerprint);
		if (v[i].have_rec)
			record_free(&v[i].rec);
		free(v[i].problem);
	}
	free(v);
}

static struct index_query query_of(const struct list_opts *o)
{
	return (struct index_query){.statuses = o->statuses.v, .nstatuses = o->statuses.n, .tags = o->tags.v,
				    .ntags = o->tags.n, .name_glob = o->name_glob, .since = o->since,
				    .until = o->until, .where = o->where, .sort = o->sort, .limit = o->limit,
				    .count = o->format == LIST_TABLE && isatty(STDERR_FILENO)};
}

static int select_indexed(struct rp_index *ix, const struct list_opts *o, struct listed **out, size_t *n,
			  size_t *total, struct rp_err *err)
{
	struct index_query q = query_of(o);
	struct index_row *rows;
	if (index_select(ix, &q, &rows, n, total, err) < 0)
		return -1;
	*out = xcalloc(*n ? *n : 1, sizeof **out);
	for (size_t i = 0; i < *n; i++)
		(*out)[i].row = rows[i];
	free(rows); /* the strings moved into *out */
	return 0;
}

/* ---- scanning, where the index cannot be used ---- */

static bool has_tag(const struct rp_run *r, const char *tag)
{
	for (size_t i = 0; r->tags && r->tags[i]; i++)
		if (!strcmp(r->tags[i], tag))
			return true;
	return false;
}

static bool scan_matches(const struct run_view *v, const struct list_opts *o)
{
	const char *status = v->readable ? status_name(v->rec.status) : UNREADABLE;
	bool any = o->statuses.n == 0;
	for (size_t i = 0; i < o->statuses.n; i++)
		any |= !strcmp(o->statuses.v[i], status);
	if (!any)
		return false;
	if (!v->readable)
		return !o->tags.n && !o->name_glob && !o->since && !o->until;
	const struct rp_run *r = &v->rec;
	for (size_t i = 0; i < o->tags.n; i++)
		if (!has_tag(r, o->tags.v[i]))
			return false;
	if (o->name_glob && fnmatch(o->name_glob, r->name ? r->name : "", 0) != 0)
		return false;
	double t = r->started_at > 0 ? r->started_at : r->created_at;
	return !(o->since && t < o->since) && !(o->until && t > o->until);
}

static void row_of_view(struct run_view *v, struct listed *l)
{
	memset(l, 0, sizeof *l);
	snprintf(l->row.id, sizeof l->row.id, "%s", v->id);
	if (!v->readable) {
		l->row.status = xstrdup(UNREADABLE);
		l->row.unreadable = true;
		l->problem = v->problem;
		v->problem = NULL;
		l->row.created = l->row.started = l->row.duration = -1;
		return;
	}
	struct rp_run *r = &v->rec;
	l->row.name = xstrdup(r->name ? r->name : "");
	l->row.status = xstrdup(status_name(r->status));
	l->row.reason = r->reason ? xstrdup(r->reason) : NULL;
	const char *fp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record_section(r, "environment"), "fingerprint"));
	l->row.fingerprint = fp ? xstrdup(fp) : NULL;
	l->row.created = r->created_at;
	l->row.started = r->started_at > 0 ? r->started_at : -1;
	l->row.duration = status_live(r->status) ? -1 : r->duration_s;
	l->row.has_exit_code = r->has_exit_code;
	l->row.exit_code = r->exit_code;
	l->row.signal = r->signal;
	l->rec = *r;
	l->have_rec = true;
	v->readable = false; /* the record moved */
}

static int select_scanned(const struct rp_store *st, const struct list_opts *o, struct listed **out, size_t *n,
			  size_t *total, struct rp_err *err)
{
	if (o->where || o->sort)
		return rp_err_set(err, RP_ERR_USAGE, "--where and --sort need the run index, which cannot be written in %s",
				  st->home);
	struct run_view *views;
	size_t nv;
	if (runs_load_all(st, &views, &nv, err) < 0)
		return -1;
	*out = xcalloc(nv ? nv : 1, sizeof **out);
	*n = 0;
	for (size_t i = 0; i < nv; i++) {
		if (!views[i].readable)
			fprintf(stderr, "runpilot: warning: %s: %s\n", views[i].id, views[i].problem);
		if (scan_matches(&views[i], o))
			row_of_view(&views[i], &(*out)[(*n)++]);
	}
	runs_free(views, nv);
	*total = *n;
	if (o->limit > 0 && *n > (size_t)o->limit) {
		/* the newest N: the older ones go */
		size_t drop = *n - (size_t)o->limit;
		struct listed *older = xmalloc(drop * sizeof *older);
		memcpy(older, *out, drop * sizeof *older);
		listed_free(older, drop);
		memmove(*out, *out + drop, (*n - drop) * sizeof **out);
		*n -= drop;
	}
	return 0;
}

static int by_started(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	double tx = x->row.started > 0 ? x->row.started : x->row.created;
	double ty = y->row.started > 0 ? y->row.started : y->row.created;
	return tx < ty ? -1 : tx > ty;
}

/* ---- output ---- */

/* The record of a listed run, read from its directory when the index gave only the row. */
static const struct rp_run *record_of(const struct rp_store *st, struct listed *l)
{
	if (l->have_rec)
		return &l->rec;
	if (l->row.unreadable)
		return NULL;
	char *dir = store_run_dir(st, l->row.id);
	struct rp_err ignored = {0};
	/* as a scan reads it: run.json, or the claim of a supervisor that died before writing one */
	if (runs_read_dir(dir, &l->rec, &ignored) == RUNS_READ_OK) {
		runs_status_now(dir, &l->rec);
		l->have_rec = true;
	}
	free(dir);
	return l->have_rec ? &l->rec : NULL;
}

static void status_text(const struct index_row *row, char *out, size_t n)
{
	struct rp_run r = {.reason = row->reason, .has_exit_code = row->has_exit_code, .exit_code = row->exit_code,
			   .signal = row->signal};
	if (row->unreadable || status_parse(row->status, &r.status) < 0) {
		snprintf(out, n, "%s", row->status);
		return;
	}
	fmt_status(&r, out, n);
}

/* One cell: a plain column from the row, params.K / metrics.M from the record. */
static void cell(const struct rp_store *st, struct listed *l, const char *col, bool csv, char *out, size_t n)
{
	const struct index_row *row = &l->row;
	snprintf(out, n, "-");
	if (!strcmp(col, "id"))
		snprintf(out, n, "%s", row->id);
	else if (!strcmp(col, "name"))
		snprintf(out, n, "%s", row->name ? row->name : "-");
	else if (!strcmp(col, "status"))
		status_text(row, out, n);
	else if (!strcmp(col, "reason"))
		snprintf(out, n, "%s", row->reason ? row->reason : "-");
	else if (!strcmp(col, "started")) {
		double t = row->started > 0 ? row->started : row->created;
		if (t > 0) {
			if (csv) {
				char iso[40];
				format_rfc3339(t, iso);
				snprintf(out, n, "%s", iso);
			} else {
				fmt_local_time(t, out, n);
			}
		}
	} else if (!strcmp(col, "duration")) {
		if (csv && row->duration >= 0)
			snprintf(out, n, "%.3f", row->duration);
		else if (!csv)
			fmt_duration(row->duration, out, n);
	} else if (!strcmp(col, "fingerprint")) {
		const char *fp = row->fingerprint;
		if (fp && !strncmp(fp, "sha256:", 7) && strlen(fp) >= 19)
			snprintf(out, n, "%.12s", fp + 7);
	} else if (!strncmp(col, "params.", 7)) {
		const struct rp_run *r = record_of(st, l);
		char *t = r ? param_text(r, col + 7) : NULL;
		if (t)
			snprintf(out, n, "%s", t);
		free(t);
	} else if (!strncmp(col, "metrics.", 8)) {
		const struct rp_run *r = record_of(st, l);
		const cJSON *m = r ? cJSON_GetObjectItemCaseSensitive(record_section(r, "metrics"), col + 8) : NULL;
		double v;
		if (m && mx_value_from_json(cJSON_GetObjectItemCaseSensitive(m, "last"), &v))
			mx_format_value(v, out, n);
	}
}

static bool known_column(const char *c)
{
	static const char *const plain[] = {"id", "name", "status", "started", "duration", "fingerprint", "reason", NULL};
	for (size_t i = 0; plain[i]; i++)
		if (!strcmp(c, plain[i]))
			return true;
	return (!strncmp(c, "params.", 7) && c[7]) || (!strncmp(c, "metrics.", 8) && c[8]);
}

static int parse_columns(const struct list_opts *o, struct strvec *cols, struct rp_err *err)
{
	if (!o->columns) {
		static const char *const def[] = {"id", "name", "status", "started", "duration"};
		for (size_t i = 0; i < 5; i++)
			strvec_push(cols, def[i]);
		if (o->fingerprint)
			strvec_push(cols, "fingerprint");
		return 0;
	}
	char *copy = xstrdup(o->columns), *save = NULL;
	for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		if (!known_column(c)) {
			rp_err_set(err, RP_ERR_USAGE,
				   "--columns: unknown column '%s' (id, name, status, started, duration, fingerprint, "
				   "reason, params.KEY, metrics.NAME)", c);
			free(copy);
			return -1;
		}
		strvec_push(cols, c);
	}
	free(copy);
	if (!cols->n)
		return rp_err_set(err, RP_ERR_USAGE, "--columns: name at least one column");
	return 0;
}

static char *upper(const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++)
		if (*p >= 'a' && *p <= 'z' && !strchr(s, '.'))
			*p = (char)(*p - 'a' + 'A');
	return u;
}

static void print_table(const struct rp_store *st, struct listed *v, size_t n, const struct strvec *cols)
{
	struct strvec head = {0};
	for (size_t c = 0; c < cols->n; c++) {
		char *h = upper(cols->v[c]);
		strvec_push(&head, h);
		free(h);
	}
	struct table t;
	table_init(&t, cols->n, (const char *const *)head.v);
	char **row = xcalloc(cols->n, sizeof *row);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < cols->n; c++) {
			char buf[256], colored[300];
			cell(st, &v[i], cols->v[c], false, buf, sizeof buf);
			if (!strcmp(cols->v[c], "status"))
				fmt_colored_status(stdout, buf, colored, sizeof colored);
			row[c] = xstrdup(strcmp(cols->v[c], "status") ? buf : colored);
		}
		table_add(&t, (const char *const *)row);
		for (size_t c = 0; c < cols->n; c++)
			free(row[c]);
	}
	free(row);
	table_print(&t, stdout);
	table_free(&t);
	strvec_free(&head);
}

static void print_csv(const struct rp_store *st, struct listed *v, size_t n, const struct strvec *cols)
{
	for (size_t c = 0; c < cols->n; c++) {
		if (c)
			fputc(',', stdout);
		print_csv_field(stdout, cols->v[c]);
	}
	fputc('\n', stdout);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < cols->n; c++) {
			char buf[256];
			cell(st, &v[i], cols->v[c], true, buf, sizeof buf);
			if (c)
				fputc(',', stdout);
			print_csv_field(stdout, strcmp(buf, "-") ? buf : "");
		}
		fputc('\n', stdout);
	}
}

/* One run as JSON: its record, or what is known of an unreadable one. */
static cJSON *run_json(const struct rp_store *st, struct listed *l)
{
	const struct rp_run *r = record_of(st, l);
	if (r)
		return record_to_json(r);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", l->row.id);
	cJSON_AddStringToObject(o, "status", UNREADABLE);
	cJSON_AddStringToObject(o, "error", l->problem ? l->problem : l->row.reason ? l->row.reason : "run.json cannot be read");
	return o;
}

static void print_json(const struct rp_store *st, struct listed *v, size_t n, bool lines)
{
	if (!lines)
		fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		cJSON *j = run_json(st, &v[i]);
		char *s = lines ? cJSON_PrintUnformatted(j) : cJSON_Print(j);
		if (lines)
			printf("%s\n", s);
		else
			printf("%s%s", i ? ",\n" : "\n", s);
		free(s);
		cJSON_Delete(j);
	}
	if (!lines)
		fputs(n ? "\n]\n" : "]\n", stdout);
}

/* The pulled runs of the remote project: home/remote/<host>/<project>/<uid>/run.json. */
static int select_remote(const struct rp_store *st, const struct list_opts *o, struct listed **out, size_t *n,
			 size_t *total, struct rp_err *err)
{
	if (o->where || o->sort)
		return rp_err_set(err, RP_ERR_USAGE, "--where and --sort are for local runs (pull --where selects on the "
				  "server)");
	char *server = NULL, *project = NULL, *os = NULL, *op = NULL, *token = NULL;
	if (o->remote_target) {
		const char *slash = strrchr(o->remote_target, '/');
		if (!slash || !slash[1] || slash == o->remote_target)
			return rp_err_set(err, RP_ERR_USAGE, "--remote '%s': give SERVER/PROJECT", o->remote_target);
		server = xstrndup(o->remote_target, (size_t)(slash - o->remote_target));
		project = xstrdup(slash + 1);
	}
	struct sync_target t;
	char *full = server && !strstr(server, "://") ? xasprintf("http://%s", server) : NULL;
	int rc = sync_resolve(full ? full : server, project, false, st->home, &t, &os, &op, &token, err);
	char *dir = rc == 0 ? sync_remote_dir(st->home, t.server, t.project) : NULL;
	sync_resolve_free(os, op, token);
	free(full);
	free(server);
	free(project);
	if (rc < 0)
		return -1;
	struct strvec uids = {0};
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			strvec_push(&uids, de->d_name);
	if (d)
		closedir(d);
	*out = xcalloc(uids.n ? uids.n : 1, sizeof **out);
	*n = 0;
	for (size_t i = 0; i < uids.n; i++) {
		char *rd = path_join(dir, uids.v[i]);
		struct run_view v = {0};
		struct rp_err why = {0};
		v.readable = runs_read_dir(rd, &v.rec, &why) == RUNS_READ_OK;
		free(rd);
		if (!v.readable)
			continue;
		snprintf(v.id, sizeof v.id, "%s", v.rec.id ? v.rec.id : uids.v[i]);
		if (scan_matches(&v, o))
			row_of_view(&v, &(*out)[(*n)++]);
		else
			record_free(&v.rec);
	}
	strvec_free(&uids);
	free(dir);
	qsort(*out, *n, sizeof **out, by_started);
	*total = *n;
	return 0;
}

int cmd_list(int argc, char **argv, struct rp_err *err)
{
	struct list_opts o = {0};
	struct strvec cols = {0};
	struct rp_store st;
	int rc = -1;
	if (parse_list_args(argc, argv, &o, err) < 0 || parse_columns(&o, &cols, err) < 0)
		goto out_opts;
	if (store_open(&st, false, err) < 0)
		goto out_opts;
	struct rp_index *ix = NULL;
	struct listed *runs = NULL;
	size_t n = 0, total = 0;
	if (o.remote) {
		if (select_remote(&st, &o, &runs, &n, &total, err) < 0)
			goto out_store;
	} else if (index_open(&st, &ix, err) < 0)
		goto out_store;
	if (!ix && err->msg[0]) {
		fprintf(stderr, "runpilot: warning: %s; reading the run directories instead\n", err->msg);
		err->msg[0] = '\0';
	}
	if (o.remote) {
	} else if (ix) {
		if (select_indexed(ix, &o, &runs, &n, &total, err) < 0)
			goto out_index;
		for (size_t i = 0; i < n; i++)
			if (runs[i].row.unreadable)
				fprintf(stderr, "runpilot: warning: %s: %s\n", runs[i].row.id,
					runs[i].row.reason ? runs[i].row.reason : "run.json cannot be read");
	} else if (select_scanned(&st, &o, &runs, &n, &total, err) < 0) {
		goto out_index;
	}
	if (o.format == LIST_JSON || o.format == LIST_JSONL)
		print_json(&st, runs, n, o.format == LIST_JSONL);
	else if (o.format == LIST_CSV)
		print_csv(&st, runs, n, &cols);
	else if (total == 0 && !o.statuses.n && !o.tags.n && !o.name_glob && !o.where && !o.since && !o.until)
		fprintf(stderr, "runpilot: no runs yet in %s (start one with `runpilot run CONFIG`)\n", st.runs_dir);
	else {
		print_table(&st, runs, n, &cols);
		/* the note is for a person at a terminal; counting every match costs a full pass */
		if (total > n && isatty(STDERR_FILENO))
			fprintf(stderr, "runpilot: %zu more run%s not shown (--limit 0 for all)\n", total - n,
				total - n == 1 ? "" : "s");
	}
	listed_free(runs, n);
	rc = 0;
out_index:
	index_close(ix);
out_store:
	store_close(&st);
out_opts:
	strvec_free(&o.statuses);
	strvec_free(&o.tags);
	strvec_free(&cols);
	return rc;
}
