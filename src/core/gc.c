/* gc.h: removing what runs left behind, then the runs a policy no longer keeps. Each pass
 * decides from what it can prove now (a free lock, an empty cgroup, a gone process) and leaves
 * anything it cannot prove unused. */
#include "gc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "claim.h"
#include "index.h"
#include "orphans.h"
#include "record.h"
#include "runner.h"
#include "runs.h"

/* A temp entry younger than this may be one being set up (made before its lock is taken). */
#define TEMP_MIN_AGE_S 60
/* A cgroup of a run this store does not know (another store's) must be untouched this long. */
#define FOREIGN_CGROUP_AGE_S 3600

struct gc {
	const struct rp_store *st;
	const struct gc_opts *o;
	const struct gc_events *ev;
	struct strvec handled;    /* run ids the active/ pass finished off */
};

static void report(struct gc *g, enum gc_kind kind, const char *what, const char *detail, uint64_t bytes,
		   const char *error)
{
	struct gc_item it = {.kind = kind, .what = what, .detail = detail, .bytes = bytes, .error = error};
	if (g->ev->item)
		g->ev->item(g->ev->ctx, &it);
}

static void note(struct gc *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct gc *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	if (vasprintf(&s, fmt, ap) >= 0) {
		if (g->ev->note)
			g->ev->note(g->ev->ctx, s);
		free(s);
	}
	va_end(ap);
}

static bool old_enough(const struct stat *st, double age_s)
{
	return (double)st->st_mtime < now_realtime() - age_s;
}

static bool in_list(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

/* ---- whose run ---- */

/* Whether run id of this store runs now: its supervisor holds the claim, or (a run without
 * one) its record says running and its supervisor lives, or it is being made. */
static bool run_live(const struct rp_store *st, const char *id)
{
	char *dir = store_run_dir(st, id);
	char *lock = path_join(dir, "run.lock");
	bool live = false;
	int fd = -1;
	enum claim_state s = path_is_dir(dir) ? claim_try(lock, false, &fd) : CLAIM_FREE;
	close_fd(&fd);
	if (s == CLAIM_HELD) {
		live = true;
	} else if (s == CLAIM_NONE) {
		struct rp_run r;
		if (record_read(dir, &r, NULL) == 0) {
			runs_status_now(dir, &r);
			live = status_live(r.status);
			record_free(&r);
		} else {
			live = true; /* being made, or unreadable: cannot tell */
		}
	}
	free(lock);
	free(dir);
	return live;
}

/* The uid of the run in dir (its claim's, else its record's); NULL when neither says. */
static char *run_uid(const char *dir)
{
	char *lock = path_join(dir, "run.lock");
	int fd = open(lock, O_RDONLY | O_CLOEXEC);
	free(lock);
	char *uid = NULL;
	struct claim_info info;
	if (fd >= 0) {
		if (claim_read(fd, &info, NULL) == 0) {
			uid = xstrdup(info.uid);
			claim_info_free(&info);
		}
		close(fd);
	}
	struct rp_run r;
	if (!uid && record_read(dir, &r, NULL) == 0) {
		uid = r.uid ? xstrdup(r.uid) : NULL;
		record_free(&r);
	}
	return uid;
}

/* ---- Docker containers ---- */

static void gc_containers(struct gc *g)
{
	struct rp_err why = {0};
	struct runner_container *c = NULL;
	size_t n = 0;
	if (!runner_docker_usable(&why) || runner_docker_containers(g->st->home, &c, &n, &why) < 0) {
		/* No socket where the engine would be: no Docker on this host, nothing to say. */
		if (why.sys_errno != ENOENT)
			note(g, "%s: containers not checked", why.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (run_live(g->st, c[i].run_id))
			continue;
		struct rp_err e = {0};
		bool failed = !g->o->dry_run && runner_docker_remove_container(c[i].id, &e) < 0;
		report(g, GC_CONTAINER, c[i].name, c[i].run_id, 0, failed ? e.msg : NULL);
	}
	runner_containers_free(c, n);
}

/* ---- cgroups ---- */

/* runpilot-<id>-<uid8>[-...]: the run's id and the first 8 characters of its uid. */
static bool parse_cgroup_name(const char *base, char id[RP_ID_MAX], char uid8[9])
{
	const char *p = base + strlen("runpilot-");
	const char *dash = strchr(p, '-');
	if (!dash || dash - p >= RP_ID_MAX)
		return false;
	memcpy(id, p, (size_t)(dash - p));
	id[dash - p] = '\0';
	if (store_id_number(id) < 0)
		return false;
	for (int i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)dash[1 + i]))
			return false;
	if (dash[9] != '\0' && dash[9] != '-')
		return false;
	memcpy(uid8, dash + 1, 8);
	uid8[8] = '\0';
	return true;
}

