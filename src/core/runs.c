/* runs.h: reading runs back, status as of now, nothing written. */
#include "runs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claim.h"
#include "index.h"
#include "orphans.h"
#include "run_int.h"
#include "util.h"

/* A directory this young with neither run.json nor a claim is a run being allocated right now
 * (the claim follows the mkdir within microseconds), not a broken one. */
#define BEING_MADE_S 10

bool runs_status_now(const char *run_dir, struct rp_run *r)
{
	if (slurm_run(r))
		return slurm_status_now(run_dir, r);
	if (!status_live(r->status))
		return false;
	char *lock = path_join(run_dir, "run.lock");
	int fd;
	enum claim_state state = claim_try(lock, false, &fd);
	free(lock);
	const char *why = NULL;
	bool replaced = false;
	if (state == CLAIM_FREE) {
		/* The supervisor is gone, but it may have written its final record after we read
		 * ours: decide on what is on disk now. */
		struct rp_run fresh;
		if (record_read(run_dir, &fresh, NULL) == 0) {
			replaced = !status_live(fresh.status);
			record_free(r);
			*r = fresh;
		}
		if (status_live(r->status))
			why = orphan_reason(r->supervisor_boot_id);
		close(fd);
	} else if (state == CLAIM_NONE) {
		char *boot = current_boot_id();
		why = record_supervisor_gone_reason(r, boot);
		free(boot);
	}
	if (!why)
		return replaced;
	r->status = RP_LOST;
	free(r->reason);
	r->reason = xstrdup(why);
	return true;
}

enum read_result { READ_OK, READ_BEING_MADE, READ_BROKEN };

/* A claim being written (run.lock.PID) whose runpilot is gone: it was never renamed into place,
 * so no run was ever made here. */
static bool dead_claim_temp(const char *name)
{
	if (strncmp(name, "run.lock.", 9))
		return false;
	pid_t pid = orphan_temp_file_pid(name);
	return pid > 0 && !process_alive(pid);
}

bool runs_dir_never_made(const char *run_dir)
{
	DIR *d = opendir(run_dir);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, RP_RECORD_RESERVE_NAME) ||
			dead_claim_temp(de->d_name);
	closedir(d);
	return empty;
}

static enum read_result read_unrecorded(const char *run_dir, struct rp_run *r, struct rp_err *err)
{
	char *lock = path_join(run_dir, "run.lock");
	int fd;
	enum claim_state state = claim_try(lock, false, &fd);
	free(lock);
	if (state == CLAIM_HELD)
		return READ_BEING_MADE;
	if (state == CLAIM_FREE) {
		struct claim_info info;
		int rc = claim_read(fd, &info, err);
		close(fd);
		if (rc < 0)
			return READ_BROKEN;
		orphan_record(&info, run_dir, r);
		claim_info_free(&info);
		return READ_OK;
	}
	struct stat st;
	if (stat(run_dir, &st) == 0 && now_realtime() - (double)st.st_mtime < BEING_MADE_S)
		return READ_BEING_MADE;
	/* Nothing in it: its runpilot died between the mkdir and its claim. No run to show; gc
	 * removes the directory. */
	if (runs_dir_never_made(run_dir))
		return READ_BEING_MADE;
	return READ_BROKEN;
}

int runs_read_dir(const char *run_dir, struct rp_run *r, struct rp_err *err)
{
	if (record_read(run_dir, r, err) == 0)
		return RUNS_READ_OK;
	if (err->sys_errno != ENOENT)
		return RUNS_READ_BROKEN;
	enum read_result res = read_unrecorded(run_dir, r, err);
	return res == READ_OK ? RUNS_READ_OK : res == READ_BEING_MADE ? RUNS_READ_BEING_MADE : RUNS_READ_BROKEN;
}

static enum read_result read_run(const char *run_dir, struct rp_run *r, struct rp_err *err)
{
	if (record_read(run_dir, r, err) == 0) {
		runs_status_now(run_dir, r);
		return READ_OK;
	}
	return err->sys_errno == ENOENT ? read_unrecorded(run_dir, r, err) : READ_BROKEN;
}

/* A run name found through the index (ids, numbers and "last" the store resolves directly;
 * names not found once, or found twice, are left to it too, for its one-line errors). */
static bool found_by_name(const struct rp_store *st, const char *ref, char id[RP_ID_MAX])
{
	if (store_id_number(ref) >= 0 || !strcmp(ref, "last") || strspn(ref, "0123456789") == strlen(ref))
		return false;
	struct rp_index *ix = NULL;
	struct rp_err ignored = {0};
	bool found = index_open(st, &ix, &ignored) == 0 && ix && index_find_name(ix, ref, id, &ignored) == 0;
	index_close(ix);
	return found;
}

int runs_find_uid(const struct rp_store *st, const char *uid, const char *hint, char id[RP_ID_MAX])
{
	if (hint && store_id_number(hint) >= 0) {
		char *dir = store_run_dir(st, hint);
		struct rp_run r;
		bool same = record_read(dir, &r, NULL) == 0 && r.uid && !strcmp(r.uid, uid);
		if (same)
			snprintf(id, RP_ID_MAX, "%s", hint);
		record_free(&r);
		free(dir);
		if (same)
			return 0;
	}
	struct rp_index *ix = NULL;
	struct rp_err ignored = {0};
	bool found = index_open(st, &ix, &ignored) == 0 && ix && index_find_uid(ix, uid, id, &ignored) == 0;
	index_close(ix);
	return found ? 0 : -1;
}

int runs_resolve(const struct rp_store *st, const char *ref, char id[RP_ID_MAX], struct rp_err *err)
{
	return found_by_name(st, ref, id) ? 0 : store_resolve(st, ref, id, err);
}

int runs_load(const char *ref, struct rp_store *st, struct rp_run *r, char **run_dir, struct rp_err *err)
{
	char id[RP_ID_MAX];
	if (store_open(st, false, err) < 0)
		return -1;
	if (!found_by_name(st, ref, id) && store_resolve(st, ref, id, err) < 0) {
		store_close(st);
		return -1;
	}
	*run_dir = store_run_dir(st, id);
	struct rp_err why = { 0 };
	enum read_result res = read_run(*run_dir, r, &why);
	if (res == READ_OK)
		return 0;
	if (res == READ_BEING_MADE)
		rp_err_set(err, RP_ERR_RUNTIME, "run %s is being set up: it has no run.json yet", id);
	else
		*err = why;
	free(*run_dir);
	*run_dir = NULL;
	store_close(st);
	return -1;
}

int runs_load_all(const struct rp_store *st, struct run_view **views, size_t *n, struct rp_err *err)
{
	struct strvec ids = {0};
	*views = NULL;
	*n = 0;
	if (store_list_ids(st, &ids, err) < 0)
		return -1;
	*views = xcalloc(ids.n ? ids.n : 1, sizeof **views);
	for (size_t i = 0; i < ids.n; i++) {
		struct run_view *v = &(*views)[*n];
		char *dir = store_run_dir(st, ids.v[i]);
		struct rp_err why = { 0 };
		enum read_result res = read_run(dir, &v->rec, &why);
		free(dir);
		if (res == READ_BEING_MADE)
			continue;
		snprintf(v->id, sizeof v->id, "%s", ids.v[i]);
		v->readable = res == READ_OK;
		if (!v->readable)
			v->problem = xstrdup(why.msg[0] ? why.msg : "no run.json");
		(*n)++;
	}
	strvec_free(&ids);
	return 0;
}

void runs_free(struct run_view *views, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (views[i].readable)
			record_free(&views[i].rec);
		free(views[i].problem);
	}
	free(views);
}
