/* runpilot sweep status|ls, and the printing of `run`'s sweeps (the work is the core's: sweep.h). */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "print.h"
#include "record.h"
#include "run_print.h"
#include "runs.h"
#include "select.h"
#include "store.h"
#include "sweep.h"

const char usage_sweep[] =
	"usage: runpilot sweep status SWEEP\n"
	"       runpilot sweep ls\n"
	"\n"
	"Sweeps are started by `runpilot run` with --param lists or --random (docs/sweep.md).\n"
	"  status SWEEP   its progress (total, succeeded, failed, cancelled, running, not started) and\n"
	"                 its runs: index, id, the params that vary, status, duration\n"
	"  ls             every sweep: id, runs, succeeded, failed, running, first started\n";

/* ---- a sweep started by run ---- */

struct sweep_print {
	const struct sweep_plan *plan;
};

struct sweep_slurm_print {
	struct sweep_print p;
	size_t succeeded, cancelled;
};

static char *point_text(const struct sweep_plan *plan, size_t i)
{
	struct strvec sv = {0};
	for (size_t k = 0; k < plan->varying.n; k++) {
		const char *v = sweep_plan_value(plan, i, plan->varying.v[k]);
		strvec_pushf(&sv, "%s=%s", plan->varying.v[k], v ? v : "");
	}
	char *s = strvec_join(&sv, " ");
	strvec_free(&sv);
	return s;
}

static void print_point_started(void *ctx, size_t i, const char *id)
{
	const struct sweep_plan *plan = ((struct sweep_print *)ctx)->plan;
	char *p = point_text(plan, i);
	fprintf(stderr, "[%zu/%zu] %s %s started\n", i + 1, plan->size, id, p);
	fflush(stderr);
	free(p);
}

static void print_point_ended(void *ctx, size_t i, const char *id, const char *status, double duration_s,
			      const char *msg)
{
	const struct sweep_plan *plan = ((struct sweep_print *)ctx)->plan;
	char *p = point_text(plan, i);
	char colored[80], dur[32];
	fmt_colored_status(stderr, status, colored, sizeof colored);
	fmt_duration(duration_s, dur, sizeof dur);
	if (msg)
		fprintf(stderr, "[%zu/%zu] %s%s%s %s: %s\n", i + 1, plan->size, id, *id ? " " : "", p, colored, msg);
	else
		fprintf(stderr, "[%zu/%zu] %s %s %s in %s\n", i + 1, plan->size, id, p, colored, dur);
	fflush(stderr);
	free(p);
}

static void print_slurm_point_started(void *ctx, size_t i, const char *id, const char *node)
{
	print_point_started(ctx, i, id);
}

static void print_slurm_point_ended(void *ctx, size_t i, const struct rp_run *r)
{
	struct sweep_slurm_print *sp = ctx;
	print_point_ended(&sp->p, i, r->id, status_name(r->status), r->duration_s, NULL);
	sp->succeeded += r->status == RP_SUCCESS;
	sp->cancelled += r->status == RP_CANCELLED;
}

/* runner "slurm": the sweep is one job array; followed here unless detached. */
static int slurm_sweep_print(const struct sweep_plan *plan, const struct sweep_request *req, const struct run_opts *o,
			     long parallel, struct rp_err *err)
{
	char (*ids)[RP_ID_MAX] = xcalloc(plan->size, sizeof *ids);
	char *job_id = NULL;
	int rc = -1;
	if (sweep_submit(plan, req, parallel, ids, &job_id, err) < 0)
		goto out;
	fprintf(stderr, "runpilot: sweep %s: %zu runs (seed %llu) submitted to Slurm as job array %s (%s..%s)\n",
		plan->id, plan->size, (unsigned long long)plan->seed, job_id, ids[0], ids[plan->size - 1]);
	if (o->detach) {
		for (size_t i = 0; i < plan->size; i++)
			printf("%s\n", ids[i]);
		fprintf(stderr, "runpilot: follow: runpilot sweep status %s; wait: runpilot wait --where 'sweep = \"%s\"'\n",
			plan->id, plan->id);
		rc = 0;
		goto out;
	}
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		goto out;
	struct sweep_slurm_print sp = {.p = {plan}};
	struct follow_events ev = {.ctx = &sp, .started = print_slurm_point_started, .ended = print_slurm_point_ended};
	int sig = follow_runs(&st, ids, plan->size, false, &ev);
	store_close(&st);
	fprintf(stderr, "runpilot: sweep %s: %zu succeeded, %zu failed, %zu cancelled; runpilot sweep status %s\n",
		plan->id, sp.succeeded, plan->size - sp.succeeded - sp.cancelled, sp.cancelled, plan->id);
	rc = sig ? 128 + sig : sp.succeeded == plan->size ? 0 : 1;
out:
	free(job_id);
	free(ids);
	return rc;
}

