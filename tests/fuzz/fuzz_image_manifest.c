/* libFuzzer target for what an image import reads from an untrusted archive or registry
 * (mk/fuzz.mk: make fuzz): the manifest.json of a `docker save`, an OCI layout's index.json, and
 * the manifests, indexes and configs they name; and the image reference parser.
 *
 * An input is documents separated by a line "%%". The first is manifest.json when it starts with
 * '[' (a docker save's list), else index.json; each later one is a blob, stored under
 * blobs/sha256/<its sha256>. In document k, "$d" (a digit d > k) becomes the hex digest of document
 * d, and "#d" its size, so the fuzzer can write manifests whose digests and sizes hold. The layout
 * is written to a directory made once per process, then scanned as `runpilot image import` does
 * (img_import_scan: every blob verified, no layer unpacked):
 * - refused: an error of one line;
 * - accepted: each image has an id "sha256:<64 hex>", layers with 64-hex digests, and names that
 *   are normalised already.
 * The input's first line is also an image reference: parsed, its name parses back to itself.
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_int.h"

#define MAX_DOCS 10
#define SEP "\n%%\n"

static char top[64];
static char *src, *blobs, *stage;

static void cleanup(void)
{
	if (top[0])
		rm_rf(top, NULL);
	free(src);
	free(blobs);
	free(stage);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_image_manifest: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

static void setup(void)
{
	/* in memory where there is a tmpfs: each input writes and copies a few files */
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
		? "/dev/shm" : "/tmp";
	snprintf(top, sizeof top, "%s/fuzz_image.XXXXXX", base);
	if (!mkdtemp(top))
		die("cannot make the scratch directory", top);
	atexit(cleanup);
	src = path_join(top, "src");
	blobs = path_join(top, "src/blobs/sha256");
	stage = path_join(top, "stage");
	if (mkdir(src, 0700) < 0)
		die("cannot make", src);
}

static void put(const char *dir, const char *name, const char *data, size_t size)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("cannot write", p);
	free(p);
}

struct doc {
	char *text; /* after substitution */
	size_t len;
	char hex[65];
};

static void append(char **s, size_t *n, size_t *cap, const char *add, size_t len)
{
	if (*n + len + 1 > *cap) {
		*cap = (*n + len + 1) * 2;
		*s = xrealloc(*s, *cap);
	}
	memcpy(*s + *n, add, len);
	*n += len;
	(*s)[*n] = '\0';
}

/* Document k with its "$d" and "#d" (d > k) replaced from the documents after it. */
static void substitute(struct doc *d, size_t k, size_t n, const char *raw, size_t len)
{
	char *s = NULL;
	size_t sn = 0, cap = 0;
	append(&s, &sn, &cap, "", 0);
	for (size_t i = 0; i < len; i++) {
		size_t ref = i + 1 < len && raw[i + 1] >= '0' && raw[i + 1] <= '9' ? (size_t)(raw[i + 1] - '0') : 0;
		if ((raw[i] == '$' || raw[i] == '#') && ref > k && ref < n) {
			char size[24];
			snprintf(size, sizeof size, "%zu", d[ref].len);
			const char *rep = raw[i] == '$' ? d[ref].hex : size;
			append(&s, &sn, &cap, rep, strlen(rep));
			i++;
		} else {
			append(&s, &sn, &cap, raw + i, 1);
		}
	}
	d[k].text = s;
	d[k].len = sn;
	img_sha256_hex(s, sn, d[k].hex);
}

/* The layout: the first document as manifest.json or index.json, the others as blobs. */
static void write_layout(const char *data, size_t size)
{
	const char *start[MAX_DOCS];
	size_t len[MAX_DOCS], n = 0;
	const char *p = data, *end = data + size;
	while (n < MAX_DOCS) {
		const char *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
		start[n] = p;
		len[n] = sep && n + 1 < MAX_DOCS ? (size_t)(sep - p) : (size_t)(end - p);
		n++;
		if (!sep || n == MAX_DOCS)
			break;
		p = sep + strlen(SEP);
	}
	struct doc d[MAX_DOCS] = {0};
	for (size_t k = n; k-- > 0;)
		substitute(d, k, n, start[k], len[k]);
	struct rp_err e = {0};
	if (rm_rf(src, &e) < 0 || mkdir(src, 0700) < 0)
		die("cannot empty the source", e.msg);
	if (n > 1 && mkdir_p(blobs, 0700, &e) < 0)
		die("cannot make", blobs);
	put(src, d[0].text[0] == '[' ? "manifest.json" : "index.json", d[0].text, d[0].len);
	for (size_t k = 1; k < n; k++)
		put(blobs, d[k].hex, d[k].text, d[k].len);
	for (size_t k = 0; k < n; k++)
		free(d[k].text);
}

static void check_name(const char *name)
{
	struct rp_err e = {0};
	char *again = img_normalise_name(name, &e);
	if (!again || strcmp(again, name))
		die("an image name that is not normalised", name);
	free(again);
}

static void check_images(struct img_rec *v, size_t n)
{
	if (n == 0)
		die("an accepted source without an image", "");
	for (size_t i = 0; i < n; i++) {
		if (!v[i].id || !img_is_digest(v[i].id))
			die("an image id that is not a digest", v[i].id);
		for (size_t k = 0; k < v[i].nlayers; k++)
			if (!img_is_hex(v[i].layers[k].hex, 64, 64))
				die("a layer digest that is not 64 hex digits", v[i].layers[k].hex);
		for (size_t k = 0; k < v[i].names.n; k++)
			check_name(v[i].names.v[k]);
		img_rec_free(&v[i]);
	}
	free(v);
}

/* The first line as a reference: a parsed one's repo:tag parses back to itself. */
static void check_reference(const char *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char *s = xstrndup(data, nl ? (size_t)(nl - data) : size);
	struct img_ref r;
	struct rp_err e = {0};
	if (img_ref_parse(s, &r, &e) == 0) {
		if (!r.repo || (!r.tag && !r.digest) || (r.digest && !img_is_digest(r.digest)))
			die("a parsed reference without a repository, tag or digest", s);
		char *name = img_ref_name(&r);
		if (name)
			check_name(name);
		free(name);
		img_ref_free(&r);
	} else if (e.kind != RP_ERR_USAGE || !e.msg[0] || r.repo || r.tag || r.digest) {
		die("a refused reference that is not a usage error, or left output", s);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!src)
		setup();
	if (size > 32768)
		return 0;
	check_reference((const char *)data, size);
	write_layout((const char *)data, size);
	struct img_rec *v;
	size_t n;
	struct rp_err e = {0};
	if (mkdir(stage, 0700) < 0)
		die("cannot make", stage);
	if (img_import_scan(src, stage, &v, &n, &e) < 0) {
		if (!e.msg[0] || strchr(e.msg, '\n'))
			die("a refusal that is not a one-line error", e.msg);
	} else {
		check_images(v, n);
	}
	if (rm_rf(stage, &e) < 0)
		die("cannot empty the staging directory", e.msg);
	return 0;
}
