/* fsck.h: the store checked part by part: what runs left behind (gc's passes, as a dry run
 * unless repairing), each run directory, the index against the directories, the image store's
 * blobs. Damaged runs are moved to the trash, never deleted. */
#include "fsck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "claim.h"
#include "gc.h"
#include "image.h"
#include "index.h"
#include "metrics.h"
#include "annotations.h"
#include "record.h"
#include "runs.h"
#include "util.h"

/* What the run pass learnt of one run directory, for the index pass. */
struct seen_run {
	const char *id;
	bool known;        /* its record read and whole; not running */
	char *status, *name;
	bool has_row;
};

struct fsck {
	const struct rp_store *st;
	bool repair;
	const struct fsck_events *ev;
	struct fsck_counts *counts;
	struct seen_run *runs;   /* sorted by id (strcmp), for the index's rows */
	size_t nruns;
	struct strvec index_problems;  /* "id\tproblem" ("index.db" for the file itself) */
};

static void tell(struct fsck *f, enum fsck_area area, const char *what, const char *file, const char *problem,
		 const char *fix, const char *fixed, enum fsck_state state, const char *error)
{
	struct fsck_finding x = {.area = area, .what = what, .file = file, .problem = problem, .fix = fix,
				 .fixed = fixed, .state = state, .error = error};
	if (f->ev->finding)
		f->ev->finding(f->ev->ctx, &x);
}

/* The state of a repair that was asked for or not, and whether it worked. */
static enum fsck_state state_of(const struct fsck *f, bool failed)
{
	return !f->repair ? FSCK_REPAIRABLE : failed ? FSCK_REPAIR_FAILED : FSCK_REPAIRED;
}

/* ---- what runs left behind: gc's passes ---- */

static void on_gc_item(void *ctx, const struct gc_item *it)
{
	struct fsck *f = ctx;
	enum fsck_state s = state_of(f, it->error != NULL);
	char *problem = NULL;
	switch (it->kind) {
	case GC_LOST:
		problem = xasprintf("still running on disk, but its runpilot is gone (%s)", it->detail ? it->detail : "?");
		tell(f, FSCK_RUN, it->what, "run.json", problem, "mark it lost", "marked lost", s, it->error);
		break;
	case GC_EMPTY_RUN_DIR:
		tell(f, FSCK_RUN, it->what, NULL, "an empty run directory: its runpilot died making it", "remove it",
		     "removed", s, it->error);
		break;
	case GC_INDEX_ROW:
		tell(f, FSCK_INDEX, it->what, "index", "a row for a run directory that does not exist", "drop the row",
		     "row dropped", s, it->error);
		break;
	case GC_CGROUP:
	case GC_CONTAINER:
	case GC_OVERLAY_WORK:
	case GC_TEMP_DIR:
	case GC_TEMP_FILE: {
		static const char *const words[] = {
			[GC_CGROUP] = "an empty cgroup of a run whose runpilot is gone",
			[GC_OVERLAY_WORK] = "an overlay work dir of a run whose runpilot is gone",
			[GC_TEMP_DIR] = "a temp dir nobody holds",
			[GC_TEMP_FILE] = "a temp file of a process that is gone",
		};
		if (it->kind == GC_CONTAINER)
			problem = xasprintf("a container of %s, which no longer runs", it->detail ? it->detail : "a run");
		tell(f, FSCK_LEFTOVER, it->what, NULL, problem ? problem : words[it->kind], "remove it", "removed", s,
		     it->error);
		break;
	}
	default:
		break; /* the trash and the policy: not fsck's */
	}
	free(problem);
}

static void on_gc_note(void *ctx, const char *msg)
{
	struct fsck *f = ctx;
	if (f->ev->note)
		f->ev->note(f->ev->ctx, msg);
}

