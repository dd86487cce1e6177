/* image store: reference normalising; import of OCI layouts built here (layers written with
 * libarchive): ids, whiteouts, hard links, a second import; each hostile case refused with one
 * line naming the image and the entry, and nothing stored under <home>/images. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dir_test_util.h"
#include "image.h"
#include "img_int.h"
#include "util.h"

/* --- references ------------------------------------------------------------------------------ */

static void expect_name(const char *in, const char *want)
{
	struct rp_err e = {0};
	char *got = img_normalise_name(in, &e);
	if (!want) {
		assert_null(got);
		assert_int_equal(e.kind, RP_ERR_USAGE);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_ref_normalise(void **state)
{
	expect_name("busybox", "busybox:latest");
	expect_name("busybox:latest", "busybox:latest");
	expect_name("docker.io/library/busybox:latest", "busybox:latest");
	expect_name("index.docker.io/library/busybox", "busybox:latest");
	expect_name("docker.io/busybox:1.36", "busybox:1.36");
	expect_name("user/app", "user/app:latest");
	expect_name("docker.io/user/app:v2", "user/app:v2");
	expect_name("localhost:5000/x:y", "localhost:5000/x:y");
	expect_name("localhost/x", "localhost/x:latest");
	expect_name("ghcr.io/org/tool", "ghcr.io/org/tool:latest");
	expect_name("ghcr.io/library/tool", "ghcr.io/library/tool:latest");
	expect_name("Busybox", NULL);
	expect_name("busy box", NULL);
	expect_name("a:b:c", NULL);
	expect_name("busybox:", NULL);
	expect_name("", NULL);
	expect_name("busybox@sha256:abc", NULL);
	/* the 255 limit is the repository's: a long one's name (":latest" added) reads back */
	char long_repo[300], long_name[320];
	memset(long_repo, 'a', 255);
	long_repo[255] = '\0';
	snprintf(long_name, sizeof long_name, "%s:latest", long_repo);
	expect_name(long_repo, long_name);
	expect_name(long_name, long_name);
	long_repo[255] = 'a';
	long_repo[256] = '\0';
	expect_name(long_repo, NULL);
	char ref[128];
	snprintf(ref, sizeof ref, "docker.io/library/busybox@sha256:%064d", 0);
	struct img_ref r;
	assert_int_equal(img_ref_parse(ref, &r, NULL), 0);
	assert_string_equal(r.repo, "busybox");
	assert_null(r.tag);
	assert_true(img_is_digest(r.digest));
	img_ref_free(&r);
}

/* --- building images ---------------------------------------------------------------------------- */

enum kind { F, D, L, H, CHR };
struct ent {
	enum kind kind;
	const char *path;
	const char *data; /* file content, or a link's target */
	int mode;
};
#define END {F, NULL, NULL, 0}

/* A layer tar in memory. */
static char *layer(const struct ent *e, size_t *len)
{
	size_t cap = 1 << 20;
	char *buf = xmalloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (; e->path; e++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e->path);
		archive_entry_set_mtime(ae, 1700000000, 0);
		archive_entry_set_perm(ae, e->mode ? e->mode : 0644);
		switch (e->kind) {
		case F:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)strlen(e->data));
			break;
		case D: archive_entry_set_filetype(ae, AE_IFDIR); archive_entry_set_perm(ae, e->mode ? e->mode : 0755); break;
		case L: archive_entry_set_filetype(ae, AE_IFLNK); archive_entry_set_symlink(ae, e->data); break;
		case H: archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_hardlink(ae, e->data); break;
		case CHR: archive_entry_set_filetype(ae, AE_IFCHR); archive_entry_set_rdev(ae, 0x0103); break;
		}
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (e->kind == F)
			archive_write_data(a, e->data, strlen(e->data));
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char *p = path_join(dir, name);
	assert_int_equal(write_file_atomic(p, data, len, 0644, NULL), 0);
	free(p);
}

/* Store a blob in the layout; its digest in hex. */
static void blob(const char *dir, const void *data, size_t len, char hex[65])
{
	img_sha256_hex(data, len, hex);
	char *name = xasprintf("blobs/sha256/%s", hex);
	put(dir, name, data, len);
	free(name);
}

/* An OCI layout at dir with these layers, named ref; returns the image id's hex (owned). With
 * corrupt, the first layer blob's content is changed after its digest was taken. */
