/* import.c: runpilot import (include/import.h). The archive is staged and verified whole by
 * import_verify.c; then each run not here yet (by uid, in runs/ or the trash) gets its local id
 * in its run.json and moves into runs/ with one renameat2(RENAME_NOREPLACE), so a run is either
 * all there or not there, and never replaces another. */
#include "import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "import_int.h"
#include "index.h"
#include "log.h"
#include "record.h"
#include "util.h"

#define MAX_RUN_JSON (16u << 20)

void import_result_free(struct import_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->runs[i].name);
	free(res->runs);
	memset(res, 0, sizeof *res);
}

/* ---- runs already here ---- */

/* The uid of a run directory's run.json, or NULL. */
static char *dir_uid(const char *parent, const char *name)
{
	char *p = xasprintf("%s/%s/run.json", parent, name), *text = NULL, *uid = NULL;
	if (read_file(p, &text, NULL, NULL) == 0) {
		cJSON *j = cJSON_Parse(text);
		const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "uid"));
		uid = u ? xstrdup(u) : NULL;
		cJSON_Delete(j);
	}
	free(text);
	free(p);
	return uid;
}

/* Mark the runs of res whose uid a run directory under dir has. */
static void scan_dir(const char *dir, struct import_result *res)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (store_id_number(de->d_name) < 0 || strlen(de->d_name) >= RP_ID_MAX)
			continue;
		char *uid = dir_uid(dir, de->d_name);
		for (size_t i = 0; uid && i < res->n; i++)
			if (!res->runs[i].present && !strcmp(res->runs[i].uid, uid)) {
				res->runs[i].present = true;
				snprintf(res->runs[i].id, RP_ID_MAX, "%.*s", RP_ID_MAX - 1, de->d_name);
			}
		free(uid);
	}
	if (d)
		closedir(d);
}

/* Which runs are here already: the index knows runs/ (a scan where it cannot be used, and for a
 * dry run, which writes nothing, not even a new index); the trash is scanned. */
static void find_present(const struct rp_store *st, struct import_result *res, bool dry_run)
{
	struct rp_index *ix = NULL;
	struct rp_err ignored = {0};
	if (!dry_run && index_open(st, &ix, &ignored) < 0)
		ix = NULL;
	for (size_t i = 0; ix && i < res->n; i++) {
		int found = index_find_uid(ix, res->runs[i].uid, res->runs[i].id, &ignored);
		if (found < 0) {
			index_close(ix);
			ix = NULL;
		}
		res->runs[i].present = found == 0;
	}
	if (ix)
		index_close(ix);
	else
		scan_dir(st->runs_dir, res);
	char *trash = path_join(st->home, "trash");
	scan_dir(trash, res);
	free(trash);
}

/* ---- local ids ---- */

/* Free for an imported run: no run and no trash entry has it (restore would find it taken),
 * and this import has not planned it for another run. */
static bool id_free(const struct rp_store *st, const char *id, const struct strvec *planned)
{
	for (size_t i = 0; i < planned->n; i++)
		if (!strcmp(planned->v[i], id))
			return false;
	char *run = store_run_dir(st, id), *trash = store_trash_dir(st, id);
	bool is_free = !path_exists(run) && !path_exists(trash);
	free(run);
	free(trash);
	return is_free;
}

/* The run's own id when free here, else the first free one after the newest run's. */
static void pick_id(const struct rp_store *st, const char *want, const struct strvec *planned, char id[RP_ID_MAX])
{
	if (want && id_free(st, want, planned)) {
		snprintf(id, RP_ID_MAX, "%s", want);
		return;
	}
	struct strvec ids = {0};
	long n = 0;
	if (store_list_ids(st, &ids, NULL) == 0 && ids.n)
		n = store_id_number(ids.v[ids.n - 1]);
	strvec_free(&ids);
	for (size_t i = 0; i < planned->n; i++)
		if (store_id_number(planned->v[i]) > n)
			n = store_id_number(planned->v[i]);
	do
		store_format_id(++n, id);
	while (!id_free(st, id, planned));
}

/* ---- landing ---- */