static int check_leftovers(struct fsck *f, struct rp_err *err)
{
	/* an infinite trash age and no policy: gc's leftover passes only */
	struct gc_opts o = {.dry_run = !f->repair, .trash_age_s = 1e300};
	struct gc_events ev = {.item = on_gc_item, .note = on_gc_note, .ctx = f};
	return gc_run(f->st, &o, &ev, err);
}

/* ---- one run directory ---- */

/* A JSON object read from path: NULL with *problem (owned) saying why when it is not one. A
 * missing file is NULL with *problem NULL when missing_ok. */
static cJSON *read_json_object(const char *path, bool missing_ok, char **problem)
{
	char *text = NULL;
	size_t len = 0;
	struct rp_err e = {0};
	*problem = NULL;
	if (read_file(path, &text, &len, &e) < 0) {
		if (!(missing_ok && e.sys_errno == ENOENT))
			*problem = e.sys_errno == ENOENT ? xstrdup("missing") : xstrdup(e.msg);
		return NULL;
	}
	size_t zeros = 0;
	while (zeros < len && !text[zeros])
		zeros++;
	cJSON *j = NULL;
	const char *end = NULL;
	if (!len) {
		*problem = xstrdup("empty (0 bytes)");
	} else if (zeros == len) {
		*problem = xasprintf("zero-filled (%zu bytes)", len);
	} else if (!(j = cJSON_ParseWithLengthOpts(text, len, &end, false))) {
		int line = 1;
		for (const char *p = text; end && p < end && p < text + len; p++)
			line += *p == '\n';
		*problem = xasprintf("not valid JSON (line %d)", line);
	} else if (!cJSON_IsObject(j)) {
		*problem = xstrdup("not a JSON object");
		cJSON_Delete(j);
		j = NULL;
	}
	free(text);
	return j;
}

/* The names of an object's members, sorted, joined by ", " (owned). */
static void member_names(const cJSON *o, struct strvec *out)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
		if (it->string)
			strvec_push(out, it->string);
}

static bool has_name(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

/* Names in a but not in b, "a, b" (at most a few), or NULL when none. */
static char *names_missing(const struct strvec *a, const struct strvec *b)
{
	struct strvec out = {0};
	size_t n = 0;
	for (size_t i = 0; i < a->n; i++)
		if (!has_name(b, a->v[i]) && n++ < 4)
			strvec_push(&out, a->v[i]);
	if (n > 4)
		strvec_pushf(&out, "%zu more", n - 4);
	char *s = out.n ? strvec_join(&out, ", ") : NULL;
	strvec_free(&out);
	return s;
}

/* metrics.json against run.json's summary: a problem (owned), or NULL. */
static char *check_metrics(const char *run_dir, const struct rp_run *r)
{
	char *path = path_join(run_dir, RP_METRICS_JSON), *problem;
	cJSON *j = read_json_object(path, true, &problem);
	free(path);
	if (!j)
		return problem;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "metrics");
	const cJSON *summary = record_section(r, "metrics");
	if (!cJSON_IsObject(m)) {
		problem = xstrdup("no \"metrics\" object");
	} else if (!status_live(r->status) && r->status != RP_LOST) {
		/* (a lost run's supervisor may have died between metrics.json and its last record) */
		struct strvec file = {0}, rec = {0};
		member_names(m, &file);
		if (cJSON_IsObject(summary))
			member_names(summary, &rec);
		char *only_file = names_missing(&file, &rec), *only_rec = names_missing(&rec, &file);
		if (only_file || only_rec)
			problem = xasprintf("its metrics are not run.json's%s%s%s%s", only_file ? ": only here: " : "",
					    only_file ? only_file : "", only_rec ? "; only in run.json: " : "",
					    only_rec ? only_rec : "");
		free(only_file);
		free(only_rec);
		strvec_free(&file);
		strvec_free(&rec);
	}
	cJSON_Delete(j);
	return problem;
}

