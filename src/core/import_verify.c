/* import_verify.c: an export archive read once, each entry checked as it comes and streamed into
 * the staging directory (hashed as it is written), then the whole checked against MANIFEST.json.
 * Nothing of the archive is trusted: names, kinds, sizes, link targets, the manifest's fields.
 * Files are created relative to directory fds, O_NOFOLLOW | O_EXCL, and every directory on the
 * way is opened O_NOFOLLOW; symlinks are made only at the end, once every file is written, and
 * their targets may not leave the run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "import_int.h"
#include "util.h"

#define MAX_ENTRIES 1000000
#define MAX_PATH_LEN 4000
#define MAX_MANIFEST (128u << 20)
#define MAX_RUN_JSON (16u << 20)
#define MANIFEST "MANIFEST.json"

/* ---- messages ---- */

/* An archive's name as an error shows it: one line, control bytes as '?', long ones cut. */
static const char *shown(const char *p, char buf[200])
{
	size_t n = 0;
	for (; p && *p && n < 196; p++)
		buf[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	if (p && *p)
		buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
	buf[n] = '\0';
	return buf;
}

/* A refusal naming the entry: "<path>: <why>" (RP_ERR_USAGE: the archive is bad). */
static int refuse(struct rp_err *err, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct rp_err *err, const char *path, const char *fmt, ...)
{
	char why[600], buf[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return rp_err_set(err, RP_ERR_USAGE, "%s: %s", shown(path, buf), why);
}

static int bad_archive(const struct rp_archive_api *api, struct archive *a, struct rp_err *err)
{
	const char *why = api->error_string(a);
	return rp_err_set(err, RP_ERR_USAGE, "not a valid archive: %s", why ? why : "unreadable");
}

/* ---- the entry table ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct imp_entry *lookup(const struct imp_staged *s, const char *path)
{
	if (!s->nslots)
		return NULL;
	for (size_t i = hash_str(path) & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
		if (!s->slots[i])
			return NULL;
		if (!strcmp(s->e[s->slots[i] - 1].path, path))
			return &s->e[s->slots[i] - 1];
	}
}

static void slot_put(struct imp_staged *s, size_t idx)
{
	size_t i = hash_str(s->e[idx].path) & (s->nslots - 1);
	while (s->slots[i])
		i = (i + 1) & (s->nslots - 1);
	s->slots[i] = idx + 1;
}

/* A new entry (its path owned by the table); the caller checked it is not there yet. */
static struct imp_entry *add_entry(struct imp_staged *s, char *path, enum imp_kind kind)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = xrealloc(s->e, s->cap * sizeof *s->e);
	}
	if ((s->n + 1) * 2 > s->nslots) {
		free(s->slots);
		s->nslots = s->nslots ? s->nslots * 2 : 128;
		s->slots = xcalloc(s->nslots, sizeof *s->slots);
		for (size_t i = 0; i < s->n; i++)
			slot_put(s, i);
	}
	struct imp_entry *e = &s->e[s->n];
	memset(e, 0, sizeof *e);
	e->path = path;
	e->kind = kind;
	slot_put(s, s->n++);
	return e;
}

void imp_staged_free(struct imp_staged *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].path);
		free(s->e[i].target);
	}
	free(s->e);
	free(s->slots);
	free(s->runs);
	cJSON_Delete(s->manifest);
	memset(s, 0, sizeof *s);
}

/* ---- names ---- */

bool imp_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
					   (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	}
	return s[36] == '\0';
}

/* The entry's name checked and normalised into a new string (no trailing '/'), or NULL with
 * *why: only runs/<uuid>[/name...] with no empty, "." or ".." part. */
