/* SHA-256 for the fingerprint (hash.c): an incremental hasher with length-prefixed fields, hex
 * forms, files by fd or path, and canonical JSON. Uses only the base layer. */
#ifndef RP_FP_HASH_H
#define RP_FP_HASH_H

#include <stdbool.h>
#include <stddef.h>

/* SHA256_Init/Update/Final are marked deprecated in OpenSSL 3.0 but kept in 3.x: hash.c says
 * why RunPilot uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "err.h"

struct cJSON;

#define FP_HASH_LEN 32
#define FP_HEX_LEN 64

/* An incremental SHA-256 (OpenSSL's SHA256_* functions, see fingerprint.c). fp_hasher_field
 * hashes a 64-bit big-endian length before the bytes, so consecutive fields can never run into
 * each other. */
struct fp_hasher {
	SHA256_CTX ctx;
};
void fp_hasher_init(struct fp_hasher *h);
void fp_hasher_update(struct fp_hasher *h, const void *p, size_t n);
void fp_hasher_field(struct fp_hasher *h, const void *p, size_t n);
void fp_hasher_str(struct fp_hasher *h, const char *s);   /* field; NULL hashes as "" */
void fp_hasher_u64(struct fp_hasher *h, unsigned long long v);
void fp_hasher_final(struct fp_hasher *h, unsigned char out[FP_HASH_LEN]);

void fp_sha256(const void *p, size_t n, unsigned char out[FP_HASH_LEN]);
void fp_hex(const unsigned char h[FP_HASH_LEN], char out[FP_HEX_LEN + 1]);
/* "sha256:<hex>", malloc'd. */
char *fp_hash_str(const unsigned char h[FP_HASH_LEN]);
/* SHA-256 of an open file's content from its current offset. */
int fp_hash_fd(int fd, unsigned char out[FP_HASH_LEN], struct rp_err *err);
int fp_hash_path(const char *path, unsigned char out[FP_HASH_LEN], struct rp_err *err);
/* Canonical JSON text: object keys sorted bytewise at every level, no whitespace. */
char *fp_canonical_json(const struct cJSON *v);

#endif