enum owner { OWNER_FOREIGN, OWNER_DEAD, OWNER_LIVE };

/* Whose cgroup: a run of this store (in runs/ or the trash, its uid matching), running or
 * not; else another store's, or a run gone for good. */
static enum owner cgroup_owner(struct gc *g, const char *id, const char *uid8)
{
	char *dirs[2] = {store_run_dir(g->st, id), store_trash_dir(g->st, id)};
	enum owner o = OWNER_FOREIGN;
	for (int i = 0; i < 2 && o == OWNER_FOREIGN; i++) {
		char *uid = run_uid(dirs[i]);
		if (uid && !strncmp(uid, uid8, 8))
			o = i == 0 && run_live(g->st, id) ? OWNER_LIVE : OWNER_DEAD;
		free(uid);
	}
	free(dirs[0]);
	free(dirs[1]);
	return o;
}

static void gc_cgroups(struct gc *g)
{
	struct strvec dirs = {0};
	cg_find_named("runpilot-", &dirs);
	for (size_t i = 0; i < dirs.n; i++) {
		const char *dir = dirs.v[i], *base = strrchr(dir, '/') + 1;
		char id[RP_ID_MAX], uid8[9];
		struct stat st;
		if (!parse_cgroup_name(base, id, uid8))
			continue;
		enum owner ow = cgroup_owner(g, id, uid8);
		if (ow == OWNER_LIVE)
			continue;
		if (ow == OWNER_FOREIGN && (stat(dir, &st) < 0 || !old_enough(&st, FOREIGN_CGROUP_AGE_S)))
			continue;
		if (!cg_dir_unused(dir)) {
			if (ow == OWNER_DEAD)
				note(g, "kept cgroup %s: processes or child cgroups are still in it", dir);
			continue;
		}
		char error[256] = "";
		if (!g->o->dry_run && rmdir(dir) < 0 && errno != ENOENT)
			snprintf(error, sizeof error, "%s", strerror(errno));
		report(g, GC_CGROUP, dir, NULL, 0, error[0] ? error : NULL);
	}
	strvec_free(&dirs);
}

/* ---- dead supervisors' runs ---- */

static void remove_overlay_work(struct gc *g, const char *path)
{
	if (!path_exists(path))
		return;
	if (!g->o->dry_run)
		runner_remove_overlay_work(path);
	report(g, GC_OVERLAY_WORK, path, NULL, 0, path_exists(path) && !g->o->dry_run ? "cannot remove it" : NULL);
}

/* Remove run_dir/name (a temp file), reported. */
static void remove_temp_file(struct gc *g, const char *run_dir, const char *name)
{
	char *p = path_join(run_dir, name);
	char error[256] = "";
	if (!g->o->dry_run && unlink(p) < 0 && errno != ENOENT)
		snprintf(error, sizeof error, "%s", strerror(errno));
	report(g, GC_TEMP_FILE, p, NULL, 0, error[0] ? error : NULL);
	free(p);
}

/* One dead supervisor's run from its claim (the caller holds its lock): what the claim lists,
 * its temp files, run.json marked lost; its active/ entry goes once nothing is left. The
 * cgroups went in the cgroup pass: any still there hold processes. */
