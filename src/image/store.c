/* store.c: the store's layout under <home>/images/, its lock, and the index (index.json: each
 * image's id, names, repo digests, manifest digest and layers), written atomically under an
 * flock so two runpilot processes importing or removing at once both land. Finding, listing and
 * removing images. Readers take no lock: the index is only ever replaced by rename. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img_int.h"
#include "log.h"

static char *images_path(const char *home, const char *rel)
{
	return xasprintf("%s/images%s%s", home, *rel ? "/" : "", rel);
}

int img_store_init(const char *home, struct rp_err *err)
{
	static const char *const dirs[] = {"blobs/sha256", "rootfs", "tmp"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char *p = images_path(home, dirs[i]);
		int rc = mkdir_p(p, 0755, err);
		free(p);
		if (rc < 0)
			return rp_err_wrap(err, "cannot create the image store");
	}
	return 0;
}

int img_lock(const char *home, struct rp_err *err)
{
	char *p = images_path(home, "lock");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rp_err_sys(err, "cannot open %s", p);
		free(p);
		return -1;
	}
	int rc;
	while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		rp_err_sys(err, "cannot lock %s", p);
		close(fd);
		fd = -1;
	}
	free(p);
	return fd;
}

void img_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

char *img_tmpdir(const char *home, const char *where, const char *prefix, int *lock_fd, struct rp_err *err)
{
	/* Held while the directory is in use: img_clean_stale takes only unheld ones. */
	char *dir = xasprintf("%s/images/%s", home, where);
	char *p = tmpdir_locked(dir, prefix, NULL, lock_fd, err);
	free(dir);
	return p;
}

/* A temporary directory of a process that died (its flock is free), old enough not to be one
 * that is being made now: removed. */
static void clean_one(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	struct stat st;
	int fd = -1;
	if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_mtime < time(NULL) - 60 &&
	    (fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		struct rp_err e = {0};
		char *tree = path_join(p, "tree");
		(void)chmod(tree, 0755);
		free(tree);
		if (rm_rf(p, &e) < 0)
			rp_log(RP_LOG_WARNING, "cannot remove the leftover %s: %s", p, e.msg);
	}
	if (fd >= 0)
		close(fd);
	free(p);
}

void img_clean_stale(const char *home)
{
	static const char *const where[] = {"tmp", "rootfs"};
	for (size_t i = 0; i < 2; i++) {
		char *dir = images_path(home, where[i]);
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' ? i == 0 : !strncmp(de->d_name, ".unpack-", 8))
				clean_one(dir, de->d_name);
		if (d)
			closedir(d);
		free(dir);
	}
}

void img_rec_free(struct img_rec *r)
{
	free(r->id);
	strvec_free(&r->names);
	strvec_free(&r->repo_digests);
	free(r->manifest);
	free(r->layers);
	free(r->created);
	free(r->imported);
	memset(r, 0, sizeof *r);
}

static void recs_free(struct img_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		img_rec_free(&v[i]);
	free(v);
}

