/* The environment fingerprint: hashing primitives, canonical JSON, and fp_compute, which builds
 * the components (fp_code.c, fp_runtime.c, fp_packages.c, fp_env.c) and hashes their hashes in a
 * fixed order, each length-prefixed. */
#include "fingerprint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fp_internal.h"
#include "util.h"

/* ---- hashing ---- */

/* OpenSSL's SHA-256 functions (the same assembly as EVP's) rather than EVP: EVP_MD_fetch starts
 * OpenSSL 3's provider machinery, about 2 ms of every run's start-up even without openssl.cnf,
 * and these are all a fingerprint needs. They are marked deprecated in 3.0 but kept in 3.x (see
 * fp_internal.h); the Makefile links them statically, so no libcrypto.so is loaded either. */
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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int fp_unhex(const char *hex, unsigned char out[FP_HASH_LEN])
{
	for (int i = 0; i < FP_HASH_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
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

/* ---- the config component ---- */

/* Labels that do not change what runs: never part of the config hash. */
static bool config_key_is_label(const char *k)
{
	return strcmp(k, "name") == 0 || strcmp(k, "tags") == 0;
}

static void flatten_into(cJSON *out, const cJSON *v, const char *prefix)
{
	if (cJSON_IsObject(v)) {
		for (const cJSON *c = v->child; c; c = c->next) {
			char *k = *prefix ? xasprintf("%s.%s", prefix, c->string) : xstrdup(c->string);
			flatten_into(out, c, k);
			free(k);
		}
		return;
	}
	const char *last = strrchr(prefix, '.');
	last = last ? last + 1 : prefix;
	char *text = cJSON_IsString(v) ? xstrdup(v->valuestring) : fp_canonical_json(v);
	if (env_looks_secret(last, text)) {
		unsigned char h[FP_HASH_LEN];
		fp_sha256(text, strlen(text), h);
		char *hs = fp_hash_str(h);
		cJSON_AddStringToObject(out, prefix, hs);
		free(hs);
	} else {
		cJSON_AddStringToObject(out, prefix, text);
	}
	free(text);
}

/* {"hash", "values": {"params.lr": "0.1", ...}} — flattened leaves so verify can name keys. */
static cJSON *config_component(const cJSON *config)
{
	cJSON *hashed = cJSON_CreateObject();
	if (cJSON_IsObject(config))
		for (const cJSON *c = config->child; c; c = c->next)
			if (!config_key_is_label(c->string))
				cJSON_AddItemToObject(hashed, c->string, cJSON_Duplicate(c, true));
	char *canon = fp_canonical_json(hashed);
	unsigned char h[FP_HASH_LEN];
	fp_sha256(canon, strlen(canon), h);
	free(canon);

	cJSON *comp = cJSON_CreateObject();
	char *hs = fp_hash_str(h);
	cJSON_AddStringToObject(comp, "hash", hs);
	free(hs);
	cJSON *values = cJSON_AddObjectToObject(comp, "values");
	flatten_into(values, hashed, "");
	cJSON_Delete(hashed);
	return comp;
}

/* ---- fp_compute ---- */

/* The fixed order of the components in the final hash. Never reorder: it changes every
 * recorded fingerprint. */
static const char *const component_order[] = { "config", "code", "runtime", "packages", "env" };

static char *final_fingerprint(const cJSON *components)
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "runpilot-fingerprint-v1");
	for (size_t i = 0; i < sizeof component_order / sizeof *component_order; i++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(components, component_order[i]);
		const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "hash"));
		fp_hasher_str(&h, component_order[i]);
		fp_hasher_str(&h, hash);
	}
	unsigned char out[FP_HASH_LEN];
	fp_hasher_final(&h, out);
	return fp_hash_str(out);
}

int fp_compute_files(const struct fp_input *in, cJSON **environment, cJSON **files, struct rp_err *err)
{
	struct fp_filelist code_files = { 0 }, rootfs_files = { 0 };
	struct fp_interp ip = { 0 };
	cJSON *env = cJSON_CreateObject(), *list = NULL, *other = NULL;
	cJSON *components = cJSON_CreateObject(), *comp = NULL;
	int rc = -1;

	cJSON_AddItemToObject(components, "config", config_component(in->config));
	if (fp_code_component(in, &comp, &code_files, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "code", comp);
	if (fp_runtime_component(in, &ip, &comp, &rootfs_files, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "runtime", comp);
	if (fp_packages_component(in, &ip, &comp, err) < 0)
		goto out;
	cJSON_AddItemToObject(components, "packages", comp);
	if (fp_env_component(in, &comp, &other) < 0)
		goto out;
	cJSON_AddItemToObject(components, "env", comp);

	char *fp = final_fingerprint(components);
	cJSON_AddStringToObject(env, "fingerprint", fp);
	free(fp);
	cJSON_AddItemToObject(env, "components", components);
	components = NULL;
	if (!in->no_context) {
		cJSON_AddItemToObject(env, "context", fp_context(in, other));
		other = NULL;
	}

	list = cJSON_CreateObject();
	cJSON_AddNumberToObject(list, "version", 1);
	cJSON_AddItemToObject(list, "code", fp_filelist_json(&code_files));
	if (in->rootfs)
		cJSON_AddItemToObject(list, "rootfs", fp_filelist_json(&rootfs_files));
	if (in->files_path) {
		char *text = cJSON_PrintUnformatted(list);
		if (!text)
			abort();
		/* Atomic, not flushed: `runpilot run` flushes it once the job runs (cmd_run.c). */
		rc = write_file_atomic_flags(in->files_path, text, strlen(text), 0644, RP_WRITE_NO_FSYNC, err);
		free(text);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(components);
	cJSON_Delete(other);
	fp_filelist_free(&code_files);
	fp_filelist_free(&rootfs_files);
	fp_interp_free(&ip);
	if (rc < 0) {
		cJSON_Delete(env);
		cJSON_Delete(list);
		return -1;
	}
	*environment = env;
	if (files)
		*files = list;
	else
		cJSON_Delete(list);
	return 0;
}

int fp_compute(const struct fp_input *in, cJSON **environment, struct rp_err *err)
{
	return fp_compute_files(in, environment, NULL, err);
}

int fp_files_load(const char *path, cJSON **files, struct rp_err *err)
{
	char *text = NULL;
	if (read_file(path, &text, NULL, err) < 0)
		return -1;
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: not a runpilot file list", path);
	}
	*files = j;
	return 0;
}

const char *fp_files_row_path(const cJSON *row)
{
	const char *s = cJSON_GetStringValue(row);
	for (int field = 0; s && field < 3; field++) {
		s = strchr(s, ' ');
		s = s ? s + 1 : NULL;
	}
	return s;
}

cJSON *fp_files_rows_json(const cJSON *rows)
{
	cJSON *arr = cJSON_CreateArray();
	for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
		const char *path = fp_files_row_path(r), *s = r->valuestring;
		char hex[FP_HEX_LEN + 1], mode[16];
		long long size;
		if (!path || sscanf(s, "%64s %15s %lld", hex, mode, &size) != 3)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "mode", mode);
		cJSON_AddNumberToObject(o, "size", (double)size);
		cJSON_AddStringToObject(o, "sha256", hex);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

void fp_short(const cJSON *environment, char out[13])
{
	const char *fp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(environment, "fingerprint"));
	if (fp && strncmp(fp, "sha256:", 7) == 0 && strlen(fp) >= 7 + 12) {
		memcpy(out, fp + 7, 12);
		out[12] = '\0';
	} else {
		strcpy(out, "-");
	}
}