static char *check_name(const char *p, bool is_dir, const char **why)
{
	size_t len = strlen(p);
	if (!len)
		return *why = "an entry without a name", NULL;
	if (p[0] == '/')
		return *why = "absolute path (an export holds only runs/<uid>/...)", NULL;
	if (len > MAX_PATH_LEN)
		return *why = "name too long", NULL;
	char *norm = xstrdup(p);
	if (is_dir && len > 1 && norm[len - 1] == '/')
		norm[--len] = '\0';
	int parts = 0;
	bool runs = false;
	for (const char *c = norm;; parts++) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			*why = "a '..' component";
		else if (n == 1 && c[0] == '.')
			*why = "a '.' component";
		else if (!n)
			*why = "an empty path component";
		else if (n > NAME_MAX)
			*why = "a name over 255 bytes";
		else
			*why = NULL;
		if (*why) {
			free(norm);
			return NULL;
		}
		if (parts == 0)
			runs = n == 4 && !memcmp(c, "runs", 4);
		if (parts == 1 && (n != 36 || !runs)) {
			runs = false;
		} else if (parts == 1) {
			char uid[37];
			memcpy(uid, c, 36);
			uid[36] = '\0';
			runs = imp_is_uuid(uid);
		}
		if (!*end)
			break;
		c = end + 1;
	}
	if (!runs || parts < 1) {
		free(norm);
		return *why = "not under runs/<uid>/ (an export holds only runs/<uid>/... and MANIFEST.json)", NULL;
	}
	return norm;
}

const char *import_link_problem(const char *rel, const char *t)
{
	if (!*t)
		return "a symlink without a target";
	if (t[0] == '/')
		return "a symlink with an absolute target";
	if (strlen(t) > MAX_PATH_LEN)
		return "a symlink target too long";
	int depth = 0; /* the link's own directory's, below the run's */
	for (const char *c = rel; (c = strchr(c, '/')); c++)
		depth++;
	bool named = false;
	for (const char *c = t;;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (named || --depth < 0)
				return "a symlink whose target leaves the run";
		} else if (n && !(n == 1 && c[0] == '.')) {
			named = true;
		}
		if (!*end)
			break;
		c = end + 1;
	}
	return NULL;
}

/* The same for an archive entry runs/<uid>/REL. */
static const char *check_target(const char *link_path, const char *t)
{
	const char *rel = strchr(link_path, '/');
	rel = rel ? strchr(rel + 1, '/') : NULL;
	return import_link_problem(rel ? rel + 1 : "", t);
}

/* ---- staging ---- */

/* The directory that will hold path's last part, opened from the staging root one part at a
 * time, made when missing; never through a symlink. *leaf points into path. */
static int open_parent(int root_fd, const char *path, const char **leaf, struct rp_err *err)
{
	int cur = dup(root_fd);
	if (cur < 0)
		return rp_err_sys(err, "cannot open the staging directory");
	const char *c = path;
	char part[NAME_MAX + 1];
	for (const char *end; *(end = strchrnul(c, '/')); c = end + 1) {
		size_t n = (size_t)(end - c);
		memcpy(part, c, n);
		part[n] = '\0';
		if (mkdirat(cur, part, 0755) < 0 && errno != EEXIST) {
			rp_err_sys(err, "cannot create %s in the staging directory", part);
			close(cur);
			return -1;
		}
		int next = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(cur);
		if (next < 0) {
			if (e == ENOTDIR || e == ELOOP)
				return refuse(err, path, "its parent is not a directory in the archive");
			errno = e;
			return rp_err_sys(err, "cannot open %s in the staging directory", part);
		}
		cur = next;
	}
	*leaf = c;
	return cur;
}

struct reader {
	const struct rp_archive_api *api;
	struct archive *a;
	int root;                 /* the staging directory */
	uint64_t max_size, archive_size;
	const struct import_opts *o;
	struct imp_staged *s;
	char *manifest;           /* MANIFEST.json's bytes once read */
	size_t manifest_len;
};

/* at_end: the whole archive is read (libarchive's count may stop short of its last block). */
static void report_progress(struct reader *r, bool at_end)
{
	if (r->o && r->o->progress) {
		int64_t done = r->api->filter_bytes(r->a, -1);
		uint64_t n = at_end && r->archive_size ? r->archive_size : done > 0 ? (uint64_t)done : 0;
		r->o->progress(r->o->progress_ctx, n, r->archive_size);
	}
}

static int over_limit(struct reader *r, const char *path, uint64_t more, struct rp_err *err)
{
	if (more > r->max_size || r->s->total > r->max_size - more)
		return refuse(err, path, "the archive's files add up to more than the limit of %llu bytes (--max-size)",
			      (unsigned long long)r->max_size);
	return 0;
}

static int write_hashed(int fd, EVP_MD_CTX *md, const void *buf, size_t n)
{
	return EVP_DigestUpdate(md, buf, n) == 1 ? write_all(fd, buf, n) : (errno = EIO, -1);
}

