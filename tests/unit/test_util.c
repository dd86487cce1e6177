/* util.c: atomic writes, paths, RFC 3339 times, UUIDs, secret names, process liveness. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include "dir_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* ---- fixture: a fresh temp dir per test ---- */

static int make_tmpdir(void **state)
{
	char tmpl[] = "/tmp/rp-test-util-XXXXXX";
	char *d = mkdtemp(tmpl);
	if (!d)
		return -1;
	*state = xstrdup(d);
	return 0;
}

static int remove_tmpdir(void **state)
{
	char *d = *state;
	chmod(d, 0700);
	int rc = rm_rf(d, NULL);
	free(d);
	return rc;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path)
{
	char *s = NULL;
	assert_int_equal(read_file(path, &s, NULL, NULL), 0);
	return s;
}

/* ---- write_file_atomic ---- */

static void test_atomic_write_creates_file_with_mode(void **state)
{
	char *p = path_join(*state, "out.txt");
	struct rp_err e = {0};
	mode_t old = umask(022);
	assert_int_equal(write_file_atomic(p, "hello\n", 6, 0640, &e), 0);
	umask(old);
	char *s = slurp(p);
	assert_string_equal(s, "hello\n");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(count_entries(*state), 1);
	free(s);
	free(p);
}

/* Replacement is a rename: a reader that opened the old file still sees the whole old content,
 * the path shows the whole new content, and no temp file is left behind. */
static void test_atomic_write_replaces_whole_file(void **state)
{
	char *p = path_join(*state, "run.json");
	put(p, "old content that is longer than the new one\n");
	int old_fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(old_fd >= 0);
	struct rp_err e = {0};
	assert_int_equal(write_file_atomic(p, "new\n", 4, 0644, &e), 0);
	char buf[128] = {0};
	assert_true(read(old_fd, buf, sizeof buf - 1) > 0);
	assert_string_equal(buf, "old content that is longer than the new one\n");
	close(old_fd);
	char *s = slurp(p);
	assert_string_equal(s, "new\n");
	assert_int_equal(count_entries(*state), 1);
	free(s);
	free(p);
}

static void test_atomic_write_binary_and_empty(void **state)
{
	char *p = path_join(*state, "bin");
	const char data[] = {'a', '\0', 'b', '\n', '\0'};
	struct rp_err e = {0};
	assert_int_equal(write_file_atomic(p, data, sizeof data, 0600, &e), 0);
	char *s;
	size_t len;
	assert_int_equal(read_file(p, &s, &len, &e), 0);
	assert_int_equal(len, sizeof data);
	assert_memory_equal(s, data, sizeof data);
	free(s);
	assert_int_equal(write_file_atomic(p, "", 0, 0600, &e), 0);
	assert_int_equal(read_file(p, &s, &len, &e), 0);
	assert_int_equal(len, 0);
	free(s);
	free(p);
}

/* Run write_file_atomic in a child (so it can drop privileges or lower limits without touching
 * the test process); the child sends back "rc\tmessage". */
struct child_result {
	int rc;
	char msg[1024];
};

enum child_mode { AS_NOBODY, WITH_TINY_FSIZE };

static struct child_result atomic_write_in_child(const char *path, const char *data, enum child_mode mode)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (mode == AS_NOBODY && geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
			_exit(3);
		if (mode == WITH_TINY_FSIZE) {
			struct rlimit rl = {16, 16};
			signal(SIGXFSZ, SIG_IGN);
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				_exit(3);
		}
		struct rp_err e = {0};
		int rc = write_file_atomic(path, data, strlen(data), 0644, &e);
		char out[1100];
		int n = snprintf(out, sizeof out, "%d\t%s", rc, e.msg);
		(void)!write(p[1], out, (size_t)n);
		_exit(0);
	}
	close(p[1]);
	struct child_result r = {0};
	char buf[1100] = {0};
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char *tab = strchr(buf, '\t');
	assert_non_null(tab);
	*tab = '\0';
	r.rc = atoi(buf);
	snprintf(r.msg, sizeof r.msg, "%s", tab + 1);
	return r;
}

static void test_atomic_write_fails_in_readonly_dir(void **state)
{
	char *dir = path_join(*state, "ro");
	assert_int_equal(mkdir(dir, 0755), 0);
	char *p = path_join(dir, "run.json");
	put(p, "old\n");
	assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(chmod(*state, 0755), 0);
	struct child_result r = atomic_write_in_child(p, "new content\n", AS_NOBODY);
	assert_int_equal(r.rc, -1);
	char *want = xasprintf("cannot create %s.tmp.", p);
	assert_non_null(strstr(r.msg, want));
	assert_non_null(strstr(r.msg, "Permission denied"));
	char *s = slurp(p);
	assert_string_equal(s, "old\n");
	assert_int_equal(count_entries(dir), 1);
	chmod(dir, 0755);
	free(s);
	free(want);
	free(p);
	free(dir);
}