static char *oci(const char *dir, const char *ref, const struct ent *const *layers, bool corrupt)
{
	char *b = path_join(dir, "blobs/sha256");
	assert_int_equal(mkdir_p(b, 0755, NULL), 0);
	free(b);
	struct strvec diffs = {0}, descs = {0};
	for (size_t i = 0; layers[i]; i++) {
		size_t len;
		char *t = layer(layers[i], &len), hex[65];
		blob(dir, t, len, hex);
		strvec_pushf(&diffs, "\"sha256:%s\"", hex);
		strvec_pushf(&descs, "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\","
			     "\"size\":%zu}", hex, len);
		if (corrupt && i == 0) {
			t[len - 1] ^= 1;
			char *name = xasprintf("blobs/sha256/%s", hex);
			put(dir, name, t, len);
			free(name);
		}
		free(t);
	}
	char *dj = xstrdup(""), *lj = xstrdup("");
	for (size_t i = 0; i < diffs.n; i++) {
		char *a = xasprintf("%s%s%s", dj, i ? "," : "", diffs.v[i]);
		char *c = xasprintf("%s%s%s", lj, i ? "," : "", descs.v[i]);
		free(dj);
		free(lj);
		dj = a;
		lj = c;
	}
	char *cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2026-01-02T03:04:05Z\","
			      "\"config\":{\"Env\":[\"A=1\"],\"WorkingDir\":\"/w\"},\"rootfs\":{\"type\":\"layers\","
			      "\"diff_ids\":[%s]}}", dj);
	char chex[65], mhex[65];
	blob(dir, cfg, strlen(cfg), chex);
	char *man = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
			      "\"sha256:%s\",\"size\":%zu},\"layers\":[%s]}", chex, strlen(cfg), lj);
	blob(dir, man, strlen(man), mhex);
	char *idx = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest."
			      "v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu,\"annotations\":{"
			      "\"org.opencontainers.image.ref.name\":\"%s\"}}]}", mhex, strlen(man), ref);
	put(dir, "index.json", idx, strlen(idx));
	free(idx);
	free(man);
	free(cfg);
	free(dj);
	free(lj);
	strvec_free(&diffs);
	strvec_free(&descs);
	return xstrdup(chex);
}

/* --- fixture ------------------------------------------------------------------------------------ */

struct fx {
	char *tmp, *home, *src;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	char tmpl[] = "/tmp/rp-test-image-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	f->tmp = xstrdup(tmpl);
	f->home = path_join(f->tmp, "home");
	f->src = path_join(f->tmp, "src");
	mkdir(f->home, 0755);
	unsetenv("RUNPILOT_IMAGE_MAX_BYTES");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char *root = xasprintf("%s/images/rootfs", f->home);
	/* Unpacked trees' tops are read-only. */
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *p = path_join(root, de->d_name);
		chmod(p, 0755);
		free(p);
	}
	if (d)
		closedir(d);
	free(root);
	rm_rf(f->tmp, NULL);
	free(f->tmp);
	free(f->home);
	free(f->src);
	free(f);
	unsetenv("RUNPILOT_IMAGE_MAX_BYTES");
	return 0;
}

static int count_in(const struct fx *f, const char *rel)
{
	char *p = xasprintf("%s/images/%s", f->home, rel);
	int n = path_is_dir(p) ? count_entries(p) : 0;
	free(p);
	return n;
}

/* Nothing stored: no blob, no tree, no temporary directory left, no index. */
static void assert_store_empty(const struct fx *f)
{
	assert_int_equal(count_in(f, "blobs/sha256"), 0);
	assert_int_equal(count_in(f, "rootfs"), 0);
	assert_int_equal(count_in(f, "tmp"), 0);
	char *idx = xasprintf("%s/images/index.json", f->home);
	assert_false(path_exists(idx));
	free(idx);
}

/* A file of the unpacked tree of id. */
static char *tree_file(const struct fx *f, const char *hex, const char *rel)
{
	return xasprintf("%s/images/rootfs/%s/%s", f->home, hex, rel);
}

