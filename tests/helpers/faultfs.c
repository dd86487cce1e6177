/* faultfs: an LD_PRELOAD shim that makes one filesystem call fail, for tests of what runpilot
 * does when the disk fills up or errs.
 *   FAULTFS_PREFIX=DIR        only calls on paths under DIR count (a path argument, resolved
 *                             against the cwd or the dirfd, or an fd whose /proc/self/fd link is
 *                             under DIR)
 *   FAULTFS_FAIL=OP:N:ERRNO   the Nth counted call of OP fails with ERRNO (ENOSPC, EIO, EDQUOT,
 *                             EROFS, EACCES); several specs separated by commas
 *   FAULTFS_COUNT=FILE        at exit, "OP COUNT" lines appended for each OP counted (so a test
 *                             knows how many calls a run makes)
 * OPs: write (write, pwrite, writev), fsync (fsync, fdatasync), rename (rename, renameat,
 * renameat2), open (open, openat, creat), mkdir (mkdir, mkdirat), fallocate (fallocate,
 * posix_fallocate), ftruncate, link (link, linkat, symlink).
 * Each process counts on its own (children inherit the shim, with fresh counters). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_WRITE, OP_FSYNC, OP_RENAME, OP_OPEN, OP_MKDIR, OP_FALLOCATE, OP_FTRUNCATE, OP_LINK, OP_N };
static const char *const op_names[OP_N] = {"write", "fsync", "rename", "open", "mkdir", "fallocate",
					   "ftruncate", "link"};

struct fail_spec {
	enum op op;
	unsigned long n;
	int err;
};

static unsigned long counts[OP_N];
static struct fail_spec specs[16];
static int nspecs = -1; /* -1: environment not read yet */
static const char *prefix;
static size_t prefix_len;

static int errno_named(const char *s)
{
	static const struct { const char *name; int e; } names[] = {
		{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EACCES", EACCES},
		{"EPERM", EPERM}, {"EFBIG", EFBIG},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcmp(s, names[i].name))
			return names[i].e;
	return atoi(s) > 0 ? atoi(s) : EIO;
}

static void read_env(void)
{
	if (nspecs >= 0)
		return;
	nspecs = 0;
	prefix = getenv("FAULTFS_PREFIX");
	prefix_len = prefix ? strlen(prefix) : 0;
	while (prefix_len > 1 && prefix[prefix_len - 1] == '/')
		prefix_len--;
	const char *f = getenv("FAULTFS_FAIL");
	if (!f)
		return;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", f);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok && nspecs < 16; tok = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(tok, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c1)
			continue;
		*c1 = '\0';
		if (c2)
			*c2 = '\0';
		for (int o = 0; o < OP_N; o++)
			if (!strcmp(tok, op_names[o])) {
				specs[nspecs].op = (enum op)o;
				specs[nspecs].n = strtoul(c1 + 1, NULL, 10);
				specs[nspecs].err = c2 ? errno_named(c2 + 1) : EIO;
				nspecs++;
			}
	}
}

static bool under_prefix(const char *path)
{
	return prefix_len && !strncmp(path, prefix, prefix_len) && (path[prefix_len] == '/' || !path[prefix_len]);
}

static bool fd_under(int fd)
{
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return under_prefix(target);
}

static bool path_under(int dirfd, const char *path)
{
	if (!path)
		return false;
	if (path[0] == '/')
		return under_prefix(path);
	char base[PATH_MAX];
	if (dirfd == AT_FDCWD) {
		if (!getcwd(base, sizeof base))
			return false;
	} else {
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
		ssize_t n = readlink(link, base, sizeof base - 1);
		if (n < 0)
			return false;
		base[n] = '\0';
	}
	char full[PATH_MAX * 2];
	snprintf(full, sizeof full, "%s/%s", base, path);
	return under_prefix(full);
}

/* Count one call of op on a path under the prefix; true when this one must fail (errno set). */
static bool fail_now(enum op op, bool under)
{
	read_env();
	if (!under)
		return false;
	unsigned long n = __atomic_add_fetch(&counts[op], 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < nspecs; i++)
		if (specs[i].op == op && specs[i].n == n) {
			errno = specs[i].err;
			return true;
		}
	return false;
}

