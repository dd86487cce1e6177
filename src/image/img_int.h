/* Inside the image store (src/image/): what its files share. Not part of image.h. */
#ifndef RP_IMG_INT_H
#define RP_IMG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "image.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>

#include "archive_api.h"

/* --- ref.c: references ------------------------------------------------------------------- */
/* A parsed reference in its familiar form: repo "busybox" (docker.io/library/ dropped),
 * "ghcr.io/org/x", "user/app"; tag "latest" when none was given and no digest either. */
struct img_ref {
	char *repo;
	char *tag;    /* or NULL (a digest-only reference) */
	char *digest; /* "sha256:<64 hex>" or NULL */
};
int img_ref_parse(const char *s, struct img_ref *out, struct rp_err *err);
void img_ref_free(struct img_ref *r);
/* "repo:tag" of a parsed reference with a tag (owned), NULL without one. */
char *img_ref_name(const struct img_ref *r);
/* The normalised "repo:tag" of s, or NULL with err (usage) when s is no valid name:tag. */
char *img_normalise_name(const char *s, struct rp_err *err);
/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool img_is_digest(const char *s);
bool img_is_hex(const char *s, size_t min, size_t max);

/* --- blobs.c: the content-addressed blobs and the byte limit ------------------------------ */
#define IMG_DEFAULT_MAX_BYTES (32LL << 30)
/* RUNPILOT_IMAGE_MAX_BYTES, else IMG_DEFAULT_MAX_BYTES. */
long long img_max_bytes(void);
/* Bytes an import or unpack has taken so far, against the limit. */
struct img_budget {
	long long used, max;
	const char *what; /* the image, for messages */
};
/* Take n more bytes; RUNTIME error naming `entry` when the limit is passed. */
int img_budget_take(struct img_budget *b, long long n, const char *entry, struct rp_err *err);
/* A new file written while hashing it (mode 0444). A failed write leaves the writer to abort. */
struct img_hashw {
	void *ctx; /* EVP_MD_CTX */
	int fd;
	long long size;
	char *path;
};
int img_hashw_open(struct img_hashw *w, const char *dst, struct rp_err *err);
int img_hashw_write(struct img_hashw *w, const void *buf, size_t n, struct img_budget *b, const char *entry,
		    struct rp_err *err);
/* Close it: hex gets the sha256 of what was written. */
int img_hashw_close(struct img_hashw *w, char hex[65], struct rp_err *err);
/* Close and remove it. */
void img_hashw_abort(struct img_hashw *w);
/* Copy src_fd to a new file dst (mode 0444) while computing its sha256; hex gets 64 digits. */
int img_copy_hashed(int src_fd, const char *dst, struct img_budget *b, const char *entry, char hex[65],
		    long long *size, struct rp_err *err);
/* sha256 of a file's content, as 64 hex digits. */
int img_sha256_file(const char *path, char hex[65], struct rp_err *err);
/* sha256 of a memory buffer, as 64 hex digits. */
void img_sha256_hex(const void *data, size_t len, char hex[65]);
/* Control characters in a message (an entry's name can hold a newline) shown as '?', so an
 * error stays one line. */
void img_err_one_line(struct rp_err *err);
/* <home>/images/blobs/sha256/<hex> (owned). */
char *img_blob_path(const char *home, const char *hex);

/* --- archive.c: reading tars (libarchive through archive_api.h) --------------------------- */
/* A reader on fd (any compression libarchive detects, tar format). */
struct archive *img_archive_open(const struct rp_archive_api *a, int fd, const char *what, struct rp_err *err);

/* --- layer.c: applying layer tars to a tree ------------------------------------------------ */
/* An entry's path made relative and checked: no "..", not absolute. Owned; "" for the root
 * itself; NULL with a one-line error naming the image and the entry. */
char *img_entry_path(const char *raw, const char *image, struct rp_err *err);
/* path without "." and empty components; ".." drops the component before it when dotdot is
 * true, and NULL when it would climb above the start (or dotdot is false). */
