/* export.h: runs into one tar, each file hashed in the pass that writes it, MANIFEST.json last. */
#include "export.h"
#include "import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <linux/openat2.h>
#include <openssl/evp.h>

#include "archive_api.h"
#include "claim.h"
#include "log.h"
#include "runs.h"
#include "util.h"

#define CHUNK (1 << 20)
/* Deeper trees than this are refused (a run directory is never that deep). */
#define MAX_DEPTH 256

/* One entry of a run directory, found by the stat walk before anything is written. */
struct xentry {
	char *rel;               /* inside the run directory; "" is the directory itself */
	mode_t mode;             /* type and permission bits, from lstat */
	uint64_t size;
	struct timespec mtime;
	char *link;              /* a symbolic link's target */
};

struct xrun {
	char id[RP_ID_MAX];
	char *uid, *name, *dir;
	enum rp_status status;
	struct xentry *e;
	size_t n, cap;
	uint64_t bytes;          /* the regular files' sizes, from the walk */
	int root_fd;             /* the run directory, open during the walk */
};

struct xport {
	const struct export_request *req;
	const char *out;         /* the archive, for errors */
	const struct rp_archive_api *api;
	struct archive *a;
	struct archive_entry *ent;
	EVP_MD_CTX *md;
	unsigned char *buf;
	cJSON *files;
	uint64_t done, total;
	int out_fd;
	int out_errno;           /* writing to out_fd failed */
	bool discard;            /* the export failed: what libarchive still writes is dropped */
	uint64_t out_bytes;      /* written to out_fd */
};

int export_compress_parse(const char *s, enum export_compress *c, struct rp_err *err)
{
	if (!strcmp(s, "none"))
		*c = EXPORT_NONE;
	else if (!strcmp(s, "gzip"))
		*c = EXPORT_GZIP;
	else if (!strcmp(s, "zstd"))
		*c = EXPORT_ZSTD;
	else
		return rp_err_set(err, RP_ERR_USAGE, "--compress '%s': use gzip, zstd or none", s);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

bool export_compress_for_name(const char *path, enum export_compress *c)
{
	if (ends_with(path, ".tar"))
		*c = EXPORT_NONE;
	else if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz"))
		*c = EXPORT_GZIP;
	else if (ends_with(path, ".tar.zst"))
		*c = EXPORT_ZSTD;
	else
		return false;
	return true;
}

/* ---- choosing the runs ---- */

static void xrun_free(struct xrun *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].rel);
		free(r->e[i].link);
	}
	free(r->e);
	free(r->uid);
	free(r->name);
	free(r->dir);
}

/* The uid names the run's folder in the archive: only a well-formed UUID may. */
static bool uid_ok(const char *u)
{
	if (!u || strlen(u) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !strchr("0123456789abcdefABCDEF", u[i]))
			return false;
	}
	return true;
}

/* Whether the run's supervisor still holds its claim (finishing up after the final record). */
static bool claim_held(const char *dir)
{
	char *lock = path_join(dir, "run.lock");
	int fd = -1;
	enum claim_state s = claim_try(lock, false, &fd);
	free(lock);
	close_fd(&fd);
	return s == CLAIM_HELD;
}

/* Resolve ref into runs[*n] unless that run is already there; a busy run's id goes to busy. */
static int add_run(const char *ref, struct xrun *runs, size_t *n, struct strvec *busy, struct rp_err *err)
{
	struct rp_store st;
	struct rp_run rec;
	char *dir;
	if (runs_load(ref, &st, &rec, &dir, err) < 0)
		return -1;
	store_close(&st);
	const char *slash = strrchr(dir, '/'), *id = slash ? slash + 1 : dir;  /* the directory's id */
	int rc = 0;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(runs[i].id, id))
			goto out;
	if (!uid_ok(rec.uid)) {
		rc = rp_err_set(err, RP_ERR_RUNTIME, "%s: run.json has no valid uid, so it cannot be exported", id);
		goto out;
	}
	for (size_t i = 0; i < *n; i++)
		if (!strcasecmp(runs[i].uid, rec.uid)) {
			rc = rp_err_set(err, RP_ERR_USAGE, "%s and %s have the same uid (%s; one is a copy of the other): "
							   "export them separately", runs[i].id, id, rec.uid);
			goto out;
		}
	if (status_live(rec.status) || claim_held(dir))
		strvec_push(busy, id);
	struct xrun *r = &runs[(*n)++];
	snprintf(r->id, sizeof r->id, "%s", id);
	r->uid = xstrdup(rec.uid);
	r->name = xstrdup(rec.name ? rec.name : "");
	r->status = rec.status;
	r->dir = dir;
	dir = NULL;
