/* The test build's `server ui-query`: one op of a UI source (ui_source.h) called in-process and
 * its JSON answer printed, over a project of the server's database or (--local) the local store,
 * so tests compare the two sources' answers and time them without HTTP (--repeat N calls, from
 * --threads N threads at once: their times as JSON). */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "pgdb.h"
#include "server.h"
#include "testhooks.h"
#include "ui_source.h"
#include "util.h"

#ifdef RUNPILOT_TEST_HOOKS
struct uiq {
	const char *db, *project, *data_dir;
	bool local, all;
	long repeat;
	long threads;
	struct ui_runs_query q;
	double from, to;
	int points;
	long long offset;
	size_t max;
};

static int project_id(const char *url, const char *name, long long *id, struct rp_err *err)
{
	struct pg_db *db = pg_connect(url, err);
	if (!db)
		return -1;
	const char *p[] = {name};
	struct pg_res *r = pg_exec(db, "SELECT id FROM projects WHERE name = $1", 1, p, err);
	int rc = -1;
	if (r && pg_rows(r) == 1) {
		*id = strtoll(pg_value(r, 0, 0), NULL, 10);
		rc = 0;
	} else if (r) {
		rp_err_set(err, RP_ERR_USAGE, "no project '%s'", name);
	}
	pg_res_free(r);
	pg_close(db);
	return rc;
}

static int print_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	return 0;
}

/* One call of op; printed unless quiet. */
static int call(struct ui_source *s, struct uiq *o, const char *op, char **args, int nargs, bool quiet,
		struct rp_err *err)
{
	cJSON *out = NULL;
	int rc;
	if (!strcmp(op, "runs")) {
		rc = s->ops->runs(s, &o->q, &out, err);
	} else if (!strcmp(op, "run") && nargs == 1) {
		rc = s->ops->run(s, args[0], &out, err);
	} else if (!strcmp(op, "metric") && nargs == 2) {
		rc = s->ops->metric(s, args[0], args[1], o->from, o->to, o->points, &out, err);
	} else if (!strcmp(op, "log") && nargs == 1) {
		rc = s->ops->log(s, args[0], o->offset, o->max, &out, err);
	} else if (!strcmp(op, "compare") && nargs >= 1) {
		rc = s->ops->compare(s, args, (size_t)nargs, &out, err);
	} else if (!strcmp(op, "annotate") && nargs == 2) {
		cJSON *change = cJSON_Parse(args[1]);
		if (!change)
			return rp_err_set(err, RP_ERR_USAGE, "annotate: the change is not JSON");
		rc = s->ops->annotate(s, args[0], change, &out, err);
		cJSON_Delete(change);
	} else if (!strcmp(op, "output") && nargs == 2) {
		struct ui_output f;
		rc = s->ops->output(s, args[0], args[1], &f, err);
		if (rc == 0) {
			char buf[65536];
			ssize_t n;
			while (!quiet && (n = read(f.fd, buf, sizeof buf)) > 0)
				fwrite(buf, 1, (size_t)n, stdout);
			close(f.fd);
			free(f.name);
		}
		return rc;
	} else {
		return rp_err_set(err, RP_ERR_USAGE, "ui-query: runs | run ID | metric ID NAME | log ID | output ID PATH | "
						     "compare ID... | annotate ID JSON");
	}
	if (rc < 0)
		return -1;
	if (quiet) {
		cJSON_Delete(out);
		return 0;
	}
	return print_json(out);
}

