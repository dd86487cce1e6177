/* Small helpers over the cgroup filesystems (v1 and v2): where runpilot's own cgroup is, reading
 * and writing control files, signalling and emptying a cgroup. Used by cgroup1.c and cgroup2.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Whole small file (control files are at most a few KiB); NULL with errno on failure. */
static char *slurp(const char *path)
{
	char *s;
	return read_file(path, &s, NULL, NULL) < 0 ? NULL : s;
}

/* True when the comma-separated list contains word exactly. */
static bool list_has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* runpilot's path in the hierarchy of controller ("" = the v2 "0::" line), from the text of
 * /proc/self/cgroup. */
static char *own_path_in(const char *cgroup_text, const char *controller)
{
	char *text = xstrdup(cgroup_text);
	char *result = NULL, *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* "ID:controllers:path"; the path may itself contain ':' */
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		bool match = controller[0] ? list_has(ctrls, controller)
					   : (strncmp(line, "0:", 2) == 0 && ctrls[0] == '\0');
		if (match) {
			result = xstrdup(c2 + 1);
			break;
		}
	}
	free(text);
	if (!result)
		errno = ENOENT;
	return result;
}

/* The mountinfo line of the hierarchy for controller (NULL: the cgroup2 mount); fills the mount
 * point and the mount's root inside the hierarchy. mountinfo escapes spaces as \040: cgroup mount
 * points have none in practice, and a mismatch only means "not found". */
static int find_mount(const char *mountinfo, const char *controller, char **mnt, char **root)
{
	char *text = xstrdup(mountinfo);
	int rc = -1;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char fstype[32], superopts[512], r[PATH_MAX], m[PATH_MAX];
		if (sscanf(sep + 3, "%31s %*s %511s", fstype, superopts) != 2)
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2)
			continue;
		bool match = controller ? strcmp(fstype, "cgroup") == 0 && list_has(superopts, controller)
					: strcmp(fstype, "cgroup2") == 0;
		if (match) {
			free(*mnt);
			free(*root);
			*mnt = xstrdup(m);
			*root = xstrdup(r);
			rc = 0;
			/* keep the last match: a later mount hides an earlier one at the same place */
		}
	}
	free(text);
	if (rc < 0)
		errno = ENOENT;
	return rc;
}

/* cgfs_own_dir for each controller (NULL = the cgroup2 mount), reading /proc/self/cgroup and
 * mountinfo once. out[i] is NULL where there is no such hierarchy. */
void cgfs_own_dirs(const char *const *controllers, size_t n, char **out)
{
	cgfs_pid_dirs(0, controllers, n, out);
}

void cgfs_pid_dirs(pid_t pid, const char *const *controllers, size_t n, char **out)
{
	char self_path[64];
	if (pid > 0)
		snprintf(self_path, sizeof self_path, "/proc/%d/cgroup", (int)pid);
	else
		snprintf(self_path, sizeof self_path, "/proc/self/cgroup");
	char *cgroup_text = slurp(self_path);
	char *mountinfo = cgroup_text ? slurp("/proc/self/mountinfo") : NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		const char *controller = controllers[i];
		char *mnt = NULL, *root = NULL, *own = NULL;
		if (mountinfo && find_mount(mountinfo, controller, &mnt, &root) == 0 &&
		    (own = own_path_in(cgroup_text, controller ? controller : ""))) {
			/* The mount may show only a subtree of the hierarchy (containers): strip its root. */
			const char *rel = own;
			size_t rl = strlen(root);
			if (strcmp(root, "/") != 0 && strncmp(own, root, rl) == 0 &&
			    (own[rl] == '/' || own[rl] == '\0'))
				rel = own + rl;
			while (*rel == '/')
				rel++;
			out[i] = *rel ? xasprintf("%s/%s", mnt, rel) : xstrdup(mnt);
		}
		free(mnt);
		free(root);
		free(own);
	}
	free(cgroup_text);
	free(mountinfo);
}

char *cgfs_own_dir(const char *controller)
{
	char *dir;
	cgfs_own_dirs(&controller, 1, &dir);
	if (!dir)
		errno = ENOENT;
	return dir;
}

