/* Idmapped mounts for a job whose host ids are not the caller's: a root caller's job runs as an
 * unprivileged host id (nobody), which may not even reach root's files (/root is 0700), let alone
 * write root's run directory. The paths the setup mounts for the job (rootfs, workdir, run dir,
 * output dir, binds) are therefore cloned as detached mount trees by a helper that runs as the
 * caller, each made idmapped through the job's user namespace (the caller's uid on disk shows as
 * the job's, and what the job writes is stored as the caller's), and sent to the setup child,
 * which mounts them in its own namespace. A source the kernel cannot idmap (its filesystem does
 * not support it) is sent plain, and the setup decides what that means for it.
 *
 * The helper makes no mount anywhere: it only clones trees. It still follows the rule of every
 * mount call here: it unshares a mount namespace of its own, checks it against its parent's, and
 * makes / private, so nothing it does can reach the host's mount table. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#define TREES "/trees"

/* One tree as sent: which source, and how it went; the tree itself travels as SCM_RIGHTS. */
struct tree_msg {
	unsigned index;          /* the source (enum sb_tree_kind); tree_count(): the helper failed */
	int error;               /* errno: of the clone (no tree sent) or of the idmapping */
	bool idmapped;
};

/* The caller's files appear as the job's through the user namespace's own mapping unless the
 * job's host ids are not the caller's (root's job, as nobody). */
bool sb_trees_needed(const struct sb_plan *p)
{
	return p->host_uid != getuid() || p->host_gid != getgid();
}

static size_t tree_count(const struct sb_plan *p)
{
	return SB_TREE_BIND0 + p->nbinds;
}

/* The directory holding the overlay's upper and work dirs: one tree, as overlayfs needs them on
 * the same mount. NULL when they do not share one (then the workdir gets no overlay). */
static char *run_dir_of(const struct sb_plan *p)
{
	if (!p->changes_dir || !p->overlay_work)
		return NULL;
	char *a = xstrdup(p->changes_dir), *b = xstrdup(p->overlay_work);
	char *da = dirname(a), *db = dirname(b);
	char *dir = strcmp(da, db) == 0 ? xstrdup(da) : NULL;
	free(a);
	free(b);
	return dir;
}

/* The host path of source i (NULL: none) and whether its submounts come with it. */
static char *tree_source(const struct sb_plan *p, size_t i, bool *recursive)
{
	*recursive = i == SB_TREE_ROOTFS || i >= SB_TREE_BIND0;
	switch (i) {
	case SB_TREE_ROOTFS:
		return p->rootfs ? xstrdup(p->rootfs) : NULL;
	case SB_TREE_WORKDIR:
		return p->workdir ? xstrdup(p->workdir) : NULL;
	case SB_TREE_RUN:
		return run_dir_of(p);
	case SB_TREE_OUTPUT:
		return p->output_dir ? xstrdup(p->output_dir) : NULL;
	default:
		return xstrdup(p->binds[i - SB_TREE_BIND0].src);
	}
}

static int send_tree(int sock, const struct tree_msg *m, int fd)
{
	return sb_fd_send(sock, m, sizeof *m, fd);
}

/* Clone source i and idmap it with the job's user namespace; send what came of it. */
static int make_and_send(const struct sb_plan *p, size_t i, int userns_fd, int sock)
{
	bool rec;
	char *src = tree_source(p, i, &rec);
	struct tree_msg m;
	memset(&m, 0, sizeof m);
	m.index = (unsigned)i;
	int tree = -1;
	if (src) {
		tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
				    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
		if (tree < 0) {
			m.error = errno;
		} else {
			struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd };
			m.idmapped = syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (rec ? AT_RECURSIVE : 0), &a,
					     sizeof a) == 0;
			m.error = m.idmapped ? 0 : errno;
		}
	}
	free(src);
	int rc = send_tree(sock, &m, tree);
	if (tree >= 0)
		close(tree);
	return rc;
}

