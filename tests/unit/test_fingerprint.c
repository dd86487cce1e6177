/* Fingerprint core: hashing, canonical config, ignore rules, tree hash determinism, the per-file
 * cache (racy rule), metadata-only mode and the comparison of two fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "fp_test_util.h"

static void test_sha256_known_vector(void **state)
{
	(void)state;
	unsigned char h[FP_HASH_LEN];
	char hex[FP_HEX_LEN + 1];
	fp_sha256("abc", 3, h);
	fp_hex(h, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* Length prefixes: ("ab","c") and ("a","bc") must not collide. */
static void test_fields_are_length_prefixed(void **state)
{
	(void)state;
	unsigned char a[FP_HASH_LEN], b[FP_HASH_LEN];
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "ab");
	fp_hasher_str(&h, "c");
	fp_hasher_final(&h, a);
	fp_hasher_init(&h);
	fp_hasher_str(&h, "a");
	fp_hasher_str(&h, "bc");
	fp_hasher_final(&h, b);
	assert_memory_not_equal(a, b, FP_HASH_LEN);
}

static void test_canonical_json_sorts_keys(void **state)
{
	(void)state;
	cJSON *a = cJSON_Parse("{\"b\": 1, \"a\": {\"z\": [1, {\"y\": 2, \"x\": 3}], \"c\": \"s\"}}");
	cJSON *b = cJSON_Parse("{\"a\": {\"c\": \"s\", \"z\": [1, {\"x\": 3, \"y\": 2}]},   \"b\": 1}");
	char *ta = fp_canonical_json(a), *tb = fp_canonical_json(b);
	assert_string_equal(ta, tb);
	assert_string_equal(ta, "{\"a\":{\"c\":\"s\",\"z\":[1,{\"x\":3,\"y\":2}]},\"b\":1}");
	free(ta);
	free(tb);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_ignore_rules(void **state)
{
	(void)state;
	struct fp_ignore *ig = fp_ignore_new();
	const char *lines[] = { "# comment", "", "*.log", "!keep.log", "/build", "data/", "docs/**/*.tmp",
				"cache/**", "!cache/important", "a/*/c", "\\#hash" };
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
		fp_ignore_add(ig, lines[i]);
	assert_true(fp_ignore_match(ig, "x.log", false));
	assert_true(fp_ignore_match(ig, "deep/er/x.log", false));
	assert_false(fp_ignore_match(ig, "keep.log", false));
	assert_false(fp_ignore_match(ig, "sub/keep.log", false));
	assert_true(fp_ignore_match(ig, "build", true));
	assert_true(fp_ignore_match(ig, "build", false));
	assert_false(fp_ignore_match(ig, "src/build", true)); /* anchored */
	assert_true(fp_ignore_match(ig, "data", true));
	assert_true(fp_ignore_match(ig, "x/data", true));
	assert_false(fp_ignore_match(ig, "data", false)); /* dir-only */
	assert_true(fp_ignore_match(ig, "docs/x.tmp", false)); /* ** spans zero dirs */
	assert_true(fp_ignore_match(ig, "docs/a/b/x.tmp", false));
	assert_false(fp_ignore_match(ig, "other/docs/x.tmp", false));
	assert_false(fp_ignore_match(ig, "cache", true)); /* a trailing ** is what is inside */
	assert_true(fp_ignore_match(ig, "cache/a/b", false));
	assert_false(fp_ignore_match(ig, "cache/important", false));
	assert_true(fp_ignore_match(ig, "a/b/c", false));
	assert_false(fp_ignore_match(ig, "a/b/x/c", false)); /* * does not cross '/' */
	assert_true(fp_ignore_match(ig, "#hash", false));
	assert_true(fp_ignore_match(ig, "pkg/__pycache__", true)); /* built-in */
	assert_true(fp_ignore_match(ig, "m.pyc", false));
	assert_false(fp_ignore_match(ig, "train.py", false));
	fp_ignore_free(ig);
}

static cJSON *compute(const char *home, const char *wd, const char *config_text, struct rp_err *err)
{
	cJSON *cfg = cJSON_Parse(config_text);
	char *argv[] = { "/bin/true", NULL }, *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	cJSON *env = NULL;
	int rc = fp_compute(&in, &env, err);
	cJSON_Delete(cfg);
	return rc == 0 ? env : NULL;
}

/* Same files created in a different order, one touched: same code hash and fingerprint. */
static void test_tree_is_deterministic(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *a = fpt_tmpdir(), *b = fpt_tmpdir();
	const char *names[] = { "z.py", "a/b.py", "m/n/o.txt", "a/a.py", "README" };
	for (int i = 0; i < 5; i++)
		fpt_write(a, names[i], names[i]);
	for (int i = 4; i >= 0; i--)
		fpt_write(b, names[i], names[i]);
	struct rp_err err = { 0 };
	cJSON *ea = compute(home, a, "{\"x\":1}", &err);
	assert_non_null(ea);
	/* touch: new mtime, same content */
	assert_int_equal(fpt_sh("touch -d '2001-01-01' %s/a/b.py", b), 0);
	cJSON *eb = compute(home, b, "{\"x\":1}", &err);
	assert_non_null(eb);
	assert_string_equal(fpt_comp_str(ea, "code", "hash"), fpt_comp_str(eb, "code", "hash"));
	/* the workdir path itself is not part of the code hash; the configs are equal */
	assert_string_equal(fpt_fingerprint(ea), fpt_fingerprint(eb));

	/* a content change is not */
	fpt_write(b, "a/b.py", "changed");
	cJSON *ec = compute(home, b, "{\"x\":1}", &err);
	assert_string_not_equal(fpt_comp_str(ea, "code", "hash"), fpt_comp_str(ec, "code", "hash"));
	/* nor a mode change */
	fpt_write(b, "a/b.py", "a/b.py");
	char *p = path_join(b, "z.py");
	chmod(p, 0755);
	free(p);
	cJSON *ed = compute(home, b, "{\"x\":1}", &err);
	assert_string_not_equal(fpt_comp_str(ea, "code", "hash"), fpt_comp_str(ed, "code", "hash"));
	cJSON_Delete(ea);
	cJSON_Delete(eb);
	cJSON_Delete(ec);
	cJSON_Delete(ed);
	fpt_rm(home);
	fpt_rm(a);
	fpt_rm(b);
}

/* .runpilotignore'd files, .git, virtualenvs and the run store do not count. */
static void test_tree_skips_ignored_and_store(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "train.py", "print(1)\n");
	fpt_write(wd, ".runpilotignore", "data/\n*.ckpt\n!best.ckpt\n");
	fpt_write(wd, "data/big.bin", "1");
	fpt_write(wd, "m.ckpt", "1");
	fpt_write(wd, ".git/HEAD", "ref");
	fpt_write(wd, ".venv/pyvenv.cfg", "home = /usr/bin\n");
	fpt_write(wd, ".venv/lib/x.py", "1");
	fpt_write(wd, "store/runs/rp_0001/run.json", "{}");
	char *store = path_join(wd, "store");
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	cJSON *cfg = cJSON_CreateObject();
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	in.exclude_dir = store;
	cJSON *e1 = NULL, *files = NULL;
	struct rp_err err = { 0 };
	assert_int_equal(fp_compute_files(&in, &e1, &files, &err), 0);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(files, "code");
	assert_int_equal(cJSON_GetArraySize(list), 2); /* .runpilotignore, train.py */
	assert_string_equal(fp_files_row_path(cJSON_GetArrayItem(list, 1)), "train.py");

	fpt_write(wd, "data/big.bin", "2");
	fpt_write(wd, "m.ckpt", "2");
	fpt_write(wd, ".git/HEAD", "other");
	fpt_write(wd, ".venv/lib/x.py", "2");
	fpt_write(wd, "store/runs/rp_0002/run.json", "{}");
	cJSON *e2 = NULL;
	assert_int_equal(fp_compute(&in, &e2, &err), 0);
	assert_string_equal(fpt_fingerprint(e1), fpt_fingerprint(e2));

	fpt_write(wd, "best.ckpt", "negated: counted");
	cJSON *e3 = NULL;
	assert_int_equal(fp_compute(&in, &e3, &err), 0);
	assert_string_not_equal(fpt_fingerprint(e1), fpt_fingerprint(e3));
	cJSON_Delete(e1);
	cJSON_Delete(e2);
	cJSON_Delete(e3);
	cJSON_Delete(files);
	cJSON_Delete(cfg);
	free(store);
	fpt_rm(home);
	fpt_rm(wd);
}