struct landing {
	const struct rp_store *st;
	const char *stage;        /* the staging directory's path */
	int stage_fd, runs_fd;
	const struct imp_staged *s;
	char now[40];
};

/* The staged run.json with its local id and where it came from, written atomically. */
static int rewrite_record(struct landing *l, const struct imp_run *run, const char *id, struct rp_err *err)
{
	char *rel = xasprintf("runs/%s/run.json", run->uid), *text = NULL;
	int rc = imp_read_staged(l->stage_fd, rel, MAX_RUN_JSON, &text, NULL, err);
	cJSON *j = rc == 0 ? cJSON_Parse(text) : NULL;
	free(text);
	text = NULL;
	if (rc == 0 && !cJSON_IsObject(j))
		rc = rp_err_set(err, RP_ERR_USAGE, "%s: not valid JSON", rel);
	if (rc == 0) {
		cJSON *from = cJSON_CreateObject();
		cJSON_AddStringToObject(from, "id", run->id);
		cJSON_AddStringToObject(from, "host", l->s->host);
		cJSON_AddStringToObject(from, "time", l->now);
		cJSON_AddStringToObject(from, "archive_created", l->s->created);
		if (cJSON_GetObjectItemCaseSensitive(j, "id"))
			cJSON_ReplaceItemInObjectCaseSensitive(j, "id", cJSON_CreateString(id));
		else
			cJSON_AddStringToObject(j, "id", id);
		if (cJSON_GetObjectItemCaseSensitive(j, "imported_from"))
			cJSON_ReplaceItemInObjectCaseSensitive(j, "imported_from", from);
		else
			cJSON_AddItemToObject(j, "imported_from", from);
		text = cJSON_Print(j);
		if (!text)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "cannot serialise %s", rel);
	}
	if (rc == 0) {
		size_t len = strlen(text);
		text = xrealloc(text, len + 2);
		text[len++] = '\n';
		text[len] = '\0';
		char *path = xasprintf("%s/%s", l->stage, rel);
		rc = write_file_atomic(path, text, len, 0644, err);
		free(path);
	}
	cJSON_Delete(j);
	free(text);
	free(rel);
	return rc;
}

/* The index learns of the landed run (readers would find it anyway: runs/ changed). */
static void note_in_index(struct landing *l, const char *id, const struct runs_stamp *before)
{
	struct runs_stamp after;
	index_runs_stamp(l->st, &after);
	char *dir = store_run_dir(l->st, id);
	struct rp_run r;
	struct rp_err ignored = {0};
	if (record_read(dir, &r, &ignored) == 0) {
		index_note_run(l->st, dir, &r, before, &after);
		record_free(&r);
	}
	free(dir);
}

/* One staged run into runs/ under the first free id from want on. */
static int land_run(struct landing *l, const struct imp_run *run, struct strvec *planned, char id[RP_ID_MAX],
		    struct rp_err *err)
{
	char *from = xasprintf("runs/%s", run->uid);
	int rc = -1;
	pick_id(l->st, run->id, planned, id);
	for (int tries = 0; tries < 1000; tries++) {
		if (rewrite_record(l, run, id, err) < 0)
			goto out;
		struct runs_stamp before;
		index_runs_stamp(l->st, &before);
		if (renameat2(l->stage_fd, from, l->runs_fd, id, RENAME_NOREPLACE) == 0) {
			if (fsync(l->runs_fd) < 0)
				rp_log(RP_LOG_WARNING, "cannot sync %s: %s", l->st->runs_dir, strerror(errno));
			note_in_index(l, id, &before);
			rc = 0;
			goto out;
		}
		if (errno != EEXIST) {
			rp_err_sys(err, "cannot move the staged run %s into %s/%s", run->uid, l->st->runs_dir, id);
			goto out;
		}
		strvec_push(planned, id); /* taken meanwhile by another run */
		pick_id(l->st, NULL, planned, id);
	}
	rp_err_set(err, RP_ERR_RUNTIME, "cannot find a free run id in %s", l->st->runs_dir);
out:
	free(from);
	return rc;
}