/* Zeros for a sparse file's holes. */
static int write_zeros(int fd, EVP_MD_CTX *md, uint64_t n)
{
	static const char zeros[65536];
	while (n) {
		size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
		if (write_hashed(fd, md, zeros, k) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* A regular file's data into fd, hashed as it goes; the size it had in the end in *size. */
static int copy_data(struct reader *r, const char *path, int fd, uint64_t declared, EVP_MD_CTX *md,
		     uint64_t *size, struct rp_err *err)
{
	uint64_t pos = 0;
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int rc = r->api->data_block(r->a, &buf, &n, &off);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc < ARCHIVE_WARN)
			return bad_archive(r->api, r->a, err);
		if (off < 0 || (uint64_t)off < pos)
			return refuse(err, path, "data out of order");
		uint64_t end = (uint64_t)off + n;
		if (end < (uint64_t)off || end > declared)
			return refuse(err, path, "more data than its header says");
		if (over_limit(r, path, end - pos, err) < 0)
			return -1;
		if (write_zeros(fd, md, (uint64_t)off - pos) < 0 || write_hashed(fd, md, buf, n) < 0)
			return rp_err_sys(err, "cannot write the staged %s", path);
		r->s->total += end - pos;
		pos = end;
		report_progress(r, false);
	}
	if (pos < declared) { /* a sparse file's last hole */
		if (over_limit(r, path, declared - pos, err) < 0)
			return -1;
		if (write_zeros(fd, md, declared - pos) < 0)
			return rp_err_sys(err, "cannot write the staged %s", path);
		r->s->total += declared - pos;
		pos = declared;
	}
	*size = pos;
	return 0;
}

static int stage_file(struct reader *r, struct archive_entry *ae, char *path, struct rp_err *err)
{
	const struct rp_archive_api *api = r->api;
	la_int64_t declared = api->entry_size_is_set(ae) ? api->entry_size(ae) : -1;
	const char *leaf, *name = path; /* stays valid: the table takes path */
	int dir = -1;
	if (declared < 0)
		refuse(err, path, "a file without a size");
	else if (over_limit(r, path, (uint64_t)declared, err) == 0)
		dir = open_parent(r->root, path, &leaf, err);
	if (dir < 0) {
		free(path);
		return -1;
	}
	mode_t mode = api->entry_perm(ae) & 0100 ? 0755 : 0644;
	int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int e = errno;
	close(dir);
	if (fd < 0) {
		errno = e;
		if (e == EEXIST)
			refuse(err, path, "a duplicate entry (a directory of that name is in the archive)");
		else
			rp_err_sys(err, "cannot create the staged %s", path);
		free(path);
		return -1;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t size = 0;
	int rc = -1;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rp_err_set(err, RP_ERR_RUNTIME, "cannot start a SHA-256");
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		rp_err_sys(err, "cannot set the mode of the staged %s", path);
		goto out;
	}
	if (copy_data(r, path, fd, (uint64_t)declared, md, &size, err) < 0)
		goto out;
	struct imp_entry *en = add_entry(r->s, path, IMP_FILE);
	path = NULL;
	en->size = size;
	unsigned int len = 0;
	EVP_DigestFinal_ex(md, en->sha, &len);
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {api->entry_mtime(ae), api->entry_mtime_nsec(ae)}};
	if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
		ts[1].tv_nsec = 0;
	(void)futimens(fd, ts); /* a time the file system refuses costs nothing but the time */
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	if (close(fd) < 0 && rc == 0)
		rc = rp_err_sys(err, "cannot write the staged %s", name);
	free(path);
	return rc;
}

static int stage_dir(struct reader *r, char *path, struct rp_err *err)
{
	const char *leaf;
	int dir = open_parent(r->root, path, &leaf, err);
	if (dir < 0) {
		free(path);
		return -1;
	}
	struct stat sb;
	int rc = 0;
	if (mkdirat(dir, leaf, 0755) < 0 &&
	    (errno != EEXIST || fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode)))
		rc = errno == EEXIST ? refuse(err, path, "a duplicate entry (a file of that name is in the archive)")
				     : rp_err_sys(err, "cannot create the staged %s", path);
	close(dir);
	if (rc == 0)
		add_entry(r->s, path, IMP_DIR);
	else
		free(path);
	return rc;
}

