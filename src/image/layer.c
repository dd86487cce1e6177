/* layer.c: one layer tar applied to a tree, as an unprivileged user and never leaving the tree.
 *
 * - Entry paths are made relative; an absolute path or a ".." component refuses the image.
 * - Each entry's parent is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from the tree's root: a symlink on the way (planted
 *   by an earlier entry or layer) is never followed, and an entry written through one is refused.
 *   The last component is created with O_EXCL | O_NOFOLLOW after removing what was there.
 * - Symlinks are stored as they are; a relative target that climbs above the root refuses the
 *   image (an absolute target means the image's own root, as in the container). Hard links must
 *   name an entry inside the tree.
 * - OCI whiteouts: ".wh.NAME" removes NAME, ".wh..wh..opq" empties its directory of what lower
 *   layers put there.
 * - No chown: files belong to the caller. Setuid and setgid bits are dropped; directories keep
 *   rwx for their owner (so the caller can always remove the tree). Device nodes and sockets are
 *   skipped and counted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "img_int.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
/* What an entry costs the budget beyond its data: its tar header (so a million empty files
 * count too). */
#define ENTRY_COST 512

/* --- the set of paths a layer made ---------------------------------------------------------- */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t pathset_find(const struct img_pathset *s, const char *p)
{
	size_t i = hash_str(p) & (s->cap - 1);
	while (s->slot[i] && strcmp(s->slot[i], p))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void pathset_add(struct img_pathset *s, const char *p)
{
	if (2 * (s->n + 1) > s->cap) {
		struct img_pathset bigger = {xcalloc(s->cap ? 2 * s->cap : 64, sizeof(char *)), s->cap ? 2 * s->cap : 64, 0};
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i])
				bigger.slot[pathset_find(&bigger, s->slot[i])] = s->slot[i];
		bigger.n = s->n;
		free(s->slot);
		*s = bigger;
	}
	size_t i = pathset_find(s, p);
	if (!s->slot[i]) {
		s->slot[i] = xstrdup(p);
		s->n++;
	}
}

static bool pathset_has(const struct img_pathset *s, const char *p)
{
	return s->cap && s->slot[pathset_find(s, p)];
}

static void pathset_clear(struct img_pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof *s);
}

/* --- paths ---------------------------------------------------------------------------------- */

char *img_clean_path(const char *path, bool dotdot)
{
	char *out = xmalloc(strlen(path) + 1);
	size_t n = 0;
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && !strncmp(p, "..", 2)) {
			if (!dotdot || n == 0) {
				free(out);
				return NULL;
			}
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else if (len && !(len == 1 && p[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = *end ? end + 1 : end;
	}
	out[n] = '\0';
	return out;
}

char *img_entry_path(const char *raw, const char *image, struct rp_err *err)
{
	if (raw[0] == '/') {
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: entry '%s' has an absolute path", image, raw);
		return NULL;
	}
	char *out = img_clean_path(raw, false);
	if (!out)
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: entry '%s' has a '..' component", image, raw);
	return out;
}

/* Does a symlink at path (relative to the root) with this target stay inside the root? */
static bool symlink_stays_inside(const char *path, const char *target)
{
	if (target[0] == '/')
		return true; /* the image's own root, where the container sees it */
	int depth = 0;
	for (const char *p = path; (p = strchr(p, '/')); p++)
		depth++;
	for (const char *p = target; *p;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && !strncmp(p, "..", 2)) {
			if (--depth < 0)
				return false;
		} else if (len && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p = *end ? end + 1 : end;
	}
	return true;
}

/* Open a directory of the tree (relative path, "" for the root) without following any symlink
 * and without leaving the tree. -1 with errno (ELOOP: a symlink on the way). */
static int open_beneath(int root_fd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	return (int)syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how);
}

/* Walk dir (relative) component by component from the root, creating what is missing (0700:
 * the layer's own entry for a directory, if any, sets its mode later). Each step opens one name
 * with O_NOFOLLOW, so a symlink on the way is never followed. -1 with errno. */
static int walk_create(int root_fd, const char *dir)
{
	int cur = open_beneath(root_fd, "");
	char *copy = xstrdup(dir);
	for (char *c = copy, *save = NULL; cur >= 0 && (c = strtok_r(c, "/", &save)); c = NULL) {
		int next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && (mkdirat(cur, c, 0700) == 0 || errno == EEXIST))
			next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(cur);
		errno = saved;
		cur = next;
	}
	free(copy);
	return cur;
}

