/* sync.h: one run as the team server stores it, and its content hash. */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "annotations.h"
#include "fingerprint.h"
#include "metrics.h"
#include "record.h"
#include "util.h"

#define CHUNK (1 << 20)
#define MAX_DEPTH 256

/* ---- the canonical form ---- */

struct member {
	const char *name;
	cJSON *item;
};

static int cmp_members(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

/* A copy of j with every object's members sorted by name. */
static cJSON *sorted_copy(const cJSON *j)
{
	if (cJSON_IsArray(j)) {
		cJSON *out = cJSON_CreateArray();
		for (const cJSON *c = j->child; c; c = c->next)
			cJSON_AddItemToArray(out, sorted_copy(c));
		return out;
	}
	if (!cJSON_IsObject(j))
		return cJSON_Duplicate(j, true);
	size_t n = 0;
	for (const cJSON *c = j->child; c; c = c->next)
		n++;
	struct member *m = xcalloc(n ? n : 1, sizeof *m);
	size_t i = 0;
	for (const cJSON *c = j->child; c; c = c->next, i++)
		m[i] = (struct member){c->string ? c->string : "", sorted_copy(c)};
	qsort(m, n, sizeof *m, cmp_members);
	cJSON *out = cJSON_CreateObject();
	for (i = 0; i < n; i++)
		cJSON_AddItemToObject(out, m[i].name, m[i].item);
	free(m);
	return out;
}

int sync_content_hash(const cJSON *payload, char out[65])
{
	static const char *const parts[] = {"record", "metrics", "manifest"};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	EVP_DigestUpdate(md, "runpilot-sync-1\n", 16);
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		const cJSON *part = cJSON_GetObjectItemCaseSensitive(payload, parts[i]);
		if (!part) {
			rc = -1;
			break;
		}
		cJSON *canon = sorted_copy(part);
		char *text = cJSON_PrintUnformatted(canon);
		cJSON_Delete(canon);
		if (!text) {
			rc = -1;
			break;
		}
		EVP_DigestUpdate(md, text, strlen(text));
		EVP_DigestUpdate(md, "\n", 1);
		free(text);
	}
	unsigned char d[32];
	unsigned int dn = 0;
	if (rc == 0 && EVP_DigestFinal_ex(md, d, &dn) == 1)
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", d[i]);
	else
		rc = -1;
	EVP_MD_CTX_free(md);
	return rc;
}

bool sync_path_ok(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > 4096 || path[0] == '/')
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	const char *c = path;
	for (;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			return true;
		c = end + 1;
	}
}

/* ---- the manifest ---- */

struct hasher {
	EVP_MD_CTX *md;
	unsigned char *buf;
	const char *run_dir;     /* for errors */
	cJSON *manifest;
};

/* Hash the regular file name in dirfd (rel in the run) into the manifest; a file that is not
 * regular (a symbolic link, a fifo) is left out. */
static int hash_file(struct hasher *h, int dirfd, const char *name, const char *rel, struct rp_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return 0;
		return rp_err_sys(err, "%s: cannot open %s", h->run_dir, rel);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
	unsigned long long size = 0;
	for (;;) {
		ssize_t got = read(fd, h->buf, CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return rp_err_sys(err, "%s: cannot read %s", h->run_dir, rel);
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(h->md, h->buf, (size_t)got);
		size += (unsigned long long)got;
	}
	close(fd);
	unsigned char d[32];
	unsigned int dn = 0;
	EVP_DigestFinal_ex(h->md, d, &dn);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "path", rel);
	cJSON_AddNumberToObject(e, "size", (double)size);
	cJSON_AddStringToObject(e, "sha256", hex);
	cJSON_AddItemToArray(h->manifest, e);
	return 0;
}

static int walk_outputs(struct hasher *h, int fd, const char *rel, int depth, struct rp_err *err)
{
	if (depth > MAX_DEPTH)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: %s is more than %d levels deep", h->run_dir, rel, MAX_DEPTH);
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return rp_err_sys(err, "%s: cannot list %s", h->run_dir, rel);
	}
	struct strvec names = {0};
	struct dirent *de;
	int rc = 0;
	for (errno = 0; (de = readdir(d)); errno = 0)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strvec_push(&names, de->d_name);
	if (errno)
		rc = rp_err_sys(err, "%s: cannot list %s", h->run_dir, rel);
	closedir(d);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *child = xasprintf("%s/%s", rel, names.v[i]);
		struct stat st;
		if (fstatat(fd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : rp_err_sys(err, "%s: cannot inspect %s", h->run_dir, child);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(fd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = rp_err_sys(err, "%s: cannot open %s", h->run_dir, child);
			else {
				rc = walk_outputs(h, sub, child, depth + 1, err);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode)) {
			rc = hash_file(h, fd, names.v[i], child, err);
		}
		free(child);
	}
	strvec_free(&names);
	return rc;
}

static int cmp_paths(const void *a, const void *b)
{
	const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
	return strcmp(cJSON_GetObjectItemCaseSensitive(x, "path")->valuestring,
		      cJSON_GetObjectItemCaseSensitive(y, "path")->valuestring);
}