static void finish_off(struct gc *g, const char *active_path, const struct claim_info *info)
{
	char *run_dir = store_run_dir(g->st, info->id);
	bool all_gone = true;
	for (size_t i = 0; i < info->leftovers.n; i++) {
		const char *l = info->leftovers.v[i], *path = strchr(l, ' ');
		if (!path)
			continue;
		path++;
		if (!strncmp(l, "cgroup ", 7)) {
			all_gone = all_gone && !path_exists(path);
		} else if (!strncmp(l, "overlay-work ", 13)) {
			remove_overlay_work(g, path);
			all_gone = all_gone && !path_exists(path);
		} else if (!g->o->dry_run && runner_remove_leftover(l, info->cgroup_name, NULL) < 0) {
			all_gone = false; /* a container whose engine does not answer, ... */
		}
	}
	struct strvec temps = {0};
	orphan_temp_files(run_dir, info->pid, &temps);
	for (size_t i = 0; i < temps.n; i++)
		remove_temp_file(g, run_dir, temps.v[i]);
	strvec_free(&temps);
	char *why;
	if (orphan_mark_lost(info, run_dir, g->o->dry_run, &why))
		report(g, GC_LOST, info->id, why, 0, NULL);
	free(why);
	if (all_gone && !g->o->dry_run)
		unlink(active_path);
	strvec_push(&g->handled, info->id);
	free(run_dir);
}