/* --- the index as JSON ------------------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *jdup(const cJSON *o, const char *k)
{
	const char *s = jstr(o, k);
	return s ? xstrdup(s) : NULL;
}

static void jstrings(const cJSON *o, const char *k, struct strvec *out)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, k))
		if (cJSON_IsString(it))
			strvec_push(out, it->valuestring);
}

static int rec_from_json(const cJSON *o, struct img_rec *r)
{
	memset(r, 0, sizeof *r);
	const char *id = jstr(o, "id");
	if (!id || !img_is_digest(id))
		return -1;
	r->id = xstrdup(id);
	jstrings(o, "names", &r->names);
	jstrings(o, "repo_digests", &r->repo_digests);
	r->manifest = jdup(o, "manifest");
	r->created = jdup(o, "created");
	r->imported = jdup(o, "imported");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers"), *l;
	r->layers = xcalloc((size_t)cJSON_GetArraySize(layers) + 1, sizeof *r->layers);
	cJSON_ArrayForEach(l, layers) {
		const char *d = jstr(l, "digest");
		const cJSON *sz = cJSON_GetObjectItemCaseSensitive(l, "size");
		if (!d || !img_is_digest(d))
			return -1;
		memcpy(r->layers[r->nlayers].hex, d + 7, 65);
		r->layers[r->nlayers].size = cJSON_IsNumber(sz) ? (long long)sz->valuedouble : 0;
		r->size += r->layers[r->nlayers++].size;
	}
	return 0;
}

static cJSON *strings_json(const struct strvec *sv)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

static cJSON *rec_to_json(const struct img_rec *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddItemToObject(o, "names", strings_json(&r->names));
	cJSON_AddItemToObject(o, "repo_digests", strings_json(&r->repo_digests));
	if (r->manifest)
		cJSON_AddStringToObject(o, "manifest", r->manifest);
	cJSON *layers = cJSON_AddArrayToObject(o, "layers");
	for (size_t i = 0; i < r->nlayers; i++) {
		cJSON *l = cJSON_CreateObject();
		char *d = xasprintf("sha256:%s", r->layers[i].hex);
		cJSON_AddStringToObject(l, "digest", d);
		free(d);
		cJSON_AddNumberToObject(l, "size", (double)r->layers[i].size);
		cJSON_AddItemToArray(layers, l);
	}
	if (r->created)
		cJSON_AddStringToObject(o, "created", r->created);
	if (r->imported)
		cJSON_AddStringToObject(o, "imported", r->imported);
	return o;
}

static int index_load(const char *home, struct img_rec **out, size_t *n, struct rp_err *err)
{
	*out = NULL;
	*n = 0;
	char *p = images_path(home, "index.json");
	char *text = NULL;
	if (!path_exists(p)) {
		free(p);
		return 0;
	}
	if (read_file(p, &text, NULL, err) < 0) {
		free(p);
		return -1;
	}
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images"), *it;
	if (!cJSON_IsArray(images)) {
		cJSON_Delete(root);
		rp_err_set(err, RP_ERR_RUNTIME, "%s is damaged (no \"images\" array)", p);
		free(p);
		return -1;
	}
	*out = xcalloc((size_t)cJSON_GetArraySize(images) + 1, sizeof **out);
	int rc = 0;
	cJSON_ArrayForEach(it, images) {
		if (rec_from_json(it, &(*out)[*n]) < 0) {
			img_rec_free(&(*out)[*n]);
			rc = rp_err_set(err, RP_ERR_RUNTIME, "%s is damaged (an image without a valid id or layers)", p);
			break;
		}
		(*n)++;
	}
	cJSON_Delete(root);
	free(p);
	if (rc < 0) {
		recs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static int index_save(const char *home, const struct img_rec *v, size_t n, struct rp_err *err)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON *a = cJSON_AddArrayToObject(root, "images");
	for (size_t i = 0; i < n; i++)
		if (v[i].id)
			cJSON_AddItemToArray(a, rec_to_json(&v[i]));
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	char *p = images_path(home, "index.json");
	int rc = write_file_atomic(p, text, strlen(text), 0644, err);
	free(p);
	free(text);
	return rc;
}

/* --- adding ---------------------------------------------------------------------------------- */

static bool strvec_has(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return true;
	return false;
}

static void strvec_remove(struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s))
			continue;
		free(sv->v[i]);
		memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i) * sizeof *sv->v); /* the NULL too */
		sv->n--;
		return;
	}
}

static void rec_copy(struct img_rec *dst, const struct img_rec *src)
{
	memset(dst, 0, sizeof *dst);
	dst->id = xstrdup(src->id);
	for (size_t i = 0; i < src->names.n; i++)
		strvec_push(&dst->names, src->names.v[i]);
	for (size_t i = 0; i < src->repo_digests.n; i++)
		strvec_push(&dst->repo_digests, src->repo_digests.v[i]);
	dst->manifest = src->manifest ? xstrdup(src->manifest) : NULL;
	dst->layers = xcalloc(src->nlayers + 1, sizeof *dst->layers);
	memcpy(dst->layers, src->layers, src->nlayers * sizeof *dst->layers);
	dst->nlayers = src->nlayers;
	dst->size = src->size;
	dst->created = src->created ? xstrdup(src->created) : NULL;
	dst->imported = src->imported ? xstrdup(src->imported) : NULL;
}

static size_t find_id(const struct img_rec *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return i;
	return n;
}

/* Merge r's names and digests into v (which holds r's id at index at, or nothing: at == n). */
static bool merge_rec(struct img_rec **v, size_t *n, size_t at, const struct img_rec *r)
{
	bool changed = false;
	if (at == *n) {
		*v = xrealloc(*v, (*n + 2) * sizeof **v);
		rec_copy(&(*v)[(*n)++], r);
		changed = true;
	} else {
		for (size_t i = 0; i < r->names.n; i++)
			if (!strvec_has(&(*v)[at].names, r->names.v[i])) {
				strvec_push(&(*v)[at].names, r->names.v[i]);
				changed = true;
			}
		for (size_t i = 0; i < r->repo_digests.n; i++)
			if (!strvec_has(&(*v)[at].repo_digests, r->repo_digests.v[i])) {
				strvec_push(&(*v)[at].repo_digests, r->repo_digests.v[i]);
				changed = true;
			}
		if (!(*v)[at].manifest && r->manifest) {
			(*v)[at].manifest = xstrdup(r->manifest);
			changed = true;
		}
	}
	/* A name belongs to one image: the newest import takes it. */
	size_t self = find_id(*v, *n, r->id);
	for (size_t i = 0; i < *n; i++)
		for (size_t k = 0; i != self && k < r->names.n; k++)
			if (strvec_has(&(*v)[i].names, r->names.v[k])) {
				strvec_remove(&(*v)[i].names, r->names.v[k]);
				changed = true;
			}
	return changed;
}

