/* The sandbox's filesystem view, built in the child after it entered its own mount namespace.
 *
 * Order (after bubblewrap): make / recursively private; mount a staging tmpfs on /tmp and
 * pivot_root into it, so the host's root sits at /oldroot (and the idmapped trees, when the job's
 * host ids are not the caller's, at /trees: trees.c); bind the host's / (or the rootfs) at
 * /newroot and make it read-only and nosuid recursively; mount a fresh /proc, /dev and /tmp over
 * the host's; then, shallowest path first, the workdir overlay, the output dir (writable), the
 * extra binds and the masks (a mask over a directory stays writable until the end, so mount
 * points can be made in it: the workdir under a masked /root); pivot_root into /newroot and
 * detach the staging root with the host's under it.
 * The workdir, output dir and sandbox.mounts are mounted on mount points opened inside the new
 * root (openat2 RESOLVE_IN_ROOT): a path is resolved as the job will see it, and a symlink in a
 * rootfs cannot lead the setup to the host's tree at /oldroot.
 *
 * Defence in depth: nothing here mounts or unmounts before checking that this process's mount
 * namespace differs from the parent's (inode of /proc/self/ns/mnt, taken before clone). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* The host's tree (or the rootfs) as the job sees it: read-only, and no setuid file or device
 * node on it works (the devices the job gets are bound into /dev one by one). The workdir
 * overlay and the output dir are nosuid and nodev too. */
#define ROOT_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

#define STAGE "/tmp"
#define OLDROOT "/oldroot"
#define NEWROOT "/newroot"
/* In the staging root: where a mount is made before it is moved onto its place in the new root
 * (a path of ours, with no symlink in it). */
#define STAGED "/staged"

/* Docker's (moby oci/defaults.go) read-only and masked /proc and /sys paths. */
static const char *const proc_readonly[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
static const char *const proc_masked[] = {
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap", NULL,
};
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

ino_t sb_mntns_inode(void)
{
	struct stat st;
	return stat("/proc/self/ns/mnt", &st) == 0 ? st.st_ino : 0;
}

static int pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

/* Add attributes (read-only, nosuid...) to a mount, and to every mount below it when rec. */
static int set_attr(const char *path, unsigned long long attrs, bool rec, struct rp_err *err)
{
	struct mount_attr a = { .attr_set = attrs };
	if (mount_setattr(AT_FDCWD, path, rec ? AT_RECURSIVE : 0, &a, sizeof a) < 0)
		return rp_err_sys(err, "sandbox: cannot restrict mount %s (read-only, nosuid, nodev)", path + strlen(NEWROOT));
	return 0;
}

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		    const char *data, struct rp_err *err)
{
	if (mount(src, dst, type, flags, data) < 0)
		return rp_err_sys(err, "sandbox: mount %s on %s failed", type ? type : src,
				  strncmp(dst, NEWROOT, strlen(NEWROOT)) ? dst : dst + strlen(NEWROOT));
	return 0;
}

/* The path p (absolute, as seen inside) under the new root. */
static char *in_new(const char *p)
{
	return xasprintf(NEWROOT "%s", strcmp(p, "/") ? p : "");
}

static char *in_old(const char *p)
{
	return xasprintf(OLDROOT "%s", strcmp(p, "/") ? p : "");
}

static int rofs_error(const char *inside, struct rp_err *err)
{
	return rp_err_set(err, RP_ERR_USAGE,
			  "sandbox: mount point %s does not exist and the host's / is read-only: "
			  "choose a dst that exists, or one under /tmp", inside);
}

/* A path as the job will see it (absolute), opened inside the new root with every symlink and
 * ".." resolved as if the new root were / (openat2 RESOLVE_IN_ROOT): a rootfs's symlinks can
 * never lead out of it, to the host's tree at /oldroot. An O_PATH fd, or -1 with errno. */