int run_sweep_print(const char *config, const struct run_opts *o, const struct sweep_plan *plan, long parallel,
		    const struct rp_spec *spec, struct rp_err *err)
{
	int want = parallel > 0 ? (int)parallel : 1;
	int cap = sweep_capacity(want, spec->resources.cpus, spec->resources.memory_bytes);
	struct sweep_request req = {
		.config_path = config,
		.base = &o->ov,
		.runner = o->runner ? o->runner : spec->runner ? spec->runner : "auto",
		.stream = cap == 1 && !o->quiet,
		.kill_grace_s = run_kill_grace(),
		.capacity = cap,
	};
	if (!strcmp(req.runner, "slurm"))
		return slurm_sweep_print(plan, &req, o, parallel, err);
	fprintf(stderr, "runpilot: sweep %s: %zu runs (seed %llu), %d at once%s\n", plan->id, plan->size,
		(unsigned long long)plan->seed, cap, cap < want ? " (as many as this host's CPUs and memory hold)" : "");
	struct sweep_print sp = {plan};
	struct sweep_events ev = {.ctx = &sp, .started = print_point_started, .ended = print_point_ended};
	struct sweep_outcome out;
	if (sweep_execute(plan, &req, &ev, &out, err) < 0)
		return -1;
	fprintf(stderr, "runpilot: sweep %s: %zu succeeded, %zu failed, %zu cancelled", plan->id, out.succeeded,
		out.failed, out.cancelled);
	if (out.never_started)
		fprintf(stderr, ", %zu never started", out.never_started);
	if (out.signal)
		fprintf(stderr, " (cancelled by %s)", strsignal(out.signal));
	fprintf(stderr, "; runpilot sweep status %s\n", plan->id);
	if (out.signal)
		return 128 + out.signal;
	return out.succeeded == plan->size ? 0 : 1;
}

/* ---- sweep status ---- */

