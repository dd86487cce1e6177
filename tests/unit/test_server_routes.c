/* The server's route table and its secrets without a server: every route has a rule that its
 * pattern can satisfy, tokens and hashes have their shapes, passwords verify as argon2id, names
 * are checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "srv_int.h"

static void test_every_route_has_a_rule(void **state)
{
	assert_true(srv_nroutes >= 13);
	int any = 0;
	for (size_t i = 0; i < srv_nroutes; i++) {
		const struct srv_route *r = &srv_routes[i];
		assert_non_null(r->fn);
		assert_true(!strcmp(r->method, "GET") || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") ||
			    !strcmp(r->method, "DELETE"));
		assert_int_equal(strncmp(r->pattern, "/api/v1/", 8), 0);
		assert_true(r->role <= ROLE_SERVER_ADMIN);
		assert_string_not_equal(srv_role_name(r->role), "?");
		/* a project role is resolved from {project}; one is needed exactly there */
		bool project_role = r->role == ROLE_VIEWER || r->role == ROLE_EDITOR || r->role == ROLE_ADMIN;
		assert_int_equal(project_role, strstr(r->pattern, "{project}") != NULL);
		any += r->role == ROLE_ANY;
		if (r->role == ROLE_ANY)
			assert_string_equal(r->pattern, "/api/v1/login");
		for (size_t j = 0; j < i; j++)
			assert_false(!strcmp(r->method, srv_routes[j].method) && !strcmp(r->pattern, srv_routes[j].pattern));
	}
	assert_int_equal(any, 1);
	char *json = srv_routes_json();
	assert_non_null(strstr(json, "\"role\":\"SERVER_ADMIN\""));
	/* sync: pushing needs an editor, reading a viewer */
	assert_non_null(strstr(json, "{\"method\":\"POST\",\"pattern\":\"/api/v1/projects/{project}/runs\",\"role\":\"EDITOR\"}"));
	assert_non_null(strstr(json, "{\"method\":\"PUT\",\"pattern\":\"/api/v1/projects/{project}/blobs/{sha256}\",\"role\":\"EDITOR\"}"));
	assert_non_null(strstr(json, "{\"method\":\"GET\",\"pattern\":\"/api/v1/projects/{project}/runs/{uid}\",\"role\":\"VIEWER\"}"));
	assert_non_null(strstr(json, "{\"method\":\"GET\",\"pattern\":\"/api/v1/projects/{project}/blobs/{sha256}\",\"role\":\"VIEWER\"}"));
	free(json);
}

static void test_token_shape(void **state)
{
	char a[SRV_TOKEN_LEN + 1], b[SRV_TOKEN_LEN + 1];
	struct rp_err err = {0};
	assert_int_equal(srv_token_new(a, &err), 0);
	assert_int_equal(srv_token_new(b, &err), 0);
	assert_int_equal(strlen(a), SRV_TOKEN_LEN);
	assert_int_equal(strncmp(a, "rpt_", 4), 0);
	assert_int_equal(strspn(a + 4, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
	char h[SRV_HASH_HEX + 1];
	srv_sha256_hex("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_password(void **state)
{
	struct rp_err err = {0};
	char *phc = srv_password_hash("s3cret", &err);
	assert_non_null(phc);
	assert_int_equal(strncmp(phc, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
	assert_int_equal(srv_password_check(phc, "s3cret", 1000), 1);
	assert_int_equal(srv_password_check(phc, "s3cret ", 1000), 0);
	assert_int_equal(srv_password_check(NULL, "s3cret", 1000), 0);
	assert_int_equal(srv_password_check("garbage", "s3cret", 1000), 0);
	assert_true(srv_argon2_peak() >= 1 && srv_argon2_peak() <= SRV_ARGON2_MAX);
	free(phc);
}

static void test_names(void **state)
{
	assert_true(srv_name_ok("team-a.v2_x"));
	assert_true(srv_name_ok("A"));
	assert_false(srv_name_ok(""));
	assert_false(srv_name_ok(NULL));
	assert_false(srv_name_ok(".hidden"));
	assert_false(srv_name_ok("-x"));
	assert_false(srv_name_ok("a b"));
	assert_false(srv_name_ok("a/b"));
	assert_false(srv_name_ok("x'; DROP TABLE accounts; --"));
	char long_name[66];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_false(srv_name_ok(long_name));
	long_name[64] = '\0';
	assert_true(srv_name_ok(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_has_a_rule),
		cmocka_unit_test(test_token_shape),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