int img_index_has(const char *home, const char *id, bool *has, struct rp_err *err)
{
	struct img_rec *v;
	size_t n;
	if (index_load(home, &v, &n, err) < 0)
		return -1;
	*has = find_id(v, n, id) < n;
	recs_free(v, n);
	return 0;
}

int img_index_add(const char *home, const struct img_rec *r, bool *added, struct rp_err *err)
{
	struct img_rec *v;
	size_t n;
	int rc = index_load(home, &v, &n, err);
	if (rc == 0) {
		size_t at = find_id(v, n, r->id);
		*added = merge_rec(&v, &n, at, r);
		if (*added)
			rc = index_save(home, v, n, err);
	}
	recs_free(v, n);
	return rc;
}

/* --- finding --------------------------------------------------------------------------------- */

static char **strvec_copy_items(const struct strvec *sv)
{
	struct strvec c = {0};
	for (size_t i = 0; i < sv->n; i++)
		strvec_push(&c, sv->v[i]);
	return strvec_items(&c);
}

static void free_items(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The image config's "config": Env, WorkingDir, User (the blob was verified on import). */
static void read_config(const char *home, const char *id, struct img_config *c)
{
	struct strvec env = {0};
	char *p = img_blob_path(home, id + 7), *text = NULL;
	if (read_file(p, &text, NULL, NULL) == 0) {
		cJSON *root = cJSON_Parse(text);
		const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
		jstrings(cfg, "Env", &env);
		const char *wd = jstr(cfg, "WorkingDir"), *user = jstr(cfg, "User");
		c->workdir = wd && *wd ? xstrdup(wd) : NULL;
		c->user = user && *user ? xstrdup(user) : NULL;
		cJSON_Delete(root);
	}
	free(text);
	free(p);
	c->env = strvec_items(&env);
}

static void info_from_rec(const char *home, const struct img_rec *r, struct img_info *out)
{
	memset(out, 0, sizeof *out);
	out->id = xstrdup(r->id);
	out->names = strvec_copy_items(&r->names);
	out->repo_digests = strvec_copy_items(&r->repo_digests);
	out->size = r->size;
	out->created = r->created ? xstrdup(r->created) : NULL;
	char *root = xasprintf("%s/images/rootfs/%s", home, r->id + 7);
	if (path_is_dir(root))
		out->rootfs = root;
	else
		free(root);
	read_config(home, r->id, &out->config);
}

void img_info_free(struct img_info *img)
{
	if (!img)
		return;
	free(img->id);
	free_items(img->names);
	free_items(img->repo_digests);
	free(img->created);
	free(img->rootfs);
	free_items(img->config.env);
	free(img->config.workdir);
	free(img->config.user);
	memset(img, 0, sizeof *img);
}

void img_list_free(struct img_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		img_info_free(&v[i]);
	free(v);
}

/* "repo@sha256:..." matches a repo digest, or the manifest of an image named in that repo. */
static bool matches_digest(const struct img_rec *r, const struct img_ref *ref)
{
	char *want = xasprintf("%s@%s", ref->repo, ref->digest);
	bool hit = strvec_has(&r->repo_digests, want);
	free(want);
	size_t rl = strlen(ref->repo);
	for (size_t i = 0; !hit && r->manifest && !strcmp(r->manifest, ref->digest) && i < r->names.n; i++)
		hit = !strncmp(r->names.v[i], ref->repo, rl) && r->names.v[i][rl] == ':';
	return hit;
}

/* The index of the image ref names in v, or n with err (usage) naming what to do. */
static size_t resolve(const struct img_rec *v, size_t n, const char *ref, struct rp_err *err)
{
	const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
	struct img_ref r;
	struct rp_err perr = {0};
	/* "sha256:<hex>" is an id, though it would parse as repository "sha256" with a tag. */
	bool parsed = strncmp(ref, "sha256:", 7) && img_ref_parse(ref, &r, &perr) == 0;
	char *name = parsed ? img_ref_name(&r) : NULL;
	size_t found = n, hits = 0;
	for (size_t i = 0; parsed && i < n && found == n; i++)
		if (r.digest ? matches_digest(&v[i], &r) : strvec_has(&v[i].names, name))
			found = i;
	if (found == n && img_is_hex(hex, 12, 64))
		for (size_t i = 0; i < n; i++)
			if (!strncmp(v[i].id + 7, hex, strlen(hex))) {
				found = i;
				hits++;
			}
	free(name);
	if (parsed)
		img_ref_free(&r);
	if (hits > 1) {
		rp_err_set(err, RP_ERR_USAGE, "image id prefix '%s' is ambiguous: give more digits", ref);
		return n;
	}
	if (found == n)
		rp_err_set(err, RP_ERR_USAGE, "no image '%s' in the store: get it with `runpilot image pull %s` or "
			   "`runpilot image import FILE`", ref, ref);
	return found;
}

int img_find(const char *home, const char *ref, struct img_info *out, struct rp_err *err)
{
	struct img_rec *v;
	size_t n;
	if (index_load(home, &v, &n, err) < 0)
		return -1;
	size_t at = resolve(v, n, ref, err);
	if (at < n)
		info_from_rec(home, &v[at], out);
	recs_free(v, n);
	return at < n ? 0 : -1;
}

/* The layers of an image by id, for unpacking: a copy of its record. */
int img_find_rec(const char *home, const char *id, struct img_rec *out, struct rp_err *err)
{
	struct img_rec *v;
	size_t n;
	if (index_load(home, &v, &n, err) < 0)
		return -1;
	size_t at = find_id(v, n, id);
	if (at < n)
		rec_copy(out, &v[at]);
	else
		rp_err_set(err, RP_ERR_USAGE, "no image %s in the store", id);
	recs_free(v, n);
	return at < n ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
	const struct img_info *x = a, *y = b;
	const char *nx = x->names[0], *ny = y->names[0];
	if (!nx || !ny)
		return nx ? -1 : ny ? 1 : strcmp(x->id, y->id);
	return strcmp(nx, ny);
}

int img_list(const char *home, struct img_info **out, size_t *n, struct rp_err *err)
{
	struct img_rec *v;
	if (index_load(home, &v, n, err) < 0)
		return -1;
	*out = xcalloc(*n + 1, sizeof **out);
	for (size_t i = 0; i < *n; i++)
		info_from_rec(home, &v[i], &(*out)[i]);
	qsort(*out, *n, sizeof **out, by_name);
	recs_free(v, *n);
	return 0;
}

/* --- removing -------------------------------------------------------------------------------- */

static bool blob_in_use(const struct img_rec *v, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].id)
			continue;
		if (!strcmp(v[i].id + 7, hex) || (v[i].manifest && !strcmp(v[i].manifest + 7, hex)))
			return true;
		for (size_t k = 0; k < v[i].nlayers; k++)
			if (!strcmp(v[i].layers[k].hex, hex))
				return true;
	}
	return false;
}

