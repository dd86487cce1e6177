/* sync_payload.c: a run's push payload (members, revision, manifest, series) and its content
 * hash (stable, order-free, changed by any change), and the manifest's path rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dir_test_util.h"
#include "record_test_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "record.h"
#include "sync.h"
#include "util.h"

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = path_join(dir, rel);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644, NULL), 0);
	free(p);
}

/* A finished run in dir with logs, a config, metrics and two outputs. */
static void make_run(const char *dir, enum rp_status status)
{
	struct rp_run r;
	full_run(&r);
	r.status = status;
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	put(dir, "logs.txt", "hello\n");
	put(dir, "config.yaml", "name: x\n");
	put(dir, "notes.txt", "not part of a push\n");
	put(dir, "metrics.jsonl",
	    "{\"name\":\"loss\",\"step\":0,\"value\":0.5,\"time\":1.0,\"source\":\"log\"}\n"
	    "{\"name\":\"loss\",\"step\":1,\"value\":\"nan\",\"time\":2.0,\"source\":\"log\"}\n");
	char *out = path_join(dir, "outputs/sub");
	assert_int_equal(mkdir_p(out, 0755, NULL), 0);
	free(out);
	put(dir, "outputs/b.bin", "hello\n");
	put(dir, "outputs/sub/a.txt", "a\n");
	char *link = path_join(dir, "outputs/link");
	assert_int_equal(symlink("/etc/passwd", link), 0);
	free(link);
}

static cJSON *build(const char *dir)
{
	cJSON *p = NULL;
	struct rp_err err = {0};
	assert_int_equal(sync_payload_build(dir, &p, &err), 0);
	assert_non_null(p);
	return p;
}

static char *hash_of(const char *dir)
{
	cJSON *p = build(dir);
	char *h = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItem(p, "content_hash")));
	cJSON_Delete(p);
	return h;
}

static void test_members_and_manifest(void **state)
{
	make_run(*state, RP_SUCCESS);
	cJSON *p = build(*state);
	const char *names[] = {"uid", "revision", "content_hash", "record", "metrics", "manifest"};
	int i = 0;
	for (const cJSON *c = p->child; c; c = c->next, i++)
		assert_string_equal(c->string, names[i]);
	assert_int_equal(i, 6);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "uid")), "0f8e2a4c-1b7d-4c3e-9a5f-6d2e8b1c0a97");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "revision")), 1);
	assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(p, "content_hash"))), 64);
	/* sorted, the symbolic link and notes.txt left out, "hello\n" hashed */
	cJSON *man = cJSON_GetObjectItem(p, "manifest");
	const char *paths[] = {"config.yaml", "logs.txt", "metrics.jsonl", "outputs/b.bin", "outputs/sub/a.txt"};
	assert_int_equal(cJSON_GetArraySize(man), 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(man, i), "path")), paths[i]);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(man, 1), "sha256")),
			    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(man, 1), "size")), 6);
	char *series = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "metrics"));
	assert_string_equal(series, "{\"loss\":{\"steps\":[0,1],\"values\":[0.5,null]}}");
	free(series);
	/* the record as annotated: run.json's tags */
	cJSON *tags = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "record"), "tags");
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	cJSON_Delete(p);
}

static void test_a_big_file_is_hashed_in_chunks(void **state)
{
	make_run(*state, RP_SUCCESS);
	size_t n = (3 << 20) + 17;
	char *buf = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7);
	char *path = path_join(*state, "outputs/big");
	assert_int_equal(write_file_atomic(path, buf, n, 0644, NULL), 0);
	unsigned char d[32];
	unsigned int dn;
	EVP_Digest(buf, n, d, &dn, EVP_sha256(), NULL);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	cJSON *p = build(*state);
	cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "manifest"), 4);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "path")), "outputs/big");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "sha256")), hex);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "size")), n);
	cJSON_Delete(p);
	free(path);
	free(buf);
}

