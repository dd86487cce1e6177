/* store.c: run ids and run directories. Ids are allocated by exclusive mkdir(2): whoever creates
 * runs/rp_NNNN owns it, so concurrent `runpilot run`s never share an id and need no lock. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "record.h"

static char *default_home(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	return path_join(home, ".runpilot");
}

/* Mark runs/ as the top of directory hierarchies (chattr +T), as /home is: ext4's Orlov
 * allocator then spreads run directories over its block groups instead of packing them next
 * to each other. Without it every run's files are allocated in the group where earlier runs
 * just freed inodes, and ext4 without a journal skips recently freed inodes one by one: file
 * creation there was an order of magnitude slower than in a fresh group, a dozen times per
 * run. A no-op where the filesystem has no such flag. */
static void mark_top_directory(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	int flags;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
}

/* Below this much free space a new run is refused before anything starts: its record alone
 * reserves RP_RECORD_RESERVE_BYTES (record.h), and a run with no room for its record is worse than none. */
#define STORE_MIN_FREE (1024 * 1024)

int store_unusable(const char *home, int e, struct rp_err *err)
{
	errno = e;
	switch (e) {
	case EROFS:
		return rp_err_set(err, RP_ERR_RUNTIME, "the run store %s (RUNPILOT_HOME) is on a read-only filesystem: "
			"remount it read-write or set RUNPILOT_HOME to a writable folder", home);
	case EACCES:
	case EPERM:
		return rp_err_set(err, RP_ERR_RUNTIME, "no permission to write in the run store %s (RUNPILOT_HOME): "
			"make it writable for this user (chmod u+w, chown) or set RUNPILOT_HOME to a folder you own", home);
	case ENOSPC:
	case EDQUOT:
		return rp_err_set(err, RP_ERR_RUNTIME, "the run store %s (RUNPILOT_HOME) is full: free some space "
			"(runpilot gc, runpilot rm) or set RUNPILOT_HOME to a folder on another filesystem", home);
	case ENOTDIR:
		return rp_err_set(err, RP_ERR_USAGE, "RUNPILOT_HOME %s is not a folder (it or a folder above it is a "
			"file): point RUNPILOT_HOME at a folder", home);
	default:
		return rp_err_sys(err, "cannot create the run store %s (set RUNPILOT_HOME to a writable folder)", home);
	}
}

/* RUNPILOT_HOME itself is created if missing, never the folders above it: a typo there would
 * otherwise grow a tree somewhere unexpected. */
static int check_parent(const char *home, struct rp_err *err)
{
	if (path_exists(home))
		return 0;
	char *parent = xstrdup(home);
	char *slash = strrchr(parent, '/');
	if (slash)
		slash[slash == parent] = '\0';
	struct stat sb;
	int rc = 0;
	if (stat(parent, &sb) < 0) {
		if (errno == ENOENT)
			rc = rp_err_set(err, RP_ERR_USAGE, "RUNPILOT_HOME %s: the folder above it, %s, does not exist: "
					"create it (mkdir -p %s) or fix RUNPILOT_HOME", home, parent, parent);
	} else if (!S_ISDIR(sb.st_mode)) {
		rc = store_unusable(home, ENOTDIR, err);
	}
	free(parent);
	return rc;
}

/* A store that a new run could not write to: checked before anything of the run exists. */
static int check_writable(const char *home, const char *runs_dir, struct rp_err *err)
{
	if (access(runs_dir, W_OK | X_OK) < 0)
		return store_unusable(home, errno, err);
	struct statvfs vfs;
	/* Nothing known (ramfs and some network filesystems report no size): the writes will tell. */
	if (statvfs(runs_dir, &vfs) < 0 || vfs.f_blocks == 0)
		return 0;
	unsigned long long blocks = geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
	bool no_inodes = vfs.f_files > 0 && vfs.f_favail == 0;
	if (blocks * vfs.f_frsize < STORE_MIN_FREE || no_inodes)
		return store_unusable(home, ENOSPC, err);
	return 0;
}