/* Symlinks are only noted here, and made once every file is written. */
static int stage_link(struct reader *r, struct archive_entry *ae, char *path, struct rp_err *err)
{
	const char *t = r->api->entry_symlink(ae);
	const char *why = t ? check_target(path, t) : "a symlink without a target";
	if (why) {
		refuse(err, path, "%s", why);
		free(path);
		return -1;
	}
	struct imp_entry *e = add_entry(r->s, path, IMP_LINK);
	e->target = xstrdup(t);
	e->mtime = r->api->entry_mtime(ae);
	e->mtime_ns = r->api->entry_mtime_nsec(ae);
	return 0;
}

static int read_manifest(struct reader *r, struct archive_entry *ae, struct rp_err *err)
{
	const struct rp_archive_api *api = r->api;
	if (api->entry_hardlink(ae) || api->entry_filetype(ae) != AE_IFREG)
		return refuse(err, MANIFEST, "not a regular file");
	la_int64_t declared = api->entry_size(ae);
	if (declared < 0 || declared > (la_int64_t)MAX_MANIFEST)
		return refuse(err, MANIFEST, "larger than %u bytes", MAX_MANIFEST);
	size_t cap = (size_t)declared + 1, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		la_ssize_t n = api->read_data(r->a, buf + len, cap - 1 - len);
		if (n < 0) {
			free(buf);
			return bad_archive(api, r->a, err);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap - 1) {
			char extra;
			if (api->read_data(r->a, &extra, 1) != 0) {
				free(buf);
				return refuse(err, MANIFEST, "more data than its header says");
			}
			break;
		}
	}
	buf[len] = '\0';
	r->manifest = buf;
	r->manifest_len = len;
	return 0;
}

static const char *kind_refused(mode_t type)
{
	switch (type) {
	case AE_IFCHR:
	case AE_IFBLK: return "a device file";
	case AE_IFIFO: return "a FIFO";
	case AE_IFSOCK: return "a socket";
	default: return "an entry of an unknown kind";
	}
}

/* One entry (not the manifest): its name, its kind, then staged. */
static int stage_entry(struct reader *r, struct archive_entry *ae, const char *raw, struct rp_err *err)
{
	const struct rp_archive_api *api = r->api;
	mode_t type = api->entry_filetype(ae);
	const char *why;
	char *path = check_name(raw, type == AE_IFDIR, &why);
	if (!path)
		return refuse(err, raw, "%s", why);
	int depth = 0;
	for (const char *c = path; (c = strchr(c, '/')); c++)
		depth++;
	why = api->entry_hardlink(ae) ? "a hard link (refused in an import)"
	      : lookup(r->s, path)    ? "a duplicate entry"
	      : r->s->n >= MAX_ENTRIES ? "more entries than an import takes (1000000)"
	      : type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK ? kind_refused(type)
	      : depth == 1 && type != AE_IFDIR ? "a run's own entry must be a directory"
					     : NULL;
	if (why) {
		refuse(err, path, "%s", why);
		free(path);
		return -1;
	}
	return type == AE_IFREG ? stage_file(r, ae, path, err)
	       : type == AE_IFDIR ? stage_dir(r, path, err)
				  : stage_link(r, ae, path, err);
}

static int read_entries(struct reader *r, struct rp_err *err)
{
	const struct rp_archive_api *api = r->api;
	for (;;) {
		struct archive_entry *ae;
		int rc = api->next_header(r->a, &ae);
		if (rc == ARCHIVE_EOF) {
			report_progress(r, true);
			return 0;
		}
		if (rc < ARCHIVE_WARN)
			return bad_archive(api, r->a, err);
		const char *raw = api->entry_pathname(ae);
		if (!raw)
			return rp_err_set(err, RP_ERR_USAGE, "not a valid archive: an entry without a readable name");
		if (r->manifest)
			return refuse(err, raw, "an entry after MANIFEST.json (the manifest comes last)");
		if (!strcmp(raw, MANIFEST) ? read_manifest(r, ae, err) < 0 : stage_entry(r, ae, raw, err) < 0)
			return -1;
		report_progress(r, false);
	}
}

/* ---- the manifest ---- */