#define REAL(ret, name, ...)                                                   \
	static ret (*real_##name)(__VA_ARGS__);                                \
	if (!real_##name)                                                      \
		real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t);
	if (fd > 2 && fail_now(OP_WRITE, fd_under(fd)))
		return -1;
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
	if (fail_now(OP_WRITE, fd_under(fd)))
		return -1;
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
	if (fail_now(OP_WRITE, fd_under(fd)))
		return -1;
	return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, writev, int, const struct iovec *, int);
	if (fd > 2 && fail_now(OP_WRITE, fd_under(fd)))
		return -1;
	return real_writev(fd, iov, cnt);
}

int fsync(int fd)
{
	REAL(int, fsync, int);
	if (fail_now(OP_FSYNC, fd_under(fd)))
		return -1;
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(int, fdatasync, int);
	if (fail_now(OP_FSYNC, fd_under(fd)))
		return -1;
	return real_fdatasync(fd);
}

int rename(const char *a, const char *b)
{
	REAL(int, rename, const char *, const char *);
	if (fail_now(OP_RENAME, path_under(AT_FDCWD, b)))
		return -1;
	return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	REAL(int, renameat, int, const char *, int, const char *);
	if (fail_now(OP_RENAME, path_under(db, b)))
		return -1;
	return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
	REAL(int, renameat2, int, const char *, int, const char *, unsigned);
	if (fail_now(OP_RENAME, path_under(db, b)))
		return -1;
	return real_renameat2(da, a, db, b, flags);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	REAL(int, open, const char *, int, ...);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	if (fail_now(OP_OPEN, path_under(AT_FDCWD, path)))
		return -1;
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	REAL(int, open64, const char *, int, ...);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	if (fail_now(OP_OPEN, path_under(AT_FDCWD, path)))
		return -1;
	return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	REAL(int, openat, int, const char *, int, ...);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	if (fail_now(OP_OPEN, path_under(dirfd, path)))
		return -1;
	return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	REAL(int, openat64, int, const char *, int, ...);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	if (fail_now(OP_OPEN, path_under(dirfd, path)))
		return -1;
	return real_openat64(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode)
{
	REAL(int, creat, const char *, mode_t);
	if (fail_now(OP_OPEN, path_under(AT_FDCWD, path)))
		return -1;
	return real_creat(path, mode);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(int, mkdir, const char *, mode_t);
	if (fail_now(OP_MKDIR, path_under(AT_FDCWD, path)))
		return -1;
	return real_mkdir(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(int, mkdirat, int, const char *, mode_t);
	if (fail_now(OP_MKDIR, path_under(dirfd, path)))
		return -1;
	return real_mkdirat(dirfd, path, mode);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate, int, int, off_t, off_t);
	if (fail_now(OP_FALLOCATE, fd_under(fd)))
		return -1;
	return real_fallocate(fd, mode, off, len);
}

/* posix_fallocate returns the error instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
	REAL(int, posix_fallocate, int, off_t, off_t);
	if (fail_now(OP_FALLOCATE, fd_under(fd)))
		return errno;
	return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
	REAL(int, posix_fallocate64, int, off_t, off_t);
	if (fail_now(OP_FALLOCATE, fd_under(fd)))
		return errno;
	return real_posix_fallocate64(fd, off, len);
}

int ftruncate(int fd, off_t len)
{
	REAL(int, ftruncate, int, off_t);
	if (fail_now(OP_FTRUNCATE, fd_under(fd)))
		return -1;
	return real_ftruncate(fd, len);
}

int link(const char *a, const char *b)
{
	REAL(int, link, const char *, const char *);
	if (fail_now(OP_LINK, path_under(AT_FDCWD, b)))
		return -1;
	return real_link(a, b);
}

int linkat(int da, const char *a, int db, const char *b, int flags)
{
	REAL(int, linkat, int, const char *, int, const char *, int);
	if (fail_now(OP_LINK, path_under(db, b)))
		return -1;
	return real_linkat(da, a, db, b, flags);
}

int symlink(const char *a, const char *b)
{
	REAL(int, symlink, const char *, const char *);
	if (fail_now(OP_LINK, path_under(AT_FDCWD, b)))
		return -1;
	return real_symlink(a, b);
}

__attribute__((destructor)) static void report_counts(void)
{
	const char *path = getenv("FAULTFS_COUNT");
	if (!path)
		return;
	REAL(int, open, const char *, int, ...);
	REAL(ssize_t, write, int, const void *, size_t);
	int fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	char line[64];
	for (int o = 0; o < OP_N; o++)
		if (counts[o]) {
			int len = snprintf(line, sizeof line, "%s %lu\n", op_names[o], counts[o]);
			(void)!real_write(fd, line, (size_t)len);
		}
	close(fd);
}
