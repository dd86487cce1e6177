/* blobs.c: content addressing (sha256 through libcrypto's EVP), the blob paths, and the byte
 * limit every import and unpack counts against (RUNPILOT_IMAGE_MAX_BYTES). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img_int.h"
#include "log.h"

long long img_max_bytes(void)
{
	const char *v = getenv("RUNPILOT_IMAGE_MAX_BYTES");
	if (v && *v) {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (!errno && !*end && n > 0)
			return n;
	}
	return IMG_DEFAULT_MAX_BYTES;
}

int img_budget_take(struct img_budget *b, long long n, const char *entry, struct rp_err *err)
{
	b->used += n;
	if (b->used <= b->max)
		return 0;
	return rp_err_set(err, RP_ERR_RUNTIME, "image %s: refused at %s: over the size limit of %lld bytes "
			  "(RUNPILOT_IMAGE_MAX_BYTES)", b->what, entry, b->max);
}

static void to_hex(const unsigned char *md, char hex[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void img_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		rp_log_out_of_memory();
	to_hex(md, hex);
}

char *img_blob_path(const char *home, const char *hex)
{
	return xasprintf("%s/images/blobs/sha256/%s", home, hex);
}

int img_hashw_open(struct img_hashw *w, const char *dst, struct rp_err *err)
{
	memset(w, 0, sizeof *w);
	w->fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (w->fd < 0)
		return rp_err_sys(err, "cannot create %s", dst);
	w->path = xstrdup(dst);
	w->ctx = EVP_MD_CTX_new();
	if (!w->ctx)
		rp_log_out_of_memory();
	if (!EVP_DigestInit_ex(w->ctx, EVP_sha256(), NULL)) {
		img_hashw_abort(w);
		return rp_err_set(err, RP_ERR_RUNTIME, "sha256 is not available");
	}
	return 0;
}

int img_hashw_write(struct img_hashw *w, const void *buf, size_t n, struct img_budget *b, const char *entry,
		    struct rp_err *err)
{
	if (img_budget_take(b, (long long)n, entry, err) < 0)
		return -1;
	w->size += (long long)n;
	if (!EVP_DigestUpdate(w->ctx, buf, n))
		return rp_err_set(err, RP_ERR_RUNTIME, "image %s: sha256 failed", b->what);
	if (write_all(w->fd, buf, n) < 0)
		return rp_err_sys(err, "image %s: cannot write a copy of %s", b->what, entry);
	return 0;
}

int img_hashw_close(struct img_hashw *w, char hex[65], struct rp_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	int rc = EVP_DigestFinal_ex(w->ctx, md, &mdlen) ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "sha256 failed");
	EVP_MD_CTX_free(w->ctx);
	w->ctx = NULL;
	if (close(w->fd) < 0 && rc == 0)
		rc = rp_err_sys(err, "cannot write %s", w->path);
	w->fd = -1;
	if (rc < 0) {
		img_hashw_abort(w);
		return -1;
	}
	to_hex(md, hex);
	free(w->path);
	w->path = NULL;
	return 0;
}

void img_hashw_abort(struct img_hashw *w)
{
	if (w->ctx)
		EVP_MD_CTX_free(w->ctx);
	if (w->fd >= 0)
		close(w->fd);
	if (w->path)
		unlink(w->path);
	free(w->path);
	memset(w, 0, sizeof *w);
	w->fd = -1;
}

int img_copy_hashed(int src_fd, const char *dst, struct img_budget *b, const char *entry, char hex[65],
		    long long *size, struct rp_err *err)
{
	struct img_hashw w;
	if (img_hashw_open(&w, dst, err) < 0)
		return -1;
	enum { BUF = 1 << 16 };
	char *buf = xmalloc(BUF);
	int rc = 0;
	for (;;) {
		ssize_t n = read(src_fd, buf, BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = rp_err_sys(err, "image %s: cannot read %s", b->what, entry);
		if (n <= 0 || (rc = img_hashw_write(&w, buf, (size_t)n, b, entry, err)) < 0)
			break;
	}
	free(buf);
	*size = w.size;
	if (rc < 0) {
		img_hashw_abort(&w);
		return -1;
	}
	return img_hashw_close(&w, hex, err);
}

int img_sha256_file(const char *path, char hex[65], struct rp_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", path);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		rp_log_out_of_memory();
	enum { BUF = 1 << 16 };
	char *buf = xmalloc(BUF);
	int rc = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : rp_err_set(err, RP_ERR_RUNTIME, "sha256 is not available");
	while (rc == 0) {
		ssize_t n = read(fd, buf, BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = rp_err_sys(err, "cannot read %s", path);
		if (n <= 0)
			break;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			rc = rp_err_set(err, RP_ERR_RUNTIME, "sha256 failed");
	}
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (rc == 0 && !EVP_DigestFinal_ex(ctx, md, &mdlen))
		rc = rp_err_set(err, RP_ERR_RUNTIME, "sha256 failed");
	if (rc == 0)
		to_hex(md, hex);
	free(buf);
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

void img_err_one_line(struct rp_err *err)
{
	for (char *p = err ? err->msg : NULL; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}