static void remove_blob(const char *home, const struct img_rec *v, size_t n, const char *hex)
{
	if (blob_in_use(v, n, hex))
		return;
	char *p = img_blob_path(home, hex);
	if (unlink(p) < 0 && errno != ENOENT)
		rp_log(RP_LOG_WARNING, "cannot remove %s: %s", p, strerror(errno));
	free(p);
}

/* The unpacked tree, made writable for its owner again first (its top is read-only). */
int img_remove_tree(const char *home, const char *hex, struct rp_err *err)
{
	char *p = xasprintf("%s/images/rootfs/%s", home, hex);
	(void)chmod(p, 0755);
	int rc = rm_rf(p, err);
	free(p);
	return rc;
}

/* Drop v[at] (its id set to NULL), then its tree and the blobs no other image uses. */
static int drop_image(const char *home, struct img_rec *v, size_t n, size_t at, struct rp_err *err)
{
	struct img_rec gone = v[at];
	memset(&v[at], 0, sizeof v[at]);
	if (index_save(home, v, n, err) < 0) {
		v[at] = gone;
		return -1;
	}
	int rc = img_remove_tree(home, gone.id + 7, err);
	remove_blob(home, v, n, gone.id + 7);
	if (gone.manifest)
		remove_blob(home, v, n, gone.manifest + 7);
	for (size_t k = 0; k < gone.nlayers; k++)
		remove_blob(home, v, n, gone.layers[k].hex);
	img_rec_free(&gone);
	return rc;
}