/* metrics.jsonl's lines: a problem (owned), or NULL. */
static char *check_points(const char *run_dir)
{
	char *path = path_join(run_dir, RP_METRICS_JSONL);
	size_t bad, first;
	struct rp_err e = {0};
	char *problem = NULL;
	if (mx_check_series_file(path, &bad, &first, &e) < 0)
		problem = xstrdup(e.msg);
	else if (bad)
		problem = xasprintf("%zu line%s that %s not a point (the first: line %zu)", bad, bad == 1 ? "" : "s",
				    bad == 1 ? "is" : "are", first);
	free(path);
	return problem;
}

/* A record's own fields: a problem (owned), or NULL. */
static char *check_record(const char *id, const cJSON *j, struct rp_run *r)
{
	struct rp_err e = {0};
	if (record_from_json(j, r, &e) < 0)
		return xstrdup(e.msg);
	if (!r->id || strcmp(r->id, id))
		return xasprintf("its id is %s, not the directory's name", r->id ? r->id : "missing");
	if (!r->uid || !*r->uid)
		return xstrdup("it has no uid");
	return NULL;
}

/* Whether the run's runpilot holds its claim now. */
static bool run_held(const char *run_dir)
{
	char *lock = path_join(run_dir, "run.lock");
	int fd = -1;
	bool held = claim_try(lock, false, &fd) == CLAIM_HELD;
	close_fd(&fd);
	free(lock);
	return held;
}

/* Move a damaged run to the trash with a note saying why; the index forgets it. */
static int quarantine(struct fsck *f, const char *id, const struct strvec *why, struct rp_err *err)
{
	if (store_trash_run(f->st, id, err) < 0)
		return -1;
	char *ids[] = {(char *)id};
	index_forget_runs(f->st, ids, 1);
	char *dir = store_trash_dir(f->st, id), *note = path_join(dir, FSCK_NOTE_FILE);
	struct strvec shown = {0};
	for (size_t i = 0; i < why->n; i++) {
		const char *tab = strchr(why->v[i], '\t');
		strvec_pushf(&shown, "  %.*s: %s", (int)(tab - why->v[i]), why->v[i], tab + 1);
	}
	char *lines = strvec_join(&shown, "\n");
	strvec_free(&shown);
	char when[40];
	format_rfc3339(now_realtime(), when);
	char *text = xasprintf("runpilot fsck --repair moved this run here from runs/%s at %s, for:\n%s\n"
			       "`runpilot restore %s` brings it back as it is.\n", id, when, lines, id);
	struct rp_err e = {0};
	int rc = write_file_atomic(note, text, strlen(text), 0644, &e);
	if (rc < 0)
		rp_err_set(err, RP_ERR_RUNTIME, "moved, but %s", e.msg);
	free(text);
	free(lines);
	free(note);
	free(dir);
	return rc;
}

/* The run's damaged files (file\tproblem each) reported, the run quarantined once. */
static void report_damage(struct fsck *f, const char *id, const char *run_dir, const struct strvec *damage)
{
	if (!damage->n)
		return;
	bool held = run_held(run_dir);
	struct rp_err e = {0};
	bool failed = !held && f->repair && quarantine(f, id, damage, &e) < 0;
	char *fix = xasprintf("quarantine it to trash/%s", id), *fixed = xasprintf("quarantined to trash/%s", id);
	for (size_t i = 0; i < damage->n; i++) {
		char *file = xstrdup(damage->v[i]), *tab = strchr(file, '\t');
		*tab = '\0';
		if (held) {
			char *p = xasprintf("%s (left: its runpilot is running it now)", tab + 1);
			tell(f, FSCK_RUN, id, file, p, NULL, NULL, FSCK_LEFT, NULL);
			free(p);
		} else {
			tell(f, FSCK_RUN, id, file, tab + 1, fix, fixed, state_of(f, failed), failed ? e.msg : NULL);
		}
		free(file);
	}
	free(fix);
	free(fixed);
}