/* git's racy rule: a cache entry that matches the file's stat exactly, but whose mtime is not
 * older than the moment the cache was computed, is re-hashed; an older one is trusted. */
static void test_cache_racy_entry_is_rehashed(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "f.txt", "aaaa");
	char *p = path_join(wd, "f.txt");
	unsigned char ha[FP_HASH_LEN], hb[FP_HASH_LEN];
	fp_sha256("aaaa", 4, ha);
	fp_sha256("bbbb", 4, hb);

	/* The file is rewritten with the same size; its mtime put back: only content differs. */
	struct stat st0, st;
	assert_int_equal(stat(p, &st0), 0);
	fpt_write(wd, "f.txt", "bbbb");
	struct timespec ts[2] = { st0.st_atim, st0.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, st0.st_size);
	assert_int_equal(fp_stat_mtime_ns(&st), fp_stat_mtime_ns(&st0));

	for (int trusted = 0; trusted < 2; trusted++) {
		/* A cache holding the old content's hash under the file's current stat, written by a
		 * computation that started in the file's tick (racy) or well after it (trusted). */
		struct fp_cache *c = fp_cache_open(home, wd);
		fp_cache_put(c, &st, ha);
		long long newest = fp_stat_ctime_ns(&st) > fp_stat_mtime_ns(&st) ? fp_stat_ctime_ns(&st) : fp_stat_mtime_ns(&st);
		fp_cache_set_start_ns(c, trusted ? newest + 5000000000LL : fp_stat_mtime_ns(&st));
		struct rp_err err = { 0 };
		assert_int_equal(fp_cache_save(c, &err), 0);
		fp_cache_free(c);

		struct fp_filelist fl = { 0 };
		int fd = open(wd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_int_equal(fp_filelist_add(&fl, fd, "f.txt", &err), 0);
		close(fd);
		c = fp_cache_open(home, wd);
		assert_int_equal(fp_hash_files(&fl, wd, c, false, &err), 0);
		fp_cache_free(c);
		/* racy: re-read, so the new content's hash; trusted: the cache's (proves it is used) */
		assert_memory_equal(fl.v[0].hash, trusted ? ha : hb, FP_HASH_LEN);
		fp_filelist_free(&fl);
	}
	free(p);
	fpt_rm(home);
	fpt_rm(wd);
}