static void test_hash_changes_with_content(void **state)
{
	make_run(*state, RP_SUCCESS);
	char *h0 = hash_of(*state), *again = hash_of(*state);
	assert_string_equal(h0, again); /* stable */
	put(*state, "outputs/sub/a.txt", "b\n");
	char *h1 = hash_of(*state);
	assert_string_not_equal(h1, h0);
	put(*state, "metrics.jsonl", "{\"name\":\"loss\",\"step\":0,\"value\":0.5,\"time\":1.0,\"source\":\"log\"}\n");
	char *h2 = hash_of(*state);
	assert_string_not_equal(h2, h1);
	put(*state, "annotations.json", "{\"tags_added\": [], \"tags_removed\": [], \"note\": \"n\"}\n");
	char *h3 = hash_of(*state);
	assert_string_not_equal(h3, h2);
	put(*state, "notes.txt", "changed, not pushed\n");
	char *h4 = hash_of(*state);
	assert_string_equal(h4, h3);
	free(h0), free(again), free(h1), free(h2), free(h3), free(h4);
}

static void test_hash_ignores_member_order(void **state)
{
	make_run(*state, RP_SUCCESS);
	cJSON *p = build(*state);
	char want[65], got[65];
	assert_int_equal(sync_content_hash(p, want), 0);
	assert_string_equal(want, cJSON_GetStringValue(cJSON_GetObjectItem(p, "content_hash")));
	/* the record's members reversed, as a database may return them */
	cJSON *rec = cJSON_DetachItemFromObject(p, "record"), *rev = cJSON_CreateObject();
	while (rec->child) {
		cJSON *last = rec->child;
		while (last->next)
			last = last->next;
		char *name = xstrdup(last->string);
		cJSON_AddItemToObject(rev, name, cJSON_DetachItemViaPointer(rec, last));
		free(name);
	}
	cJSON_Delete(rec);
	cJSON_AddItemToObject(p, "record", rev);
	assert_int_equal(sync_content_hash(p, got), 0);
	assert_string_equal(got, want);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "record"), "name", cJSON_CreateString("other"));
	assert_int_equal(sync_content_hash(p, got), 0);
	assert_string_not_equal(got, want);
	cJSON_DeleteItemFromObject(p, "metrics");
	assert_int_equal(sync_content_hash(p, got), -1);
	cJSON_Delete(p);
}

static void test_revision_counts_annotations(void **state)
{
	make_run(*state, RP_SUCCESS);
	put(*state, "annotations.json", "{\"tags_added\": [\"x\"], \"tags_removed\": [], \"note\": null}\n");
	cJSON *p = build(*state);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "revision")), 2); /* an old file: one change */
	cJSON_Delete(p);
	put(*state, "annotations.json", "{\"tags_added\": [\"x\"], \"tags_removed\": [], \"note\": null, \"revision\": 3}\n");
	p = build(*state);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "revision")), 4);
	cJSON *tags = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "record"), "tags");
	assert_int_equal(cJSON_GetArraySize(tags), 3);
	cJSON_Delete(p);
}

static void test_live_run_refused(void **state)
{
	make_run(*state, RP_RUNNING);
	cJSON *p = NULL;
	struct rp_err err = {0};
	assert_int_equal(sync_payload_build(*state, &p, &err), -1);
	assert_null(p);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "rp_0042 is running"));
}

static void test_path_rule(void **state)
{
	(void)state;
	assert_true(sync_path_ok("outputs/a.bin"));
	assert_true(sync_path_ok("logs.txt"));
	assert_true(sync_path_ok("outputs/..x/y.."));
	const char *bad[] = {"", "/etc/passwd", "../x", "outputs/../../x", "outputs/./x", "outputs//x",
			     "outputs/x/", "a\\b", "a\nb", ".."};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(sync_path_ok(bad[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_members_and_manifest, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_a_big_file_is_hashed_in_chunks, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hash_changes_with_content, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hash_ignores_member_order, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_revision_counts_annotations, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_live_run_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_path_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