static void gc_active(struct gc *g)
{
	char *dir = path_join(g->st->home, "active");
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = path_join(dir, de->d_name);
		int fd;
		if (claim_try(p, true, &fd) == CLAIM_FREE) {
			struct claim_info info;
			if (claim_read(fd, &info, NULL) == 0) {
				char *run_dir = store_run_dir(g->st, info.id);
				if (!orphan_on_node(run_dir))
					finish_off(g, p, &info);
				free(run_dir);
				claim_info_free(&info);
			}
			close(fd);
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* ---- every run directory ---- */

/* Temp files of processes that are gone (dead_pid: a dead supervisor's, whatever runs under
 * that pid now). */
static void stale_temp_files(struct gc *g, const char *run_dir, pid_t dead_pid)
{
	DIR *d = opendir(run_dir);
	struct dirent *de;
	struct strvec names = {0};
	while (d && (de = readdir(d))) {
		pid_t pid = orphan_temp_file_pid(de->d_name);
		struct stat st;
		if (pid > 0 && (pid == dead_pid || !process_alive(pid)) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    old_enough(&st, TEMP_MIN_AGE_S))
			strvec_push(&names, de->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++)
		remove_temp_file(g, run_dir, names.v[i]);
	strvec_free(&names);
}

/* A run.json still "running" whose supervisor is gone (the readers' test): written lost, under
 * the run's lock. */
static void mark_lost_if_dead(struct gc *g, const char *run_dir, const char *id)
{
	struct rp_run r;
	if (record_read(run_dir, &r, NULL) < 0)
		return;
	if (!status_live(r.status) || !runs_status_now(run_dir, &r) || r.status != RP_LOST) {
		record_free(&r);
		return;
	}
	char *lock = path_join(run_dir, "run.lock");
	int fd;
	if (claim_try(lock, true, &fd) != CLAIM_HELD) {
		struct rp_run now;
		struct rp_err e = {0};
		if (record_read(run_dir, &now, NULL) == 0) {
			if (status_live(now.status)) {
				now.status = RP_LOST;
				free(now.reason);
				now.reason = xstrdup(r.reason ? r.reason : "supervisor died");
				bool failed = !g->o->dry_run && record_write(run_dir, &now, &e) < 0;
				report(g, GC_LOST, id, now.reason, 0, failed ? e.msg : NULL);
			}
			record_free(&now);
		}
		if (fd >= 0)
			close(fd);
	}
	free(lock);
	record_free(&r);
}

/* A run directory with nothing in it and no claim (at most a claim its runpilot died writing),
 * old enough not to be one being made now: its runpilot died between the mkdir and its claim. */
static void remove_empty_run_dir(struct gc *g, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_nlink != 2 || !old_enough(&st, TEMP_MIN_AGE_S) ||
	    !runs_dir_never_made(dir))
		return;
	bool failed = false;
	if (!g->o->dry_run) {
		/* the room kept for run.json, and a claim its runpilot died writing */
		struct strvec names = {0};
		orphan_temp_files(dir, 0, &names);
		for (size_t i = 0; i < names.n && !failed; i++) {
			char *p = path_join(dir, names.v[i]);
			failed = unlink(p) < 0 && errno != ENOENT;
			free(p);
		}
		strvec_free(&names);
		failed = failed || rmdir(dir) < 0;
	}
	report(g, GC_EMPTY_RUN_DIR, dir, NULL, 0, failed ? strerror(errno) : NULL);
}

static void scan_run_dir(struct gc *g, const char *id)
{
	char *dir = store_run_dir(g->st, id);
	char *lock = path_join(dir, "run.lock");
	int fd;
	enum claim_state s = claim_try(lock, false, &fd);
	pid_t dead_pid = 0;
	if (s == CLAIM_FREE) {
		struct claim_info info;
		if (claim_read(fd, &info, NULL) == 0) {
			dead_pid = info.pid;
			claim_info_free(&info);
		}
		close(fd);
	}
	if (s == CLAIM_NONE)
		remove_empty_run_dir(g, dir);
	if (s != CLAIM_HELD) {
		char *ow = path_join(dir, ".overlay-work");
		remove_overlay_work(g, ow);
		free(ow);
		mark_lost_if_dead(g, dir, id);
	}
	stale_temp_files(g, dir, dead_pid);
	free(lock);
	free(dir);
}

static void gc_run_dirs(struct gc *g)
{
	struct strvec ids = {0};
	if (store_list_ids(g->st, &ids, NULL) < 0)
		return;
	for (size_t i = 0; i < ids.n; i++) {
		if (g->ev->progress && i % 64 == 0)
			g->ev->progress(g->ev->ctx, i, ids.n);
		if (!in_list(&g->handled, ids.v[i]))
			scan_run_dir(g, ids.v[i]);
	}
	if (g->ev->progress && ids.n)
		g->ev->progress(g->ev->ctx, ids.n, ids.n);
	strvec_free(&ids);
}

/* ---- temp directories ---- */

/* Lock path (and, for a directory, its .lock file) for removal; false when someone holds
 * either, or they cannot be opened to tell. fds[0..2) are closed by the caller. */
static bool lock_free(const char *path, bool is_dir, int fds[2])
{
	fds[0] = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fds[0] < 0 || flock(fds[0], LOCK_EX | LOCK_NB) < 0)
		return false;
	if (!is_dir)
		return true;
	char *lk = path_join(path, ".lock");
	fds[1] = open(lk, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(lk);
	if (fds[1] < 0)
		return errno == ENOENT;
	return flock(fds[1], LOCK_EX | LOCK_NB) == 0;
}

/* Entries of dir (those starting with prefix, else those not starting with '.') nobody holds. */
static void scan_temp_dir(struct gc *g, const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (prefix ? strncmp(de->d_name, prefix, strlen(prefix)) != 0 : de->d_name[0] == '.')
			continue;
		char *p = path_join(dir, de->d_name);
		struct stat st;
		int fds[2] = {-1, -1};
		if (lstat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) && old_enough(&st, TEMP_MIN_AGE_S) &&
		    lock_free(p, S_ISDIR(st.st_mode), fds)) {
			struct rp_err e = {0};
			bool failed = false;
			if (!g->o->dry_run) {
				char *tree = path_join(p, "tree"); /* an unpack's top is read-only */
				(void)chmod(tree, 0755);
				free(tree);
				failed = rm_rf(p, &e) < 0;
			}
			report(g, S_ISDIR(st.st_mode) ? GC_TEMP_DIR : GC_TEMP_FILE, p, NULL, 0, failed ? e.msg : NULL);
		}
		close_fd(&fds[0]);
		close_fd(&fds[1]);
		free(p);
	}
	if (d)
		closedir(d);
}