out:
	free(dir);
	record_free(&rec);
	return rc;
}

static int resolve_runs(const struct export_request *req, struct xrun *runs, size_t *n, struct rp_err *err)
{
	struct strvec busy = {0};
	int rc = 0;
	for (size_t i = 0; i < req->nrefs && rc == 0; i++)
		rc = add_run(req->refs[i], runs, n, &busy, err);
	if (rc == 0 && busy.n) {
		char *list = strvec_join(&busy, ", ");
		rc = rp_err_set(err, RP_ERR_USAGE, "%s %s running: a run is exported once it has ended (wait for it, "
						   "or stop it with Ctrl-C where it runs)", list, busy.n == 1 ? "is" : "are");
		free(list);
	}
	strvec_free(&busy);
	return rc;
}

/* ---- the stat walk ---- */

static struct xentry *push_entry(struct xrun *r)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->e = xrealloc(r->e, r->cap * sizeof *r->e);
	}
	struct xentry *e = &r->e[r->n++];
	*e = (struct xentry){0};
	return e;
}

/* Files of the supervisor's that never travel: its claim and its atomic writes' temp files. */
static bool supervisor_file(const char *name)
{
	return !strcmp(name, "run.lock") || fnmatch("*.tmp.*", name, 0) == 0;
}

/* Whether a symbolic link at rel (inside the run) pointing to target stays inside the run: its
 * text as import judges it, then followed through the run's other links by the kernel (openat2
 * RESOLVE_BENEATH fails with EXDEV on any step out of the run): a link to a link to ".." leaves
 * the run too. A target that does not exist (yet) is judged by its text. */
static bool link_stays_inside(int root_fd, const char *rel, const char *target)
{
	if (import_link_problem(rel, target))
		return false;
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != EXDEV;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory open at fd, sorted (the archive's order is stable). */
static int sorted_names(int fd, const char *what, struct strvec *names, struct rp_err *err)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return rp_err_sys(err, "cannot list %s", what);
	}
	struct dirent *de;
	for (errno = 0; (de = readdir(d)); errno = 0)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strvec_push(names, de->d_name);
	int rc = errno ? rp_err_sys(err, "cannot list %s", what) : 0;
	closedir(d);
	if (names->n)
		qsort(names->v, names->n, sizeof *names->v, cmp_names);
	return rc;
}

/* What the walk leaves out besides the supervisor's files. */
struct walk_opts {
	bool no_outputs;
	bool skip_file;          /* the archive's own file, when it is written inside a run */
	dev_t skip_dev;
	ino_t skip_ino;
};

static int walk_dir(struct xrun *r, int fd, const char *rel, int depth, const struct walk_opts *w,
		    struct rp_err *err);

