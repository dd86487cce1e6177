/* bundle.c: the files of what is imported (a `docker save` tar, an OCI layout directory or its
 * tar), each copied into the import's temporary directory while its sha256 is computed, so what
 * is verified is exactly what is kept. A tar is read once, front to back; a directory's files
 * are copied when asked for. Member names are checked like layer entries (no "..", not
 * absolute); symlinks and hard links between members (old docker saves link shared layers)
 * are followed inside the bundle only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bundle.h"

static struct bundle_member *add_member(struct bundle *b, const char *name)
{
	/* Each member on its own: callers keep pointers to them while more are added. */
	b->m = xrealloc(b->m, (b->n + 1) * sizeof *b->m);
	struct bundle_member *m = b->m[b->n++] = xcalloc(1, sizeof *m);
	m->name = xstrdup(name);
	return m;
}

static char *next_stage_file(struct bundle *b)
{
	return xasprintf("%s/in/%zu", b->stage, b->seq++);
}

/* A symlink's target as a member name: relative to the link's directory, kept inside. */
static char *link_member(const char *name, const char *target)
{
	if (target[0] == '/')
		return NULL;
	const char *slash = strrchr(name, '/');
	char *joined = slash ? xasprintf("%.*s/%s", (int)(slash - name), name, target) : xstrdup(target);
	/* Lexically resolve ".." against the members' root; climbing out is refused. */
	char *out = img_clean_path(joined, true);
	free(joined);
	return out;
}

static int read_member_data(struct bundle *b, const struct rp_archive_api *a, struct archive *ar,
			    struct bundle_member *m, struct rp_err *err)
{
	m->file = next_stage_file(b);
	struct img_hashw w;
	if (img_hashw_open(&w, m->file, err) < 0)
		return -1;
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int r = a->data_block(ar, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			img_hashw_abort(&w);
			return rp_err_set(err, RP_ERR_RUNTIME, "image %s: cannot read '%s': %s", b->image, m->name,
					  a->error_string(ar));
		}
		if (off != w.size) { /* a sparse member: no image file is one */
			img_hashw_abort(&w);
			return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: '%s' is a sparse file", b->image, m->name);
		}
		if (img_hashw_write(&w, buf, n, b->budget, m->name, err) < 0) {
			img_hashw_abort(&w);
			return -1;
		}
	}
	m->size = w.size;
	return img_hashw_close(&w, m->hex, err);
}

static int read_tar_entry(struct bundle *b, const struct rp_archive_api *a, struct archive *ar,
			  struct archive_entry *e, struct rp_err *err)
{
	const char *raw = a->entry_pathname(e);
	if (!raw)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: an entry without a name", b->image);
	char *name = img_entry_path(raw, b->image, err);
	if (!name)
		return -1;
	int rc = 0;
	unsigned type = a->entry_filetype(e);
	if (*name && a->entry_hardlink(e)) {
		struct bundle_member *m = add_member(b, name);
		m->link = img_entry_path(a->entry_hardlink(e), b->image, err);
		rc = m->link ? 0 : -1;
	} else if (*name && type == AE_IFLNK) {
		struct bundle_member *m = add_member(b, name);
		m->link = link_member(name, a->entry_symlink(e) ? a->entry_symlink(e) : "");
		if (!m->link)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: symlink '%s' -> '%s' points out of the archive",
					b->image, raw, a->entry_symlink(e) ? a->entry_symlink(e) : "");
	} else if (*name && type == AE_IFREG) {
		rc = read_member_data(b, a, ar, add_member(b, name), err);
	}
	free(name);
	return rc;
}

static int read_tar(struct bundle *b, const char *path, struct rp_err *err)
{
	const struct rp_archive_api *a = rp_archive(err);
	if (!a)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", path);
	char *what = xasprintf("image %s", path);
	struct archive *ar = img_archive_open(a, fd, what, err);
	int rc = ar ? 0 : -1;
	while (rc == 0) {
		struct archive_entry *e;
		int r = a->next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "%s: %s", what, a->error_string(ar));
		else
			rc = read_tar_entry(b, a, ar, e, err);
	}
	if (ar)
		a->read_free(ar);
	close(fd);
	free(what);
	return rc;
}

int bundle_open(struct bundle *b, const char *path, const char *stage, const char *image, struct img_budget *budget,
		struct rp_err *err)
{
	memset(b, 0, sizeof *b);
	b->dir_fd = -1;
	b->stage = xstrdup(stage);
	b->image = image;
	b->budget = budget;
	char *in = xasprintf("%s/in", stage);
	int rc = mkdir(in, 0700) < 0 ? rp_err_sys(err, "cannot create %s", in) : 0;
	free(in);
	if (rc < 0)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return rp_err_set(err, RP_ERR_USAGE, "cannot read %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		b->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return b->dir_fd < 0 ? rp_err_sys(err, "cannot open %s", path) : 0;
	}
	return read_tar(b, path, err);
}

void bundle_close(struct bundle *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->m[i]->name);
		free(b->m[i]->file);
		free(b->m[i]->link);
		free(b->m[i]);
	}
	free(b->m);
	free(b->stage);
	if (b->dir_fd >= 0)
		close(b->dir_fd);
	memset(b, 0, sizeof *b);
	b->dir_fd = -1;
}

static struct bundle_member *find_member(struct bundle *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->m[i]->name, name))
			return b->m[i];
	return NULL;
}

/* A file of a directory bundle, opened beneath it (its own symlinks followed inside only). */
static struct bundle_member *dir_member(struct bundle *b, const char *name, struct rp_err *err)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, b->dir_fd, name, &how, sizeof how);
	if (fd < 0) {
		if (errno == ENOENT)
			return NULL;
		rp_err_sys(err, "image %s: cannot open %s", b->image, name);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: %s is not a regular file", b->image, name);
		return NULL;
	}
	struct bundle_member *m = add_member(b, name);
	m->file = next_stage_file(b);
	int rc = img_copy_hashed(fd, m->file, b->budget, name, m->hex, &m->size, err);
	close(fd);
	if (rc < 0) {
		free(m->name);
		free(m->file);
		free(m);
		b->n--;
		return NULL;
	}
	return m;
}

struct bundle_member *bundle_get(struct bundle *b, const char *raw, struct rp_err *err)
{
	char *name = img_entry_path(raw, b->image, err);
	if (!name)
		return NULL;
	struct bundle_member *m = find_member(b, name);
	for (int hops = 0; m && m->link && hops < 16; hops++)
		m = find_member(b, m->link);
	if (!m && b->dir_fd >= 0)
		m = dir_member(b, name, err);
	if (m && m->link)
		m = NULL;
	free(name);
	return m;
}

int bundle_read_json(struct bundle *b, const char *name, cJSON **out, struct rp_err *err)
{
	struct rp_err e = {0};
	struct bundle_member *m = bundle_get(b, name, &e);
	*out = NULL;
	if (!m) {
		if (e.msg[0]) {
			*err = e;
			return -1;
		}
		return 0;
	}
	char *text;
	if (read_file(m->file, &text, NULL, err) < 0)
		return -1;
	*out = cJSON_Parse(text);
	free(text);
	if (!*out)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: %s is not valid JSON", b->image, name);
	return 1;
}