/* What a person must look at: a record that says it ended without what ending leaves. */
static void check_status(struct fsck *f, const char *id, const char *run_dir, const struct rp_run *r)
{
	if (r->status != RP_SUCCESS && r->status != RP_FAILED)
		return;
	char *logs = path_join(run_dir, "logs.txt");
	char *p = NULL;
	if (!path_exists(logs)) {
		p = xasprintf("missing, for a run that ended %s", status_name(r->status));
		tell(f, FSCK_RUN, id, "logs.txt", p, NULL, NULL, FSCK_LEFT, NULL);
		free(p);
	}
	if (r->ended_at <= 0) {
		p = xasprintf("status %s without ended_at", status_name(r->status));
		tell(f, FSCK_RUN, id, "run.json", p, NULL, NULL, FSCK_LEFT, NULL);
		free(p);
	}
	free(logs);
}

static void check_run(struct fsck *f, const char *id, struct seen_run *seen)
{
	char *dir = store_run_dir(f->st, id), *path = path_join(dir, "run.json"), *problem = NULL;
	struct strvec damage = {0};
	struct rp_run r;
	memset(&r, 0, sizeof r);
	seen->id = id;
	cJSON *j = read_json_object(path, true, &problem);
	bool parsed = j != NULL;
	if (!j && !problem) {
		/* no run.json: a run being made, or one whose runpilot died first (gc's) */
		struct rp_err e = {0};
		int rc = runs_read_dir(dir, &r, &e);
		if (rc == RUNS_READ_BROKEN)
			strvec_pushf(&damage, "run.json\t%s", e.msg[0] ? e.msg : "missing, and no claim to tell the run by");
		record_free(&r);
	} else if (j) {
		problem = check_record(id, j, &r);
		cJSON_Delete(j);
	}
	if (problem) {
		strvec_pushf(&damage, "run.json\t%s", problem);
		free(problem);
	} else if (parsed) {
		check_status(f, id, dir, &r);
		if ((problem = check_metrics(dir, &r)))
			strvec_pushf(&damage, "%s\t%s", RP_METRICS_JSON, problem);
		free(problem);
		if ((problem = check_points(dir)))
			strvec_pushf(&damage, "%s\t%s", RP_METRICS_JSONL, problem);
		free(problem);
		char *ann = path_join(dir, RP_ANNOTATIONS_FILE);
		cJSON *a = read_json_object(ann, true, &problem);
		free(ann);
		cJSON_Delete(a);
		if (problem)
			strvec_pushf(&damage, "%s\t%s", RP_ANNOTATIONS_FILE, problem);
		free(problem);
		if (!damage.n && !status_live(r.status)) {
			seen->known = true;
			seen->status = xstrdup(status_name(r.status));
			seen->name = r.name ? xstrdup(r.name) : NULL;
		}
	}
	record_free(&r);
	report_damage(f, id, dir, &damage);
	strvec_free(&damage);
	free(path);
	free(dir);
}

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen_run *)a)->id, ((const struct seen_run *)b)->id);
}

static int check_runs(struct fsck *f, struct strvec *ids, struct rp_err *err)
{
	if (store_list_ids(f->st, ids, err) < 0)
		return -1;
	f->runs = xcalloc(ids->n + 1, sizeof *f->runs);
	for (size_t i = 0; i < ids->n; i++) {
		if (f->ev->progress && i % 64 == 0)
			f->ev->progress(f->ev->ctx, i, ids->n);
		check_run(f, ids->v[i], &f->runs[i]);
	}
	if (f->ev->progress && ids->n)
		f->ev->progress(f->ev->ctx, ids->n, ids->n);
	f->nruns = ids->n;
	f->counts->runs = ids->n;
	qsort(f->runs, f->nruns, sizeof *f->runs, cmp_seen);
	return 0;
}

/* ---- the index ---- */

