/* Can a sandbox be built here? Quick probes in a throwaway child, used by `auto`, the sandbox
 * runner's error messages and `runpilot doctor`. Every mount a probe makes happens in the
 * child's own new mount namespace after the same checks as the real setup. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

static long read_sysctl(const char *path)
{
	char *s = read_first_line(path);
	long v = s ? strtol(s, NULL, 10) : -1;
	free(s);
	return v;
}

char *sb_userns_hint(void)
{
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return xstrdup("user namespaces are disabled (user.max_user_namespaces = 0); fix: "
			       "sudo sysctl -w user.max_user_namespaces=15000, or use --runner local");
	if (geteuid() != 0 && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return xstrdup("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); "
			       "fix: sudo sysctl -w kernel.unprivileged_userns_clone=1, or use --runner local");
	if (geteuid() != 0 && read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return xstrdup("unprivileged user namespaces are restricted by AppArmor "
			       "(kernel.apparmor_restrict_unprivileged_userns = 1); fix: sudo sysctl -w "
			       "kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that "
			       "allows userns for runpilot, or use --runner local");
	return NULL;
}

enum probe_what { PROBE_MOUNT, PROBE_OVERLAY };

/* In the probe child: the steps of the real setup, up to a tmpfs (and an overlay) mount. */
static int probe_steps(bool userns, enum probe_what what, ino_t parent_ns, struct rp_err *e)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	if (userns && unshare(CLONE_NEWUSER) < 0)
		return rp_err_sys(e, "cannot create a user namespace");
	struct sb_ids ids = { .uid = uid, .host_uid = uid, .gid = gid, .host_gid = gid };
	if (userns && sb_userns_write_maps(0, &ids, e) < 0)
		return -1;
	if (unshare(flags) < 0)
		return rp_err_sys(e, "cannot create mount/pid/uts/ipc namespaces");
	ino_t mine = sb_mntns_inode();
	if (mine == 0 || mine == parent_ns)
		return rp_err_set(e, RP_ERR_RUNTIME, "not in a new mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return rp_err_sys(e, "cannot make / private in a new mount namespace");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return rp_err_sys(e, "cannot mount a tmpfs in a new mount namespace");
	if (what == PROBE_OVERLAY) {
		const char *dirs[] = { "/tmp/l", "/tmp/u", "/tmp/w", "/tmp/m" };
		for (size_t i = 0; i < 4; i++)
			if (mkdir(dirs[i], 0755) < 0)
				return rp_err_sys(e, "mkdir %s", dirs[i]);
		if (mount("overlay", "/tmp/m", "overlay", 0, "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w") < 0)
			return rp_err_sys(e, "cannot mount overlayfs%s", userns ? " in a user namespace" : "");
	}
	return 0;
}

/* Run the probe in a child; as_nobody drops to uid/gid 65534 first (doctor, run as root). */
static int run_probe(bool userns, enum probe_what what, bool as_nobody, struct rp_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	ino_t parent_ns = sb_mntns_inode();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return rp_err_sys(err, "fork");
	}
	if (pid == 0) {
		struct rp_err e = { 0 };
		close(p[0]);
		if (as_nobody && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
				  setresuid(65534, 65534, 65534) < 0))
			rp_err_sys(&e, "cannot become nobody");
		else if (as_nobody && prctl(PR_SET_DUMPABLE, 1) < 0) /* else /proc/self stays root's */
			rp_err_sys(&e, "prctl(PR_SET_DUMPABLE)");
		else
			probe_steps(userns, what, parent_ns, &e);
		if (e.msg[0])
			(void)!write(p[1], e.msg, strlen(e.msg));
		_exit(e.msg[0] ? 1 : 0);
	}
	close(p[1]);
	char buf[512];
	ssize_t n, len = 0;
	while ((n = read(p[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0 && len < (ssize_t)sizeof buf - 1)
		len += n;
	buf[len > 0 ? len : 0] = '\0';
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *hint = userns ? sb_userns_hint() : NULL;
	if (hint && buf[0])
		rp_err_set(err, RP_ERR_RUNTIME, "%s (%s)", buf, hint);
	else
		rp_err_set(err, RP_ERR_RUNTIME, "%s", hint ? hint : buf[0] ? buf : "probe failed");
	free(hint);
	return -1;
}

int sb_probe(bool userns, struct rp_err *err)
{
	return run_probe(userns, PROBE_MOUNT, false, err);
}

int sb_probe_overlay(bool userns, struct rp_err *err)
{
	return run_probe(userns, PROBE_OVERLAY, false, err);
}

int sb_probe_unprivileged_userns(struct rp_err *err)
{
	return run_probe(true, PROBE_OVERLAY, geteuid() == 0, err);
}

int sb_probe_ns(int flag, struct rp_err *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return rp_err_sys(err, "fork");
	if (pid == 0) {
		if (flag != CLONE_NEWUSER && geteuid() != 0 && unshare(CLONE_NEWUSER) < 0)
			_exit(errno & 0xff);
		_exit(unshare(flag) < 0 ? errno & 0xff : 0);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	errno = WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
	return rp_err_sys(err, "unshare");
}