/* --threads N: N threads each making --repeat calls at once, their times in t. */
struct worker {
	pthread_t th;
	struct ui_source *s;
	struct uiq *o;
	const char *op;
	char **args;
	int nargs;
	double *t;
	int rc;
	struct rp_err err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (long i = 0; i < w->o->repeat && w->rc == 0; i++) {
		double t0 = now_monotonic();
		w->rc = call(w->s, w->o, w->op, w->args, w->nargs, true, &w->err);
		w->t[i] = (now_monotonic() - t0) * 1000;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int timed(struct ui_source *s, struct uiq *o, const char *op, char **args, int nargs, struct rp_err *err)
{
	long nt = o->threads > 0 ? o->threads : 1, total = nt * o->repeat;
	double *t = xcalloc((size_t)total, sizeof *t);
	struct worker *w = xcalloc((size_t)nt, sizeof *w);
	double t0 = now_monotonic();
	for (long i = 0; i < nt; i++) {
		w[i] = (struct worker){.s = s, .o = o, .op = op, .args = args, .nargs = nargs, .t = t + i * o->repeat};
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
			w[i].rc = -1;
			rp_err_set(&w[i].err, RP_ERR_RUNTIME, "cannot start a thread");
		}
	}
	int rc = 0;
	for (long i = 0; i < nt; i++) {
		if (w[i].th)
			pthread_join(w[i].th, NULL);
		if (w[i].rc < 0 && rc == 0) {
			*err = w[i].err;
			rc = -1;
		}
	}
	double wall = now_monotonic() - t0;
	if (rc == 0) {
		qsort(t, (size_t)total, sizeof *t, cmp_double);
		printf("{\"threads\": %ld, \"calls\": %ld, \"per_s\": %.0f, \"min_ms\": %.3f, \"median_ms\": %.3f, "
		       "\"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
		       nt, total, total / wall, t[0], t[total / 2], t[(long)(total * 0.99)], t[total - 1]);
	}
	free(w);
	free(t);
	return rc;
}

/* runs --all: every page, one answer a line, following next. */
static int all_pages(struct ui_source *s, struct uiq *o, struct rp_err *err)
{
	char *after = NULL;
	int rc = 0;
	do {
		o->q.after = after;
		cJSON *out = NULL;
		rc = s->ops->runs(s, &o->q, &out, err);
		free(after);
		after = NULL;
		if (rc < 0)
			break;
		const cJSON *next = cJSON_GetObjectItemCaseSensitive(out, "next");
		if (cJSON_IsString(next))
			after = xstrdup(next->valuestring);
		print_json(out);
	} while (after);
	return rc;
}

int server_ui_query_cmd(int argc, char **argv, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},	   {"project", required_argument, NULL, 'p'},
		{"data-dir", required_argument, NULL, 'D'}, {"local", no_argument, NULL, 'L'},
		{"where", required_argument, NULL, 'w'},   {"sort", required_argument, NULL, 's'},
		{"after", required_argument, NULL, 'a'},   {"limit", required_argument, NULL, 'l'},
		{"columns", required_argument, NULL, 'c'}, {"all", no_argument, NULL, 'A'},
		{"from", required_argument, NULL, 'f'},	   {"to", required_argument, NULL, 't'},
		{"points", required_argument, NULL, 'P'},  {"offset", required_argument, NULL, 'o'},
		{"max", required_argument, NULL, 'm'},	   {"repeat", required_argument, NULL, 'r'},
		{"threads", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0}};
	struct uiq o = {.db = getenv("RUNPILOT_DB"), .from = NAN, .to = NAN, .repeat = 0};
	struct strvec cols = {0};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.db = optarg; break;
		case 'p': o.project = optarg; break;
		case 'D': o.data_dir = optarg; break;
		case 'L': o.local = true; break;
		case 'w': o.q.where = optarg; break;
		case 's': o.q.sort = optarg; break;
		case 'a': o.q.after = optarg; break;
		case 'l': o.q.limit = strtol(optarg, NULL, 10); break;
		case 'c': {
			char *copy = xstrdup(optarg), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				strvec_push(&cols, t);
			free(copy);
			break;
		}
		case 'A': o.all = true; break;
		case 'f': o.from = strtod(optarg, NULL); break;
		case 't': o.to = strtod(optarg, NULL); break;
		case 'P': o.points = atoi(optarg); break;
		case 'o': o.offset = strtoll(optarg, NULL, 10); break;
		case 'm': o.max = strtoul(optarg, NULL, 10); break;
		case 'r': o.repeat = strtol(optarg, NULL, 10); break;
		case 'T': o.threads = strtol(optarg, NULL, 10); break;
		default: strvec_free(&cols); return rp_err_set(err, RP_ERR_USAGE, "ui-query: bad option '%s'", argv[optind - 1]);
		}
	}
	o.q.columns = cols.v;
	o.q.ncolumns = cols.n;
	int rc = -1;
	struct ui_source *s = NULL;
	long long pid = 0;
	if (optind >= argc) {
		rp_err_set(err, RP_ERR_USAGE, "ui-query: name an op");
	} else if (o.local) {
		rc = ui_source_local_open(&s, err);
	} else if (!o.db || !o.project) {
		rp_err_set(err, RP_ERR_USAGE, "ui-query: --db URL and --project NAME (or --local)");
	} else if (project_id(o.db, o.project, &pid, err) == 0) {
		rc = ui_source_pg_open(o.db, o.data_dir, pid, &s, err);
	}
	if (rc == 0) {
		const char *op = argv[optind];
		char **args = argv + optind + 1;
		int nargs = argc - optind - 1;
		if (o.all && !strcmp(op, "runs")) {
			rc = all_pages(s, &o, err);
		} else if (o.repeat > 0) {
			rc = timed(s, &o, op, args, nargs, err);
		} else {
			rc = call(s, &o, op, args, nargs, false, err);
		}
	}
	if (s)
		s->ops->close(s);
	strvec_free(&cols);
	if (rc == 0 && fflush(stdout) != 0)
		rc = rp_err_sys(err, "writing to stdout");
	return rc;
}
#endif