static bool same_text(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static void on_index_row(void *ctx, const char *id, const char *status, const char *name)
{
	struct fsck *f = ctx;
	f->counts->index_rows++;
	struct seen_run key = {.id = id};
	struct seen_run *s = bsearch(&key, f->runs, f->nruns, sizeof *f->runs, cmp_seen);
	if (!s)
		return; /* no directory: gc's pass told it */
	s->has_row = true;
	if (!s->known)
		return;
	if (!same_text(status, s->status) && !(status && !strcmp(status, "running")) && !(status && !strcmp(status, "queued")))
		strvec_pushf(&f->index_problems, "%s\tits row says %s, run.json %s", id, status ? status : "nothing",
			     s->status);
	else if (!same_text(name, s->name))
		strvec_pushf(&f->index_problems, "%s\tits row names it %s, run.json %s", id, name ? name : "nothing",
			     s->name ? s->name : "nothing");
}

static void check_index(struct fsck *f)
{
	struct rp_err e = {0};
	bool in_step;
	int rc = index_read_rows(f->st, on_index_row, f, &in_step, &e);
	if (rc == 1)
		return; /* none yet: the first reader builds it */
	if (rc < 0) {
		strvec_pushf(&f->index_problems, "index.db\t%s", e.msg);
	} else if (in_step) {
		/* (an index not in step adds the runs it lacks at the next reader) */
		for (size_t i = 0; i < f->nruns; i++)
			if (f->runs[i].known && !f->runs[i].has_row)
				strvec_pushf(&f->index_problems, "%s\tno row for this run", f->runs[i].id);
	}
	if (!f->index_problems.n)
		return;
	struct rp_err why = {0};
	bool failed = f->repair && index_rebuild(f->st, NULL, NULL, &why) < 0;
	for (size_t i = 0; i < f->index_problems.n; i++) {
		char *what = f->index_problems.v[i], *tab = strchr(what, '\t');
		*tab = '\0';
		bool file = !strcmp(what, "index.db");
		tell(f, FSCK_INDEX, what, file ? NULL : "index", tab + 1, "rebuild the index from the run directories",
		     "index rebuilt", state_of(f, failed), failed ? why.msg : NULL);
	}
}

/* ---- the image store ---- */

static void on_blob(void *ctx, const struct img_blob_problem *p)
{
	struct fsck *f = ctx;
	char *problem = p->images ? xasprintf("%s; used by %s: pull or import %s again", p->problem, p->images,
					      strchr(p->images, ',') ? "them" : "it")
				  : xstrdup(p->problem);
	char *what = xasprintf("images/blobs/sha256/%.12s", p->hex);
	if (p->damaged)
		tell(f, FSCK_IMAGE, what, NULL, problem, "remove it", "removed", state_of(f, p->error != NULL), p->error);
	else
		tell(f, FSCK_IMAGE, what, NULL, problem, NULL, NULL, FSCK_LEFT, NULL);
	free(what);
	free(problem);
}

static void check_images(struct fsck *f)
{
	struct rp_err e = {0};
	if (img_check_blobs(f->st->home, f->repair, on_blob, f, &f->counts->blobs, &e) < 0)
		tell(f, FSCK_IMAGE, "images/index.json", NULL, e.msg, NULL, NULL, FSCK_LEFT, NULL);
}

int fsck_run(const struct rp_store *st, bool repair, const struct fsck_events *ev, struct fsck_counts *counts,
	     struct rp_err *err)
{
	struct fsck f = {.st = st, .repair = repair, .ev = ev, .counts = counts};
	struct strvec ids = {0};
	memset(counts, 0, sizeof *counts);
	/* gc first: its index-row pass must see the index before anything brings it in step */
	int rc = check_leftovers(&f, err);
	if (rc == 0)
		rc = check_runs(&f, &ids, err);
	if (rc == 0) {
		check_index(&f);
		check_images(&f);
	}
	for (size_t i = 0; i < f.nruns; i++) {
		free(f.runs[i].status);
		free(f.runs[i].name);
	}
	free(f.runs);
	strvec_free(&f.index_problems);
	strvec_free(&ids);
	return rc;
}