static int bad_manifest(struct rp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_manifest(struct rp_err *err, const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return rp_err_set(err, RP_ERR_USAGE, MANIFEST ": %s", why);
}

/* A member of the type asked (cJSON_String, cJSON_Number, ...), or NULL with err. */
static const cJSON *member(const cJSON *o, const char *key, int type, const char *what, struct rp_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v || (v->type & 0xff) != type) {
		bad_manifest(err, "\"%s\" is missing or not %s", key, what);
		return NULL;
	}
	return v;
}

/* A count of bytes: a whole number a JSON double holds exactly. */
static bool byte_count(const cJSON *v, uint64_t *out)
{
	double d = v->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

static int cmp_run_uid(const void *a, const void *b)
{
	return strcmp(((const struct imp_run *)a)->uid, ((const struct imp_run *)b)->uid);
}

static int parse_runs(struct imp_staged *s, const cJSON *runs, struct rp_err *err)
{
	size_t n = (size_t)cJSON_GetArraySize(runs);
	s->runs = xcalloc(n ? n : 1, sizeof *s->runs);
	const cJSON *it;
	cJSON_ArrayForEach(it, runs) {
		const cJSON *uid, *id, *status;
		if (!cJSON_IsObject(it))
			return bad_manifest(err, "a run that is not an object");
		if (!(uid = member(it, "uid", cJSON_String, "a string", err)) ||
		    !(id = member(it, "id", cJSON_String, "a string", err)) ||
		    !(status = member(it, "status", cJSON_String, "a string", err)))
			return -1;
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		if (!cJSON_IsString(name) && !cJSON_IsNull(name))
			return bad_manifest(err, "run %s: \"name\" is missing or not a string", uid->valuestring);
		char buf[200];
		if (!imp_is_uuid(uid->valuestring))
			return bad_manifest(err, "run uid '%s' is not a UUID", shown(uid->valuestring, buf));
		if (strlen(id->valuestring) >= 16 || store_id_number(id->valuestring) < 0)
			return bad_manifest(err, "run %s: id '%s' is not a run id", uid->valuestring,
					    shown(id->valuestring, buf));
		s->runs[s->nruns++] = (struct imp_run){uid->valuestring, id->valuestring,
						       cJSON_IsString(name) ? name->valuestring : NULL};
	}
	if (!s->nruns)
		return bad_manifest(err, "no runs");
	struct imp_run *sorted = xmalloc(s->nruns * sizeof *sorted);
	memcpy(sorted, s->runs, s->nruns * sizeof *sorted);
	qsort(sorted, s->nruns, sizeof *sorted, cmp_run_uid);
	int rc = 0;
	for (size_t i = 1; i < s->nruns && rc == 0; i++)
		if (!strcmp(sorted[i - 1].uid, sorted[i].uid))
			rc = bad_manifest(err, "run %s is listed twice", sorted[i].uid);
	free(sorted);
	return rc;
}

static bool is_sha256_hex(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* One of the manifest's files against the entry staged under its name. */
static int check_file(struct imp_staged *s, const cJSON *f, uint64_t *sum, struct rp_err *err)
{
	const cJSON *path, *size, *sha, *link = cJSON_GetObjectItemCaseSensitive(f, "symlink");
	if (!cJSON_IsObject(f))
		return bad_manifest(err, "a file that is not an object");
	if (!(path = member(f, "path", cJSON_String, "a string", err)))
		return -1;
	const char *p = path->valuestring;
	char buf[200];
	struct imp_entry *e = lookup(s, p);
	if (!e || e->kind == IMP_DIR)
		return refuse(err, p, "listed in the manifest but missing from the archive");
	if (e->listed)
		return bad_manifest(err, "%s is listed twice", shown(p, buf));
	e->listed = true;
	if (link) {
		if (!cJSON_IsString(link))
			return bad_manifest(err, "%s: \"symlink\" is not a string", shown(p, buf));
		if (e->kind != IMP_LINK)
			return refuse(err, p, "a symlink in the manifest but not in the archive");
		if (strcmp(e->target, link->valuestring))
			return refuse(err, p, "symlink target differs from the manifest");
		return 0;
	}
	uint64_t want;
	if (!(size = member(f, "size", cJSON_Number, "a number", err)) ||
	    !(sha = member(f, "sha256", cJSON_String, "a string", err)))
		return -1;
	if (!byte_count(size, &want))
		return bad_manifest(err, "%s: \"size\" is not a byte count", shown(p, buf));
	if (!is_sha256_hex(sha->valuestring))
		return bad_manifest(err, "%s: \"sha256\" is not 64 lowercase hex digits", shown(p, buf));
	if (e->kind != IMP_FILE)
		return refuse(err, p, "a file in the manifest but a symlink in the archive");
	if (e->size != want)
		return refuse(err, p, "%llu bytes in the archive, %s than the manifest's size (%llu)",
			      (unsigned long long)e->size, e->size > want ? "larger" : "smaller",
			      (unsigned long long)want);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", e->sha[i]);
	if (strcmp(hex, sha->valuestring))
		return refuse(err, p, "SHA-256 differs from the manifest");
	*sum += want;
	return 0;
}

static int parse_manifest(struct imp_staged *s, const char *text, size_t len, struct rp_err *err)
{
	cJSON *j = s->manifest = cJSON_ParseWithLength(text, len);
	const cJSON *v, *runs, *files, *total;
	if (!cJSON_IsObject(j))
		return bad_manifest(err, "not valid JSON");
	if (!(v = member(j, "format", cJSON_String, "a string", err)))
		return -1;
	if (strcmp(v->valuestring, "runpilot-export"))
		return bad_manifest(err, "not a runpilot export (format is not \"runpilot-export\")");
	if (!(v = member(j, "format_version", cJSON_Number, "a number", err)))
		return -1;
	if (v->valuedouble != 1)
		return bad_manifest(err, "format_version %g is not one this runpilot reads (1)", v->valuedouble);
	if (!member(j, "runpilot_version", cJSON_String, "a string", err) ||
	    !(v = member(j, "created", cJSON_String, "a string", err)))
		return -1;
	s->created = v->valuestring;
	if (!(v = member(j, "host", cJSON_String, "a string", err)))
		return -1;
	s->host = v->valuestring;
	const cJSON *no = cJSON_GetObjectItemCaseSensitive(j, "no_outputs");
	if (!cJSON_IsBool(no))
		return bad_manifest(err, "\"no_outputs\" is missing or not true/false");
	if (!(runs = member(j, "runs", cJSON_Array, "an array", err)) ||
	    !(files = member(j, "files", cJSON_Array, "an array", err)) ||
	    !(total = member(j, "total_bytes", cJSON_Number, "a number", err)))
		return -1;
	if (parse_runs(s, runs, err) < 0)
		return -1;
	uint64_t sum = 0, want;
	const cJSON *f;
	cJSON_ArrayForEach(f, files)
		if (check_file(s, f, &sum, err) < 0)
			return -1;
	if (!byte_count(total, &want) || want != sum)
		return bad_manifest(err, "\"total_bytes\" is not the sum of the files' sizes");
	return 0;
}

/* Every entry belongs to a listed run, and every file is in the manifest. */
static int check_entries(const struct imp_staged *s, struct rp_err *err)
{
	struct imp_run *sorted = xmalloc(s->nruns * sizeof *sorted);
	memcpy(sorted, s->runs, s->nruns * sizeof *sorted);
	qsort(sorted, s->nruns, sizeof *sorted, cmp_run_uid);
	int rc = 0;
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct imp_entry *e = &s->e[i];
		char uid[37];
		memcpy(uid, e->path + 5, 36);
		uid[36] = '\0';
		struct imp_run key = {.uid = uid};
		if (!bsearch(&key, sorted, s->nruns, sizeof *sorted, cmp_run_uid))
			rc = refuse(err, e->path, "run %s is not listed in the manifest", uid);
		else if (e->kind != IMP_DIR && !e->listed)
			rc = refuse(err, e->path, "not in the manifest");
	}
	free(sorted);
	return rc;
}

int imp_read_staged(int stage_fd, const char *path, size_t max, char **out, size_t *len, struct rp_err *err)
{
	const char *leaf;
	int dir = open_parent(stage_fd, path, &leaf, err);
	if (dir < 0)
		return -1;
	int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dir);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rp_err_sys(err, "cannot read the staged %s", path);
		close_fd(&fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
		close(fd);
		return refuse(err, path, "not a regular file of at most %zu bytes", max);
	}
	int rc = read_fd_all(fd, out, len);
	if (rc < 0)
		rp_err_sys(err, "cannot read the staged %s", path);
	close(fd);
	return rc;
}