int store_open(struct rp_store *st, bool create, struct rp_err *err)
{
	const char *env = getenv("RUNPILOT_HOME");
	bool from_env = env && *env;
	char *home = from_env ? path_absolute(NULL, env) : default_home();
	st->home = home;
	st->runs_dir = path_join(home, "runs");
	if (!create)
		return 0;
	if (from_env && check_parent(home, err) < 0)
		goto fail;
	struct rp_err mk = {0};
	if (mkdir_p(st->runs_dir, 0755, &mk) < 0) {
		store_unusable(home, mk.sys_errno, err);
		goto fail;
	}
	if (check_writable(home, st->runs_dir, err) < 0)
		goto fail;
	mark_top_directory(st->runs_dir);
	return 0;
fail:
	store_close(st);
	return -1;
}

void store_close(struct rp_store *st)
{
	free(st->home);
	free(st->runs_dir);
	st->home = st->runs_dir = NULL;
}

long store_id_number(const char *id)
{
	if (strncmp(id, "rp_", 3) != 0 || !isdigit((unsigned char)id[3]))
		return -1;
	char *end;
	long n = strtol(id + 3, &end, 10);
	return *end ? -1 : n;
}

void store_format_id(long n, char id[RP_ID_MAX])
{
	snprintf(id, RP_ID_MAX, "rp_%04ld", n);
}

char *store_run_dir(const struct rp_store *st, const char *id)
{
	return path_join(st->runs_dir, id);
}

static int cmp_ids(const void *a, const void *b)
{
	long x = store_id_number(*(char *const *)a), y = store_id_number(*(char *const *)b);
	return (x > y) - (x < y);
}

int store_list_ids(const struct rp_store *st, struct strvec *ids, struct rp_err *err)
{
	DIR *d = opendir(st->runs_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return rp_err_sys(err, "cannot list %s", st->runs_dir);
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (store_id_number(de->d_name) >= 0)
			strvec_push(ids, de->d_name);
	closedir(d);
	if (ids->n > 1)
		qsort(ids->v, ids->n, sizeof *ids->v, cmp_ids);
	return 0;
}

/* One pass over the runs directory, no list and no sort: every `run` does this. */
static long highest_id(const struct rp_store *st)
{
	long max = 0;
	DIR *d = opendir(st->runs_dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] == 'r') {
			long n = store_id_number(de->d_name);
			if (n > max)
				max = n;
		}
	closedir(d);
	return max;
}

/* runs/.last_id: the number the newest run got, a hint that spares `run` reading the whole runs
 * directory (milliseconds once there are thousands of runs). It is trusted only while that
 * run's directory exists, so a stale, torn or hand-edited hint costs one directory read or a
 * few mkdir retries, never a wrong id: mkdir still decides. Written in place, fixed width, not
 * flushed: losing it costs one directory read. */
#define LAST_ID_FILE ".last_id"
#define LAST_ID_WIDTH 20

static long hinted_last_id(const struct rp_store *st)
{
	char *path = path_join(st->runs_dir, LAST_ID_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	char buf[LAST_ID_WIDTH + 2];
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	char *end;
	long n = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || n <= 0)
		return 0;
	char id[RP_ID_MAX];
	store_format_id(n, id);
	char *dir = store_run_dir(st, id);
	bool exists = path_is_dir(dir);
	free(dir);
	return exists ? n : 0;
}

static void save_last_id(const struct rp_store *st, long n)
{
	char *path = path_join(st->runs_dir, LAST_ID_FILE);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return;
	char buf[LAST_ID_WIDTH + 2];
	int len = snprintf(buf, sizeof buf, "%0*ld\n", LAST_ID_WIDTH, n);
	(void)!pwrite(fd, buf, (size_t)len, 0);
	close(fd);
}