bool cgfs_is_unified(const char *mountpoint)
{
	struct statfs sf;
	return statfs(mountpoint, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

bool cgfs_has(const char *dir, const char *file)
{
	char *p = xasprintf("%s/%s", dir, file);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

int cgfs_write(const char *dir, const char *file, const char *value)
{
	char *p = xasprintf("%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return -1;
	/* One write(2): the kernel parses each write as one value. */
	size_t len = strlen(value);
	ssize_t w;
	do
		w = write(fd, value, len);
	while (w < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (w < 0) {
		errno = e;
		return -1;
	}
	return 0;
}

int cgfs_writef(const char *dir, const char *file, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *v = NULL;
	int n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	int rc = cgfs_write(dir, file, v);
	int e = errno;
	free(v);
	errno = e;
	return rc;
}

char *cgfs_read(const char *dir, const char *file)
{
	char *p = xasprintf("%s/%s", dir, file);
	char *s = slurp(p);
	int e = errno;
	free(p);
	errno = e;
	return s;
}

int cgfs_read_ll(const char *dir, const char *file, long long *v)
{
	char *s = cgfs_read(dir, file);
	if (!s)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	int bad = end == s || errno;
	free(s);
	if (bad) {
		errno = EINVAL;
		return -1;
	}
	*v = x;
	return 0;
}

int cgfs_read_key(const char *dir, const char *file, const char *key, long long *v)
{
	char *s = cgfs_read(dir, file);
	if (!s)
		return -1;
	size_t kl = strlen(key);
	int rc = -1;
	for (char *line = s; line && *line;) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
			char *end;
			long long x = strtoll(line + kl + 1, &end, 10);
			if (end != line + kl + 1) {
				*v = x;
				rc = 0;
			}
			break;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	free(s);
	if (rc < 0)
		errno = ENOENT;
	return rc;
}

bool cgfs_file_has_word(const char *dir, const char *file, const char *word)
{
	char *s = cgfs_read(dir, file);
	if (!s)
		return false;
	bool found = false;
	char *save = NULL;
	for (char *w = strtok_r(s, " \n", &save); w && !found; w = strtok_r(NULL, " \n", &save))
		found = strcmp(w, word) == 0;
	free(s);
	return found;
}

int cgfs_signal_procs(const char *dir, int sig)
{
	char *s = cgfs_read(dir, "cgroup.procs");
	if (!s)
		return -1;
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(s, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
		pid_t pid = (pid_t)strtol(w, NULL, 10);
		if (pid > 0 && kill(pid, sig) == 0)
			n++;
	}
	free(s);
	return n;
}

static bool procs_empty(const char *dir)
{
	char *s = cgfs_read(dir, "cgroup.procs");
	bool empty = !s || s[0] == '\0'; /* gone counts as empty */
	free(s);
	return empty;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Poll until dir/cgroup.procs is empty, at most ms milliseconds. */
static bool wait_empty(const char *dir, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (procs_empty(dir))
			return true;
		sleep_ms(1);
	}
	return procs_empty(dir);
}

int cgfs_kill_until_empty(const char *dir, bool kill_file, double timeout_s)
{
	double deadline = now_monotonic() + timeout_s;
	int most = 0;
	/* A process forking while we read cgroup.procs escapes one round, never the next ones:
	 * a fork bomb under pids.max converges in a few rounds (cgroup.kill has no such race). */
	while (!procs_empty(dir)) {
		int n;
		if (kill_file) {
			n = cgfs_signal_procs(dir, 0); /* count only: cgroup.kill does the killing */
			if (cgfs_write(dir, "cgroup.kill", "1") < 0)
				kill_file = false;
		}
		if (!kill_file)
			n = cgfs_signal_procs(dir, SIGKILL);
		if (n > most)
			most = n; /* processes still dying are listed again: count each once */
		if (wait_empty(dir, 20))
			break;
		if (now_monotonic() > deadline) {
			errno = EBUSY;
			return -1;
		}
	}
	return most;
}

int cgfs_rmdir(const char *dir)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		sleep_ms(5);
	}
	return -1;
}