/* A write that fails half way (file size limit) leaves the old file whole and no temp file. */
static void test_atomic_write_failing_midway_keeps_old_file(void **state)
{
	char *p = path_join(*state, "run.json");
	put(p, "old\n");
	struct child_result r = atomic_write_in_child(p, "this text is much longer than sixteen bytes\n",
						      WITH_TINY_FSIZE);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.msg, "cannot write"));
	char *s = slurp(p);
	assert_string_equal(s, "old\n");
	assert_int_equal(count_entries(*state), 1);
	free(s);
	free(p);
}

static void test_atomic_write_rename_failure_cleans_up(void **state)
{
	/* The target is a non-empty directory: rename(2) fails after the temp file was written. */
	char *p = path_join(*state, "target");
	assert_int_equal(mkdir(p, 0755), 0);
	char *inner = path_join(p, "keep");
	put(inner, "x");
	struct rp_err e = {0};
	assert_int_equal(write_file_atomic(p, "data", 4, 0644, &e), -1);
	assert_int_equal(e.kind, RP_ERR_RUNTIME);
	assert_non_null(strstr(e.msg, "cannot rename"));
	assert_int_equal(count_entries(*state), 1);
	assert_true(path_is_dir(p));
	free(inner);
	free(p);
}

/* ---- read_file / read_first_line / mkdir_p / rm_rf ---- */

static void test_read_file_missing_names_path(void **state)
{
	char *p = path_join(*state, "nope");
	char *s = NULL;
	struct rp_err e = {0};
	assert_int_equal(read_file(p, &s, NULL, &e), -1);
	assert_null(s);
	char *want = xasprintf("cannot open %s: No such file or directory", p);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.sys_errno, ENOENT);
	free(want);
	free(p);
}

static void test_read_file_large(void **state)
{
	char *p = path_join(*state, "big");
	size_t n = 100000;
	char *data = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(write_file_atomic(p, data, n, 0644, NULL), 0);
	char *s;
	size_t len;
	assert_int_equal(read_file(p, &s, &len, NULL), 0);
	assert_int_equal(len, n);
	assert_memory_equal(s, data, n);
	assert_int_equal(s[n], '\0');
	free(s);
	free(data);
	free(p);
}

static void test_read_first_line(void **state)
{
	char *p = path_join(*state, "f");
	put(p, "first\nsecond\n");
	char *s = read_first_line(p);
	assert_string_equal(s, "first");
	free(s);
	char *q = path_join(*state, "missing");
	assert_null(read_first_line(q));
	free(q);
	free(p);
}

static void test_mkdir_p_and_rm_rf(void **state)
{
	char *deep = path_join(*state, "a/b/c/d");
	assert_int_equal(mkdir_p(deep, 0755, NULL), 0);
	assert_true(path_is_dir(deep));
	assert_int_equal(mkdir_p(deep, 0755, NULL), 0); /* exists: fine */
	char *f = path_join(deep, "file");
	put(f, "x");
	char *top = path_join(*state, "a");
	/* a symlink inside must be removed, not followed */
	char *outside = path_join(*state, "outside");
	put(outside, "keep me");
	char *link = path_join(*state, "a/b/link");
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(rm_rf(top, NULL), 0);
	assert_false(path_exists(top));
	char *s = slurp(outside);
	assert_string_equal(s, "keep me");
	assert_int_equal(rm_rf(top, NULL), 0); /* already gone: fine */
	free(s);
	free(link);
	free(outside);
	free(top);
	free(f);
	free(deep);
}

static void test_mkdir_p_reports_failure(void **state)
{
	char *file = path_join(*state, "plainfile");
	put(file, "x");
	char *under = path_join(file, "sub");
	struct rp_err e = {0};
	assert_int_equal(mkdir_p(under, 0755, &e), -1);
	assert_non_null(strstr(e.msg, "cannot create directory"));
	free(under);
	free(file);
}

/* ---- paths ---- */

static void expect_abs(const char *base, const char *p, const char *want)
{
	char *got = path_absolute(base, p);
	assert_string_equal(got, want);
	free(got);
}