static void gc_temp_dirs(struct gc *g)
{
	static const char *const dirs[][2] = {{"tmp", NULL}, {"images/tmp", NULL}, {"images/rootfs", ".unpack-"}};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char *p = path_join(g->st->home, dirs[i][0]);
		scan_temp_dir(g, p, dirs[i][1]);
		free(p);
	}
}

/* ---- the index ---- */

static void gc_index_rows(struct gc *g)
{
	struct strvec ids = {0};
	struct rp_err e = {0};
	if (index_rows_without_dir(g->st, &ids, &e) < 0) {
		note(g, "%s: index rows not checked", e.msg);
		return;
	}
	for (size_t i = 0; i < ids.n; i++)
		report(g, GC_INDEX_ROW, ids.v[i], NULL, 0, NULL);
	if (!g->o->dry_run && ids.n)
		index_forget_runs(g->st, ids.v, ids.n);
	strvec_free(&ids);
}

/* ---- the trash ---- */

/* Bytes on disk under dir_fd/name, not following symbolic links. */
static uint64_t tree_size(int dir_fd, const char *name)
{
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	uint64_t total = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return total;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return total;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			total += tree_size(dirfd(d), de->d_name);
	closedir(d);
	return total;
}

static void gc_trash(struct gc *g)
{
	char *dir = path_join(g->st->home, "trash");
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !old_enough(&st, g->o->trash_age_s))
			continue;
		char *p = path_join(dir, de->d_name);
		uint64_t bytes = tree_size(dirfd(d), de->d_name);
		struct rp_err e = {0};
		bool failed = !g->o->dry_run && rm_rf(p, &e) < 0;
		report(g, GC_TRASH, p, NULL, bytes, failed ? e.msg : NULL);
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* ---- the policy ---- */

/* A run as the policy sees it. */
struct cand {
	char id[RP_ID_MAX];
	char status[16];
	double ended;     /* when it ended (else the last time known of it), 0 unknown */
};

static bool status_wanted(const struct gc_policy *p, const char *status)
{
	if (!p->nstatuses)
		return true;
	for (size_t i = 0; i < p->nstatuses; i++)
		if (!strcmp(p->statuses[i], status))
			return true;
	return false;
}

static double first_known(double a, double b, double c)
{
	return a > 0 ? a : b > 0 ? b : c > 0 ? c : 0;
}

/* Every run of the statuses, oldest first: from the index, else read from the directories. */
static int policy_runs(struct gc *g, struct cand **out, size_t *n, struct rp_err *err)
{
	const struct gc_policy *p = &g->o->policy;
	struct rp_index *ix = NULL;
	struct rp_err why = {0};
	*out = NULL;
	*n = 0;
	if (index_open(g->st, &ix, &why) == 0 && ix) {
		struct index_query q = {.statuses = p->statuses, .nstatuses = p->nstatuses};
		struct index_row *rows;
		size_t total;
		int rc = index_select(ix, &q, &rows, n, &total, err);
		index_close(ix);
		if (rc < 0)
			return -1;
		*out = xcalloc(*n + 1, sizeof **out);
		for (size_t i = 0; i < *n; i++) {
			struct index_row *r = &rows[i];
			snprintf((*out)[i].id, RP_ID_MAX, "%s", r->id);
			snprintf((*out)[i].status, sizeof (*out)[i].status, "%s", r->status);
			double end = r->started > 0 && r->duration >= 0 ? r->started + r->duration : 0;
			(*out)[i].ended = first_known(end, r->started, r->created);
		}
		index_rows_free(rows, *n);
		return 0;
	}
	struct run_view *views;
	size_t nv;
	if (runs_load_all(g->st, &views, &nv, err) < 0)
		return -1;
	*out = xcalloc(nv + 1, sizeof **out);
	for (size_t i = 0; i < nv; i++) {
		const struct run_view *v = &views[i];
		const char *status = v->readable ? status_name(v->rec.status) : "unreadable";
		if (!status_wanted(p, status))
			continue;
		struct cand *c = &(*out)[(*n)++];
		snprintf(c->id, RP_ID_MAX, "%s", v->id);
		snprintf(c->status, sizeof c->status, "%s", status);
		c->ended = v->readable ? first_known(v->rec.ended_at, v->rec.started_at, v->rec.created_at) : 0;
	}
	runs_free(views, nv);
	return 0;
}

