/* SHA-256 and the canonical JSON the fingerprint hashes. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "util.h"

/* OpenSSL's SHA-256 functions (the same assembly as EVP's) rather than EVP: EVP_MD_fetch starts
 * OpenSSL 3's provider machinery, a noticeable part of every run's start-up even without
 * openssl.cnf, and these are all a fingerprint needs. They are marked deprecated in 3.0 but kept in 3.x (see
 * hash.h); the Makefile links them statically, so no libcrypto.so is loaded either. */
void fp_hasher_init(struct fp_hasher *h)
{
	if (!SHA256_Init(&h->ctx))
		abort(); /* cannot fail for SHA-256 */
}

void fp_hasher_update(struct fp_hasher *h, const void *p, size_t n)
{
	SHA256_Update(&h->ctx, p, n);
}

void fp_hasher_u64(struct fp_hasher *h, unsigned long long v)
{
	unsigned char b[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	fp_hasher_update(h, b, sizeof b);
}

void fp_hasher_field(struct fp_hasher *h, const void *p, size_t n)
{
	fp_hasher_u64(h, n);
	fp_hasher_update(h, p, n);
}

void fp_hasher_str(struct fp_hasher *h, const char *s)
{
	if (!s)
		s = "";
	fp_hasher_field(h, s, strlen(s));
}

void fp_hasher_final(struct fp_hasher *h, unsigned char out[FP_HASH_LEN])
{
	SHA256_Final(out, &h->ctx);
	OPENSSL_cleanse(&h->ctx, sizeof h->ctx);
}

void fp_sha256(const void *p, size_t n, unsigned char out[FP_HASH_LEN])
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_update(&h, p, n);
	fp_hasher_final(&h, out);
}

void fp_hex(const unsigned char h[FP_HASH_LEN], char out[FP_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < FP_HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[FP_HEX_LEN] = '\0';
}

char *fp_hash_str(const unsigned char h[FP_HASH_LEN])
{
	char hex[FP_HEX_LEN + 1];
	fp_hex(h, hex);
	return xasprintf("sha256:%s", hex);
}

int fp_hash_fd(int fd, unsigned char out[FP_HASH_LEN], struct rp_err *err)
{
	enum { BUF = 256 * 1024 };
	unsigned char *buf = xmalloc(BUF);
	struct fp_hasher h;
	fp_hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			fp_hasher_final(&h, out);
			free(buf);
			errno = e;
			return rp_err_sys(err, "read");
		}
		if (n == 0)
			break;
		fp_hasher_update(&h, buf, (size_t)n);
	}
	fp_hasher_final(&h, out);
	free(buf);
	return 0;
}

int fp_hash_path(const char *path, unsigned char out[FP_HASH_LEN], struct rp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "open %s", path);
	int rc = fp_hash_fd(fd, out, err);
	close(fd);
	return rc < 0 ? rp_err_wrap(err, "%s", path) : 0;
}

/* ---- canonical JSON ---- */

static int cmp_items(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Sort an object's members (recursively, in place). */
static void sort_json(cJSON *v)
{
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return;
	size_t n = 0;
	for (cJSON *c = v->child; c; c = c->next) {
		sort_json(c);
		n++;
	}
	if (!cJSON_IsObject(v) || n < 2)
		return;
	cJSON **items = xcalloc(n, sizeof *items);
	size_t i = 0;
	for (cJSON *c = v->child; c; c = c->next)
		items[i++] = c;
	qsort(items, n, sizeof *items, cmp_items);
	for (i = 0; i < n; i++) {
		items[i]->prev = i ? items[i - 1] : items[n - 1]; /* cJSON: head's prev is the tail */
		items[i]->next = i + 1 < n ? items[i + 1] : NULL;
	}
	v->child = items[0];
	free(items);
}

char *fp_canonical_json(const cJSON *v)
{
	cJSON *copy = v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
	if (!copy)
		abort();
	sort_json(copy);
	char *s = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (!s)
		abort();
	return s;
}

