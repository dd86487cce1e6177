/* sanitize.h: setuid bits and device nodes out of what a job leaves behind. */
#include "sanitize.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "util.h"

/* Deeper trees than this are not walked further (and say so). */
#define MAX_DEPTH 512

static void note(cJSON *changes, const char *path, const char *action)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "action", action);
	cJSON_AddItemToArray(changes, o);
}

/* One entry of the directory open at dirfd; rel is its path for run.json. */
static int sanitize_entry(int dirfd, const char *name, const char *rel, int depth, cJSON *changes,
			  struct rp_err *err);

static int sanitize_dir(int fd, const char *rel, int depth, cJSON *changes, struct rp_err *err)
{
	if (depth > MAX_DEPTH)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: more than %d levels deep, not checked further", rel, MAX_DEPTH);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return rp_err_sys(err, "cannot list %s", rel);
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = xasprintf("%s/%s", rel, de->d_name);
		if (sanitize_entry(dirfd(d), de->d_name, child, depth + 1, changes, err) < 0)
			rc = -1;
		free(child);
	}
	closedir(d);
	return rc;
}

static int sanitize_entry(int dirfd, const char *name, const char *rel, int depth, cJSON *changes,
			  struct rp_err *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : rp_err_sys(err, "cannot inspect %s", rel);
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return rp_err_sys(err, "cannot open %s", rel);
		return sanitize_dir(fd, rel, depth, changes, err);
	}
	if (S_ISBLK(st.st_mode) || (S_ISCHR(st.st_mode) && st.st_rdev != makedev(0, 0))) {
		if (unlinkat(dirfd, name, 0) < 0)
			return rp_err_sys(err, "cannot remove the device node %s", rel);
		note(changes, rel, "removed device");
		return 0;
	}
	mode_t special = st.st_mode & (S_ISUID | S_ISGID);
	if (!S_ISREG(st.st_mode) || !special)
		return 0;
	/* fchmodat cannot refuse to follow a link on Linux: the entry is a regular file here, and
	 * nothing else writes the run directory now that the job is over. */
	if (fchmodat(dirfd, name, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID), 0) < 0)
		return rp_err_sys(err, "cannot clear the setuid/setgid bits of %s", rel);
	note(changes, rel, special == (S_ISUID | S_ISGID) ? "cleared setuid and setgid"
			   : special == S_ISUID ? "cleared setuid" : "cleared setgid");
	return 0;
}

int sanitize_tree(const char *run_dir, const char *name, cJSON *changes, struct rp_err *err)
{
	int dir = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return rp_err_sys(err, "cannot open %s", run_dir);
	struct stat st;
	int rc = 0;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		rc = sanitize_entry(dir, name, name, 0, changes, err);
	close(dir);
	return rc;
}