/* Each run has a run.json whose uid is its directory's. */
static int check_records(const struct imp_staged *s, int stage_fd, struct rp_err *err)
{
	for (size_t i = 0; i < s->nruns; i++) {
		char *p = xasprintf("runs/%s/run.json", s->runs[i].uid);
		const struct imp_entry *e = lookup(s, p);
		char *text = NULL;
		cJSON *j = NULL;
		int rc = 0;
		if (!e || e->kind != IMP_FILE)
			rc = refuse(err, p, "missing: a run without run.json");
		else if (imp_read_staged(stage_fd, p, MAX_RUN_JSON, &text, NULL, err) < 0)
			rc = -1;
		else if (!cJSON_IsObject(j = cJSON_Parse(text)))
			rc = refuse(err, p, "not valid JSON");
		else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "uid")) ||
			 strcmp(cJSON_GetObjectItemCaseSensitive(j, "uid")->valuestring, s->runs[i].uid))
			rc = refuse(err, p, "its uid differs from its directory's (%s)", s->runs[i].uid);
		cJSON_Delete(j);
		free(text);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The symlinks, now that every file and directory is there; one on the way of another is
 * refused by open_parent (it never follows one). */
static int make_links(const struct imp_staged *s, int stage_fd, struct rp_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct imp_entry *e = &s->e[i];
		if (e->kind != IMP_LINK)
			continue;
		const char *leaf;
		int dir = open_parent(stage_fd, e->path, &leaf, err);
		if (dir < 0)
			return -1;
		int rc = symlinkat(e->target, dir, leaf);
		int errno_was = errno;
		if (rc == 0) {
			struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {e->mtime, e->mtime_ns}};
			if (ts[1].tv_nsec >= 0 && ts[1].tv_nsec <= 999999999)
				(void)utimensat(dir, leaf, ts, AT_SYMLINK_NOFOLLOW);
		}
		close(dir);
		if (rc < 0) {
			if (errno_was == EEXIST)
				return refuse(err, e->path, "a duplicate entry (a file or directory of that name is in the archive)");
			errno = errno_was;
			return rp_err_sys(err, "cannot create the staged symlink %s", e->path);
		}
	}
	return 0;
}

