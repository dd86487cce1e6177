/* import.c: `docker save` archives and OCI image layouts into the store.
 *
 * Everything happens in a temporary directory under images/tmp/: the source's files are copied
 * there with their sha256 (bundle.c), each blob is checked against its digest (an OCI
 * descriptor's; for a `docker save`, the config's file name and the config's diff_ids for the
 * uncompressed layers), the layers are unpacked into a tree there (layer.c, which refuses hostile
 * entries), and only then, under the store's lock, are the blobs and the tree moved into place and
 * the index updated. Any failure removes the temporary directory: nothing else was written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bundle.h"
#include "log.h"

#define MAX_INDEX_DEPTH 4

/* One image found in the source and verified: its record and its staged blobs. */
struct found {
	struct img_rec rec;
	struct bundle_member *config, *manifest;
	struct bundle_member **layers;
};

struct import {
	const char *home;
	struct bundle b;
	struct img_budget budget;
	const char *image;         /* the source, for messages */
	const char *extra_name;    /* --name, normalised */
	const char *repo_digest;   /* a pull's "repo@sha256:...", or NULL */
	struct found *f;
	size_t nf;
};

const char *img_host_arch(void)
{
	static struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	if (!strcmp(u.machine, "x86_64"))
		return "amd64";
	if (!strcmp(u.machine, "aarch64"))
		return "arm64";
	return u.machine;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The member name, which must hash to want (64 hex). */
static struct bundle_member *verified(struct import *im, const char *name, const char *want, const char *what,
				      struct rp_err *err)
{
	struct rp_err e = {0};
	struct bundle_member *m = bundle_get(&im->b, name, &e);
	if (!m) {
		if (e.msg[0])
			*err = e;
		else
			rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: %s '%s' is missing", im->image, what, name);
		return NULL;
	}
	if (want && strcmp(m->hex, want)) {
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: %s '%s' does not match its digest sha256:%s "
			   "(its content is sha256:%s)", im->image, what, name, want, m->hex);
		return NULL;
	}
	return m;
}

static void add_name(struct img_rec *r, const char *raw)
{
	struct rp_err e = {0};
	char *n = img_normalise_name(raw, &e);
	if (!n) {
		rp_log(RP_LOG_WARNING, "%s: name ignored", e.msg);
		return;
	}
	bool dup = false;
	for (size_t i = 0; i < r->names.n; i++)
		dup |= !strcmp(r->names.v[i], n);
	if (!dup)
		strvec_push(&r->names, n);
	free(n);
}

/* The record's id, created and size from its verified config blob. */
static int read_config(struct import *im, struct found *f, cJSON **cfg, struct rp_err *err)
{
	char *text;
	if (read_file(f->config->file, &text, NULL, err) < 0)
		return -1;
	*cfg = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(*cfg))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: its config is not a JSON object", im->image);
	f->rec.id = xasprintf("sha256:%s", f->config->hex);
	const char *created = jstr(*cfg, "created");
	f->rec.created = created ? xstrdup(created) : NULL;
	return 0;
}

static struct found *new_found(struct import *im)
{
	im->f = xrealloc(im->f, (im->nf + 1) * sizeof *im->f);
	struct found *f = &im->f[im->nf++];
	memset(f, 0, sizeof *f);
	return f;
}

static void add_layer(struct found *f, struct bundle_member *m)
{
	f->layers = xrealloc(f->layers, (f->rec.nlayers + 1) * sizeof *f->layers);
	f->rec.layers = xrealloc(f->rec.layers, (f->rec.nlayers + 1) * sizeof *f->rec.layers);
	f->layers[f->rec.nlayers] = m;
	memcpy(f->rec.layers[f->rec.nlayers].hex, m->hex, 65);
	f->rec.layers[f->rec.nlayers].size = m->size;
	f->rec.size += m->size;
	f->rec.nlayers++;
}

/* --- docker save --------------------------------------------------------------------------- */