int img_remove(const char *home, const char *ref, struct rp_err *err)
{
	int lock = img_lock(home, err);
	if (lock < 0)
		return -1;
	struct img_rec *v;
	size_t n;
	int rc = index_load(home, &v, &n, err);
	size_t at = rc == 0 ? resolve(v, n, ref, err) : n;
	if (rc == 0 && at == n)
		rc = -1;
	if (rc == 0) {
		char *name = img_normalise_name(ref, NULL);
		bool by_id = !name || !strvec_has(&v[at].names, name);
		/* A name goes alone while the image has others; an id, or its last name, takes the image. */
		if (!by_id && v[at].names.n > 1) {
			strvec_remove(&v[at].names, name);
			rc = index_save(home, v, n, err);
		} else {
			rc = drop_image(home, v, n, at, err);
		}
		free(name);
	}
	recs_free(v, n);
	img_unlock(lock);
	return rc;
}

/* --- checking ------------------------------------------------------------------------------- */

/* The images that use blob hex, by their names (an image without one by its short id). */
static char *blob_users(const struct img_rec *v, size_t n, const char *hex)
{
	struct strvec users = {0};
	for (size_t i = 0; i < n; i++) {
		if (!blob_in_use(&v[i], 1, hex))
			continue;
		if (v[i].names.n)
			for (size_t k = 0; k < v[i].names.n; k++)
				strvec_push(&users, v[i].names.v[k]);
		else
			strvec_pushf(&users, "%.19s", v[i].id);
	}
	char *s = users.n ? strvec_join(&users, ", ") : NULL;
	strvec_free(&users);
	return s;
}

/* One blob hashed: a problem reported (and, with remove, the blob removed) when its content
 * is not its name. */
static bool check_blob(const char *home, const struct img_rec *v, size_t n, const char *hex, bool remove,
		       void (*found)(void *ctx, const struct img_blob_problem *p), void *ctx)
{
	char *path = img_blob_path(home, hex), got[65];
	struct rp_err e = {0};
	char *problem = img_sha256_file(path, got, &e) < 0 ? xstrdup(e.msg)
	                : strcmp(got, hex) ? xasprintf("content does not match its name (its sha256 is %.12s...)", got)
	                                   : NULL;
	if (problem) {
		char *users = blob_users(v, n, hex), error[256] = "";
		if (remove && unlink(path) < 0 && errno != ENOENT)
			snprintf(error, sizeof error, "%s", strerror(errno));
		struct img_blob_problem p = {.hex = hex, .problem = problem, .images = users, .damaged = true,
					     .removed = remove && !error[0], .error = error[0] ? error : NULL};
		found(ctx, &p);
		free(users);
	}
	bool bad = problem != NULL;
	free(problem);
	free(path);
	return bad;
}

/* Blobs the index lists that are not there (those in reported were told already). */
static void check_missing(const char *home, const struct img_rec *v, size_t n, struct strvec *reported,
			  void (*found)(void *ctx, const struct img_blob_problem *p), void *ctx)
{
	struct strvec *seen = reported;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k <= v[i].nlayers; k++) {
			const char *hex = k < v[i].nlayers ? v[i].layers[k].hex : v[i].id + 7;
			char *path = img_blob_path(home, hex);
			if (!path_exists(path) && !strvec_has(seen, hex)) {
				strvec_push(seen, hex);
				char *users = blob_users(v, n, hex);
				struct img_blob_problem p = {.hex = hex, .problem = "missing", .images = users};
				found(ctx, &p);
				free(users);
			}
			free(path);
		}
	}
}

int img_check_blobs(const char *home, bool remove, void (*found)(void *ctx, const struct img_blob_problem *p),
		    void *ctx, size_t *checked, struct rp_err *err)
{
	*checked = 0;
	char *dir = images_path(home, "blobs/sha256");
	if (!path_is_dir(dir)) {
		free(dir);
		return 0;
	}
	int lock = remove ? img_lock(home, err) : -1;
	struct img_rec *v = NULL;
	size_t n = 0;
	if ((remove && lock < 0) || index_load(home, &v, &n, err) < 0) {
		img_unlock(lock);
		free(dir);
		return -1;
	}
	struct strvec names = {0}, bad = {0};
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (img_is_hex(de->d_name, 64, 64))
			strvec_push(&names, de->d_name);
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++)
		if (check_blob(home, v, n, names.v[i], remove, found, ctx))
			strvec_push(&bad, names.v[i]);
	*checked = names.n;
	check_missing(home, v, n, &bad, found, ctx);
	strvec_free(&names);
	strvec_free(&bad);
	recs_free(v, n);
	img_unlock(lock);
	free(dir);
	return 0;
}