/* Open the parent directory of path (creating missing directories); *base is its last
 * component. */
static int open_parent(struct img_tree *t, const char *path, char **base, const char *raw, struct rp_err *err)
{
	const char *slash = strrchr(path, '/');
	*base = xstrdup(slash ? slash + 1 : path);
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	int fd = open_beneath(t->root_fd, dir);
	if (fd < 0 && errno == ENOENT)
		fd = walk_create(t->root_fd, dir);
	int saved = errno;
	free(dir);
	if (fd >= 0)
		return fd;
	free(*base);
	*base = NULL;
	errno = saved;
	if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: entry '%s' is written through a symlink or a file",
				  t->image, raw);
	return rp_err_sys(err, "image %s: cannot create the directory of '%s'", t->image, raw);
}

static int remove_at(int dir_fd, const char *name);

/* Remove everything in the directory fd (not the directory), keeping the children whose path
 * (prefix + name) keep holds. */
static int empty_dir(int fd, const char *prefix, const struct img_pathset *keep)
{
	int dfd = dup(fd);
	if (dfd < 0)
		return -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	struct strvec names = {0};
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strvec_push(&names, de->d_name);
	closedir(d);
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *p = keep ? xasprintf("%s%s%s", prefix, *prefix ? "/" : "", names.v[i]) : NULL;
		if (!keep || !pathset_has(keep, p))
			rc = remove_at(fd, names.v[i]);
		free(p);
	}
	strvec_free(&names);
	return rc;
}

/* Remove what is at name in dir_fd, whatever it is, through file descriptors only (no path is
 * looked up twice, no symlink followed). -1 with errno. */
static int remove_at(int dir_fd, const char *name)
{
	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0700); /* a directory the image made read-only */
	int rc = empty_dir(fd, "", NULL);
	close(fd);
	if (rc == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* --- entries -------------------------------------------------------------------------------- */

static int write_data(struct img_tree *t, const struct rp_archive_api *a, struct archive *ar, int fd,
		      long long size, const char *raw, struct rp_err *err)
{
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int r = a->data_block(ar, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return rp_err_set(err, RP_ERR_RUNTIME, "image %s: cannot read entry '%s': %s", t->image, raw,
					  a->error_string(ar));
		if (img_budget_take(t->budget, (long long)n, raw, err) < 0)
			return -1;
		for (size_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return rp_err_sys(err, "image %s: cannot write '%s'", t->image, raw);
			done += (size_t)w;
		}
	}
	/* A sparse file's hole at the end. */
	if (ftruncate(fd, size) < 0)
		return rp_err_sys(err, "image %s: cannot write '%s'", t->image, raw);
	return 0;
}

static void entry_times(const struct rp_archive_api *a, struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = a->entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = a->entry_mtime_nsec(e);
}

/* The mode kept: permissions and the sticky bit, never setuid or setgid (a tree an
 * unprivileged caller made is no place for them, and root's import would otherwise leave
 * setuid-root programs in the home). */
static mode_t kept_mode(mode_t perm)
{
	return perm & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX);
}

static int make_file(struct img_tree *t, const struct rp_archive_api *a, struct archive *ar,
		     struct archive_entry *e, int pfd, const char *base, const char *raw, struct rp_err *err)
{
	int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rp_err_sys(err, "image %s: cannot create '%s'", t->image, raw);
	struct timespec ts[2];
	entry_times(a, e, ts);
	int rc = write_data(t, a, ar, fd, a->entry_size(e), raw, err);
	if (rc == 0 && (fchmod(fd, kept_mode(a->entry_perm(e))) < 0 || futimens(fd, ts) < 0))
		rc = rp_err_sys(err, "image %s: cannot set the mode of '%s'", t->image, raw);
	if (close(fd) < 0 && rc == 0)
		rc = rp_err_sys(err, "image %s: cannot write '%s'", t->image, raw);
	return rc;
}

