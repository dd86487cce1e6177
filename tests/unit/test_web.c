/* The web layer's pure parts: route patterns and what their wildcards capture, dot segments,
 * the percent-decoding that keeps %00, Content-Disposition for any file name, the built-in
 * assets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "web_int.h"

static void expect_match(const char *pattern, const char *path, const char *c0, const char *c1)
{
	char *cap[2];
	assert_true(web_route_match(pattern, path, cap));
	if (c0)
		assert_string_equal(cap[0], c0);
	else
		assert_null(cap[0]);
	if (c1)
		assert_string_equal(cap[1], c1);
	else
		assert_null(cap[1]);
	free(cap[0]);
	free(cap[1]);
}

static void expect_no_match(const char *pattern, const char *path)
{
	char *cap[2];
	assert_false(web_route_match(pattern, path, cap));
	assert_null(cap[0]);
	assert_null(cap[1]);
}

static void test_routes(void **state)
{
	expect_match("/", "/", NULL, NULL);
	expect_no_match("/", "/x");
	expect_no_match("/", "");
	expect_match("/api/runs", "/api/runs", NULL, NULL);
	expect_no_match("/api/runs", "/api/runs/");
	expect_no_match("/api/runs", "/api/run");
	expect_no_match("/api/runs", "/api/runsx");
	expect_match("/api/runs/*", "/api/runs/rp_0001", "rp_0001", NULL);
	expect_no_match("/api/runs/*", "/api/runs/");
	expect_no_match("/api/runs/*", "/api/runs/rp_0001/log");
	expect_match("/api/runs/*/log", "/api/runs/7/log", "7", NULL);
	expect_match("/api/runs/*/log/stream", "/api/runs/7/log/stream", "7", NULL);
	expect_no_match("/api/runs/*/log", "/api/runs/7/log/stream");
	/* a metric name or an output path may hold slashes */
	expect_match("/api/runs/*/metrics/**", "/api/runs/rp_0002/metrics/train/loss", "rp_0002", "train/loss");
	expect_match("/api/runs/*/outputs/**", "/api/runs/1/outputs/a/b/c.txt", "1", "a/b/c.txt");
	expect_match("/api/runs/*/outputs/**", "/api/runs/1/outputs//etc/passwd", "1", "/etc/passwd");
	expect_no_match("/api/runs/*/outputs/**", "/api/runs/1/outputs/");
	expect_no_match("/api/runs/*/outputs/**", "/api/runs//outputs/a");
}

static void test_dot_segments(void **state)
{
	assert_true(web_path_has_dot_segment("/api/runs/1/outputs/../run.json"));
	assert_true(web_path_has_dot_segment("/a/./b"));
	assert_true(web_path_has_dot_segment("/.."));
	assert_true(web_path_has_dot_segment("/a/.."));
	assert_true(web_path_has_dot_segment("/a//../b"));
	assert_false(web_path_has_dot_segment("/a/..b/c"));
	assert_false(web_path_has_dot_segment("/a/b../c"));
	assert_false(web_path_has_dot_segment("/a/.hidden"));
	assert_false(web_path_has_dot_segment("/"));
}

static void expect_unescape(const char *in, const char *out)
{
	char buf[256];
	strcpy(buf, in);
	size_t n = web_unescape(buf);
	assert_string_equal(buf, out);
	assert_int_equal(n, strlen(out));
}

static void test_unescape(void **state)
{
	expect_unescape("/a%20b", "/a b");
	expect_unescape("%2e%2E%2f", "../");
	expect_unescape("%252e", "%2e"); /* once only */
	expect_unescape("a%00b", "a%00b"); /* never a NUL */
	expect_unescape("%zz%4", "%zz%4");
	expect_unescape("%", "%");
	expect_unescape("r%C3%A9", "r\xc3\xa9");
}

static void expect_disposition(const char *name, const char *want)
{
	char *cd = web_disposition(name);
	assert_non_null(cd);
	assert_string_equal(cd, want);
	free(cd);
}

static void test_disposition(void **state)
{
	expect_disposition("model.pt", "attachment; filename=\"model.pt\"");
	expect_disposition("a\"b\\c.txt", "attachment; filename=\"a_b_c.txt\"");
	expect_disposition("line\r\nSet-Cookie: x", "attachment; filename=\"line__Set-Cookie: x\"");
	expect_disposition("r\xc3\xa9sum\xc3\xa9.txt",
			   "attachment; filename=\"r__sum__.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt");
	expect_disposition("\xc3\xa9 \"x\".txt",
			   "attachment; filename=\"__ _x_.txt\"; filename*=UTF-8''%C3%A9%20%22x%22.txt");
}

static void test_assets(void **state)
{
	const char *want[] = {"index.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"};
	for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
		bool found = false;
		for (size_t i = 0; i < web_nassets; i++)
			if (!strcmp(web_assets[i].name, want[w])) {
				found = true;
				assert_true(web_assets[i].end > web_assets[i].data);
			}
		assert_true(found);
	}
	for (size_t i = 0; i < web_nassets; i++)
		if (!strcmp(web_assets[i].name, "index.html"))
			assert_non_null(memmem(web_assets[i].data, (size_t)(web_assets[i].end - web_assets[i].data),
					       "/assets/app.js", 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_dot_segments),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_disposition),
		cmocka_unit_test(test_assets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
