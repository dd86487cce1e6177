/* User namespace mapping: one id each, the caller's ids inside mapped to the job's host ids (the
 * caller's own, or for root an unprivileged id); setgroups is denied first (required before an
 * unprivileged gid_map write, and it keeps the job from dropping supplementary groups that
 * guard files). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

static int write_proc(pid_t pid, const char *file, const char *text, bool optional,
		      struct rp_err *err)
{
	char path[64];
	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof path, "/proc/self/%s", file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return rp_err_sys(err, "user namespace: cannot open %s", path);
	}
	int rc = write_all(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	if (rc < 0)
		return rp_err_sys(err, "user namespace: cannot write %s", path);
	return 0;
}

/* pid 0: the calling process (it must be inside the new user namespace). */
int sb_userns_write_maps(pid_t pid, const struct sb_ids *ids, struct rp_err *err)
{
	char map[64];
	if (write_proc(pid, "setgroups", "deny", true, err) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)ids->uid, (unsigned)ids->host_uid);
	if (write_proc(pid, "uid_map", map, false, err) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)ids->gid, (unsigned)ids->host_gid);
	return write_proc(pid, "gid_map", map, false, err);
}

int sb_userns_become(uid_t uid, gid_t gid, struct rp_err *err)
{
	/* A process keeps the ids it had when it made the namespace: mapped to something else
	 * (root's job runs as nobody), they are no id in it until it takes the mapped ones. Its
	 * capabilities in the namespace stay: the new ids are the namespace's own. */
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return rp_err_sys(err, "user namespace: cannot take uid %u gid %u", (unsigned)uid, (unsigned)gid);
	return 0;
}

/* A user namespace that only maps ids (its process is gone once it is open): for idmapped
 * mounts whose files must appear as the job's when the job is someone else inside (an image's
 * user) than the files' owner. */
int sb_userns_idmap_fd(const struct sb_ids *ids, struct rp_err *err)
{
	int ready[2], hold[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	if (pipe2(hold, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return rp_err_sys(err, "pipe");
	}
	pid_t pid = fork();
	if (pid == 0) {
		char c = 'u';
		close(ready[0]);
		close(hold[1]);
		if (unshare(CLONE_NEWUSER) < 0 || write(ready[1], &c, 1) != 1)
			_exit(1);
		_exit(read(hold[0], &c, 1) < 0 ? 1 : 0); /* EOF: the parent has what it needs */
	}
	int saved = errno;
	close(ready[1]);
	close(hold[0]);
	int fd = -1, rc = 0;
	char c, path[64];
	if (pid < 0) {
		errno = saved;
		rc = rp_err_sys(err, "user namespace: fork");
	} else if (read(ready[0], &c, 1) != 1) {
		rc = rp_err_set(err, RP_ERR_RUNTIME, "user namespace: the mapping process could not make one");
	} else if (sb_userns_write_maps(pid, ids, err) == 0) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			rc = rp_err_sys(err, "user namespace: cannot open %s", path);
	} else {
		rc = -1;
	}
	close(ready[0]);
	close(hold[1]);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return rc < 0 ? -1 : fd;
}
