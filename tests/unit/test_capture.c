/* capture.c's logs.txt: whole without a cap; under resources.log_bytes its head, a marker line
 * and its tail, at every chunking of the output; a write that fails cuts it and counts the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "capture.h"
#include "util.h"

struct cap_test {
	char *dir, *log;
};

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-capture-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	struct cap_test *t = xcalloc(1, sizeof *t);
	t->dir = xstrdup(tmpl);
	t->log = path_join(t->dir, "logs.txt");
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct cap_test *t = *state;
	int rc = rm_rf(t->dir, NULL);
	free(t->log);
	free(t->dir);
	free(t);
	return rc;
}

/* len bytes of numbered lines ("0000000\n", ...), the last one maybe cut short. */
static char *lines(size_t len)
{
	char *p = xmalloc(len + 9);
	for (size_t i = 0; i * 8 < len; i++)
		snprintf(p + i * 8, 9, "%07u\n", (unsigned)(i % 10000000));
	p[len] = '\0';
	return p;
}

/* Feed data through a pipe in chunks of `chunk` bytes under a cap; what logs.txt holds. */
static char *capture_through(struct cap_test *t, const char *data, size_t len, size_t chunk,
			     unsigned long long cap, struct capture *c)
{
	unlink(t->log);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct rp_err e = {0};
	assert_int_equal(capture_init(c, p[0], t->log, -1, &e), 0);
	c->log_cap = cap;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(write_all(p[1], data + off, n), 0);
		capture_pump(c);
	}
	close(p[1]);
	while (capture_pump(c) == 0)
		;
	capture_close(c);
	char *text;
	assert_int_equal(read_file(t->log, &text, NULL, NULL), 0);
	return text;
}

static void test_no_cap_keeps_everything(void **state)
{
	struct cap_test *t = *state;
	char *data = lines(100000);
	struct capture c;
	char *got = capture_through(t, data, 100000, 4096, 0, &c);
	assert_string_equal(got, data);
	assert_int_equal(c.log_written, 100000);
	assert_int_equal(c.log_lost, 0);
	free(got);
	free(data);
}

/* Head, marker, tail, and the counts, for caps and chunk sizes around the ring's edges. */
static void test_cap_keeps_head_and_tail(void **state)
{
	struct cap_test *t = *state;
	static const size_t lens[] = {0, 1, 99, 100, 101, 1000, 65536, 300001};
	static const size_t chunks[] = {1, 7, 50, 64, 4096, 65536};
	static const unsigned long long caps[] = {1, 2, 100, 101, 4096};
	for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
		for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++)
			for (size_t ki = 0; ki < sizeof caps / sizeof *caps; ki++) {
				size_t len = lens[li], chunk = chunks[ci];
				unsigned long long cap = caps[ki];
				if (len > 5000 && chunk < 64)
					continue;
				char *data = lines(len);
				struct capture c;
				char *got = capture_through(t, data, len, chunk, cap, &c);
				size_t tail = (size_t)(cap / 2), head = (size_t)cap - tail;
				char *want;
				if (len <= cap) {
					want = xstrdup(data);
				} else {
					char *h = xstrndup(data, head);
					want = xasprintf("%s%s[runpilot: %llu bytes cut here]\n%s", h,
							 head && h[head - 1] != '\n' ? "\n" : "",
							 (unsigned long long)(len - cap), data + len - tail);
					free(h);
				}
				if (strcmp(got, want))
					fail_msg("len %zu chunk %zu cap %llu: got %zu bytes, want %zu", len, chunk, cap,
						 strlen(got), strlen(want));
				assert_int_equal(c.log_written + c.log_lost, len);
				assert_int_equal(c.log_lost, len > cap ? len - cap : 0);
				cJSON *sec = capture_logs_section(&c);
				assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(sec, "truncated")), len > cap);
				assert_int_equal(cJSON_GetObjectItem(sec, "cap")->valuedouble, (double)cap);
				cJSON_Delete(sec);
				free(want);
				free(got);
				free(data);
			}
}

/* A log that cannot be written: the output still drains, every byte counted as lost. */
static void test_failed_write_counts_the_rest(void **state)
{
	struct cap_test *t = *state;
	char *data = lines(50000);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct rp_err e = {0};
	struct capture c;
	assert_int_equal(capture_init(&c, p[0], t->log, -1, &e), 0);
	close(c.log_fd);
	c.log_fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (c.log_fd < 0)
		skip();
	for (size_t off = 0; off < 50000; off += 10000) {
		assert_int_equal(write_all(p[1], data + off, 10000), 0);
		capture_pump(&c);
	}
	close(p[1]);
	while (capture_pump(&c) == 0)
		;
	capture_close(&c);
	assert_int_equal(c.bytes, 50000);
	assert_int_equal(c.log_written, 0);
	assert_int_equal(c.log_lost, 50000);
	cJSON *sec = capture_logs_section(&c);
	assert_string_equal(cJSON_GetObjectItem(sec, "error")->valuestring, "No space left on device");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sec, "truncated")));
	assert_null(cJSON_GetObjectItem(sec, "cap"));
	cJSON_Delete(sec);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_cap_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_keeps_head_and_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_counts_the_rest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