char *img_clean_path(const char *path, bool dotdot);
/* A set of paths (the entries one layer made, which its opaque whiteouts keep). */
struct img_pathset {
	char **slot;
	size_t cap, n;
};
struct img_tree {
	int root_fd;             /* the tree being built */
	const char *image;       /* for messages */
	struct img_budget *budget;
	long long devices;       /* device nodes and sockets skipped */
	char *first_device;
	struct strvec dirs;      /* "mode sec nsec path" of each directory, applied by img_tree_finish */
	struct img_pathset layer_paths;
};
/* Apply one layer blob (a tar, compressed or not) at path to the tree. */
int img_layer_apply(struct img_tree *t, const char *blob, struct rp_err *err);
/* After every layer: the directories' modes and mtimes. */
int img_tree_finish(struct img_tree *t, struct rp_err *err);
void img_tree_free(struct img_tree *t);

/* --- store.c: the index ------------------------------------------------------------------ */
struct img_layer {
	char hex[65];
	long long size;
};
/* One image as the index keeps it. */
struct img_rec {
	char *id;               /* "sha256:<hex>" */
	struct strvec names, repo_digests;
	char *manifest;         /* "sha256:<hex>" of its manifest when it came with one, or NULL */
	struct img_layer *layers;
	size_t nlayers;
	long long size;
	char *created;
	char *imported;         /* RFC 3339 */
};
void img_rec_free(struct img_rec *r);
/* Add a verified image (its blobs already in blobs/) to the index, merging names; the caller
 * holds the store's lock (img_lock). *added is false when it was there with all these names already. */
int img_index_add(const char *home, const struct img_rec *r, bool *added, struct rp_err *err);
/* Whether the index holds this id (the caller holds the lock when it acts on the answer). */
int img_index_has(const char *home, const char *id, bool *has, struct rp_err *err);
/* A copy of the record of the image with this id (usage error when there is none). */
int img_find_rec(const char *home, const char *id, struct img_rec *out, struct rp_err *err);
/* Remove rootfs/<hex> (its top is read-only). */
int img_remove_tree(const char *home, const char *hex, struct rp_err *err);
/* Create <home>/images/{blobs/sha256,rootfs,tmp} if missing. */
int img_store_init(const char *home, struct rp_err *err);
/* The store's lock (flock on images/lock), held while the index or blobs change. -1 on error. */
int img_lock(const char *home, struct rp_err *err);
void img_unlock(int fd);
/* A fresh directory <home>/images/<where>/<prefix>-XXXXXX (owned path), flock'ed through
 * *lock_fd while in use: close it after removing the directory. */
char *img_tmpdir(const char *home, const char *where, const char *prefix, int *lock_fd, struct rp_err *err);
/* Remove what killed imports and unpacks left (temporary directories nobody holds). */
void img_clean_stale(const char *home);

/* --- unpack.c ------------------------------------------------------------------------------ */
/* Build the tree of these layers (blob files blob_dir/<hex>) at dir, which must not exist; on
 * failure nothing is left at dir. */
int img_build_tree(const char *dir, const char *image, const char *blob_dir, const struct img_layer *layers,
		   size_t n, struct img_budget *b, struct rp_err *err);
/* Move a built tree into place as rootfs/<hex>; when another process put one there first,
 * drop ours and use theirs. */
int img_place_tree(const char *home, const char *hex, const char *dir, struct rp_err *err);

/* --- import.c ------------------------------------------------------------------------------ */
/* img_import, and for a pull: the "repo@sha256:<the registry's manifest digest>" recorded. */
int img_import_from(const char *home, const char *path, const char *name, const char *repo_digest,
		    struct img_info *out, struct rp_err *err);

/* What an import of the source at path would add, read and verified (every blob against its
 * digest) in stage, an empty directory the caller removes, without unpacking a layer or touching
 * the store: *n records (free each with img_rec_free, then *out). The parsing of manifests,
 * indexes and configs, on its own for the fuzzer (tests/fuzz/fuzz_image_manifest.c). */
int img_import_scan(const char *path, const char *stage, struct img_rec **out, size_t *n, struct rp_err *err);

/* The host's OCI architecture ("amd64", "arm64"). */
const char *img_host_arch(void);

#endif