/* A changed stat (size, mtime, ctime) is never served from the cache. */
static void test_cache_misses_on_changed_stat(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "f.txt", "aaaa");
	struct rp_err err = { 0 };
	cJSON *e1 = compute(home, wd, "{}", &err);
	sleep(0); /* the cache now holds f.txt */
	fpt_write(wd, "f.txt", "aaaaa");
	cJSON *e2 = compute(home, wd, "{}", &err);
	assert_string_not_equal(fpt_comp_str(e1, "code", "hash"), fpt_comp_str(e2, "code", "hash"));
	char *cp = fp_cache_path(home, wd);
	assert_true(path_exists(cp));
	free(cp);
	cJSON_Delete(e1);
	cJSON_Delete(e2);
	fpt_rm(home);
	fpt_rm(wd);
}

/* The shared "system" cache keeps entries a computation did not use (two interpreters used in
 * turn stay cached), but never carries a racy entry over to a later threshold. */
static void test_system_cache_keeps_unused_safe_entries(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *d = fpt_tmpdir();
	fpt_write(d, "a", "interpreter a");
	fpt_write(d, "b", "interpreter b");
	char *pa = path_join(d, "a"), *pb = path_join(d, "b");
	struct stat sa, sb;
	assert_int_equal(stat(pa, &sa), 0);
	assert_int_equal(stat(pb, &sb), 0);
	unsigned char ha[FP_HASH_LEN] = {1}, hb[FP_HASH_LEN] = {2}, got[FP_HASH_LEN];
	long long later = fp_stat_mtime_ns(&sa) + 5000000000LL; /* both files are 5 s older than this */

	struct fp_cache *c = fp_cache_open(home, "system");
	fp_cache_set_start_ns(c, later);
	fp_cache_put(c, &sa, ha);
	assert_int_equal(fp_cache_save(c, NULL), 0);
	fp_cache_free(c);

	c = fp_cache_open(home, "system"); /* a run that only uses b */
	fp_cache_set_start_ns(c, later + 1);
	fp_cache_put(c, &sb, hb);
	assert_int_equal(fp_cache_save(c, NULL), 0);
	fp_cache_free(c);

	c = fp_cache_open(home, "system");
	assert_true(fp_cache_lookup(c, &sa, got)); /* a survived the run that did not use it */
	assert_memory_equal(got, ha, FP_HASH_LEN);
	assert_true(fp_cache_lookup(c, &sb, got));
	fp_cache_free(c);

	/* a per-workdir scope keeps only what its computation used */
	c = fp_cache_open(home, d);
	fp_cache_set_start_ns(c, later);
	fp_cache_put(c, &sa, ha);
	assert_int_equal(fp_cache_save(c, NULL), 0);
	fp_cache_free(c);
	c = fp_cache_open(home, d);
	fp_cache_set_start_ns(c, later + 1);
	fp_cache_put(c, &sb, hb);
	assert_int_equal(fp_cache_save(c, NULL), 0);
	fp_cache_free(c);
	c = fp_cache_open(home, d);
	assert_false(fp_cache_lookup(c, &sa, got));
	fp_cache_free(c);
	free(pa);
	free(pb);
	fpt_rm(home);
	fpt_rm(d);
}

