/* The supervisor's claim on its run (claim.h). The file is text, one "key value" per line:
 *
 *   runpilot-claim 1
 *   pid 4242
 *   start_ticks 9876543
 *   boot_id 7eb68fd8-...
 *   id rp_0007
 *   uid 0f8e2a4c-...
 *   name mnist
 *   created 1795891801.123
 *   cgroup_name rp_0007-0f8e2a4c
 *   leftover cgroup /sys/fs/cgroup/memory/.../runpilot-rp_0007-0f8e2a4c
 *   leftover overlay-work /home/u/.runpilot/runs/rp_0007/.overlay-work
 */
#include "claim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLAIM_MAGIC "runpilot-claim 1"

void claim_info_free(struct claim_info *info)
{
	free(info->boot_id);
	free(info->id);
	free(info->uid);
	free(info->name);
	free(info->cgroup_name);
	strvec_free(&info->leftovers);
	memset(info, 0, sizeof *info);
}

static char *claim_text(const struct claim_info *info)
{
	char *leftovers = xstrdup("");
	for (size_t i = 0; i < info->leftovers.n; i++) {
		char *l = xasprintf("%sleftover %s\n", leftovers, info->leftovers.v[i]);
		free(leftovers);
		leftovers = l;
	}
	char *text = xasprintf(CLAIM_MAGIC "\npid %d\nstart_ticks %llu\nboot_id %s\nid %s\nuid %s\nname %s\n"
			       "created %.3f\ncgroup_name %s\n%s",
			       (int)info->pid, info->start_ticks, info->boot_id ? info->boot_id : "-", info->id,
			       info->uid, info->name, info->created, info->cgroup_name, leftovers);
	free(leftovers);
	return text;
}

/* Link the locked file into <home>/active/<id>: a hard link (no new inode), or a symbolic one
 * where runs/ is on another filesystem. */
static int link_active(const char *home, const char *lock_path, const char *id, char **active_path,
		       struct rp_err *err)
{
	char *dir = path_join(home, "active");
	char *path = path_join(dir, id);
	int rc = link(lock_path, path);
	/* The first runs of a new home race to make active/: losing that race is fine. */
	if (rc < 0 && errno == ENOENT && (mkdir(dir, 0755) == 0 || errno == EEXIST))
		rc = link(lock_path, path);
	if (rc < 0 && errno == EEXIST) /* a stale entry of a run id reused after a crash */
		rc = unlink(path) == 0 ? link(lock_path, path) : -1;
	if (rc < 0 && (errno == EXDEV || errno == EPERM))
		rc = symlink(lock_path, path);
	if (rc < 0) {
		rp_err_sys(err, "cannot create %s", path);
		free(path);
	} else {
		*active_path = path;
	}
	free(dir);
	return rc;
}

int claim_take(const char *home, const char *run_dir, const struct claim_info *info, struct claim *c,
	       struct rp_err *err)
{
	*c = (struct claim){ .fd = -1 };
	c->lock_path = path_join(run_dir, "run.lock");
	char *tmp = xasprintf("%s.%d", c->lock_path, (int)getpid());
	char *text = claim_text(info);
	int rc = -1;
	c->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (c->fd < 0)
		rp_err_sys(err, "cannot create %s", tmp);
	else if (flock(c->fd, LOCK_EX | LOCK_NB) < 0)
		rp_err_sys(err, "cannot lock %s", tmp);
	else if (write_all(c->fd, text, strlen(text)) < 0)
		rp_err_sys(err, "cannot write %s", tmp);
	else if (link_active(home, tmp, info->id, &c->active_path, err) == 0) {
		if (rename(tmp, c->lock_path) < 0) {
			rp_err_sys(err, "cannot rename %s to %s", tmp, c->lock_path);
			unlink(c->active_path);
		} else {
			rc = 0;
		}
	}
	if (rc < 0) {
		unlink(tmp);
		claim_release(c, true);
	}
	free(text);
	free(tmp);
	return rc;
}

int claim_note(struct claim *c, char *const *leftovers, size_t n, struct rp_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char *line = xasprintf("leftover %s\n", leftovers[i]);
		int rc = write_all(c->fd, line, strlen(line));
		free(line);
		if (rc < 0)
			return rp_err_sys(err, "cannot write %s", c->lock_path);
	}
	return 0;
}

void claim_release(struct claim *c, bool leftovers_remain)
{
	if (c->active_path && !leftovers_remain)
		unlink(c->active_path);
	close_fd(&c->fd);
	free(c->lock_path);
	free(c->active_path);
	c->lock_path = c->active_path = NULL;
}

enum claim_state claim_try(const char *path, bool exclusive, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return CLAIM_NONE;
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		close_fd(fd);
		return CLAIM_HELD;
	}
	return CLAIM_FREE;
}

static char *value_of(const char *line, const char *key)
{
	size_t kl = strlen(key);
	return strncmp(line, key, kl) == 0 && line[kl] == ' ' ? (char *)line + kl + 1 : NULL;
}

int claim_read(int fd, struct claim_info *info, struct rp_err *err)
{
	memset(info, 0, sizeof *info);
	char *text;
	if (lseek(fd, 0, SEEK_SET) < 0 || read_fd_all(fd, &text, NULL) < 0)
		return rp_err_sys(err, "cannot read a claim file");
	char *save = NULL, *v;
	bool magic = false;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, CLAIM_MAGIC))
			magic = true;
		else if ((v = value_of(line, "pid")))
			info->pid = (pid_t)strtol(v, NULL, 10);
		else if ((v = value_of(line, "start_ticks")))
			info->start_ticks = strtoull(v, NULL, 10);
		else if ((v = value_of(line, "boot_id")))
			info->boot_id = xstrdup(v);
		else if ((v = value_of(line, "id")))
			info->id = xstrdup(v);
		else if ((v = value_of(line, "uid")))
			info->uid = xstrdup(v);
		else if ((v = value_of(line, "name")))
			info->name = xstrdup(v);
		else if ((v = value_of(line, "created")))
			info->created = strtod(v, NULL);
		else if ((v = value_of(line, "cgroup_name")))
			info->cgroup_name = xstrdup(v);
		else if ((v = value_of(line, "leftover")))
			strvec_push(&info->leftovers, v);
	}
	free(text);
	if (!magic || !info->id || !info->uid || !info->cgroup_name) {
		claim_info_free(info);
		return rp_err_set(err, RP_ERR_RUNTIME, "not a runpilot claim file");
	}
	return 0;
}