/* The hex a docker-save path carries: "blobs/sha256/<hex>" or "<hex>.json"; NULL if none. */
static char *hex_in_path(const char *p)
{
	const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	char *h = xstrndup(base, strcspn(base, "."));
	if (img_is_hex(h, 64, 64) && (!strncmp(p, "blobs/sha256/", 13) || !strcmp(base + 64, ".json")))
		return h;
	free(h);
	return NULL;
}

static int docker_layers(struct import *im, struct found *f, const cJSON *layers, const cJSON *cfg,
			 struct rp_err *err)
{
	const cJSON *diff_ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "rootfs"),
								 "diff_ids");
	if (cJSON_GetArraySize(layers) != cJSON_GetArraySize(diff_ids))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: its manifest lists %d layers, its config %d",
				  im->image, cJSON_GetArraySize(layers), cJSON_GetArraySize(diff_ids));
	int i = 0;
	const cJSON *l;
	cJSON_ArrayForEach(l, layers) {
		const cJSON *d = cJSON_GetArrayItem(diff_ids, i++);
		const char *diff = cJSON_IsString(d) ? d->valuestring : NULL;
		if (!cJSON_IsString(l) || !diff || !img_is_digest(diff))
			return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: a layer without a sha256 diff_id", im->image);
		/* A blob named by its digest (docker 25+) is that digest; an old "<id>/layer.tar" is the
		 * uncompressed layer, whose digest is the diff_id. */
		char *named = hex_in_path(l->valuestring);
		struct bundle_member *m = verified(im, l->valuestring, named ? named : diff + 7, "layer", err);
		free(named);
		if (!m)
			return -1;
		add_layer(f, m);
	}
	return 0;
}

static int docker_image(struct import *im, const cJSON *entry, struct rp_err *err)
{
	const char *cfg_path = jstr(entry, "Config");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(entry, "Layers");
	if (!cfg_path || !cJSON_IsArray(layers))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: manifest.json lacks Config or Layers", im->image);
	struct found *f = new_found(im);
	char *want = hex_in_path(cfg_path);
	f->config = verified(im, cfg_path, want, "config", err);
	free(want);
	cJSON *cfg = NULL;
	int rc = f->config ? read_config(im, f, &cfg, err) : -1;
	if (rc == 0)
		rc = docker_layers(im, f, layers, cfg, err);
	cJSON_Delete(cfg);
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(entry, "RepoTags"))
		if (cJSON_IsString(t))
			add_name(&f->rec, t->valuestring);
	return rc;
}

static int docker_save(struct import *im, const cJSON *manifest, struct rp_err *err)
{
	if (!cJSON_IsArray(manifest) || cJSON_GetArraySize(manifest) == 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: manifest.json is not a list of images", im->image);
	const cJSON *e;
	cJSON_ArrayForEach(e, manifest)
		if (docker_image(im, e, err) < 0)
			return -1;
	return 0;
}

/* --- OCI image layout ---------------------------------------------------------------------- */

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
		      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

/* The blob a descriptor names, verified (digest and size). */
static struct bundle_member *descriptor_blob(struct import *im, const cJSON *desc, const char *what,
					     struct rp_err *err)
{
	const char *digest = jstr(desc, "digest");
	if (!digest || !img_is_digest(digest)) {
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: a %s descriptor without a sha256 digest", im->image, what);
		return NULL;
	}
	char *name = xasprintf("blobs/sha256/%s", digest + 7);
	struct bundle_member *m = verified(im, name, digest + 7, what, err);
	free(name);
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
	/* compared as doubles: a size past long long's range has no conversion */
	if (m && cJSON_IsNumber(size) && size->valuedouble != (double)m->size) {
		rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: %s %s has %lld bytes, its descriptor says %.0f",
			   im->image, what, digest, m->size, size->valuedouble);
		return NULL;
	}
	return m;
}

static int parse_blob(struct import *im, struct bundle_member *m, cJSON **out, struct rp_err *err)
{
	char *text;
	if (read_file(m->file, &text, NULL, err) < 0)
		return -1;
	*out = cJSON_Parse(text);
	free(text);
	return *out ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "image %s: sha256:%s is not valid JSON", im->image, m->hex);
}