/* One entry named name in the directory open at dirfd, whose path in the run is rel. */
static int walk_entry(struct xrun *r, int dirfd, const char *name, const char *rel, int depth,
		      const struct walk_opts *w, struct rp_err *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return rp_err_sys(err, "%s: cannot inspect %s", r->id, rel);
	if (w->skip_file && st.st_dev == w->skip_dev && st.st_ino == w->skip_ino)
		return 0;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		struct xentry *e = push_entry(r);
		e->rel = xstrdup(rel);
		e->mode = st.st_mode;
		e->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
		e->mtime = st.st_mtim;
		r->bytes += e->size;
		if (!S_ISDIR(st.st_mode) || (w->no_outputs && !strcmp(rel, "outputs")))
			return 0;
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return rp_err_sys(err, "%s: cannot open %s", r->id, rel);
		int rc = walk_dir(r, fd, rel, depth + 1, w, err);
		close(fd);
		return rc;
	}
	if (!S_ISLNK(st.st_mode)) {
		rp_log(RP_LOG_WARNING, "%s: %s is not a file, directory or symbolic link: not exported", r->id, rel);
		return 0;
	}
	char target[4096];
	ssize_t len = readlinkat(dirfd, name, target, sizeof target - 1);
	if (len < 0)
		return rp_err_sys(err, "%s: cannot read the symbolic link %s", r->id, rel);
	target[len] = '\0';
	if (!link_stays_inside(r->root_fd, rel, target)) {
		rp_log(RP_LOG_WARNING, "%s: %s is a symbolic link to %s, outside the run: not exported", r->id, rel, target);
		return 0;
	}
	struct xentry *e = push_entry(r);
	e->rel = xstrdup(rel);
	e->mode = st.st_mode;
	e->mtime = st.st_mtim;
	e->link = xstrdup(target);
	return 0;
}

static int walk_dir(struct xrun *r, int fd, const char *rel, int depth, const struct walk_opts *w,
		    struct rp_err *err)
{
	if (depth > MAX_DEPTH)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: %s is more than %d levels deep", r->id, rel, MAX_DEPTH);
	struct strvec names = {0};
	int rc = sorted_names(fd, *rel ? rel : r->dir, &names, err);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		if (!*rel && supervisor_file(names.v[i]))
			continue;
		char *child = *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
		rc = walk_entry(r, fd, names.v[i], child, depth, w, err);
		free(child);
	}
	strvec_free(&names);
	return rc;
}

static int walk_run(struct xrun *r, const struct walk_opts *w, struct rp_err *err)
{
	int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", r->dir);
	r->root_fd = fd;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? rp_err_sys(err, "cannot inspect %s", r->dir) : 0;
	if (rc == 0) {
		struct xentry *e = push_entry(r);
		e->rel = xstrdup("");
		e->mode = st.st_mode;
		e->mtime = st.st_mtim;
		rc = walk_dir(r, fd, "", 0, w, err);
	}
	close(fd);
	r->root_fd = -1;
	return rc;
}

/* ---- writing ---- */

/* A libarchive call failed (or the output did): what we were doing, then why. */
static int archive_failed(struct xport *x, struct rp_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int archive_failed(struct xport *x, struct rp_err *err, const char *fmt, ...)
{
	if (x->out_errno)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot write %s: %s", x->out, strerror(x->out_errno));
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	const char *why = x->api->error_string(x->a);
	return rp_err_set(err, RP_ERR_RUNTIME, "%s: %s", what, why ? why : "libarchive failed");
}

/* libarchive's output. A failed write is remembered and reported as written: libarchive then
 * stays usable, so that closing it frees everything (once it has failed, this version leaks its
 * buffers). */
static la_ssize_t out_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	(void)a;
	struct xport *x = ctx;
	if (x->out_errno || x->discard)
		return (la_ssize_t)n;
	if (write_all(x->out_fd, buf, n) < 0)
		x->out_errno = errno;
	else
		x->out_bytes += n;
	return (la_ssize_t)n;
}

static int open_archive(struct xport *x, int fd, struct rp_err *err)
{
	const struct rp_archive_api *api = x->api;
	x->out_fd = fd;
	x->a = api->write_new();
	if (!x->a)
		return rp_err_set(err, RP_ERR_RUNTIME, "libarchive: out of memory");
	int r = api->write_set_format_pax_restricted(x->a);
	if (r == ARCHIVE_OK)
		r = x->req->compress == EXPORT_GZIP ? api->write_add_filter_gzip(x->a)
		    : x->req->compress == EXPORT_ZSTD ? api->write_add_filter_zstd(x->a)
						      : api->write_add_filter_none(x->a);
	/* zstd compresses in one worker thread while this one reads and hashes (as tar --zstd
	 * pipes into a zstd process); a libarchive without the option compresses inline. */
	if (r == ARCHIVE_OK && x->req->compress == EXPORT_ZSTD)
		api->write_set_filter_option(x->a, "zstd", "threads", "1");
	/* written 64 KiB at a time (tar's 10 KiB records cost more system calls); the last block
	 * not padded */
	if (r == ARCHIVE_OK)
		r = api->write_set_bytes_per_block(x->a, 64 << 10);
	if (r == ARCHIVE_OK)
		r = api->write_set_bytes_in_last_block(x->a, 1);
	if (r == ARCHIVE_OK)
		r = api->write_open(x->a, x, NULL, out_write, NULL);
	if (r != ARCHIVE_OK)
		return archive_failed(x, err, "cannot start %s", x->out);
	return 0;
}