static void test_path_absolute(void **state)
{
	expect_abs("/a/b", "c", "/a/b/c");
	expect_abs("/a/b/", "c", "/a/b/c");
	expect_abs("/a/b", ".", "/a/b");
	expect_abs("/a/b", "..", "/a");
	expect_abs("/a/b", "../c", "/a/c");
	expect_abs("/a/b", "./x/./y//z/", "/a/b/x/y/z");
	expect_abs("/a/b", "/abs/../x", "/x");
	expect_abs("/a/b", "../../../..", "/");
	expect_abs("/", "x", "/x");
	expect_abs(NULL, "/only/abs", "/only/abs");
	/* relative without a base: relative to the working directory */
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(*state), 0);
	char *got = path_absolute(NULL, "sub/../file");
	char *want = path_join(*state, "file");
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(got, want);
	free(want);
	free(got);
	free(cwd);
}

static void test_path_join(void **state)
{
	char *s = path_join("/a", "b");
	assert_string_equal(s, "/a/b");
	free(s);
	s = path_join("/a/", "b");
	assert_string_equal(s, "/a/b");
	free(s);
	s = path_join("/a", "/abs");
	assert_string_equal(s, "/abs");
	free(s);
	s = path_join("", "b");
	assert_string_equal(s, "b");
	free(s);
}

/* ---- RFC 3339 ---- */

