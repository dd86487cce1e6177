/* The image store: OCI and Docker images kept under $RUNPILOT_HOME/images/, content-addressed
 * (blobs by sha256, verified on the way in), each unpacked once into a read-only root filesystem
 * per image id, so the sandbox runner can run a config's `image:` without Docker. Knows no run
 * model, no config: the image layer (src/image/) uses base only.
 *
 * An image's id is "sha256:<64 hex>", the digest of its config JSON: the same id `docker
 * inspect` reports for the same image, so both runners record the same one. */
#ifndef RP_IMAGE_H
#define RP_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* What a run takes from the image's config (its "config" object). */
struct img_config {
	char **env;            /* "NAME=value", NULL-terminated, never NULL */
	char *workdir;         /* WorkingDir, or NULL */
	char *user;            /* User ("name", "uid", "uid:gid"), or NULL */
};

struct img_info {
	char *id;              /* "sha256:<hex>" */
	char **names;          /* the references it is stored under ("busybox:latest"), NULL-terminated */
	char **repo_digests;   /* "repo@sha256:<manifest digest>" where known (a pull), NULL-terminated */
	long long size;        /* bytes of its layer blobs */
	char *created;         /* the config's "created", or NULL */
	char *rootfs;          /* the unpacked root filesystem (absolute): set by img_find when it is
	                        * unpacked already (an import unpacks at once), else by img_unpack */
	struct img_config config;
};

/* Find a stored image by reference: "name[:tag]" (":latest" implied, "docker.io/library/"
 * optional), "name@sha256:<manifest digest>", "sha256:<id>" or a unique id prefix of at least
 * 12 hex digits. Not stored: RP_ERR_USAGE naming `runpilot image pull` and `import`. */
int img_find(const char *home, const char *ref, struct img_info *out, struct rp_err *err);
/* Make sure the image's root filesystem is unpacked (once, atomically: a half-unpacked tree
 * is never used) and set out->rootfs. */
int img_unpack(const char *home, struct img_info *img, struct rp_err *err);
/* Import a `docker save` tar (plain or compressed) or an OCI image layout (a directory or its
 * tar). Every blob is checked against its digest; a hostile image (bad digest, an entry with
 * ".." or an absolute path, a link out of the root, an entry written through a symlink, over
 * the size limit: RUNPILOT_IMAGE_MAX_BYTES, default 32 GiB) is refused with nothing written.
 * The layers are unpacked at once (that is where hostile entries are found). name (or NULL)
 * tags it in addition to the names the archive carries. An archive of several images imports
 * them all; out is the first. docs/images.md has the details. */
int img_import(const char *home, const char *path, const char *name, struct img_info *out, struct rp_err *err);
/* Pull from a registry (through skopeo) and import. */
int img_pull(const char *home, const char *ref, struct img_info *out, struct rp_err *err);
/* Every stored image, sorted by name. */
int img_list(const char *home, struct img_info **out, size_t *n, struct rp_err *err);
/* Remove a name, or an image by id (with all its names) and its unpacked tree and blobs no
 * other image uses. Removing an image's last name removes the image. */
int img_remove(const char *home, const char *ref, struct rp_err *err);
/* A blob of the store whose content is not what its name says, or one an image needs that is
 * not there. */
struct img_blob_problem {
	const char *hex;        /* the blob's name (64 hex digits) */
	const char *problem;    /* one line */
	const char *images;     /* the images that use it ("busybox:latest, ..."), or NULL: none */
	bool damaged;           /* its content is wrong (a missing blob is not) */
	bool removed;           /* with remove: it is gone now */
	const char *error;      /* with remove: why it could not be removed, else NULL */
};
/* Hash every blob of the store against its name; with remove, the damaged ones are removed
 * (under the store's lock), and the images using them need a pull or import again. Blobs an
 * image lists that are missing are reported too. *checked gets the number of blobs hashed. */
int img_check_blobs(const char *home, bool remove, void (*found)(void *ctx, const struct img_blob_problem *p),
		    void *ctx, size_t *checked, struct rp_err *err);
void img_info_free(struct img_info *img);
void img_list_free(struct img_info *v, size_t n);

#endif