static int make_hardlink(struct img_tree *t, const struct rp_archive_api *a, struct archive_entry *e, int pfd,
			 const char *base, const char *raw, struct rp_err *err)
{
	const char *rawt = a->entry_hardlink(e);
	struct rp_err terr = {0};
	char *target = img_entry_path(rawt, t->image, &terr);
	if (!target || !*target) {
		free(target);
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: hard link '%s' -> '%s' points out of the root",
				  t->image, raw, rawt);
	}
	char *tbase;
	int tfd = open_parent(t, target, &tbase, raw, err);
	free(target);
	if (tfd < 0)
		return -1;
	int rc = 0;
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		rc = rp_err_sys(err, "image %s: cannot make hard link '%s' -> '%s'", t->image, raw, rawt);
	close(tfd);
	free(tbase);
	return rc;
}

static int make_symlink(struct img_tree *t, const struct rp_archive_api *a, struct archive_entry *e, int pfd,
			const char *path, const char *base, const char *raw, struct rp_err *err)
{
	const char *target = a->entry_symlink(e);
	if (!target || !*target)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: symlink '%s' has no target", t->image, raw);
	if (!symlink_stays_inside(path, target))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: symlink '%s' -> '%s' points out of the root",
				  t->image, raw, target);
	if (symlinkat(target, pfd, base) < 0)
		return rp_err_sys(err, "image %s: cannot make symlink '%s'", t->image, raw);
	struct timespec ts[2];
	entry_times(a, e, ts);
	(void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW); /* cosmetic: not every fs keeps it */
	return 0;
}

static int make_dir(struct img_tree *t, const struct rp_archive_api *a, struct archive_entry *e, int pfd,
		    const char *path, const char *base, const char *raw, struct rp_err *err)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) && remove_at(pfd, base) < 0)
		return rp_err_sys(err, "image %s: cannot replace '%s'", t->image, raw);
	if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
		return rp_err_sys(err, "image %s: cannot create directory '%s'", t->image, raw);
	strvec_pushf(&t->dirs, "%o %ld %ld %s", (unsigned)(kept_mode(a->entry_perm(e)) | S_IRWXU),
		     (long)a->entry_mtime(e), (long)a->entry_mtime_nsec(e), path);
	return 0;
}

static void note_device(struct img_tree *t, const char *raw)
{
	if (!t->devices++)
		t->first_device = xstrdup(raw);
}

/* An entry other than a whiteout, at path (checked), its parent open as pfd. */
static int make_entry(struct img_tree *t, const struct rp_archive_api *a, struct archive *ar,
		      struct archive_entry *e, int pfd, const char *path, const char *base, const char *raw,
		      struct rp_err *err)
{
	unsigned type = a->entry_filetype(e);
	if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
		note_device(t, raw);
		return 0;
	}
	pathset_add(&t->layer_paths, path);
	if (type == AE_IFDIR)
		return make_dir(t, a, e, pfd, path, base, raw, err);
	/* Anything else replaces what was there (a directory included, as in Docker). */
	if (remove_at(pfd, base) < 0)
		return rp_err_sys(err, "image %s: cannot replace '%s'", t->image, raw);
	if (a->entry_hardlink(e))
		return make_hardlink(t, a, e, pfd, base, raw, err);
	switch (type) {
	case AE_IFREG: return make_file(t, a, ar, e, pfd, base, raw, err);
	case AE_IFLNK: return make_symlink(t, a, e, pfd, path, base, raw, err);
	case AE_IFIFO:
		if (mkfifoat(pfd, base, kept_mode(a->entry_perm(e))) < 0)
			return rp_err_sys(err, "image %s: cannot make fifo '%s'", t->image, raw);
		return 0;
	default:
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: entry '%s' has an unknown type", t->image, raw);
	}
}