/* The manifest array sorted by path. */
static cJSON *sorted_manifest(cJSON *m)
{
	int n = cJSON_GetArraySize(m);
	if (n < 2)
		return m;
	cJSON **v = xcalloc((size_t)n, sizeof *v);
	for (int i = 0; i < n; i++)
		v[i] = cJSON_DetachItemFromArray(m, 0);
	qsort(v, (size_t)n, sizeof *v, cmp_paths);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(m, v[i]);
	free(v);
	return m;
}

static int build_manifest(const char *run_dir, cJSON **out, struct rp_err *err)
{
	static const char *const top[] = {"logs.txt", RP_METRICS_JSONL, RP_METRICS_JSON, "config.yaml", "params.json",
					  FP_FILES_NAME};
	int root = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return rp_err_sys(err, "cannot open %s", run_dir);
	struct hasher h = {.md = EVP_MD_CTX_new(), .buf = xmalloc(CHUNK), .run_dir = run_dir,
			   .manifest = cJSON_CreateArray()};
	int rc = h.md ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "out of memory");
	for (size_t i = 0; i < sizeof top / sizeof *top && rc == 0; i++)
		rc = hash_file(&h, root, top[i], top[i], err);
	if (rc == 0) {
		int out_fd = openat(root, "outputs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (out_fd >= 0) {
			rc = walk_outputs(&h, out_fd, "outputs", 1, err);
			close(out_fd);
		} else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
			rc = rp_err_sys(err, "%s: cannot open outputs", run_dir);
		}
	}
	close(root);
	EVP_MD_CTX_free(h.md);
	free(h.buf);
	if (rc < 0) {
		cJSON_Delete(h.manifest);
		return -1;
	}
	*out = sorted_manifest(h.manifest);
	return 0;
}

/* ---- the record and the series ---- */

static cJSON *series_json(const struct mx_set *set)
{
	cJSON *m = cJSON_CreateObject();
	for (size_t i = 0; i < set->n; i++) {
		const struct mx_series *s = &set->v[i];
		cJSON *steps = cJSON_CreateArray(), *values = cJSON_CreateArray();
		for (size_t k = 0; k < s->n; k++) {
			cJSON_AddItemToArray(steps, cJSON_CreateNumber((double)s->pts[k].step));
			double v = s->pts[k].value;
			cJSON_AddItemToArray(values, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
		}
		cJSON *one = cJSON_CreateObject();
		cJSON_AddItemToObject(one, "steps", steps);
		cJSON_AddItemToObject(one, "values", values);
		cJSON_AddItemToObject(m, s->name, one);
	}
	return m;
}

/* run.json as JSON, with annotations.json applied; *changes the annotations' revision. */
static int annotated_record(const char *run_dir, cJSON **out, long long *changes, struct rp_err *err)
{
	char *path = path_join(run_dir, "run.json");
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len, err);
	cJSON *j = rc == 0 ? cJSON_ParseWithLength(text, len) : NULL;
	free(text);
	if (rc == 0 && !cJSON_IsObject(j))
		rc = rp_err_set(err, RP_ERR_RUNTIME, "%s is not a JSON object", path);
	free(path);
	struct rp_annotations a;
	if (rc == 0 && (rc = annotations_read(run_dir, &a, err)) == 0) {
		annotations_apply_json(&a, j);
		*changes = a.revision;
		annotations_free(&a);
	}
	if (rc < 0) {
		cJSON_Delete(j);
		return -1;
	}
	*out = j;
	return 0;
}

int sync_payload_build(const char *run_dir, cJSON **out, struct rp_err *err)
{
	struct rp_run r;
	if (record_read(run_dir, &r, err) < 0)
		return -1;
	const char *slash = strrchr(run_dir, '/');
	const char *id = r.id ? r.id : slash ? slash + 1 : run_dir;
	int rc = 0;
	if (status_live(r.status))
		rc = rp_err_set(err, RP_ERR_USAGE, "%s is %s: a run is pushed once it has ended", id,
				status_name(r.status));
	else if (!r.uid || !*r.uid)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "%s: run.json has no uid, so it cannot be pushed", id);
	cJSON *record = NULL, *manifest = NULL;
	long long changes = 0;
	struct mx_set set = {0};
	if (rc == 0)
		rc = annotated_record(run_dir, &record, &changes, err);
	if (rc == 0)
		rc = mx_read_series(run_dir, &set, err);
	if (rc == 0)
		rc = build_manifest(run_dir, &manifest, err);
	if (rc == 0) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "uid", r.uid);
		cJSON_AddNumberToObject(p, "revision", (double)(1 + changes));
		cJSON_AddStringToObject(p, "content_hash", "");
		cJSON_AddItemToObject(p, "record", record);
		cJSON_AddItemToObject(p, "metrics", series_json(&set));
		cJSON_AddItemToObject(p, "manifest", manifest);
		record = manifest = NULL;
		char hash[65];
		if (sync_content_hash(p, hash) < 0) {
			cJSON_Delete(p);
			rc = rp_err_set(err, RP_ERR_RUNTIME, "%s: cannot hash its content", id);
		} else {
			cJSON_ReplaceItemInObjectCaseSensitive(p, "content_hash", cJSON_CreateString(hash));
			*out = p;
		}
	}
	cJSON_Delete(record);
	cJSON_Delete(manifest);
	mx_set_free(&set);
	record_free(&r);
	return rc;
}