static int write_header(struct xport *x, const char *path, mode_t type, mode_t perm, uint64_t size,
			const struct timespec *mtime, const char *link, struct rp_err *err)
{
	const struct rp_archive_api *api = x->api;
	api->entry_clear(x->ent);
	api->entry_set_pathname(x->ent, path);
	api->entry_set_filetype(x->ent, type);
	api->entry_set_perm(x->ent, perm);
	api->entry_set_size(x->ent, (la_int64_t)size);
	api->entry_set_mtime(x->ent, mtime->tv_sec, mtime->tv_nsec);
	if (link)
		api->entry_set_symlink(x->ent, link);
	int r = api->write_header(x->a, x->ent);
	if (r < ARCHIVE_WARN || x->out_errno)
		return archive_failed(x, err, "cannot add %s to %s", path, x->out);
	return 0;
}

static void add_file(struct xport *x, const char *path, uint64_t size, const char *sha, const char *link)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "path", path);
	if (link) {
		cJSON_AddStringToObject(f, "symlink", link);
	} else {
		cJSON_AddNumberToObject(f, "size", (double)size);
		cJSON_AddStringToObject(f, "sha256", sha);
	}
	cJSON_AddItemToArray(x->files, f);
}

static bool stopped(const struct xport *x)
{
	return x->req->stop && *x->req->stop;
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Stream one regular file into the archive, hashing what goes in. */
static int write_file(struct xport *x, struct xrun *r, const struct xentry *e, const char *apath, uint64_t *bytes,
		      struct rp_err *err)
{
	char *path = path_join(r->dir, e->rel);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	int rc = -1;
	if (fd < 0) {
		rp_err_sys(err, "cannot open %s", path);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s changed while it was being exported", path);
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	uint64_t size = (uint64_t)st.st_size, left = size;
	if (write_header(x, apath, AE_IFREG, (st.st_mode & 0111) ? 0755 : 0644, size, &e->mtime, NULL, err) < 0)
		goto out;
	if (!EVP_DigestInit_ex(x->md, EVP_sha256(), NULL)) {
		rp_err_set(err, RP_ERR_RUNTIME, "libcrypto: cannot start SHA-256");
		goto out;
	}
	while (left) {
		if (stopped(x)) {
			rp_err_set(err, RP_ERR_RUNTIME, "interrupted");
			goto out;
		}
		ssize_t n = read(fd, x->buf, left < CHUNK ? left : CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rp_err_sys(err, "cannot read %s", path);
			goto out;
		}
		if (n == 0) {
			rp_err_set(err, RP_ERR_RUNTIME, "%s shrank while it was being exported", path);
			goto out;
		}
		EVP_DigestUpdate(x->md, x->buf, (size_t)n);
		if (x->api->write_data(x->a, x->buf, (size_t)n) != n || x->out_errno) {
			archive_failed(x, err, "cannot write %s into %s", apath, x->out);
			goto out;
		}
		left -= (uint64_t)n;
		x->done += (uint64_t)n;
		if (x->req->progress)
			x->req->progress(x->req->progress_ctx, x->done < x->total ? x->done : x->total, x->total);
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char sha[2 * EVP_MAX_MD_SIZE + 1];
	EVP_DigestFinal_ex(x->md, md, &mdlen);
	hex(md, mdlen, sha);
	add_file(x, apath, size, sha, NULL);
	*bytes += size;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int write_entry(struct xport *x, struct xrun *r, const struct xentry *e, uint64_t *bytes, struct rp_err *err)
{
	char *apath = *e->rel ? xasprintf("runs/%s/%s", r->uid, e->rel) : xasprintf("runs/%s/", r->uid);
	int rc;
	if (S_ISREG(e->mode)) {
		rc = write_file(x, r, e, apath, bytes, err);
	} else if (S_ISLNK(e->mode)) {
		rc = write_header(x, apath, AE_IFLNK, 0777, 0, &e->mtime, e->link, err);
		if (rc == 0)
			add_file(x, apath, 0, NULL, e->link);
	} else {
		char *dir = *e->rel ? xasprintf("%s/", apath) : xstrdup(apath);
		rc = write_header(x, dir, AE_IFDIR, 0755, 0, &e->mtime, NULL, err);
		free(dir);
	}
	free(apath);
	return rc;
}

static cJSON *manifest(const struct xport *x, const struct xrun *runs, size_t n, uint64_t total)
{
	cJSON *m = cJSON_CreateObject();
	char created[32], host[256] = "";
	time_t now = time(NULL);
	struct tm tm;
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (gethostname(host, sizeof host - 1) < 0)
		host[0] = '\0';
	cJSON_AddStringToObject(m, "format", "runpilot-export");
	cJSON_AddNumberToObject(m, "format_version", EXPORT_FORMAT_VERSION);
	cJSON_AddStringToObject(m, "runpilot_version", RUNPILOT_VERSION);
	cJSON_AddStringToObject(m, "created", created);
	cJSON_AddStringToObject(m, "host", host);
	cJSON_AddBoolToObject(m, "no_outputs", x->req->no_outputs);
	cJSON *rs = cJSON_AddArrayToObject(m, "runs");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "uid", runs[i].uid);
		cJSON_AddStringToObject(o, "id", runs[i].id);
		cJSON_AddStringToObject(o, "name", runs[i].name);
		cJSON_AddStringToObject(o, "status", status_name(runs[i].status));
		cJSON_AddItemToArray(rs, o);
	}
	cJSON_AddItemReferenceToObject(m, "files", x->files);
	cJSON_AddNumberToObject(m, "total_bytes", (double)total);
	return m;
}

static int write_manifest(struct xport *x, const struct xrun *runs, size_t n, uint64_t total, struct rp_err *err)
{
	cJSON *m = manifest(x, runs, n, total);
	char *text = cJSON_Print(m);
	cJSON_Delete(m);
	if (!text)
		rp_log_out_of_memory();
	size_t len = strlen(text);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int rc = write_header(x, "MANIFEST.json", AE_IFREG, 0644, len, &now, NULL, err);
	if (rc == 0 && (x->api->write_data(x->a, text, len) != (la_ssize_t)len || x->out_errno))
		rc = archive_failed(x, err, "cannot write MANIFEST.json into %s", x->out);
	free(text);
	return rc;
}

/* Everything after the walk: the runs' entries, the manifest, the archive closed. */
static int write_entries(struct xport *x, struct xrun *runs, size_t n, int fd, struct export_result *res,
			 struct rp_err *err)
{
	if (open_archive(x, fd, err) < 0)
		return -1;
	if (x->req->progress)
		x->req->progress(x->req->progress_ctx, 0, x->total);
	res->runs = xcalloc(n, sizeof *res->runs);
	for (size_t i = 0; i < n; i++) {
		struct export_run *out = &res->runs[res->nruns++];
		snprintf(out->id, sizeof out->id, "%s", runs[i].id);
		out->uid = xstrdup(runs[i].uid);
		out->name = xstrdup(runs[i].name);
		for (size_t k = 0; k < runs[i].n; k++)
			if (write_entry(x, &runs[i], &runs[i].e[k], &out->bytes, err) < 0)
				return -1;
		res->total_bytes += out->bytes;
	}
	if (write_manifest(x, runs, n, res->total_bytes, err) < 0)
		return -1;
	if (x->api->write_close(x->a) != ARCHIVE_OK || x->out_errno)
		return archive_failed(x, err, "cannot write %s", x->out);
	res->archive_bytes = x->out_bytes;
	return 0;
}

/* The same, and the archive freed: after a failure, closed without writing its end (nothing
 * more reaches fd). */
static int write_archive(struct xport *x, struct xrun *runs, size_t n, int fd, struct export_result *res,
			 struct rp_err *err)
{
	int rc = write_entries(x, runs, n, fd, res, err);
	if (x->a) {
		if (rc < 0) {
			x->discard = true;
			x->api->write_close(x->a);
		}
		x->api->write_free(x->a);
		x->a = NULL;
	}
	return rc;
}

/* The archive's temporary file next to path, created exclusively. */
static int open_temp(const char *path, char **tmp, struct rp_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return rp_err_set(err, RP_ERR_USAGE, "%s is a directory: name the archive file (-o DIR/runs.tar.zst)", path);
	*tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		rp_err_sys(err, "cannot create %s", path);
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* fsync the finished temporary file, rename it into place, fsync its directory. */
static int commit_temp(int fd, const char *tmp, const char *path, struct rp_err *err)
{
	if (fsync(fd) < 0)
		return rp_err_sys(err, "cannot write %s", path);
	if (rename(tmp, path) < 0)
		return rp_err_sys(err, "cannot rename %s to %s", tmp, path);
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? xstrdup(".") : slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	int rc = fsync_path(dir) < 0 ? rp_err_sys(err, "cannot sync %s", dir) : 0;
	free(dir);
	return rc;
}

/* The walk, then the archive written to fd. */
static int walk_and_write(struct xport *x, struct xrun *runs, size_t n, int fd, struct export_result *res,
			  struct rp_err *err)
{
	struct walk_opts w = {.no_outputs = x->req->no_outputs};
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		w.skip_file = true;
		w.skip_dev = st.st_dev;
		w.skip_ino = st.st_ino;
	}
	for (size_t i = 0; i < n; i++) {
		if (walk_run(&runs[i], &w, err) < 0)
			return -1;
		x->total += runs[i].bytes;
	}
	return write_archive(x, runs, n, fd, res, err);
}

/* With a path: the temporary file first (a bad destination fails before any work), then the
 * archive, then the rename. */
static int export_to(struct xport *x, struct xrun *runs, size_t n, struct export_result *res, struct rp_err *err)
{
	const struct export_request *req = x->req;
	if (!req->path)
		return walk_and_write(x, runs, n, req->fd, res, err);
	char *tmp = NULL;
	int fd = open_temp(req->path, &tmp, err);
	if (fd < 0)
		return -1;
	int rc = walk_and_write(x, runs, n, fd, res, err);
	if (rc == 0)
		rc = commit_temp(fd, tmp, req->path, err);
	close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int export_runs(const struct export_request *req, struct export_result *res, struct rp_err *err)
{
	*res = (struct export_result){0};
	struct xport x = {.req = req, .out = req->path ? req->path : "the archive (stdout)"};
	struct xrun *runs = xcalloc(req->nrefs ? req->nrefs : 1, sizeof *runs);
	size_t n = 0;
	int rc = -1;
	if (!req->nrefs) {
		rp_err_set(err, RP_ERR_USAGE, "no run to export");
		goto out;
	}
	if (resolve_runs(req, runs, &n, err) < 0 || !(x.api = rp_archive(err)))
		goto out;
	x.ent = x.api->entry_new();
	x.md = EVP_MD_CTX_new();
	x.buf = xmalloc(CHUNK);
	x.files = cJSON_CreateArray();
	if (!x.ent || !x.md) {
		rp_err_set(err, RP_ERR_RUNTIME, "out of memory");
		goto out;
	}
	rc = export_to(&x, runs, n, res, err);
out:
	if (x.ent)
		x.api->entry_free(x.ent);
	EVP_MD_CTX_free(x.md);
	free(x.buf);
	cJSON_Delete(x.files);
	for (size_t i = 0; i < n; i++)
		xrun_free(&runs[i]);
	free(runs);
	if (rc < 0)
		export_result_free(res);
	return rc;
}

void export_result_free(struct export_result *res)
{
	for (size_t i = 0; i < res->nruns; i++) {
		free(res->runs[i].uid);
		free(res->runs[i].name);
	}
	free(res->runs);
	*res = (struct export_result){0};
}