int imp_stage(const struct rp_archive_api *api, struct archive *a, int stage_fd, uint64_t max_size,
	      const struct import_opts *o, uint64_t archive_size, struct imp_staged *s, struct rp_err *err)
{
	memset(s, 0, sizeof *s);
	struct reader r = {api, a, stage_fd, max_size ? max_size : IMPORT_DEFAULT_MAX_SIZE, archive_size, o, s, NULL, 0};
	int rc = read_entries(&r, err);
	if (rc == 0 && !r.manifest)
		rc = rp_err_set(err, RP_ERR_USAGE,
				"no " MANIFEST " in the archive: not a runpilot export, or one cut short");
	if (rc == 0)
		rc = parse_manifest(s, r.manifest, r.manifest_len, err);
	if (rc == 0)
		rc = check_entries(s, err);
	if (rc == 0)
		rc = make_links(s, stage_fd, err);
	if (rc == 0)
		rc = check_records(s, stage_fd, err);
	free(r.manifest);
	return rc;
}

int import_verify_memory(const void *buf, size_t len, int stage_fd, uint64_t max_size, struct rp_err *err)
{
	const struct rp_archive_api *api = rp_archive(err);
	if (!api)
		return -1;
	struct archive *a = api->read_new();
	if (!a)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot start reading an archive");
	struct imp_staged s;
	int rc;
	if (api->support_filter_all(a) != ARCHIVE_OK || api->support_format_tar(a) != ARCHIVE_OK ||
	    api->open_memory(a, buf, len) != ARCHIVE_OK) {
		memset(&s, 0, sizeof s);
		rc = bad_archive(api, a, err);
	} else {
		rc = imp_stage(api, a, stage_fd, max_size, NULL, len, &s, err);
	}
	imp_staged_free(&s);
	api->read_free(a);
	return rc;
}
