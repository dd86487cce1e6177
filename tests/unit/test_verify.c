/* verify.c's summary of a comparison: one line per changed component, counted where the
 * comparison names what changed; an image's new id is "image: digest changed". And run.json's
 * "parent" (a rerun's) round-trips, absent for a plain run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "record.h"
#include "util.h"
#include "verify.h"

/* An environment section with one component's fields (JSON text) under name. */
static cJSON *env_with(const char *fingerprint, const char *name, const char *component)
{
	cJSON *env = cJSON_CreateObject();
	cJSON_AddStringToObject(env, "fingerprint", fingerprint);
	cJSON *comps = cJSON_AddObjectToObject(env, "components");
	static const char *const all[] = {"config", "code", "runtime", "packages", "env"};
	for (size_t i = 0; i < 5; i++) {
		cJSON *c = strcmp(all[i], name) ? cJSON_Parse("{\"hash\": \"sha256:same\"}") : cJSON_Parse(component);
		assert_non_null(c);
		cJSON_AddItemToObject(comps, all[i], c);
	}
	return env;
}

static cJSON *compare(const char *name, const char *old_c, const char *new_c)
{
	cJSON *a = env_with("sha256:aaaa", name, old_c), *b = env_with("sha256:bbbb", name, new_c);
	cJSON *cmp = fp_compare(a, b);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return cmp;
}

/* The one line verify_changes gives for cmp. */
static void assert_one_line(cJSON *cmp, const char *want)
{
	char **lines = verify_changes(cmp);
	assert_non_null(lines[0]);
	assert_string_equal(lines[0], want);
	assert_null(lines[1]);
	verify_changes_free(lines);
	cJSON_Delete(cmp);
}

static void test_same_is_no_lines(void **state)
{
	cJSON *cmp = compare("code", "{\"hash\": \"sha256:x\"}", "{\"hash\": \"sha256:x\"}");
	/* the fingerprints differ in this fixture; every component is the same */
	char **lines = verify_changes(cmp);
	assert_null(lines[0]);
	verify_changes_free(lines);
	cJSON_Delete(cmp);
}

static void test_image_id_is_digest_changed(void **state)
{
	assert_one_line(compare("runtime",
				"{\"hash\": \"sha256:r1\", \"kind\": \"image\", \"image_id\": \"sha256:1111\"}",
				"{\"hash\": \"sha256:r2\", \"kind\": \"image\", \"image_id\": \"sha256:2222\"}"),
			"image: digest changed");
}

static void test_runtime_fields_named(void **state)
{
	assert_one_line(compare("runtime", "{\"hash\": \"sha256:r1\", \"interpreter\": {\"path\": \"/usr/bin/python3\"}}",
				"{\"hash\": \"sha256:r2\", \"interpreter\": {\"path\": \"/opt/bin/python3\"}}"),
			"runtime: interpreter.path changed");
}

static void test_code_files_counted(void **state)
{
	cJSON *cmp = compare("code", "{\"hash\": \"sha256:c1\"}", "{\"hash\": \"sha256:c2\"}");
	cJSON *code = cJSON_GetObjectItem(cJSON_GetObjectItem(cmp, "components"), "code");
	cJSON_AddItemToObject(code, "modified", cJSON_CreateStringArray((const char *[]){"a.py", "b.py"}, 2));
	cJSON_AddItemToObject(code, "added", cJSON_CreateStringArray((const char *[]){"c.py"}, 1));
	assert_one_line(cmp, "code: 3 files changed");
	cmp = compare("code", "{\"hash\": \"sha256:c1\"}", "{\"hash\": \"sha256:c2\"}");
	code = cJSON_GetObjectItem(cJSON_GetObjectItem(cmp, "components"), "code");
	cJSON_AddItemToObject(code, "removed", cJSON_CreateStringArray((const char *[]){"c.py"}, 1));
	assert_one_line(cmp, "code: 1 file changed");
	/* without the file lists (files.json lost): changed, uncounted */
	assert_one_line(compare("code", "{\"hash\": \"sha256:c1\"}", "{\"hash\": \"sha256:c2\"}"), "code: changed");
}

static void test_packages_counted(void **state)
{
	assert_one_line(compare("packages", "{\"hash\": \"sha256:p1\", \"distributions\": [\"numpy==1.0\", \"torch==2.0\", \"old==1\"]}",
				"{\"hash\": \"sha256:p2\", \"distributions\": [\"numpy==1.1\", \"torch==2.0\", \"new==1\"]}"),
			"packages: 3 changed");
}

static void test_env_and_config_counted(void **state)
{
	assert_one_line(compare("env", "{\"hash\": \"sha256:e1\", \"vars\": {\"A\": \"1\"}}",
				"{\"hash\": \"sha256:e2\", \"vars\": {\"A\": \"2\", \"B\": \"1\"}}"),
			"env: 2 variables changed");
	assert_one_line(compare("config", "{\"hash\": \"sha256:k1\", \"values\": {\"params.lr\": \"0.1\"}}",
				"{\"hash\": \"sha256:k2\", \"values\": {\"params.lr\": \"0.2\"}}"),
			"config: 1 key changed");
}

static void test_not_recorded_says_so(void **state)
{
	cJSON *a = env_with("sha256:aaaa", "code", "{\"hash\": \"sha256:c\"}");
	cJSON *b = env_with("sha256:bbbb", "code", "{\"hash\": \"sha256:c\"}");
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(a, "components"), "packages");
	cJSON *cmp = fp_compare(a, b);
	cJSON_Delete(a);
	cJSON_Delete(b);
	assert_one_line(cmp, "packages: changed (not recorded in the run)");
}

static void test_several_in_component_order(void **state)
{
	cJSON *cmp = compare("code", "{\"hash\": \"sha256:c1\"}", "{\"hash\": \"sha256:c2\"}");
	cJSON *env = cJSON_GetObjectItem(cJSON_GetObjectItem(cmp, "components"), "env");
	cJSON_ReplaceItemInObject(env, "status", cJSON_CreateString("changed"));
	char **lines = verify_changes(cmp);
	assert_string_equal(lines[0], "code: changed");
	assert_string_equal(lines[1], "env: changed");
	assert_null(lines[2]);
	verify_changes_free(lines);
	cJSON_Delete(cmp);
}

static void test_parent_round_trip(void **state)
{
	cJSON *j = cJSON_Parse("{\"id\": \"rp_0002\", \"uid\": \"u2\", \"status\": \"success\", \"parent\": \"u1\"}");
	struct rp_run r;
	assert_int_equal(record_from_json(j, &r, NULL), 0);
	cJSON_Delete(j);
	assert_string_equal(r.parent, "u1");
	assert_null(record_section(&r, "parent")); /* a field of the record, not a section */
	j = record_to_json(&r);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "parent")), "u1");
	cJSON_Delete(j);
	free(r.parent);
	r.parent = NULL;
	j = record_to_json(&r);
	assert_null(cJSON_GetObjectItem(j, "parent")); /* a plain run has none */
	cJSON_Delete(j);
	record_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_is_no_lines),
		cmocka_unit_test(test_image_id_is_digest_changed),
		cmocka_unit_test(test_runtime_fields_named),
		cmocka_unit_test(test_code_files_counted),
		cmocka_unit_test(test_packages_counted),
		cmocka_unit_test(test_env_and_config_counted),
		cmocka_unit_test(test_not_recorded_says_so),
		cmocka_unit_test(test_several_in_component_order),
		cmocka_unit_test(test_parent_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