static int land_all(struct landing *l, const struct import_opts *o, struct import_result *res, struct rp_err *err)
{
	const struct imp_staged *s = l->s;
	res->runs = xcalloc(s->nruns, sizeof *res->runs);
	res->n = s->nruns;
	for (size_t i = 0; i < s->nruns; i++) {
		struct import_run *r = &res->runs[i];
		snprintf(r->uid, sizeof r->uid, "%s", s->runs[i].uid);
		snprintf(r->orig_id, sizeof r->orig_id, "%s", s->runs[i].id);
		r->name = s->runs[i].name ? xstrdup(s->runs[i].name) : NULL;
	}
	struct strvec planned = {0};
	int rc = 0;
	if (!o->dry_run) {
		/* Imports into one store take turns (a flock on runs/) from finding which runs are
		 * here to landing them, so two imports of one archive never both land a run. */
		if ((l->runs_fd = open(l->st->runs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = rp_err_sys(err, "cannot open %s", l->st->runs_dir);
		while (rc == 0 && flock(l->runs_fd, LOCK_EX) < 0)
			if (errno != EINTR)
				rc = rp_err_sys(err, "cannot lock %s", l->st->runs_dir);
		if (rc == 0 && syncfs(l->stage_fd) < 0)
			rc = rp_err_sys(err, "cannot sync the staged runs");
	}
	if (rc == 0)
		find_present(l->st, res, o->dry_run);
	format_rfc3339(now_realtime(), l->now);
	for (size_t i = 0; i < res->n && rc == 0; i++) {
		struct import_run *r = &res->runs[i];
		if (r->present) {
			res->present++;
			continue;
		}
		if (o->dry_run)
			pick_id(l->st, r->orig_id, &planned, r->id);
		else
			rc = land_run(l, &s->runs[i], &planned, r->id, err);
		if (rc == 0) {
			strvec_push(&planned, r->id);
			res->imported++;
		}
	}
	strvec_free(&planned);
	close_fd(&l->runs_fd);
	return rc;
}

static int stage_archive(const struct rp_archive_api *api, int fd, int stage_fd, const struct import_opts *o,
			 struct imp_staged *s, struct rp_err *err)
{
	struct stat sb;
	uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
	struct archive *a = api->read_new();
	if (!a)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot start reading an archive");
	int rc;
	memset(s, 0, sizeof *s);
	if (api->support_filter_all(a) != ARCHIVE_OK || api->support_format_tar(a) != ARCHIVE_OK ||
	    api->open_fd(a, fd, 65536) != ARCHIVE_OK) {
		const char *why = api->error_string(a);
		rc = rp_err_set(err, RP_ERR_USAGE, "not a valid archive: %s", why ? why : "unreadable");
	} else {
		rc = imp_stage(api, a, stage_fd, o->max_size, o, size, s, err);
	}
	api->read_free(a);
	return rc;
}

int import_archive(const struct rp_store *st, int fd, const struct import_opts *o, struct import_result *res,
		   struct rp_err *err)
{
	memset(res, 0, sizeof *res);
	const struct rp_archive_api *api = rp_archive(err);
	if (!api)
		return rp_err_wrap(err, "import needs libarchive");
	char *tmp = path_join(st->home, "tmp"), *stage = NULL;
	int stage_lock = -1, rc = -1;
	struct imp_staged s = {0};
	struct landing l = {.st = st, .stage_fd = -1, .runs_fd = -1, .s = &s};
	if (mkdir_p(tmp, 0755, err) < 0 || !(stage = tmpdir_locked(tmp, "import", ".lock", &stage_lock, err)))
		goto out;
	l.stage = stage;
	if ((l.stage_fd = open(stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rp_err_sys(err, "cannot open %s", stage);
		goto out;
	}
	if (stage_archive(api, fd, l.stage_fd, o, &s, err) < 0)
		goto out;
	rc = land_all(&l, o, res, err);
out:
	close_fd(&l.stage_fd);
	if (stage) {
		struct rp_err e = {0};
		if (rm_rf(stage, &e) < 0)
			rp_log(RP_LOG_WARNING, "cannot remove the staging directory %s: %s", stage, e.msg);
	}
	close_fd(&stage_lock);
	imp_staged_free(&s);
	free(stage);
	free(tmp);
	return rc;
}