/* The name an index entry's annotations give: containerd's full name, or an OCI ref.name that is
 * a full reference (a bare "latest" is only a tag: it names nothing without a repository). */
static void annotated_names(struct found *f, const cJSON *desc)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
	const char *full = jstr(ann, "io.containerd.image.name");
	const char *ref = jstr(ann, "org.opencontainers.image.ref.name");
	if (full)
		add_name(&f->rec, full);
	else if (ref && (strchr(ref, ':') || strchr(ref, '/')))
		add_name(&f->rec, ref);
}

static bool layer_type_ok(const char *mt)
{
	return !mt || strstr(mt, ".tar") || strstr(mt, "rootfs.diff.tar");
}

static int oci_manifest(struct import *im, const cJSON *desc, const cJSON *top, struct bundle_member *mb,
			struct rp_err *err)
{
	cJSON *man = NULL;
	if (parse_blob(im, mb, &man, err) < 0)
		return -1;
	struct found *f = new_found(im);
	f->manifest = mb;
	f->rec.manifest = xasprintf("sha256:%s", mb->hex);
	annotated_names(f, top);
	if (top != desc)
		annotated_names(f, desc);
	if (im->repo_digest)
		strvec_push(&f->rec.repo_digests, im->repo_digest);
	int rc = (f->config = descriptor_blob(im, cJSON_GetObjectItemCaseSensitive(man, "config"), "config", err)) ? 0 : -1;
	cJSON *cfg = NULL;
	if (rc == 0)
		rc = read_config(im, f, &cfg, err);
	cJSON_Delete(cfg);
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(man, "layers")) {
		if (rc < 0)
			break;
		if (!layer_type_ok(jstr(l, "mediaType"))) {
			rc = rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: layer media type %s is not a tar",
					im->image, jstr(l, "mediaType"));
			break;
		}
		struct bundle_member *m = descriptor_blob(im, l, "layer", err);
		if (!m)
			rc = -1;
		else
			add_layer(f, m);
	}
	cJSON_Delete(man);
	return rc;
}

/* This host's platform in an index: linux and our architecture. */
static bool platform_matches(const cJSON *desc)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(desc, "platform");
	const char *os = jstr(p, "os"), *arch = jstr(p, "architecture");
	return os && arch && !strcmp(os, "linux") && !strcmp(arch, img_host_arch());
}

static int oci_descriptor(struct import *im, const cJSON *desc, const cJSON *top, int depth, struct rp_err *err);

static int oci_index(struct import *im, struct bundle_member *mb, const cJSON *top, int depth, struct rp_err *err)
{
	cJSON *idx = NULL;
	if (parse_blob(im, mb, &idx, err) < 0)
		return -1;
	const cJSON *d, *pick = NULL;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(idx, "manifests"))
		if (!pick && platform_matches(d))
			pick = d;
	int rc = pick ? oci_descriptor(im, pick, top, depth + 1, err)
		: rp_err_set(err, RP_ERR_RUNTIME, "image %s: no manifest for linux/%s in its index", im->image,
			     img_host_arch());
	cJSON_Delete(idx);
	return rc;
}

static int oci_descriptor(struct import *im, const cJSON *desc, const cJSON *top, int depth, struct rp_err *err)
{
	if (depth > MAX_INDEX_DEPTH)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: indexes nested too deep", im->image);
	const char *mt = jstr(desc, "mediaType");
	struct bundle_member *mb = descriptor_blob(im, desc, is_index_type(mt) ? "index" : "manifest", err);
	if (!mb)
		return -1;
	return is_index_type(mt) ? oci_index(im, mb, top, depth, err) : oci_manifest(im, desc, top, mb, err);
}