static int open_inside(const char *inside, int flags)
{
	int root = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	while (*inside == '/')
		inside++;
	struct open_how how = { .flags = (uint64_t)(O_PATH | O_CLOEXEC | flags),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd, tries = 0;
	do /* EAGAIN: a rename raced with a ".." walk; the kernel asks for a retry */
		fd = (int)syscall(SYS_openat2, root, *inside ? inside : ".", &how, sizeof how);
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	int saved = errno;
	close(root);
	errno = saved;
	return fd;
}

/* Create the last component of inside (a directory, or an empty file) in its parent, resolved
 * inside the new root; an existing one is fine. 0, or -1 with errno. */
static int create_inside(const char *inside, bool is_dir)
{
	char *parent = xstrdup(inside);
	char *slash = strrchr(parent, '/');
	const char *name = inside + (slash - parent) + 1;
	*slash = '\0';
	int dir = open_inside(parent, O_DIRECTORY);
	free(parent);
	if (dir < 0)
		return -1;
	int rc;
	if (is_dir) {
		rc = mkdirat(dir, name, 0755);
	} else {
		int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		rc = fd < 0 ? -1 : close(fd);
	}
	int saved = errno;
	close(dir);
	errno = saved;
	return rc < 0 && errno != EEXIST ? -1 : 0;
}

/* "/a//b/" as "/a/b": one slash before each component, none at the end. */
static char *clean_path(const char *p)
{
	char *out = xmalloc(strlen(p) + 2), *o = out;
	for (; *p; p++)
		if (*p != '/' || (o > out && o[-1] != '/') || o == out)
			*o++ = *p;
	if (o > out + 1 && o[-1] == '/')
		o--;
	*o = '\0';
	return out;
}

/* A mount point for a path as the job will see it, created (with its parents) if missing: a
 * directory, or an empty file for file binds. Creating can only succeed on our own tmpfs mounts
 * or the rootfs's scratch upper: the host's tree is read-only by then, and the path is resolved
 * inside the new root. Returns an O_PATH fd to mount onto (bind_onto, move_staged), or -1 with
 * err. */
static int mount_point(const char *inside, bool is_dir, struct rp_err *err)
{
	int fd = open_inside(inside, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : rp_err_sys(err, "sandbox: mount point %s", inside);
	char *path = clean_path(inside);
	int rc = 0;
	for (char *p = strchr(path + 1, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
		*p = '\0';
		rc = create_inside(path, true);
		*p = '/';
	}
	if (rc == 0)
		rc = create_inside(path, is_dir);
	free(path);
	if (rc < 0)
		return errno == EROFS ? rofs_error(inside, err)
				      : rp_err_sys(err, "sandbox: cannot create mount point %s", inside);
	fd = open_inside(inside, 0);
	return fd >= 0 ? fd : rp_err_sys(err, "sandbox: mount point %s", inside);
}

/* Bind the host path src (under /oldroot) onto target (a mount_point fd; closed), everything
 * below src included, with attrs (MOUNT_ATTR_*, 0: none) set on all of it first. */
static int bind_onto(const char *src, int target, const char *inside, unsigned long long attrs,
		     struct rp_err *err)
{
	int tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	int rc = tree < 0 ? rp_err_sys(err, "sandbox: cannot bind %s", src + strlen(OLDROOT)) : 0;
	struct mount_attr a = { .attr_set = attrs };
	if (rc == 0 && attrs && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
		rc = rp_err_sys(err, "sandbox: cannot restrict mount %s (read-only, nosuid, nodev)", inside);
	if (rc == 0 && move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		rc = rp_err_sys(err, "sandbox: cannot mount on %s", inside);
	if (tree >= 0)
		close(tree);
	close(target);
	return rc;
}

/* Move what is mounted at STAGED onto target (a mount_point fd), and close target. */
static int move_staged(int target, const char *inside, struct rp_err *err)
{
	int rc = move_mount(AT_FDCWD, STAGED, target, "", MOVE_MOUNT_T_EMPTY_PATH);
	close(target);
	return rc < 0 ? rp_err_sys(err, "sandbox: cannot mount on %s", inside) : 0;
}

/* Directories of our own tmpfs mounts (/dev) have no symlink the job or a rootfs put there:
 * their mount points are made by path. */
static int ensure_own_target(const char *path, bool is_dir, struct rp_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	*slash = '\0';
	int rc = mkdir_p(parent, 0755, err);
	free(parent);
	if (rc < 0)
		return -1;
	if (is_dir)
		rc = mkdir(path, 0755);
	else {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		rc = fd < 0 ? -1 : close(fd);
	}
	if (rc < 0 && errno != EEXIST)
		return rp_err_sys(err, "sandbox: cannot create mount point %s", path + strlen(NEWROOT));
	return 0;
}

/* A read-only bind by path: /proc's read-only entries and the masks (/dev/null over a file). */
static int bind_readonly(const char *src, const char *dst, struct rp_err *err)
{
	if (do_mount(src, dst, NULL, MS_BIND | MS_REC, NULL, err) < 0)
		return -1;
	return set_attr(dst, MOUNT_ATTR_RDONLY, true, err);
}

/* Hide a path as the job sees it (absolute): an empty tmpfs over a directory, /dev/null over
 * anything else. A path that is missing, or a symlink (whose target is not what was asked to
 * hide), is left as it is. The tmpfs is writable until the view is done (mount points for what
 * lies below it): *dir_mask gets an fd of it for read_only_masks, or stays -1. */
static int mask(const char *inside, int *dir_mask, struct rp_err *err)
{
	char *t = in_new(inside);
	struct stat st;
	int rc = 0;
	*dir_mask = -1;
	if (lstat(t, &st) == 0 && !S_ISLNK(st.st_mode)) {
		if (!S_ISDIR(st.st_mode))
			rc = bind_readonly(OLDROOT "/dev/null", t, err);
		else if ((rc = do_mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755", err)) == 0 &&
			 (*dir_mask = open(t, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = rp_err_sys(err, "sandbox: mask %s", inside);
	}
	free(t);
	return rc;
}

/* The masks over directories turn read-only (only the mask itself: what is mounted in it stays
 * as it is); closes the fds. */
static int read_only_masks(int *fds, size_t n, struct rp_err *err)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (rc == 0 && mount_setattr(fds[i], "", AT_EMPTY_PATH, &a, sizeof a) < 0)
			rc = rp_err_sys(err, "sandbox: cannot make a mask read-only");
		close(fds[i]);
	}
	return rc;
}

/* Step 1: private propagation, staging tmpfs, pivot so the host root is at /oldroot. */
static int enter_staging(ino_t parent_mntns, struct rp_err *err)
{
	ino_t mine = sb_mntns_inode();
	if (mine == 0 || mine == parent_mntns)
		return rp_err_set(err, RP_ERR_RUNTIME,
				  "sandbox: refusing to mount: not in a new mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return rp_err_sys(err, "sandbox: cannot make / private");
	if (do_mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", err) < 0)
		return -1;
	if (mkdir(STAGE NEWROOT, 0755) < 0 || mkdir(STAGE OLDROOT, 0755) < 0 || mkdir(STAGE STAGED, 0755) < 0)
		return rp_err_sys(err, "sandbox: cannot create staging dirs");
	if (pivot_root(STAGE, STAGE OLDROOT) < 0)
		return rp_err_sys(err, "sandbox: pivot_root to staging failed");
	if (chdir("/") < 0)
		return rp_err_sys(err, "sandbox: chdir /");
	return 0;
}

static bool needs_dir(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the setup reaches a host path of the plan: its idmapped tree (trees.c), or the path
 * under the old root. */
static char *host_source(const struct sb_trees *t, size_t tree, const char *host)
{
	const char *at = sb_tree_path(t, tree);
	return at ? xstrdup(at) : in_old(host);
}

static char *bind_source(const struct sb_plan *p, const struct sb_trees *t, size_t i)
{
	return host_source(t, SB_TREE_BIND0 + i, p->binds[i].src);
}

/* Mount points a rootfs may lack, created in its scratch upper before it turns read-only. */
static int rootfs_mountpoints(const struct sb_plan *p, const struct sb_trees *t, struct rp_err *err)
{
	const char *dirs[] = { "/proc", "/dev", "/tmp", "/sys", p->cwd, p->workdir, p->output_dir };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		if (!dirs[i])
			continue;
		int fd = mount_point(dirs[i], true, err);
		if (fd < 0)
			return -1;
		close(fd);
	}
	for (size_t i = 0; i < p->nbinds; i++) {
		char *src = bind_source(p, t, i);
		int fd = mount_point(p->binds[i].dst, needs_dir(src), err);
		free(src);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

/* Step 2: the new root, read-only. The host's / is bound recursively (so its submounts such as
 * /usr or conda volumes are there too). A rootfs is shown through an overlay with a scratch
 * tmpfs upper, so mount points can be created without ever writing into the user's rootfs. */
static int build_root(const struct sb_plan *p, const struct sb_trees *t, struct rp_err *err)
{
	if (!p->rootfs) {
		if (do_mount(OLDROOT, NEWROOT, NULL, MS_BIND | MS_REC, NULL, err) < 0)
			return -1;
	} else {
		char *lower = host_source(t, SB_TREE_ROOTFS, p->rootfs);
		bool ok = mkdir("/scratch", 0755) == 0 && mkdir("/scratch/up", 0755) == 0 &&
			  mkdir("/scratch/work", 0755) == 0;
		char *opts = xasprintf("lowerdir=%s,upperdir=/scratch/up,workdir=/scratch/work", lower);
		bool scratch = ok && !strpbrk(lower, ",:") && mount("overlay", NEWROOT, "overlay", 0, opts) == 0;
		/* No overlay: the rootfs itself, read-only before anything is created, so it then must
		 * have every mount point (they are never created in the user's directory). */
		int rc = scratch ? 0 : do_mount(lower, NEWROOT, NULL, MS_BIND | MS_REC, NULL, err);
		free(opts);
		free(lower);
		if (rc < 0)
			return rp_err_wrap(err, "sandbox.rootfs %s", p->rootfs);
		if (!scratch && set_attr(NEWROOT, ROOT_ATTRS, true, err) < 0)
			return -1;
		if (rootfs_mountpoints(p, t, err) < 0)
			return -1;
		/* An image's root stays writable, as a container's: what the job writes there goes to
		 * the scratch upper, which is thrown away with the sandbox. */
		if (scratch && p->rootfs_writable)
			return set_attr(NEWROOT, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true, err);
	}
	return set_attr(NEWROOT, ROOT_ATTRS, true, err);
}

/* With a network namespace of its own, a fresh sysfs: /sys/class/net then lists the job's
 * interfaces, not the host's. The host's cgroup tree stays visible below it, read-only, as
 * before (jobs read their limits there). */
static int build_sys(const struct sb_plan *p, struct rp_err *err)
{
	if (!p->netns)
		return 0;
	if (do_mount("sysfs", NEWROOT "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	struct stat st;
	if (stat(OLDROOT "/sys/fs/cgroup", &st) < 0 || stat(NEWROOT "/sys/fs/cgroup", &st) < 0)
		return 0;
	int target = open(NEWROOT "/sys/fs/cgroup", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (target < 0)
		return rp_err_sys(err, "sandbox: /sys/fs/cgroup");
	return bind_onto(OLDROOT "/sys/fs/cgroup", target, "/sys/fs/cgroup", ROOT_ATTRS, err);
}

/* A fresh /proc for the new pid namespace, hardened as Docker does. It is mounted over the
 * host's (read-only, bound with /): unmounting that first would cost an RCU grace period
 * (about a millisecond in a VM), and the job can never unmount ours to see it. */
static int build_proc(struct rp_err *err)
{
	if (do_mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	for (size_t i = 0; proc_readonly[i]; i++) {
		char *t = in_new(proc_readonly[i]);
		int rc = 0;
		if (access(t, F_OK) == 0)
			rc = bind_readonly(t, t, err);
		free(t);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; proc_masked[i]; i++) {
		int fd;
		if (mask(proc_masked[i], &fd, err) < 0 || read_only_masks(&fd, 1, err) < 0)
			return -1;
	}
	return 0;
}

static int dev_bind_node(const char *host, const char *inside, struct rp_err *err)
{
	struct stat st;
	if (stat(host, &st) < 0)
		return 0; /* not on this host: nothing to show */
	if (ensure_own_target(inside, S_ISDIR(st.st_mode), err) < 0)
		return -1;
	return do_mount(host, inside, NULL, MS_BIND | MS_REC, NULL, err);
}

/* A minimal /dev: a tmpfs with the harmless nodes bound from the host, a private shm and pts. */
static int build_dev(const struct sb_plan *p, struct sb_started *st, struct rp_err *err)
{
	/* over the host's /dev, like /proc */
	if (do_mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", err) < 0)
		return -1;
	for (size_t i = 0; dev_nodes[i]; i++) {
		char *h = xasprintf(OLDROOT "/dev/%s", dev_nodes[i]);
		char *t = xasprintf(NEWROOT "/dev/%s", dev_nodes[i]);
		int rc = dev_bind_node(h, t, err);
		free(h);
		free(t);
		if (rc < 0)
			return -1;
	}
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" }, { "/proc/kcore", "core" },
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		char *t = xasprintf(NEWROOT "/dev/%s", links[i][1]);
		int rc = symlink(links[i][0], t);
		free(t);
		if (rc < 0)
			return rp_err_sys(err, "sandbox: cannot create /dev/%s", links[i][1]);
	}
	if (mkdir(NEWROOT "/dev/shm", 01777) < 0 || mkdir(NEWROOT "/dev/pts", 0755) < 0)
		return rp_err_sys(err, "sandbox: cannot create /dev/shm, /dev/pts");
	if (do_mount("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err) < 0)
		return -1;
	if (do_mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=620", err) < 0)
		return -1;
	if (p->gpus) {
		char **devs = NULL;
		/* after the pivot the host's /dev is under OLDROOT */
		size_t n = sb_gpu_devices_under(OLDROOT, &devs);
		for (size_t i = 0; i < n; i++) {
			char *h = in_old(devs[i]);
			char *t = in_new(devs[i]);
			int rc = dev_bind_node(h, t, err);
			free(h);
			free(t);
			if (rc < 0) {
				for (size_t j = i; j < n; j++)
					free(devs[j]);
				free(devs);
				return -1;
			}
			free(devs[i]);
		}
		free(devs);
		st->ngpu_devices = (int)n;
	}
	return 0;
}

static const char *last_component(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Why the workdir cannot be an overlay of idmapped trees (a root caller's job, whose host ids
 * are not the caller's), or NULL when it can or needs none. */
static const char *no_idmapped_workdir(const struct sb_trees *t, int *e)
{
	if (!t->n)
		return NULL;
	size_t bad = !t->idmapped[SB_TREE_WORKDIR] ? SB_TREE_WORKDIR : !t->idmapped[SB_TREE_RUN] ? SB_TREE_RUN : 0;
	if (!bad)
		return NULL;
	*e = t->error[bad] ? t->error[bad] : EINVAL;
	return bad == SB_TREE_WORKDIR ? "the workdir's filesystem cannot be idmapped"
				      : "the run store's filesystem cannot be idmapped";
}

/* The workdir writable through overlayfs; what the job writes lands in changes_dir. A failure
 * (-1 with err) leaves it read-only (show_workdir_readonly). */
static int build_workdir(const struct sb_plan *p, const struct sb_trees *t, struct rp_err *err)
{
	if (!p->workdir || !p->changes_dir || !p->overlay_work)
		return rp_err_set(err, RP_ERR_RUNTIME, "no workdir overlay requested");
	if (strcmp(p->workdir, "/") == 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "the workdir is /");
	int e = 0;
	const char *why = no_idmapped_workdir(t, &e);
	if (why) {
		errno = e;
		return rp_err_sys(err, "%s (the job of a root caller runs as an unprivileged user and "
				       "writes through an idmapped mount)", why);
	}
	const char *run = sb_tree_path(t, SB_TREE_RUN);
	char *lower = host_source(t, SB_TREE_WORKDIR, p->workdir);
	char *upper = run ? xasprintf("%s/%s", run, last_component(p->changes_dir)) : in_old(p->changes_dir);
	char *work = run ? xasprintf("%s/%s", run, last_component(p->overlay_work)) : in_old(p->overlay_work);
	int rc = 0;
	if (strpbrk(lower, ",:\\") || strpbrk(upper, ",:\\") || strpbrk(work, ",:\\")) {
		rc = rp_err_set(err, RP_ERR_RUNTIME, "overlay mount failed: path contains ',' ':' or '\\'");
	} else {
		char *opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
		int target = mount_point(p->workdir, true, err);
		if (target < 0) {
			rc = -1;
		} else if (mount("overlay", STAGED, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
			rc = rp_err_sys(err, "overlay mount failed");
			close(target);
		} else {
			rc = move_staged(target, p->workdir, err);
		}
		free(opts);
	}
	free(lower);
	free(upper);
	free(work);
	return rc;
}

/* No overlay: the workdir is read-only. It already is, as part of the host's read-only root,
 * unless it reaches the setup only as a tree (it may lie under a masked /root). */
static int show_workdir_readonly(const struct sb_plan *p, const struct sb_trees *t, struct rp_err *err)
{
	const char *tree = sb_tree_path(t, SB_TREE_WORKDIR);
	if (!tree || !p->workdir)
		return 0;
	int target = mount_point(p->workdir, true, err);
	if (target < 0)
		return -1;
	return bind_onto(tree, target, p->workdir, ROOT_ATTRS, err);
}

static int bind_output(const struct sb_plan *p, const struct sb_trees *t, struct rp_err *err)
{
	if (t->n && !t->idmapped[SB_TREE_OUTPUT])
		return rp_err_set(err, RP_ERR_RUNTIME,
				  "sandbox: the output dir %s cannot be idmapped (%s), and the job of a root caller "
				  "runs as an unprivileged user; fix: a run store (RUNPILOT_HOME) on ext4, xfs, "
				  "btrfs or tmpfs, or run runpilot as a regular user",
				  p->output_dir, strerror(t->error[SB_TREE_OUTPUT] ? t->error[SB_TREE_OUTPUT] : EINVAL));
	char *src = host_source(t, SB_TREE_OUTPUT, p->output_dir);
	int target = mount_point(p->output_dir, true, err);
	int rc = target < 0 ? -1 : bind_onto(src, target, p->output_dir, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	free(src);
	return rc < 0 ? rp_err_wrap(err, "output dir") : 0;
}

static int bind_extra(const struct sb_plan *p, const struct sb_trees *t, size_t i, struct rp_err *err)
{
	const struct sb_bind *b = &p->binds[i];
	char *src = bind_source(p, t, i);
	int rc = 0;
	if (access(src, F_OK) != 0) {
		rp_err_sys(err, "sandbox.mounts: %s", b->src);
		if (err->sys_errno == ENOENT) /* a config problem: the user names the source */
			err->kind = RP_ERR_USAGE;
		rc = -1;
	}
	int target = rc < 0 ? -1 : mount_point(b->dst, needs_dir(src), err);
	if (target >= 0)
		rc = bind_onto(src, target, b->dst, b->readonly ? MOUNT_ATTR_RDONLY : 0, err);
	else
		rc = -1;
	free(src);
	return rc;
}

/* The plan's resolv.conf (network outbound: pasta's DNS forwarder), written in the staging root
 * and bound read-only where the job's /etc/resolv.conf leads. Best effort: where no mount point
 * can be made (a rootfs whose link points nowhere), the job keeps the file it has. */
static int show_resolv_conf(const struct sb_plan *p)
{
	int fd = open("/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	int rc = write_all(fd, p->resolv_conf, strlen(p->resolv_conf));
	close(fd);
	struct rp_err ignored = { 0 };
	int target = rc < 0 ? -1 : mount_point(p->resolv_conf_path, false, &ignored);
	if (target >= 0)
		(void)bind_onto("/resolv.conf", target, p->resolv_conf_path, ROOT_ATTRS | MOUNT_ATTR_NOEXEC, &ignored);
	return 0;
}

/* One step of the view below the root: a mount or a mask, at a path as the job sees it. */
enum step_kind { STEP_MASK, STEP_WORKDIR, STEP_OUTPUT, STEP_BIND, STEP_RESOLV_CONF };
struct view_step {
	enum step_kind kind;
	size_t index;            /* of the bind or mask */
	const char *path;
	size_t depth;            /* path components */
};

static size_t path_depth(const char *p)
{
	size_t n = 0;
	for (; *p; p++)
		if (*p != '/' && (p[1] == '/' || p[1] == '\0'))
			n++;
	return n;
}

/* Shallowest first, so nothing is hidden by what is mounted above it later; at one depth masks
 * first (a mount on the very path of a mask wins), then as listed. */
static int step_order(const void *a, const void *b)
{
	const struct view_step *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	if ((x->kind == STEP_MASK) != (y->kind == STEP_MASK))
		return x->kind == STEP_MASK ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static size_t plan_steps(const struct sb_plan *p, struct view_step *steps)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nmasks; i++)
		steps[n++] = (struct view_step){ STEP_MASK, i, p->masks[i].path, 0 };
	if (p->workdir)
		steps[n++] = (struct view_step){ STEP_WORKDIR, 0, p->workdir, 0 };
	if (p->output_dir)
		steps[n++] = (struct view_step){ STEP_OUTPUT, 0, p->output_dir, 0 };
	for (size_t i = 0; i < p->nbinds; i++)
		steps[n++] = (struct view_step){ STEP_BIND, i, p->binds[i].dst, 0 };
	if (p->resolv_conf && p->resolv_conf_path)
		steps[n++] = (struct view_step){ STEP_RESOLV_CONF, 0, p->resolv_conf_path, 0 };
	for (size_t i = 0; i < n; i++)
		steps[i].depth = path_depth(steps[i].path);
	qsort(steps, n, sizeof *steps, step_order);
	return n;
}

static int run_step(const struct sb_plan *p, const struct sb_trees *t, const struct view_step *s, int *mask_fd,
		    struct sb_started *st, struct rp_err *err)
{
	switch (s->kind) {
	case STEP_MASK:
		return mask(s->path, mask_fd, err) < 0 ? rp_err_wrap(err, "masking %s", s->path) : 0;
	case STEP_WORKDIR:
		st->workdir_overlay = build_workdir(p, t, &st->workdir_error) == 0;
		return st->workdir_overlay ? 0 : show_workdir_readonly(p, t, err);
	case STEP_OUTPUT:
		return bind_output(p, t, err);
	case STEP_BIND:
		return bind_extra(p, t, s->index, err);
	case STEP_RESOLV_CONF:
		return show_resolv_conf(p);
	}
	return 0;
}

/* The workdir, output dir, binds and masks, in step_order. */
static int build_view(const struct sb_plan *p, const struct sb_trees *t, struct sb_started *st, struct rp_err *err)
{
	size_t max = p->nmasks + p->nbinds + 3;
	struct view_step *steps = xcalloc(max, sizeof *steps);
	int *mask_fds = xcalloc(max, sizeof *mask_fds);
	size_t n = plan_steps(p, steps);
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		mask_fds[i] = -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = run_step(p, t, &steps[i], &mask_fds[i], st, err);
	if (read_only_masks(mask_fds, n, rc < 0 ? NULL : err) < 0)
		rc = -1;
	free(steps);
	free(mask_fds);
	return rc;
}

/* Last step: make /newroot the root and forget the rest. After pivot_root(".", ".") the
 * staging tmpfs, with the host's root below it at /oldroot, is stacked under the new root:
 * one lazy unmount detaches both (each unmount costs an RCU grace period). */
static int enter_newroot(struct rp_err *err)
{
	if (chdir(NEWROOT) < 0)
		return rp_err_sys(err, "sandbox: chdir " NEWROOT);
	if (pivot_root(".", ".") < 0)
		return rp_err_sys(err, "sandbox: pivot_root failed");
	if (umount2(".", MNT_DETACH) < 0)
		return rp_err_sys(err, "sandbox: cannot detach the staging and old roots");
	if (chdir("/") < 0)
		return rp_err_sys(err, "sandbox: chdir /");
	return 0;
}

int sb_mounts_build(const struct sb_plan *p, ino_t parent_mntns, int trees_sock, struct sb_started *st,
		    struct rp_err *err)
{
	struct sb_trees trees = { 0 };
	int rc = enter_staging(parent_mntns, err);
	if (rc == 0 && trees_sock >= 0)
		rc = sb_trees_receive(p, trees_sock, &trees, err);
	if (rc == 0 && (build_root(p, &trees, err) < 0 || build_sys(p, err) < 0 || build_proc(err) < 0 ||
			build_dev(p, st, err) < 0))
		rc = -1;
	if (rc == 0)
		rc = do_mount("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err);
	if (rc == 0)
		rc = build_view(p, &trees, st, err);
	if (rc == 0)
		rc = enter_newroot(err);
	sb_trees_free(&trees);
	return rc;
}

/* The directory of an agent's socket named by a variable ("path" or, for GPG_AGENT_INFO,
 * "path:pid:1"); NULL if unset or not absolute. */
static char *socket_dir(const char *value)
{
	if (!value || value[0] != '/')
		return NULL;
	char *dir = xstrdup(value);
	char *colon = strchr(dir, ':');
	if (colon)
		*colon = '\0';
	char *slash = strrchr(dir, '/');
	if (slash > dir) /* else a socket in / itself: hide only it */
		*slash = '\0';
	return dir;
}

void sb_default_mask_paths(const char *home, struct strvec *out)
{
	static const char *const in_home[] = {
		".ssh", ".aws", ".gnupg", ".config/gcloud", ".docker", ".netrc", NULL,
	};
	static const char *const fixed[] = { "/etc/shadow", "/etc/gshadow", "/root", "/run", "/var/run", NULL };
	static const char *const agents[] = { "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK", "GPG_AGENT_INFO", NULL };
	for (size_t i = 0; home && home[0] == '/' && in_home[i]; i++)
		strvec_pushf(out, "%s/%s", strcmp(home, "/") ? home : "", in_home[i]);
	for (size_t i = 0; fixed[i]; i++)
		strvec_push(out, fixed[i]);
	for (size_t i = 0; agents[i]; i++) {
		const char *v = getenv(agents[i]);
		char *dir = strcmp(agents[i], "XDG_RUNTIME_DIR") == 0 ? (v && v[0] == '/' ? xstrdup(v) : NULL)
								      : socket_dir(v);
		if (dir)
			strvec_push(out, dir);
		free(dir);
	}
}
