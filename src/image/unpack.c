/* unpack.c: an image's root filesystem, built once per image id from its layers in order, in a
 * temporary directory next to where it goes, and renamed into place only when complete: a
 * half-unpacked tree is never used, and of two processes unpacking the same image at once the
 * first rename wins and the other drops its copy. The top of the tree is made read-only (the
 * sandbox uses it as an overlay's lower directory and never writes it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_int.h"
#include "log.h"
#include "testhooks.h"

int img_build_tree(const char *dir, const char *image, const char *blob_dir, const struct img_layer *layers,
		   size_t n, struct img_budget *b, struct rp_err *err)
{
	if (mkdir(dir, 0755) < 0)
		return rp_err_sys(err, "cannot create %s", dir);
	struct img_tree t = {.image = image, .budget = b};
	t.root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = t.root_fd < 0 ? rp_err_sys(err, "cannot open %s", dir) : 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *blob = xasprintf("%s/%s", blob_dir, layers[i].hex);
		rc = img_layer_apply(&t, blob, err);
		free(blob);
		test_hook_stop_at("unpacking");
	}
	if (rc == 0)
		rc = img_tree_finish(&t, err);
	if (rc == 0 && t.devices)
		rp_log(RP_LOG_WARNING, "image %s: skipped %lld device node%s or socket%s (the first: %s)", image,
		       t.devices, t.devices == 1 ? "" : "s", t.devices == 1 ? "" : "s", t.first_device);
	if (t.root_fd >= 0)
		close(t.root_fd);
	img_tree_free(&t);
	if (rc < 0) {
		(void)chmod(dir, 0755);
		(void)rm_rf(dir, NULL);
	}
	return rc;
}

int img_place_tree(const char *home, const char *hex, const char *dir, struct rp_err *err)
{
	char *dst = xasprintf("%s/images/rootfs/%s", home, hex);
	int rc = 0;
	if (rename(dir, dst) == 0) {
		if (chmod(dst, 0555) < 0)
			rc = rp_err_sys(err, "cannot make %s read-only", dst);
	} else if (errno == EEXIST || errno == ENOTEMPTY) {
		rc = rm_rf(dir, err); /* another process unpacked it first */
	} else {
		rc = rp_err_sys(err, "cannot move the unpacked image to %s", dst);
		(void)rm_rf(dir, NULL);
	}
	free(dst);
	return rc;
}

int img_unpack(const char *home, struct img_info *img, struct rp_err *err)
{
	if (!img->id || !img_is_digest(img->id))
		return rp_err_set(err, RP_ERR_USAGE, "not an image id: %s", img->id ? img->id : "(none)");
	const char *hex = img->id + 7;
	char *dst = xasprintf("%s/images/rootfs/%s", home, hex);
	if (path_is_dir(dst)) {
		free(img->rootfs);
		img->rootfs = dst;
		return 0;
	}
	struct img_rec rec;
	if (img_store_init(home, err) < 0 || img_find_rec(home, img->id, &rec, err) < 0) {
		free(dst);
		return -1;
	}
	img_clean_stale(home);
	char prefix[24];
	snprintf(prefix, sizeof prefix, ".unpack-%.12s", hex);
	int tmp_lock;
	char *tmp = img_tmpdir(home, "rootfs", prefix, &tmp_lock, err);
	int rc = tmp ? 0 : -1;
	char *dir = xasprintf("%s/tree", tmp ? tmp : "");
	char *blobs = xasprintf("%s/images/blobs/sha256", home);
	const char *what = img->names && img->names[0] ? img->names[0] : img->id;
	struct img_budget b = {.used = rec.size, .max = img_max_bytes(), .what = what};
	if (rc == 0)
		rc = img_build_tree(dir, what, blobs, rec.layers, rec.nlayers, &b, err);
	if (rc == 0)
		rc = img_place_tree(home, hex, dir, err);
	if (tmp && rmdir(tmp) < 0 && errno != ENOENT)
		rp_log(RP_LOG_WARNING, "cannot remove %s: %s", tmp, strerror(errno));
	close_fd(&tmp_lock);
	free(tmp);
	free(dir);
	free(blobs);
	img_rec_free(&rec);
	if (rc < 0) {
		img_err_one_line(err);
		free(dst);
		return -1;
	}
	free(img->rootfs);
	img->rootfs = dst;
	return 0;
}