static void refused(struct fx *f, const struct ent *const *layers, bool corrupt, const char *msg_part)
{
	char *hex = oci(f->src, "bad:1", layers, corrupt);
	struct rp_err e = {0};
	struct img_info info = {0};
	assert_int_equal(img_import(f->home, f->src, NULL, &info, &e), -1);
	if (!strstr(e.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", e.msg, msg_part);
	assert_non_null(strstr(e.msg, f->src)); /* names the image */
	assert_null(strchr(e.msg, '\n'));
	assert_store_empty(f);
	free(hex);
}

/* --- good images -------------------------------------------------------------------------------- */

static void test_import_find_unpack(void **state)
{
	struct fx *f = *state;
	static const struct ent l1[] = {{D, "bin", NULL, 0}, {F, "bin/tool", "#!/bin/sh\n", 04755},
					{L, "bin/sh", "/bin/tool", 0}, {H, "bin/again", "bin/tool", 0},
					{D, "etc", NULL, 0555}, {F, "etc/conf", "x=1\n", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	char *hex = oci(f->src, "docker.io/library/tiny:1", layers, false);
	struct rp_err e = {0};
	struct img_info info = {0};
	assert_int_equal(img_import(f->home, f->src, NULL, &info, &e), 0);
	char *id = xasprintf("sha256:%s", hex);
	assert_string_equal(info.id, id);
	assert_string_equal(info.names[0], "tiny:1");
	assert_non_null(info.rootfs);
	img_info_free(&info);
	/* found by name in every spelling, by id and by a prefix */
	const char *refs[] = {"tiny:1", "docker.io/library/tiny:1", id, hex, NULL};
	for (int i = 0; refs[i]; i++) {
		assert_int_equal(img_find(f->home, refs[i], &info, &e), 0);
		assert_string_equal(info.id, id);
		assert_string_equal(info.config.env[0], "A=1");
		assert_string_equal(info.config.workdir, "/w");
		assert_null(info.config.user);
		assert_string_equal(info.created, "2026-01-02T03:04:05Z");
		img_info_free(&info);
	}
	char prefix[13];
	snprintf(prefix, sizeof prefix, "%s", hex);
	assert_int_equal(img_find(f->home, prefix, &info, &e), 0);
	assert_int_equal(img_unpack(f->home, &info, &e), 0);
	img_info_free(&info);
	assert_int_equal(img_find(f->home, "tiny:2", &info, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "runpilot image pull"));
	/* the tree: setuid dropped, hard link shared, symlink kept as is */
	struct stat st, st2;
	char *tool = tree_file(f, hex, "bin/tool"), *again = tree_file(f, hex, "bin/again"), *sh = tree_file(f, hex, "bin/sh");
	assert_int_equal(lstat(tool, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_mtime, 1700000000);
	assert_int_equal(lstat(again, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	char target[64] = {0};
	assert_int_equal(readlink(sh, target, sizeof target - 1), 9);
	assert_string_equal(target, "/bin/tool");
	char *etc = tree_file(f, hex, "etc");
	assert_int_equal(stat(etc, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755); /* 0555 + the owner's rwx */
	free(tool);
	free(again);
	free(sh);
	free(etc);
	/* a second import is a no-op: the index is not rewritten */
	char *idx = xasprintf("%s/images/index.json", f->home);
	struct stat before, after;
	assert_int_equal(stat(idx, &before), 0);
	assert_int_equal(img_import(f->home, f->src, NULL, NULL, &e), 0);
	assert_int_equal(stat(idx, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	/* removal takes the tree and the blobs */
	assert_int_equal(img_remove(f->home, "tiny:1", &e), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 0);
	assert_int_equal(count_in(f, "rootfs"), 0);
	free(idx);
	free(id);
	free(hex);
}

static void test_whiteouts(void **state)
{
	struct fx *f = *state;
	static const struct ent l1[] = {{F, "keep", "k", 0}, {F, "gone", "g", 0}, {D, "d", NULL, 0},
					{F, "d/old1", "1", 0}, {D, "d/sub", NULL, 0}, {F, "d/sub/old2", "2", 0}, END};
	static const struct ent l2[] = {{F, ".wh.gone", "", 0}, {D, "d", NULL, 0}, {F, "d/new", "n", 0},
					{F, "d/.wh..wh..opq", "", 0}, {F, "nodir/.wh.x", "", 0}, END};
	const struct ent *layers[] = {l1, l2, NULL};
	char *hex = oci(f->src, "wh:1", layers, false);
	struct rp_err e = {0};
	assert_int_equal(img_import(f->home, f->src, NULL, NULL, &e), 0);
	const char *present[] = {"keep", "d", "d/new", NULL}, *absent[] = {"gone", "d/old1", "d/sub", ".wh.gone",
									    "d/.wh..wh..opq", "nodir", NULL};
	for (int i = 0; present[i]; i++) {
		char *p = tree_file(f, hex, present[i]);
		if (!path_exists(p))
			fail_msg("%s missing", present[i]);
		free(p);
	}
	for (int i = 0; absent[i]; i++) {
		char *p = tree_file(f, hex, absent[i]);
		if (path_exists(p))
			fail_msg("%s present", absent[i]);
		free(p);
	}
	free(hex);
}

static void test_device_skipped(void **state)
{
	struct fx *f = *state;
	static const struct ent l1[] = {{D, "dev", NULL, 0}, {CHR, "dev/null", NULL, 0666}, {F, "ok", "y", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	char *hex = oci(f->src, "dev:1", layers, false);
	struct rp_err e = {0};
	assert_int_equal(img_import(f->home, f->src, NULL, NULL, &e), 0);
	char *dev = tree_file(f, hex, "dev/null"), *ok = tree_file(f, hex, "ok");
	assert_false(path_exists(dev));
	assert_true(path_exists(ok));
	free(dev);
	free(ok);
	free(hex);
}

/* A tree removed is unpacked again from the blobs; two processes unpacking at once end with one
 * tree and no temporary directory. */
static void test_unpack_again_concurrently(void **state)
{
	struct fx *f = *state;
	static const struct ent l1[] = {{D, "etc", NULL, 0}, {F, "etc/motd", "hi\n", 0}, END};
	static const struct ent l2[] = {{F, "etc/.wh.motd", "", 0}, {F, "etc/issue", "2\n", 0}, END};
	const struct ent *layers[] = {l1, l2, NULL};
	char *hex = oci(f->src, "again:1", layers, false);
	struct rp_err e = {0};
	assert_int_equal(img_import(f->home, f->src, NULL, NULL, &e), 0);
	assert_int_equal(img_remove_tree(f->home, hex, &e), 0);
	struct img_info info = {0};
	if (img_find(f->home, "again:1", &info, &e) != 0)
		fail_msg("%s", e.msg);
	assert_null(info.rootfs);
	img_info_free(&info);
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct img_info in = {0};
			struct rp_err ce = {0};
			_exit(img_find(f->home, "again:1", &in, &ce) == 0 && img_unpack(f->home, &in, &ce) == 0 &&
			      in.rootfs && path_is_dir(in.rootfs) ? 0 : 1);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(count_in(f, "rootfs"), 1);
	char *issue = tree_file(f, hex, "etc/issue"), *motd = tree_file(f, hex, "etc/motd");
	assert_true(path_exists(issue));
	assert_false(path_exists(motd));
	free(issue);
	free(motd);
	free(hex);
}

/* --- hostile images ----------------------------------------------------------------------------- */

static void test_bad_digest(void **state)
{
	static const struct ent l1[] = {{F, "a", "hello", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, true, "does not match its digest");
}

static void test_dotdot(void **state)
{
	static const struct ent l1[] = {{F, "a", "x", 0}, {F, "b/../../escape", "x", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, false, "entry 'b/../../escape' has a '..' component");
}

static void test_newline_in_name(void **state)
{
	static const struct ent l1[] = {{F, "a\nrunpilot: fake line/../../x", "x", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, false, "entry 'a?runpilot: fake line/../../x' has a '..' component");
}

static void test_absolute(void **state)
{
	static const struct ent l1[] = {{F, "/etc/evil", "x", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, false, "entry '/etc/evil' has an absolute path");
}

static void test_symlink_out(void **state)
{
	static const struct ent l1[] = {{D, "a", NULL, 0}, {L, "a/up", "../../../etc", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, false, "symlink 'a/up' -> '../../../etc' points out of the root");
}

static void test_hardlink_out(void **state)
{
	static const struct ent l1[] = {{H, "h", "../outside", 0}, END};
	const struct ent *layers[] = {l1, NULL};
	refused(*state, layers, false, "hard link 'h' -> '../outside' points out of the root");
}

static void test_write_through_symlink(void **state)
{
	struct fx *f = *state;
	/* Layer 1 plants a link to a host directory; layer 2 writes through it. */
	char *outside = path_join(f->tmp, "outside");
	mkdir(outside, 0755);
	static struct ent l1[] = {{L, "evil", NULL, 0}, END};
	l1[0].data = outside;
	static const struct ent l2[] = {{F, "evil/pwned", "x", 0}, END};
	const struct ent *layers[] = {l1, l2, NULL};
	refused(f, layers, false, "entry 'evil/pwned' is written through a symlink");
	assert_int_equal(count_entries(outside), 0);
	free(outside);
}

static void test_size_limit(void **state)
{
	struct fx *f = *state;
	static char big[8192];
	memset(big, 'z', sizeof big - 1);
	static struct ent l1[] = {{F, "small", "s", 0}, {F, "big", NULL, 0}, END};
	l1[1].data = big;
	const struct ent *layers[] = {l1, NULL};
	/* The blob (about 10 KiB) fits; with the unpacked bytes it does not. */
	setenv("RUNPILOT_IMAGE_MAX_BYTES", "14000", 1);
	refused(f, layers, false, "refused at big: over the size limit of 14000 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_normalise),
		cmocka_unit_test_setup_teardown(test_import_find_unpack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpack_again_concurrently, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dotdot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absolute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newline_in_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_through_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