static void test_metadata_only_over_max_bytes(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "big.bin", "0123456789012345678901234567890123456789");
	cJSON *cfg = cJSON_CreateObject();
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	in.max_bytes = 10;
	cJSON *e = NULL;
	struct rp_err err = { 0 };
	assert_int_equal(fp_compute(&in, &e, &err), 0);
	const cJSON *code = fpt_path(e, "components", "code", NULL);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(code, "hashed_by")), "metadata");
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(code, "note")), "max_bytes"));
	in.max_bytes = 0;
	cJSON *e2 = NULL;
	assert_int_equal(fp_compute(&in, &e2, &err), 0);
	assert_string_equal(fpt_comp_str(e2, "code", "hashed_by"), "content");
	assert_string_not_equal(fpt_comp_str(e, "code", "hash"), fpt_comp_str(e2, "code", "hash"));
	cJSON_Delete(e);
	cJSON_Delete(e2);
	cJSON_Delete(cfg);
	fpt_rm(home);
	fpt_rm(wd);
}

/* Key order and labels (name, tags) do not change the config hash; a value does, and is named. */
static void test_config_component_and_compare(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "train.py", "x");
	struct rp_err err = { 0 };
	cJSON *a = compute(home, wd, "{\"name\":\"a\",\"params\":{\"lr\":0.1,\"bs\":32},\"tags\":[\"x\"]}", &err);
	cJSON *b = compute(home, wd, "{\"params\":{\"bs\":32,\"lr\":0.1},\"name\":\"b\"}", &err);
	cJSON *c = compute(home, wd, "{\"params\":{\"bs\":32,\"lr\":0.2},\"env\":{\"API_TOKEN\":\"s3cret\"}}", &err);
	assert_string_equal(fpt_fingerprint(a), fpt_fingerprint(b));
	assert_string_not_equal(fpt_fingerprint(a), fpt_fingerprint(c));
	/* secret-looking config values are stored hashed */
	const cJSON *vals = fpt_path(c, "components", "config", "values");
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vals, "env.API_TOKEN")), "sha256:"));

	cJSON *cmp = fp_compare(a, c);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmp, "same")));
	const cJSON *cc = fpt_path(cmp, "components", "config", NULL);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cc, "status")), "changed");
	assert_string_equal(fpt_comp_str(cmp, "code", "status"), "same");
	char *text = fp_compare_text(cmp, false);
	assert_non_null(strstr(text, "params.lr: 0.1 \u2192 0.2"));
	assert_non_null(strstr(text, "env.API_TOKEN: added"));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "  code")); /* same components are left out */
	free(text);
	text = fp_compare_text(cmp, true);
	assert_non_null(strstr(text, "  code       same"));
	free(text);
	cJSON_Delete(cmp);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	fpt_rm(home);
	fpt_rm(wd);
}