int store_new_run(struct rp_store *st, char id[RP_ID_MAX], char **run_dir, struct rp_err *err)
{
	long last = hinted_last_id(st);
	long n = (last > 0 ? last : highest_id(st)) + 1;
	for (int attempts = 0; attempts < 100000; attempts++, n++) {
		store_format_id(n, id);
		char *dir = store_run_dir(st, id);
		if (mkdir(dir, 0755) == 0) {
			*run_dir = dir;
			save_last_id(st, n);
			return 0;
		}
		int e = errno;
		free(dir);
		if (e == EROFS || e == EACCES || e == EPERM || e == ENOSPC || e == EDQUOT)
			return store_unusable(st->home, e, err);
		if (e != EEXIST) {
			errno = e;
			return rp_err_sys(err, "cannot create run directory in %s", st->runs_dir);
		}
	}
	return rp_err_set(err, RP_ERR_RUNTIME, "cannot allocate a run id in %s", st->runs_dir);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Match a run name against every run.json; exactly one must match. */
static int resolve_by_name(const struct rp_store *st, const struct strvec *ids, const char *name,
			   char id[RP_ID_MAX], struct rp_err *err)
{
	int matches = 0;
	char first[RP_ID_MAX] = "", second[RP_ID_MAX] = "";
	for (size_t i = 0; i < ids->n; i++) {
		char *dir = store_run_dir(st, ids->v[i]);
		struct rp_run r;
		if (record_read(dir, &r, NULL) == 0) {
			if (r.name && !strcmp(r.name, name)) {
				if (matches == 0)
					snprintf(first, sizeof first, "%s", ids->v[i]);
				else if (matches == 1)
					snprintf(second, sizeof second, "%s", ids->v[i]);
				matches++;
			}
			record_free(&r);
		}
		free(dir);
	}
	if (matches == 1) {
		snprintf(id, RP_ID_MAX, "%s", first);
		return 0;
	}
	if (matches > 1)
		return rp_err_set(err, RP_ERR_USAGE,
				  "%d runs are named '%s' (%s, %s, ...): give a run id instead", matches, name,
				  first, second);
	return rp_err_set(err, RP_ERR_USAGE, "no run '%s' (see `runpilot list`)", name);
}

/* A run directory of this exact name exists. */
static bool run_dir_exists(const struct rp_store *st, const char *name)
{
	char *dir = store_run_dir(st, name);
	bool ok = path_is_dir(dir);
	free(dir);
	return ok;
}

/* "last" from the id hint: the newest directory with a run.json at or just above it. False when
 * the hint is missing or does not lead to one (the caller lists the store). */
static bool resolve_last_direct(const struct rp_store *st, char id[RP_ID_MAX])
{
	long n = hinted_last_id(st);
	char name[RP_ID_MAX];
	if (n <= 0)
		return false;
	store_format_id(n, name);
	if (!run_dir_exists(st, name))
		return false;
	for (store_format_id(n + 1, name); run_dir_exists(st, name); store_format_id(++n + 1, name))
		;
	for (long k = n; k > 0 && n - k < 64; k--) {
		store_format_id(k, name);
		char *dir = store_run_dir(st, name);
		char *json = path_join(dir, "run.json");
		bool has = path_exists(json);
		free(json);
		free(dir);
		if (has) {
			snprintf(id, RP_ID_MAX, "%s", name);
			return true;
		}
	}
	return false;
}

/* An id or number resolved by looking at its directory alone: a store of 100,000 runs is not
 * listed to find one (ids written another way fall back to the listing). */
static bool resolve_direct(const struct rp_store *st, const char *ref, char id[RP_ID_MAX])
{
	if (!strcmp(ref, "last"))
		return resolve_last_direct(st, id);
	if (store_id_number(ref) >= 0 && strlen(ref) < RP_ID_MAX && run_dir_exists(st, ref)) {
		snprintf(id, RP_ID_MAX, "%s", ref);
		return true;
	}
	if (all_digits(ref) && strlen(ref) < 18) {
		char canon[RP_ID_MAX];
		store_format_id(strtol(ref, NULL, 10), canon);
		if (run_dir_exists(st, canon)) {
			snprintf(id, RP_ID_MAX, "%s", canon);
			return true;
		}
	}
	return false;
}

int store_resolve(const struct rp_store *st, const char *ref, char id[RP_ID_MAX], struct rp_err *err)
{
	if (resolve_direct(st, ref, id))
		return 0;
	struct strvec ids = {0};
	if (store_list_ids(st, &ids, err) < 0)
		return -1;
	int rc = -1;
	if (!strcmp(ref, "last")) {
		/* the newest run with a record: a directory just made by mkdir (or left by a run that
		 * could not write its first record) has no run.json yet */
		for (size_t i = ids.n; i-- > 0 && rc < 0;) {
			char *dir = store_run_dir(st, ids.v[i]);
			char *json = path_join(dir, "run.json");
			if (path_exists(json)) {
				snprintf(id, RP_ID_MAX, "%s", ids.v[i]);
				rc = 0;
			}
			free(json);
			free(dir);
		}
		if (rc < 0)
			rp_err_set(err, RP_ERR_USAGE, "there are no runs yet in %s", st->runs_dir);
	} else if (store_id_number(ref) >= 0 || all_digits(ref)) {
		long n = all_digits(ref) ? strtol(ref, NULL, 10) : store_id_number(ref);
		for (size_t i = 0; i < ids.n && rc < 0; i++)
			if (store_id_number(ids.v[i]) == n) {
				snprintf(id, RP_ID_MAX, "%s", ids.v[i]);
				rc = 0;
			}
		if (rc < 0)
			rp_err_set(err, RP_ERR_USAGE, "no run '%s' (see `runpilot list`)", ref);
	} else {
		rc = resolve_by_name(st, &ids, ref, id, err);
	}
	strvec_free(&ids);
	return rc;
}

/* ---- the trash ---- */

char *store_trash_dir(const struct rp_store *st, const char *id)
{
	char *trash = path_join(st->home, "trash");
	char *dir = path_join(trash, id);
	free(trash);
	return dir;
}

int store_trash_run(const struct rp_store *st, const char *id, struct rp_err *err)
{
	char *trash = path_join(st->home, "trash");
	char *from = store_run_dir(st, id), *to = store_trash_dir(st, id);
	int rc = 0;
	if (mkdir(trash, 0755) < 0 && errno != EEXIST)
		rc = rp_err_sys(err, "cannot create %s", trash);
	else if (path_exists(to))
		rc = rp_err_set(err, RP_ERR_USAGE, "%s is in the trash already (%s): purge it first (runpilot rm --purge %s)",
				id, to, id);
	/* RENAME_NOREPLACE: two rm of one run never lose one */
	else if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
		rc = rp_err_sys(err, "cannot move %s to %s", from, to);
	/* The entry's mtime is the time it was trashed: gc's --trash-age counts from it. */
	else
		(void)utimensat(AT_FDCWD, to, NULL, 0);
	free(trash);
	free(from);
	free(to);
	return rc;
}

int store_restore_run(const struct rp_store *st, const char *id, struct rp_err *err)
{
	char *from = store_trash_dir(st, id), *to = store_run_dir(st, id);
	int rc = 0;
	if (!path_is_dir(from))
		rc = rp_err_set(err, RP_ERR_USAGE, "no run '%s' in the trash (%s)", id, from);
	else if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
		rc = errno == EEXIST ? rp_err_set(err, RP_ERR_USAGE, "%s is taken by another run now: %s stays in %s", id, id, from)
				     : rp_err_sys(err, "cannot move %s to %s", from, to);
	free(from);
	free(to);
	return rc;
}
