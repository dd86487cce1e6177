/* store.c: the run store's home, id allocation by exclusive mkdir (also under concurrency and past
 * rp_9999), listing, and resolving "rp_0007" / "7" / "last" / a unique name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record.h"
#include "store.h"
#include "util.h"

struct fx {
	char *tmp;            /* temp dir, removed afterwards */
	char *old_home_env;   /* RUNPILOT_HOME before the test */
	struct rp_store st;   /* opened on <tmp>/home */
};

static char *dup_env(const char *name)
{
	const char *v = getenv(name);
	return v ? xstrdup(v) : NULL;
}

static void restore_env(const char *name, char *saved)
{
	if (saved)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-store-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	struct fx *f = xcalloc(1, sizeof *f);
	f->tmp = xstrdup(tmpl);
	f->old_home_env = dup_env("RUNPILOT_HOME");
	char *home = path_join(f->tmp, "home");
	setenv("RUNPILOT_HOME", home, 1);
	free(home);
	struct rp_err e = {0};
	if (store_open(&f->st, true, &e) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(&f->st);
	restore_env("RUNPILOT_HOME", f->old_home_env);
	int rc = rm_rf(f->tmp, NULL);
	free(f->tmp);
	free(f);
	return rc;
}

static void new_run(struct fx *f, const char *want_id)
{
	char id[RP_ID_MAX];
	char *dir = NULL;
	struct rp_err e = {0};
	if (store_new_run(&f->st, id, &dir, &e) != 0)
		fail_msg("store_new_run: %s", e.msg);
	assert_string_equal(id, want_id);
	char *want_dir = path_join(f->st.runs_dir, want_id);
	assert_string_equal(dir, want_dir);
	assert_true(path_is_dir(dir));
	free(want_dir);
	free(dir);
}

/* A run directory with a run.json naming the run. */
static void add_named_run(struct fx *f, const char *name, char id_out[RP_ID_MAX])
{
	char *dir;
	assert_int_equal(store_new_run(&f->st, id_out, &dir, NULL), 0);
	struct rp_run r;
	memset(&r, 0, sizeof r);
	r.id = xstrdup(id_out);
	r.name = xstrdup(name);
	r.status = RP_SUCCESS;
	r.duration_s = 1;
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	free(dir);
}

static void expect_resolve(struct fx *f, const char *ref, const char *want)
{
	char id[RP_ID_MAX] = "";
	struct rp_err e = {0};
	if (store_resolve(&f->st, ref, id, &e) != 0)
		fail_msg("store_resolve(%s): %s", ref, e.msg);
	assert_string_equal(id, want);
}

static void expect_resolve_error(struct fx *f, const char *ref, const char *msg)
{
	char id[RP_ID_MAX] = "";
	struct rp_err e = {0};
	assert_int_equal(store_resolve(&f->st, ref, id, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_string_equal(e.msg, msg);
}

/* ---- home ---- */

static void test_open_creates_runs_dir(void **state)
{
	struct fx *f = *state;
	char *home = path_join(f->tmp, "home");
	char *runs = path_join(home, "runs");
	assert_string_equal(f->st.home, home);
	assert_string_equal(f->st.runs_dir, runs);
	assert_true(path_is_dir(runs));
	free(runs);
	free(home);
}

/* runs/ is marked as a top of directory hierarchies (ext2/3/4 'T' flag) so run directories are
 * spread over block groups; filesystems without inode flags (tmpfs) are skipped. */
static void test_runs_dir_marked_top(void **state)
{
	struct fx *f = *state;
	int fd = open(f->st.runs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	int flags = 0;
	int rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	close(fd);
	if (rc < 0)
		skip_because("this filesystem has no directory flags (chattr)");
	assert_true(flags & FS_TOPDIR_FL);
}

static void test_open_home_defaults_and_relative(void **state)
{
	struct fx *f = *state;
	char *saved_home = dup_env("HOME");
	/* no RUNPILOT_HOME: ~/.runpilot */
	unsetenv("RUNPILOT_HOME");
	setenv("HOME", f->tmp, 1);
	struct rp_store st;
	assert_int_equal(store_open(&st, false, NULL), 0);
	char *want = path_join(f->tmp, ".runpilot");
	assert_string_equal(st.home, want);
	assert_false(path_exists(want)); /* create=false creates nothing */
	store_close(&st);
	free(want);
	/* a relative RUNPILOT_HOME is made absolute; it is created, the folder above it never */
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(f->tmp), 0);
	setenv("RUNPILOT_HOME", "rel/home", 1);
	struct rp_err e = {0};
	assert_int_equal(store_open(&st, true, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "rel, does not exist: create it (mkdir -p "));
	assert_false(path_exists("rel"));
	assert_int_equal(mkdir("rel", 0755), 0);
	int rc = store_open(&st, true, NULL);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	want = path_join(f->tmp, "rel/home");
	assert_string_equal(st.home, want);
	char *runs = path_join(want, "runs");
	assert_true(path_is_dir(runs));
	store_close(&st);
	free(runs);
	free(want);
	free(cwd);
	restore_env("HOME", saved_home);
}

static void test_open_unwritable_home_fails(void **state)
{
	struct fx *f = *state;
	char *file = path_join(f->tmp, "a-file");
	assert_int_equal(write_file_atomic(file, "x", 1, 0644, NULL), 0);
	setenv("RUNPILOT_HOME", file, 1); /* a file, not a folder */
	struct rp_store st;
	struct rp_err e = {0};
	assert_int_equal(store_open(&st, true, &e), -1);
	assert_non_null(strstr(e.msg, "is not a folder (it or a folder above it is a file): point RUNPILOT_HOME at a folder"));
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(st.home);
	free(file);
}

/* ---- ids ---- */

static void test_id_format_and_number(void **state)
{
	char id[RP_ID_MAX];
	store_format_id(7, id);
	assert_string_equal(id, "rp_0007");
	store_format_id(9999, id);
	assert_string_equal(id, "rp_9999");
	store_format_id(10000, id);
	assert_string_equal(id, "rp_10000");
	store_format_id(1234567, id);
	assert_string_equal(id, "rp_1234567");
	assert_int_equal(store_id_number("rp_0007"), 7);
	assert_int_equal(store_id_number("rp_10000"), 10000);
	assert_int_equal(store_id_number("rp_7"), 7);
	assert_int_equal(store_id_number("rp_"), -1);
	assert_int_equal(store_id_number("rp_00x1"), -1);
	assert_int_equal(store_id_number("rp_-1"), -1);
	assert_int_equal(store_id_number("rp_ 1"), -1);
	assert_int_equal(store_id_number("xp_0001"), -1);
	assert_int_equal(store_id_number("0007"), -1);
	assert_int_equal(store_id_number("rp_0001.tmp"), -1);
}

static void test_sequential_ids(void **state)
{
	struct fx *f = *state;
	new_run(f, "rp_0001");
	new_run(f, "rp_0002");
	new_run(f, "rp_0003");
}

static void test_next_id_follows_highest(void **state)
{
	struct fx *f = *state;
	char *d = path_join(f->st.runs_dir, "rp_0041");
	assert_int_equal(mkdir(d, 0755), 0);
	/* stray entries are not runs */
	char *junk = path_join(f->st.runs_dir, "rp_9999x");
	assert_int_equal(mkdir(junk, 0755), 0);
	new_run(f, "rp_0042");
	free(junk);
	free(d);
}

static void write_hint(struct fx *f, const char *text)
{
	char *hint = path_join(f->st.runs_dir, ".last_id");
	assert_int_equal(write_file_atomic(hint, text, strlen(text), 0644, NULL), 0);
	free(hint);
}

static void make_run_dir(struct fx *f, const char *id)
{
	char *d = path_join(f->st.runs_dir, id);
	assert_int_equal(mkdir(d, 0755), 0);
	free(d);
}

/* runs/.last_id holds the newest id, and a hint whose run exists is where the next id starts:
 * a run directory made by hand beyond it is not looked for (mkdir still never reuses one). */
static void test_last_id_hint_written_and_followed(void **state)
{
	struct fx *f = *state;
	new_run(f, "rp_0001");
	new_run(f, "rp_0002");
	char *hint = path_join(f->st.runs_dir, ".last_id"), *text = NULL;
	assert_int_equal(read_file(hint, &text, NULL, NULL), 0);
	assert_int_equal(strtol(text, NULL, 10), 2);
	free(text);
	free(hint);
	make_run_dir(f, "rp_0003"); /* taken by someone else: mkdir skips it */
	make_run_dir(f, "rp_0040"); /* beyond the hint: not read for */
	new_run(f, "rp_0004");
	/* the hint is not a run */
	struct strvec ids = {0};
	assert_int_equal(store_list_ids(&f->st, &ids, NULL), 0);
	assert_int_equal(ids.n, 5);
	strvec_free(&ids);
}

/* A hint naming a run that is gone, or not a number, costs a directory read: never a wrong id. */
static void test_last_id_hint_stale_or_garbage(void **state)
{
	struct fx *f = *state;
	make_run_dir(f, "rp_0007");
	write_hint(f, "00000000000000000050\n"); /* rp_0050 was deleted */
	new_run(f, "rp_0008");
	write_hint(f, "not a number\n");
	new_run(f, "rp_0009");
	write_hint(f, "");
	new_run(f, "rp_0010");
	write_hint(f, "-3\n");
	new_run(f, "rp_0011");
}

static void test_id_width_past_9999(void **state)
{
	struct fx *f = *state;
	char *d = path_join(f->st.runs_dir, "rp_9999");
	assert_int_equal(mkdir(d, 0755), 0);
	free(d);
	char a[RP_ID_MAX], b[RP_ID_MAX];
	add_named_run(f, "wide-a", a);
	add_named_run(f, "wide-b", b);
	assert_string_equal(a, "rp_10000");
	assert_string_equal(b, "rp_10001");
	/* numeric, not text, order: rp_10001 is the newest */
	struct strvec ids = {0};
	assert_int_equal(store_list_ids(&f->st, &ids, NULL), 0);
	assert_int_equal(ids.n, 3);
	assert_string_equal(ids.v[0], "rp_9999");
	assert_string_equal(ids.v[1], "rp_10000");
	assert_string_equal(ids.v[2], "rp_10001");
	strvec_free(&ids);
	expect_resolve(f, "last", "rp_10001");
	expect_resolve(f, "10000", "rp_10000");
	expect_resolve(f, "9999", "rp_9999");
}

/* 8 processes × 25 allocations at once: 200 distinct ids, 1..200 with no gap. */
static void test_concurrent_allocation(void **state)
{
	struct fx *f = *state;
	enum { KIDS = 8, EACH = 25 };
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int go[2]; /* released together so the allocations really overlap */
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			close(p[0]);
			close(go[1]);
			char c;
			if (read(go[0], &c, 1) < 0)
				_exit(2);
			for (int i = 0; i < EACH; i++) {
				char id[RP_ID_MAX], line[RP_ID_MAX + 1];
				char *dir;
				if (store_new_run(&f->st, id, &dir, NULL) != 0)
					_exit(1);
				free(dir);
				int n = snprintf(line, sizeof line, "%-15s\n", id); /* fixed width, atomic write */
				if (write(p[1], line, (size_t)n) != n)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(p[1]);
	close(go[0]);
	close(go[1]); /* EOF releases every child at once */
	char buf[KIDS * EACH * 16 + 1] = {0};
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	for (int k = 0; k < KIDS; k++) {
		int status;
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* every id handed out exactly once */
	int seen[KIDS * EACH + 1] = {0};
	int lines = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char id[RP_ID_MAX];
		assert_int_equal(sscanf(line, "%31s", id), 1);
		long num = store_id_number(id);
		assert_in_range(num, 1, KIDS * EACH);
		assert_int_equal(seen[num], 0);
		seen[num] = 1;
		lines++;
	}
	assert_int_equal(lines, KIDS * EACH);
	/* and on disk: exactly rp_0001..rp_0200 */
	struct strvec ids = {0};
	assert_int_equal(store_list_ids(&f->st, &ids, NULL), 0);
	assert_int_equal(ids.n, KIDS * EACH);
	for (size_t i = 0; i < ids.n; i++)
		assert_int_equal(store_id_number(ids.v[i]), (long)i + 1);
	strvec_free(&ids);
	new_run(f, "rp_0201");
}

static void test_new_run_reports_failure(void **state)
{
	struct fx *f = *state;
	struct rp_store st = {.home = xstrdup(f->tmp), .runs_dir = path_join(f->tmp, "missing/runs")};
	char id[RP_ID_MAX];
	char *dir = NULL;
	struct rp_err e = {0};
	assert_int_equal(store_new_run(&st, id, &dir, &e), -1);
	assert_null(dir);
	char *want = xasprintf("cannot create run directory in %s: No such file or directory", st.runs_dir);
	assert_string_equal(e.msg, want);
	free(want);
	store_close(&st);
}

static void test_list_ids_empty_and_missing(void **state)
{
	struct fx *f = *state;
	struct strvec ids = {0};
	assert_int_equal(store_list_ids(&f->st, &ids, NULL), 0);
	assert_int_equal(ids.n, 0);
	struct rp_store st = {.home = xstrdup(f->tmp), .runs_dir = path_join(f->tmp, "nothing-here")};
	assert_int_equal(store_list_ids(&st, &ids, NULL), 0);
	assert_int_equal(ids.n, 0);
	store_close(&st);
	strvec_free(&ids);
}

/* ---- resolve ---- */

static void test_resolve_by_id_number_and_last(void **state)
{
	struct fx *f = *state;
	char id[RP_ID_MAX];
	for (int i = 0; i < 12; i++)
		add_named_run(f, "run", id);
	expect_resolve(f, "rp_0007", "rp_0007");
	expect_resolve(f, "7", "rp_0007");
	expect_resolve(f, "0007", "rp_0007");
	expect_resolve(f, "12", "rp_0012");
	expect_resolve(f, "last", "rp_0012");
	expect_resolve_error(f, "13", "no run '13' (see `runpilot list`)");
	expect_resolve_error(f, "rp_0099", "no run 'rp_0099' (see `runpilot list`)");
	expect_resolve_error(f, "0", "no run '0' (see `runpilot list`)");
}

static void test_resolve_by_name(void **state)
{
	struct fx *f = *state;
	char id1[RP_ID_MAX], id2[RP_ID_MAX], id3[RP_ID_MAX], id4[RP_ID_MAX];
	add_named_run(f, "baseline", id1);
	add_named_run(f, "dup", id2);
	add_named_run(f, "dup", id3);
	add_named_run(f, "other", id4);
	/* a run dir without a readable run.json is skipped, not fatal */
	char *broken = path_join(f->st.runs_dir, "rp_0005");
	assert_int_equal(mkdir(broken, 0755), 0);
	free(broken);
	expect_resolve(f, "baseline", "rp_0001");
	expect_resolve(f, "other", "rp_0004");
	expect_resolve_error(f, "dup", "2 runs are named 'dup' (rp_0002, rp_0003, ...): give a run id instead");
	expect_resolve_error(f, "nope", "no run 'nope' (see `runpilot list`)");
	expect_resolve_error(f, "Baseline", "no run 'Baseline' (see `runpilot list`)"); /* exact match only */
	/* last: the newest run with a record (rp_0005 has no run.json yet) */
	expect_resolve(f, "last", "rp_0004");
}

static void test_resolve_last_without_runs(void **state)
{
	struct fx *f = *state;
	char *msg = xasprintf("there are no runs yet in %s", f->st.runs_dir);
	expect_resolve_error(f, "last", msg);
	free(msg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_runs_dir),
		T(test_runs_dir_marked_top),
		T(test_open_home_defaults_and_relative),
		T(test_open_unwritable_home_fails),
		cmocka_unit_test(test_id_format_and_number),
		T(test_sequential_ids),
		T(test_next_id_follows_highest),
		T(test_last_id_hint_written_and_followed),
		T(test_last_id_hint_stale_or_garbage),
		T(test_id_width_past_9999),
		T(test_concurrent_allocation),
		T(test_new_run_reports_failure),
		T(test_list_ids_empty_and_missing),
		T(test_resolve_by_id_number_and_last),
		T(test_resolve_by_name),
		T(test_resolve_last_without_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