static noreturn void helper_main(const struct sb_plan *p, int userns_fd, int sock, ino_t parent_mntns)
{
	int keep[] = { sock, userns_fd };
	sb_close_all_except(keep, 2);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct tree_msg fail;
	memset(&fail, 0, sizeof fail);
	fail.index = (unsigned)tree_count(p);
	ino_t mine = unshare(CLONE_NEWNS) == 0 ? sb_mntns_inode() : 0;
	if (mine == 0 || mine == parent_mntns)
		fail.error = EPERM; /* not in a mount namespace of our own: touch nothing */
	else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail.error = errno;
	if (fail.error) {
		(void)send_tree(sock, &fail, -1);
		_exit(1);
	}
	for (size_t i = 0; i < tree_count(p); i++)
		if (make_and_send(p, i, userns_fd, sock) < 0)
			_exit(1);
	_exit(0);
}

pid_t sb_trees_start(const struct sb_plan *p, int userns_fd, int sock, struct rp_err *err)
{
	ino_t mntns = sb_mntns_inode();
	if (mntns == 0)
		return rp_err_sys(err, "sandbox: cannot read /proc/self/ns/mnt");
	/* vfork: the helper borrows our memory (copying our page tables costs more than all its
	 * work; we wait the little it takes), and never returns. ASan builds fork: the shadow stack
	 * does not follow a vfork child. */
#ifdef __SANITIZE_ADDRESS__
	pid_t pid = fork();
#else
	pid_t pid = vfork();
#endif
	if (pid == 0)
		helper_main(p, userns_fd, sock, mntns);
	if (pid < 0)
		return rp_err_sys(err, "sandbox: cannot start the idmapped mounts' helper");
	return pid;
}

/* Mount a received tree at /trees/<i> (a directory or a file, as the tree's root is). */
static int attach_tree(int fd, size_t i, char **path, struct rp_err *err)
{
	struct stat st;
	char *at = xasprintf(TREES "/%zu", i);
	int rc = fstat(fd, &st);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		rc = mkdir(at, 0700);
	} else if (rc == 0) {
		int f = open(at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		rc = f < 0 ? -1 : close(f);
	}
	if (rc == 0)
		rc = (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH);
	if (rc < 0) {
		free(at);
		return rp_err_sys(err, "sandbox: cannot mount an idmapped tree");
	}
	*path = at;
	return 0;
}

int sb_trees_receive(const struct sb_plan *p, int sock, struct sb_trees *out, struct rp_err *err)
{
	size_t n = tree_count(p);
	*out = (struct sb_trees){ .n = n, .path = xcalloc(n, sizeof *out->path),
				  .idmapped = xcalloc(n, sizeof *out->idmapped), .error = xcalloc(n, sizeof *out->error) };
	if (mkdir(TREES, 0700) < 0)
		return rp_err_sys(err, "sandbox: cannot create " TREES);
	for (size_t k = 0; k < n; k++) {
		struct tree_msg m;
		int fd;
		ssize_t got = sb_fd_receive(sock, &m, sizeof m, &fd);
		int rc = 0;
		if (got != (ssize_t)sizeof m) {
			rc = rp_err_set(err, RP_ERR_RUNTIME, "sandbox: the idmapped mounts' helper ended early");
		} else if (m.index >= n) {
			errno = m.error;
			rc = rp_err_sys(err, "sandbox: cannot prepare idmapped mounts");
		} else {
			out->idmapped[m.index] = m.idmapped;
			out->error[m.index] = m.error;
			if (fd >= 0 && !out->path[m.index])
				rc = attach_tree(fd, m.index, &out->path[m.index], err);
		}
		if (fd >= 0)
			close(fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}

const char *sb_tree_path(const struct sb_trees *t, size_t i)
{
	return t && i < t->n ? t->path[i] : NULL;
}

void sb_trees_free(struct sb_trees *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->path[i]);
	free(t->path);
	free(t->idmapped);
	free(t->error);
	*t = (struct sb_trees){ 0 };
}