static int oci_layout(struct import *im, const cJSON *index, struct rp_err *err)
{
	const cJSON *mans = cJSON_GetObjectItemCaseSensitive(index, "manifests"), *d;
	if (cJSON_GetArraySize(mans) == 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused: index.json lists no manifests", im->image);
	cJSON_ArrayForEach(d, mans)
		if (oci_descriptor(im, d, d, 0, err) < 0)
			return -1;
	return 0;
}

/* --- staging and committing ---------------------------------------------------------------- */

/* <stage>/blobs/<hex>: a hard link to each staged copy, the layout the tree builder reads. */
static int stage_blob(struct import *im, const struct bundle_member *m, struct rp_err *err)
{
	char *p = xasprintf("%s/blobs/%s", im->b.stage, m->hex);
	int rc = link(m->file, p) < 0 && errno != EEXIST ? rp_err_sys(err, "cannot link %s", p) : 0;
	free(p);
	return rc;
}

static int stage_found(struct import *im, const struct found *f, struct rp_err *err)
{
	int rc = stage_blob(im, f->config, err);
	if (rc == 0 && f->manifest)
		rc = stage_blob(im, f->manifest, err);
	for (size_t i = 0; rc == 0 && i < f->rec.nlayers; i++)
		rc = stage_blob(im, f->layers[i], err);
	return rc;
}

/* Unpack each found image not unpacked yet into <stage>/tree-<n>. */
static int build_trees(struct import *im, struct rp_err *err)
{
	char *blobs = xasprintf("%s/blobs", im->b.stage);
	int rc = mkdir(blobs, 0700) < 0 ? rp_err_sys(err, "cannot create %s", blobs) : 0;
	for (size_t i = 0; rc == 0 && i < im->nf; i++) {
		rc = stage_found(im, &im->f[i], err);
		char *have = xasprintf("%s/images/rootfs/%s", im->home, im->f[i].rec.id + 7);
		char *dir = xasprintf("%s/tree-%zu", im->b.stage, i);
		if (rc == 0 && !path_is_dir(have))
			rc = img_build_tree(dir, im->image, blobs, im->f[i].rec.layers, im->f[i].rec.nlayers, &im->budget,
					    err);
		free(have);
		free(dir);
	}
	free(blobs);
	return rc;
}

/* Move one staged blob into blobs/sha256/ (durably: the index that names it follows). */
static int commit_blob(struct import *im, const char *hex, struct rp_err *err)
{
	char *src = xasprintf("%s/blobs/%s", im->b.stage, hex);
	char *dst = img_blob_path(im->home, hex);
	int rc = 0;
	if (path_exists(dst))
		;
	else if (fsync_path(src) < 0)
		rc = rp_err_sys(err, "cannot write %s", src);
	else if (rename(src, dst) < 0)
		rc = rp_err_sys(err, "cannot move a blob to %s", dst);
	free(src);
	free(dst);
	return rc;
}

static int commit_blobs(struct import *im, const struct found *f, struct rp_err *err)
{
	int rc = commit_blob(im, f->config->hex, err);
	if (rc == 0 && f->manifest)
		rc = commit_blob(im, f->manifest->hex, err);
	for (size_t k = 0; rc == 0 && k < f->rec.nlayers; k++)
		rc = commit_blob(im, f->rec.layers[k].hex, err);
	if (rc == 0) {
		char *blobs = xasprintf("%s/images/blobs/sha256", im->home);
		rc = fsync_path(blobs) < 0 ? rp_err_sys(err, "cannot sync %s", blobs) : 0;
		free(blobs);
	}
	return rc;
}

/* One image into place: its blobs and tree, then the index. An image stored already (the same
 * config, perhaps from other layer blobs: compressed or not) only gains names. */
static int commit_found(struct import *im, size_t i, struct rp_err *err)
{
	struct found *f = &im->f[i];
	bool stored;
	int rc = img_index_has(im->home, f->rec.id, &stored, err);
	if (rc == 0 && !stored)
		rc = commit_blobs(im, f, err);
	if (stored) {
		free(f->rec.manifest);
		f->rec.manifest = NULL;
	}
	char *dir = xasprintf("%s/tree-%zu", im->b.stage, i);
	if (rc == 0 && path_is_dir(dir))
		rc = img_place_tree(im->home, f->rec.id + 7, dir, err);
	free(dir);
	if (im->extra_name)
		add_name(&f->rec, im->extra_name);
	char now[40];
	format_rfc3339(now_realtime(), now);
	f->rec.imported = xstrdup(now);
	bool added;
	return rc == 0 ? img_index_add(im->home, &f->rec, &added, err) : -1;
}

static int commit(struct import *im, struct rp_err *err)
{
	int lock = img_lock(im->home, err);
	if (lock < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < im->nf; i++)
		rc = commit_found(im, i, err);
	img_unlock(lock);
	return rc;
}

/* --- the whole import ---------------------------------------------------------------------- */

static int find_images(struct import *im, struct rp_err *err)
{
	cJSON *j = NULL;
	int r = bundle_read_json(&im->b, "manifest.json", &j, err);
	if (r > 0) {
		r = docker_save(im, j, err);
	} else if (r == 0) {
		r = bundle_read_json(&im->b, "index.json", &j, err);
		if (r > 0)
			r = oci_layout(im, j, err);
		else if (r == 0)
			r = rp_err_set(err, RP_ERR_USAGE, "%s is neither a `docker save` archive nor an OCI image layout "
				       "(no manifest.json or index.json)", im->image);
	}
	cJSON_Delete(j);
	return r < 0 ? -1 : 0;
}

static void import_free(struct import *im)
{
	for (size_t i = 0; i < im->nf; i++) {
		img_rec_free(&im->f[i].rec);
		free(im->f[i].layers);
	}
	free(im->f);
	bundle_close(&im->b);
}

int img_import_scan(const char *path, const char *stage, struct img_rec **out, size_t *n, struct rp_err *err)
{
	struct import im = {.image = path, .budget = {.max = img_max_bytes(), .what = path}};
	*out = NULL;
	*n = 0;
	int rc = bundle_open(&im.b, path, stage, path, &im.budget, err);
	if (rc == 0)
		rc = find_images(&im, err);
	if (rc == 0) {
		*out = xcalloc(im.nf ? im.nf : 1, sizeof **out);
		for (size_t i = 0; i < im.nf; i++) {
			(*out)[i] = im.f[i].rec;
			memset(&im.f[i].rec, 0, sizeof im.f[i].rec);
		}
		*n = im.nf;
	}
	import_free(&im);
	if (rc < 0)
		img_err_one_line(err);
	return rc;
}

int img_import_from(const char *home, const char *path, const char *name, const char *repo_digest,
		    struct img_info *out, struct rp_err *err)
{
	char *extra = NULL;
	if (name && !(extra = img_normalise_name(name, err)))
		return -1;
	if (img_store_init(home, err) < 0) {
		free(extra);
		return -1;
	}
	img_clean_stale(home);
	int stage_lock;
	char *stage = img_tmpdir(home, "tmp", "import", &stage_lock, err);
	if (!stage) {
		free(extra);
		return -1;
	}
	struct import im = {.home = home, .image = path, .extra_name = extra, .repo_digest = repo_digest,
			    .budget = {.max = img_max_bytes(), .what = path}};
	int rc = bundle_open(&im.b, path, stage, path, &im.budget, err);
	if (rc == 0)
		rc = find_images(&im, err);
	trace_phase("image: blobs copied and verified");
	if (rc == 0)
		rc = build_trees(&im, err);
	trace_phase("image: layers unpacked");
	if (rc == 0)
		rc = commit(&im, err);
	trace_phase("image: stored");
	if (rc == 0 && out)
		rc = img_find(home, im.f[0].rec.id, out, err);
	import_free(&im);
	struct rp_err rmerr = {0};
	if (rm_rf(stage, &rmerr) < 0)
		rp_log(RP_LOG_WARNING, "cannot remove %s: %s", stage, rmerr.msg);
	close(stage_lock);
	free(stage);
	free(extra);
	if (rc < 0)
		img_err_one_line(err);
	return rc;
}

int img_import(const char *home, const char *path, const char *name, struct img_info *out, struct rp_err *err)
{
	return img_import_from(home, path, name, NULL, out, err);
}