/* The runs the policy removes, oldest first: past the newest keep_last, ended before the
 * cutoff; never a running one, an unreadable one only when asked for by status. */
static int policy_select(struct gc *g, struct strvec *ids, struct rp_err *err)
{
	const struct gc_policy *p = &g->o->policy;
	struct cand *c;
	size_t n;
	if (policy_runs(g, &c, &n, err) < 0)
		return -1;
	double cutoff = now_realtime() - p->older_than_s;
	size_t keep = p->keep_last >= 0 ? (size_t)p->keep_last : 0;
	size_t first_kept = n > keep ? n - keep : 0;
	for (size_t i = 0; i < first_kept; i++) {
		if (!strcmp(c[i].status, "running") || (!strcmp(c[i].status, "unreadable") && !p->nstatuses))
			continue;
		if (p->older_than_s > 0 && !(c[i].ended > 0 && c[i].ended < cutoff))
			continue;
		strvec_push(ids, c[i].id);
	}
	free(c);
	return 0;
}

/* A run whose dead supervisor's leftovers are still being removed (rm refuses it too). */
static bool has_active_entry(const struct rp_store *st, const char *id)
{
	char *active = path_join(st->home, "active");
	char *entry = path_join(active, id);
	bool busy = path_exists(entry);
	free(entry);
	free(active);
	return busy;
}

static int gc_policy(struct gc *g, struct rp_err *err)
{
	struct strvec picked = {0}, ids = {0}, moved = {0};
	if (policy_select(g, &picked, err) < 0)
		return -1;
	for (size_t i = 0; i < picked.n; i++) {
		if (has_active_entry(g->st, picked.v[i]) || run_live(g->st, picked.v[i]))
			note(g, "kept %s: its supervisor is still at work, or its leftovers are", picked.v[i]);
		else
			strvec_push(&ids, picked.v[i]);
	}
	if (ids.n && !g->o->dry_run && g->ev->confirm && !g->ev->confirm(g->ev->ctx, &ids)) {
		note(g, "no run moved to the trash");
	} else {
		for (size_t i = 0; i < ids.n; i++) {
			struct rp_err e = {0};
			bool failed = !g->o->dry_run && store_trash_run(g->st, ids.v[i], &e) < 0;
			if (!failed && !g->o->dry_run)
				strvec_push(&moved, ids.v[i]);
			report(g, GC_POLICY, ids.v[i], NULL, 0, failed ? e.msg : NULL);
		}
	}
	if (moved.n)
		index_forget_runs(g->st, moved.v, moved.n);
	strvec_free(&picked);
	strvec_free(&ids);
	strvec_free(&moved);
	return 0;
}

int gc_run(const struct rp_store *st, const struct gc_opts *o, const struct gc_events *ev, struct rp_err *err)
{
	struct gc g = {.st = st, .o = o, .ev = ev};
	/* Containers and cgroups first: a dead run's active/ entry goes once they are gone. */
	gc_containers(&g);
	gc_cgroups(&g);
	gc_active(&g);
	gc_run_dirs(&g);
	gc_temp_dirs(&g);
	/* Before anything opens the index: that would drop these rows unseen. */
	gc_index_rows(&g);
	gc_trash(&g);
	int rc = o->policy_given ? gc_policy(&g, err) : 0;
	strvec_free(&g.handled);
	return rc;
}