/* A whiteout (base starts with ".wh."): remove from the lower layers. */
static int whiteout(struct img_tree *t, int pfd, const char *path, const char *base, const char *raw,
		    struct rp_err *err)
{
	if (!strcmp(base, WH_OPAQUE)) {
		size_t dn = strlen(path) - strlen(base);
		char *dir = xstrndup(path, dn ? dn - 1 : 0);
		int rc = empty_dir(pfd, dir, &t->layer_paths);
		free(dir);
		return rc < 0 ? rp_err_sys(err, "image %s: cannot apply opaque whiteout '%s'", t->image, raw) : 0;
	}
	const char *name = base + strlen(WH_PREFIX);
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: bad whiteout '%s'", t->image, raw);
	if (remove_at(pfd, name) < 0)
		return rp_err_sys(err, "image %s: cannot apply whiteout '%s'", t->image, raw);
	return 0;
}

/* Does the directory a whiteout is in exist? (A whiteout creates no directory.) */
static bool whiteout_parent_exists(struct img_tree *t, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return true;
	char *dir = xstrndup(path, (size_t)(slash - path));
	int fd = open_beneath(t->root_fd, dir);
	free(dir);
	if (fd < 0)
		return errno != ENOENT; /* other errors: let open_parent report them */
	close(fd);
	return true;
}

static int apply_entry(struct img_tree *t, const struct rp_archive_api *a, struct archive *ar,
		       struct archive_entry *e, struct rp_err *err)
{
	const char *raw = a->entry_pathname(e);
	if (!raw)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: an entry without a name", t->image);
	if (img_budget_take(t->budget, ENTRY_COST, raw, err) < 0)
		return -1;
	char *path = img_entry_path(raw, t->image, err);
	if (!path)
		return -1;
	int rc = 0;
	const char *last = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	bool is_whiteout = !strncmp(last, WH_PREFIX, strlen(WH_PREFIX));
	if (is_whiteout && !whiteout_parent_exists(t, path)) {
		/* Nothing below to remove. */
	} else if (*path) { /* "./" itself: the root keeps its own mode */
		char *base;
		int pfd = open_parent(t, path, &base, raw, err);
		if (pfd < 0) {
			rc = -1;
		} else {
			rc = is_whiteout ? whiteout(t, pfd, path, base, raw, err)
				: make_entry(t, a, ar, e, pfd, path, base, raw, err);
			close(pfd);
			free(base);
		}
	}
	free(path);
	return rc;
}

int img_layer_apply(struct img_tree *t, const char *blob, struct rp_err *err)
{
	const struct rp_archive_api *a = rp_archive(err);
	if (!a)
		return -1;
	int fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "image %s: cannot open layer %s", t->image, blob);
	char *what = xasprintf("image %s: layer %s", t->image, strrchr(blob, '/') ? strrchr(blob, '/') + 1 : blob);
	struct archive *ar = img_archive_open(a, fd, what, err);
	int rc = ar ? 0 : -1;
	pathset_clear(&t->layer_paths);
	while (rc == 0) {
		struct archive_entry *e;
		int r = a->next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = rp_err_set(err, RP_ERR_RUNTIME, "%s: %s", what, a->error_string(ar));
			break;
		}
		rc = apply_entry(t, a, ar, e, err);
	}
	if (ar)
		a->read_free(ar);
	close(fd);
	free(what);
	return rc;
}

int img_tree_finish(struct img_tree *t, struct rp_err *err)
{
	for (size_t i = 0; i < t->dirs.n; i++) {
		unsigned mode;
		long sec, nsec;
		int off = 0;
		if (sscanf(t->dirs.v[i], "%o %ld %ld %n", &mode, &sec, &nsec, &off) != 3 || !off)
			continue;
		int fd = open_beneath(t->root_fd, t->dirs.v[i] + off);
		if (fd < 0)
			continue; /* removed or replaced by a later layer */
		struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
		int rc = fchmod(fd, (mode_t)mode) < 0 || futimens(fd, ts) < 0 ? -1 : 0;
		close(fd);
		if (rc < 0)
			return rp_err_sys(err, "image %s: cannot set the mode of '%s'", t->image, t->dirs.v[i] + off);
	}
	return 0;
}

void img_tree_free(struct img_tree *t)
{
	free(t->first_device);
	t->first_device = NULL;
	strvec_free(&t->dirs);
	pathset_clear(&t->layer_paths);
}