static void test_format_rfc3339_known_values(void **state)
{
	char buf[40];
	format_rfc3339(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	format_rfc3339(1795891801.5, buf); /* 2026-11-28T18:50:01.5Z */
	assert_string_equal(buf, "2026-11-28T18:50:01.500Z");
	format_rfc3339(1795891801.123, buf);
	assert_string_equal(buf, "2026-11-28T18:50:01.123Z");
	format_rfc3339(1795891801.9996, buf); /* rounds up into the next second */
	assert_string_equal(buf, "2026-11-28T18:50:02.000Z");
	/* but not out of the four-digit years parse_rfc3339 reads */
	double t;
	assert_int_equal(parse_rfc3339("9999-12-31T23:59:59.9999Z", &t), 0);
	format_rfc3339(t, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	assert_int_equal(parse_rfc3339(buf, &t), 0);
	format_rfc3339(1e300, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	format_rfc3339(INFINITY, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
}

static void test_parse_rfc3339(void **state)
{
	double t = -1;
	assert_int_equal(parse_rfc3339("2026-11-28T18:50:01.500Z", &t), 0);
	assert_float_equal(t, 1795891801.5, 1e-6);
	assert_int_equal(parse_rfc3339("2026-11-28T18:50:01Z", &t), 0);
	assert_float_equal(t, 1795891801.0, 1e-6);
	assert_int_equal(parse_rfc3339("1970-01-01T00:00:00.000Z", &t), 0);
	assert_float_equal(t, 0, 1e-9);
	t = 42;
	assert_int_equal(parse_rfc3339("2026-11-28 18:50:01Z", &t), -1);
	assert_int_equal(parse_rfc3339("2026-11-28T18:50:01", &t), -1);
	assert_int_equal(parse_rfc3339("2026-11-28T18:50:01.5", &t), -1);
	assert_int_equal(parse_rfc3339("2026-11-28T18:50:01.5Zjunk", &t), -1);
	assert_int_equal(parse_rfc3339("yesterday", &t), -1);
	assert_int_equal(parse_rfc3339("", &t), -1);
	/* the fraction is digits only: an exponent would make any time, or an infinite one */
	assert_int_equal(parse_rfc3339("2025-01-01T00:00:00.5e400Z", &t), -1);
	assert_int_equal(parse_rfc3339("2025-01-01T00:00:00.5e3Z", &t), -1);
	assert_int_equal(parse_rfc3339("2025-01-01T00:00:00.Z", &t), -1);
	assert_int_equal(parse_rfc3339("2025-01-01T00:00:00.-5Z", &t), -1);
	assert_float_equal(t, 42, 0); /* untouched on failure */
	assert_int_equal(parse_rfc3339("2025-01-01T00:00:00.250000000000000000000000001Z", &t), 0);
	assert_float_equal(t, 1735689600.25, 1e-6);
}

/* Every millisecond value survives format → parse → format. */
static void test_rfc3339_round_trip_every_millisecond(void **state)
{
	for (int ms = 0; ms < 1000; ms++) {
		char in[40], out[40];
		snprintf(in, sizeof in, "2026-11-28T18:30:01.%03dZ", ms);
		double t;
		assert_int_equal(parse_rfc3339(in, &t), 0);
		format_rfc3339(t, out);
		assert_string_equal(out, in);
	}
	/* and from the clock: the text never drifts on re-parsing */
	double now = now_realtime();
	char a[40], b[40];
	format_rfc3339(now, a);
	double back;
	assert_int_equal(parse_rfc3339(a, &back), 0);
	assert_true(back - now < 0.0006 && now - back < 0.0006);
	format_rfc3339(back, b);
	assert_string_equal(a, b);
}

/* ---- UUIDs ---- */

static void check_uuid_format(const char *u)
{
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", u[i]));
	}
	assert_int_equal(u[14], '4');               /* version 4 */
	assert_non_null(strchr("89ab", u[19]));     /* RFC 4122 variant */
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_uuid_v4_format_and_uniqueness(void **state)
{
	enum { N = 2000 };
	char **all = xcalloc(N, sizeof *all);
	for (int i = 0; i < N; i++) {
		char u[37];
		memset(u, 'Z', sizeof u);
		uuid_v4(u);
		check_uuid_format(u);
		all[i] = xstrdup(u);
	}
	qsort(all, N, sizeof *all, cmp_str);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	for (int i = 0; i < N; i++)
		free(all[i]);
	free(all);
}

/* ---- secrets ---- */

static void test_name_looks_secret(void **state)
{
	const char *secret[] = {"GITHUB_TOKEN", "token", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "api_key",
				"MyKey", "HF_TOKEN_FILE", "client_secret"};
	const char *plain[] = {"PATH", "HOME", "PYTHONUNBUFFERED", "LEARNING_RATE", "CUDA_VISIBLE_DEVICES",
			       "PASSWD_HINT", "K_E_Y", ""};
	for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
		assert_true(name_looks_secret(secret[i]));
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		assert_false(name_looks_secret(plain[i]));
}

/* ---- processes ---- */

static char proc_state(pid_t pid)
{
	char path[64], buf[512] = {0};
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	char *p = n > 0 ? strrchr(buf, ')') : NULL;
	return p ? p[2] : 0;
}

static void test_process_alive_self_and_child(void **state)
{
	assert_true(process_alive(getpid()));
	assert_true(process_start_ticks(getpid()) > 0);
	assert_int_equal(process_start_ticks(getpid()), process_start_ticks(getpid()));

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	assert_true(process_alive(pid));
	unsigned long long ticks = process_start_ticks(pid);
	assert_true(ticks >= process_start_ticks(getpid()));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_false(process_alive(pid));
	assert_int_equal(process_start_ticks(pid), 0);
}

/* PID 1 may not reap orphans here: a zombie counts as dead. */
static void test_process_alive_zombie_is_dead(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(7);
	for (int i = 0; i < 2000 && proc_state(pid) != 'Z'; i++)
		usleep(1000);
	assert_int_equal(proc_state(pid), 'Z');
	bool alive = process_alive(pid);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(alive);
	assert_int_equal(WEXITSTATUS(status), 7);
}

static void test_process_alive_nonsense_pids(void **state)
{
	assert_false(process_alive(0x3fffffff));
	assert_false(process_alive(-5));
	assert_int_equal(process_start_ticks(0x3fffffff), 0);
}

static void test_boot_id(void **state)
{
	char *b = current_boot_id();
	if (!b)
		skip_because("this kernel has no /proc/sys/kernel/random/boot_id");
	check_uuid_format(b); /* the kernel's boot id is a random (v4) UUID */
	char *again = current_boot_id();
	assert_string_equal(b, again);
	free(again);
	free(b);
}

/* ---- strvec ---- */

static void test_strvec(void **state)
{
	struct strvec sv = {0};
	char **items = strvec_items(&sv);
	assert_non_null(items);
	assert_null(items[0]);
	for (int i = 0; i < 50; i++)
		strvec_pushf(&sv, "item-%d", i);
	assert_int_equal(sv.n, 50);
	assert_string_equal(sv.v[0], "item-0");
	assert_string_equal(sv.v[49], "item-49");
	assert_null(sv.v[50]);
	strvec_free(&sv);
	assert_null(sv.v);
	assert_int_equal(sv.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atomic_write_creates_file_with_mode, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_replaces_whole_file, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_binary_and_empty, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_fails_in_readonly_dir, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_failing_midway_keeps_old_file, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_rename_failure_cleans_up, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_file_missing_names_path, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_file_large, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_first_line, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_mkdir_p_and_rm_rf, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_mkdir_p_reports_failure, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_path_absolute, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_format_rfc3339_known_values),
		cmocka_unit_test(test_parse_rfc3339),
		cmocka_unit_test(test_rfc3339_round_trip_every_millisecond),
		cmocka_unit_test(test_uuid_v4_format_and_uniqueness),
		cmocka_unit_test(test_name_looks_secret),
		cmocka_unit_test(test_process_alive_self_and_child),
		cmocka_unit_test(test_process_alive_zombie_is_dead),
		cmocka_unit_test(test_process_alive_nonsense_pids),
		cmocka_unit_test(test_boot_id),
		cmocka_unit_test(test_strvec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