static bool valid_sweep_id(const char *s)
{
	if (strncmp(s, "sw_", 3) != 0 || !s[3] || strlen(s) >= SWEEP_ID_MAX)
		return false;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static double section_number(const struct rp_run *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(record_section(r, "sweep"), key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The param keys whose values differ between the runs. */
static void varying_keys(const struct rp_run *runs, size_t n, struct strvec *keys)
{
	struct strvec all = {0};
	for (size_t i = 0; i < n; i++) {
		const cJSON *p;
		cJSON_ArrayForEach(p, runs[i].params) {
			bool seen = false;
			for (size_t k = 0; k < all.n && !seen; k++)
				seen = !strcmp(all.v[k], p->string);
			if (!seen)
				strvec_push(&all, p->string);
		}
	}
	for (size_t k = 0; k < all.n; k++) {
		bool differs = false;
		const cJSON *first = cJSON_GetObjectItemCaseSensitive(runs[0].params, all.v[k]);
		for (size_t i = 1; i < n && !differs; i++)
			differs = !cJSON_Compare(first, cJSON_GetObjectItemCaseSensitive(runs[i].params, all.v[k]), true);
		if (differs)
			strvec_push(keys, all.v[k]);
	}
	strvec_free(&all);
}

static int load_sweep_runs(const char *id, struct rp_run **runs, size_t *n, struct rp_err *err)
{
	struct run_selection sel = {0};
	struct strvec ids = {0};
	char *where = xasprintf("sweep = \"%s\"", id);
	sel.where = where;
	int rc = select_runs(&sel, &ids, err);
	free(where);
	*runs = xcalloc(ids.n ? ids.n : 1, sizeof **runs);
	*n = 0;
	for (size_t i = 0; rc == 0 && i < ids.n; i++) {
		struct rp_store st;
		char *dir;
		if (runs_load(ids.v[i], &st, &(*runs)[*n], &dir, err) < 0) {
			rc = -1;
			break;
		}
		free(dir);
		store_close(&st);
		(*n)++;
	}
	strvec_free(&ids);
	return rc;
}

static void print_status_table(const struct rp_run *runs, size_t n, const struct strvec *keys)
{
	size_t ncols = 4 + keys->n;
	const char **row = xcalloc(ncols, sizeof *row);
	row[0] = "#";
	row[1] = "RUN";
	for (size_t k = 0; k < keys->n; k++)
		row[2 + k] = keys->v[k];
	row[2 + keys->n] = "STATUS";
	row[3 + keys->n] = "DURATION";
	struct table t;
	table_init(&t, ncols, row);
	for (size_t i = 0; i < n; i++) {
		struct strvec cells = {0};
		char status[64], colored[80], dur[32];
		strvec_pushf(&cells, "%.0f", section_number(&runs[i], "index"));
		strvec_push(&cells, runs[i].id);
		for (size_t k = 0; k < keys->n; k++) {
			char *v = param_text(&runs[i], keys->v[k]);
			strvec_push(&cells, v ? v : "-");
			free(v);
		}
		fmt_status(&runs[i], status, sizeof status);
		fmt_colored_status(stdout, status, colored, sizeof colored);
		strvec_push(&cells, colored);
		if (runs[i].duration_s >= 0)
			fmt_duration(runs[i].duration_s, dur, sizeof dur);
		else
			snprintf(dur, sizeof dur, "-");
		strvec_push(&cells, dur);
		table_add(&t, (const char *const *)cells.v);
		strvec_free(&cells);
	}
	table_print(&t, stdout);
	table_free(&t);
	free(row);
}

static int sweep_status(const char *id, struct rp_err *err)
{
	if (!valid_sweep_id(id))
		return rp_err_set(err, RP_ERR_USAGE, "'%s' is not a sweep id (sw_ and hex digits, as `runpilot run` printed it)", id);
	struct rp_run *runs;
	size_t n;
	int rc = load_sweep_runs(id, &runs, &n, err);
	if (rc == 0 && !n)
		rc = rp_err_set(err, RP_ERR_USAGE, "no runs of sweep %s (see `runpilot sweep ls`)", id);
	if (rc == 0) {
		size_t by[RP_LOST + 1] = {0};
		for (size_t i = 0; i < n; i++)
			by[runs[i].status]++;
		double size = section_number(&runs[0], "size");
		size_t total = size > (double)n ? (size_t)size : n;
		printf("sweep %s: %zu runs (seed %.0f): %zu succeeded, %zu failed, %zu cancelled, %zu running, "
		       "%zu lost, %zu not started\n",
		       id, total, section_number(&runs[0], "seed"), by[RP_SUCCESS], by[RP_FAILED], by[RP_CANCELLED],
		       by[RP_RUNNING], by[RP_LOST], total - n);
		struct strvec keys = {0};
		varying_keys(runs, n, &keys);
		print_status_table(runs, n, &keys);
		strvec_free(&keys);
	}
	for (size_t i = 0; i < n; i++)
		record_free(&runs[i]);
	free(runs);
	return rc;
}

/* ---- sweep ls ---- */

struct sweep_row {
	char id[SWEEP_ID_MAX];
	size_t size, seen, by[RP_LOST + 1];
	double first;
};

static int sweep_ls(struct rp_err *err)
{
	struct rp_store st;
	struct run_view *views;
	size_t n, nrows = 0;
	if (store_open(&st, false, err) < 0)
		return -1;
	if (runs_load_all(&st, &views, &n, err) < 0) {
		store_close(&st);
		return -1;
	}
	struct sweep_row *rows = xcalloc(n ? n : 1, sizeof *rows);
	for (size_t i = 0; i < n; i++) {
		const struct rp_run *r = &views[i].rec;
		const char *sid = views[i].readable
					  ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record_section(r, "sweep"), "id"))
					  : NULL;
		if (!sid)
			continue;
		struct sweep_row *row = NULL;
		for (size_t k = 0; k < nrows && !row; k++)
			if (!strcmp(rows[k].id, sid))
				row = &rows[k];
		if (!row) {
			row = &rows[nrows++];
			snprintf(row->id, sizeof row->id, "%s", sid);
			row->first = r->created_at;
		}
		row->seen++;
		row->by[r->status]++;
		size_t size = (size_t)section_number(r, "size");
		if (size > row->size)
			row->size = size;
	}
	static const char *const header[] = {"SWEEP", "RUNS", "SUCCEEDED", "FAILED", "RUNNING", "CREATED"};
	struct table t;
	table_init(&t, 6, header);
	for (size_t k = 0; k < nrows; k++) {
		char c[6][48];
		snprintf(c[0], sizeof c[0], "%s", rows[k].id);
		snprintf(c[1], sizeof c[1], "%zu", rows[k].size > rows[k].seen ? rows[k].size : rows[k].seen);
		snprintf(c[2], sizeof c[2], "%zu", rows[k].by[RP_SUCCESS]);
		snprintf(c[3], sizeof c[3], "%zu", rows[k].by[RP_FAILED]);
		snprintf(c[4], sizeof c[4], "%zu", rows[k].by[RP_RUNNING]);
		fmt_local_time(rows[k].first, c[5], sizeof c[5]);
		const char *cells[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
		table_add(&t, cells);
	}
	if (nrows)
		table_print(&t, stdout);
	else
		printf("no sweeps yet (runpilot run CONFIG --param KEY=A,B starts one)\n");
	table_free(&t);
	free(rows);
	runs_free(views, n);
	store_close(&st);
	return 0;
}

int cmd_sweep(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2)
		return rp_err_set(err, RP_ERR_USAGE, "`runpilot sweep` needs a command: status SWEEP or ls");
	if (!strcmp(argv[1], "status")) {
		if (argc != 3)
			return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot sweep status SWEEP");
		return sweep_status(argv[2], err);
	}
	if (!strcmp(argv[1], "ls")) {
		if (argc != 2)
			return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot sweep ls");
		return sweep_ls(err);
	}
	return rp_err_set(err, RP_ERR_USAGE, "no sweep command '%s': use status or ls", argv[1]);
}