/* Files added, removed and modified are named from the per-file lists. */
static void test_compare_names_files(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "train.py", "lr = 0.1\n");
	fpt_write(wd, "old.py", "x");
	cJSON *cfg = cJSON_CreateObject();
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	cJSON *e1 = NULL, *f1 = NULL, *e2 = NULL, *f2 = NULL;
	struct rp_err err = { 0 };
	char *fpath = path_join(home, "files.json");
	in.files_path = fpath;
	assert_int_equal(fp_compute(&in, &e1, &err), 0);
	assert_int_equal(fp_files_load(fpath, &f1, &err), 0);
	in.files_path = NULL;
	fpt_write(wd, "train.py", "lr = 0.2\n");
	fpt_write(wd, "new.py", "y");
	char *old = path_join(wd, "old.py");
	unlink(old);
	free(old);
	assert_int_equal(fp_compute_files(&in, &e2, &f2, &err), 0);
	cJSON *cmp = fp_compare(e1, e2);
	fp_compare_files(cmp, f1, f2);
	const cJSON *code = fpt_path(cmp, "components", "code", NULL);
	assert_true(fpt_has(cJSON_GetObjectItemCaseSensitive(code, "modified"), "train.py"));
	assert_true(fpt_has(cJSON_GetObjectItemCaseSensitive(code, "added"), "new.py"));
	assert_true(fpt_has(cJSON_GetObjectItemCaseSensitive(code, "removed"), "old.py"));
	char *text = fp_compare_text(cmp, false);
	assert_non_null(strstr(text, "modified: train.py"));
	free(text);
	char s[13];
	fp_short(e1, s);
	assert_int_equal(strlen(s), 12);
	assert_memory_equal(s, fpt_fingerprint(e1) + 7, 12);
	cJSON_Delete(cmp);
	cJSON_Delete(e1);
	cJSON_Delete(e2);
	cJSON_Delete(f1);
	cJSON_Delete(f2);
	cJSON_Delete(cfg);
	free(fpath);
	fpt_rm(home);
	fpt_rm(wd);
}

/* The parallel walk: many directories, ignore rules matched from several threads, exact result. */
static void test_walk_many_dirs_with_ignores(void **state)
{
	(void)state;
	char *wd = fpt_tmpdir();
	for (int d = 0; d < 60; d++)
		for (int f = 0; f < 6; f++) {
			char rel[64];
			snprintf(rel, sizeof rel, "d%02d/sub/f%d.%s", d, f, f % 2 ? "log" : "py");
			fpt_write(wd, rel, rel);
		}
	struct fp_ignore *ig = fp_ignore_new();
	fp_ignore_add(ig, "*.log");
	fp_ignore_add(ig, "!d1*/**/f1.log");
	fp_ignore_add(ig, "d5*/");
	for (int round = 0; round < 5; round++) {
		struct fp_filelist fl = { 0 };
		struct rp_err err = { 0 };
		assert_int_equal(fp_walk(wd, ig, NULL, FP_WALK_SKIP_GIT, &fl, &err), 0);
		/* 50 dirs kept x 3 .py, plus f1.log in the 10 d1* dirs */
		assert_int_equal(fl.n, 50 * 3 + 10);
		fp_filelist_sort(&fl);
		assert_string_equal(fl.v[0].path, "d00/sub/f0.py");
		fp_filelist_free(&fl);
	}
	fp_ignore_free(ig);
	fpt_rm(wd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_known_vector),
		cmocka_unit_test(test_fields_are_length_prefixed),
		cmocka_unit_test(test_canonical_json_sorts_keys),
		cmocka_unit_test(test_ignore_rules),
		cmocka_unit_test(test_tree_is_deterministic),
		cmocka_unit_test(test_tree_skips_ignored_and_store),
		cmocka_unit_test(test_cache_racy_entry_is_rehashed),
		cmocka_unit_test(test_cache_misses_on_changed_stat),
		cmocka_unit_test(test_system_cache_keeps_unused_safe_entries),
		cmocka_unit_test(test_metadata_only_over_max_bytes),
		cmocka_unit_test(test_config_component_and_compare),
		cmocka_unit_test(test_compare_names_files),
		cmocka_unit_test(test_walk_many_dirs_with_ignores),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
