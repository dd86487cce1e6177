/* cgroup.c / cgroup1.c / cgroup2.c on the machine the tests run on (v1/hybrid here, v2 in the VM
 * and on unified hosts): a forked child enters the cgroup the way the runners' processes do
 * (cg_enter, before it starts anything), then limits and counters are checked. Tests needing a
 * writable cgroup skip when there is none (not root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

#define MIB (1024LL * 1024LL)

struct child_run {
	int status;
	struct rusage ru;
	double wall;
};

typedef void (*child_fn)(void *arg);

/* Exit status of a child that could not enter the cgroup. */
#define CANNOT_ENTER 97

/* Fork a child that enters the cgroup, runs fn and exits 0. */
static void run_in_cgroup(struct rp_cgroup *cg, child_fn fn, void *arg, struct child_run *out)
{
	double t0 = now_monotonic();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (cg_enter(cg, NULL) < 0)
			_exit(CANNOT_ENTER);
		fn(arg);
		_exit(0);
	}
	memset(out, 0, sizeof *out);
	assert_int_equal(wait4(pid, &out->status, 0, &out->ru), pid);
	out->wall = now_monotonic() - t0;
	assert_false(WIFEXITED(out->status) && WEXITSTATUS(out->status) == CANNOT_ENTER);
}

/* Each test's cgroup lives in the fixture, so a failed assertion (which longjmps out of the
 * test) still has it destroyed by the teardown: no runpilot-* cgroup is ever left behind. */
struct fixture {
	struct rp_cgroup *cg;
	char *id;
};

static int setup(void **state)
{
	*state = xcalloc(1, sizeof(struct fixture));
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cg_destroy(f->cg);
	free(f->id);
	free(f);
	return 0;
}

/* cg_create into the fixture, with a name unique to this test process. */
static struct rp_cgroup *fixture_cg(void **state, const char *what, const struct cg_limits *lim)
{
	struct fixture *f = *state;
	f->id = xasprintf("unit-%s-%d", what, (int)getpid());
	f->cg = cg_create(f->id, lim);
	return f->cg;
}

static void fixture_destroy(void **state)
{
	struct fixture *f = *state;
	cg_destroy(f->cg);
	f->cg = NULL;
}

/* True when this host lets runpilot enforce all three limits (root on v1, or v2 with controllers
 * it can enable); tests that need enforcement skip otherwise (ordinary user, shared v2 cgroup). */
static bool cgroup_writable(void)
{
	struct cg_limits all = { .cpus = 1, .memory_bytes = 1LL << 30, .pids = 1000 };
	struct rp_cgroup *cg = cg_create("unit-probe", &all);
	bool ok = strcmp(cg_source(cg), "rusage") != 0 && cg_warning(cg) == NULL;
	cg_destroy(cg);
	return ok;
}

static void touch_mib(void *arg)
{
	long long n = *(long long *)arg * MIB;
	char *p = mmap(NULL, (size_t)n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(98);
	for (long long i = 0; i < n; i += 4096)
		p[i] = 1;
}

static void spin_one_second(void *arg)
{
	double end = now_monotonic() + 1.0;
	while (now_monotonic() < end)
		;
}

/* Try 20 children that sleep: pids.max lets only some through. Waits to be killed. */
static void fork_sleepers(void *arg)
{
	for (int i = 0; i < 20; i++)
		if (fork() == 0)
			break;
	pause();
}

static void spawn_detached_grandchild(void *arg)
{
	int *pidfile = arg;
	pid_t c = fork();
	if (c == 0) {
		setsid();
		pid_t g = fork();
		if (g == 0) {
			pid_t me = getpid();
			if (write(*pidfile, &me, sizeof me) != sizeof me)
				_exit(1);
			for (;;)
				pause();
		}
		_exit(0);
	}
	waitpid(c, NULL, 0);
}

static void test_create_destroy_leaves_nothing(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits none = { 0 };
	struct fixture *f = *state;
	struct rp_cgroup *cg = fixture_cg(state, "cd", &none);
	const char *path = cg_path(cg);
	assert_non_null(path);
	char *want = xasprintf("/runpilot-%s", f->id);
	char *copy = xstrdup(path);
	bool named = strstr(path, want) != NULL, is_dir = path_is_dir(copy);
	const char *warning = cg_warning(cg);
	fixture_destroy(state);
	bool gone = !path_exists(copy);
	free(copy);
	free(want);
	assert_true(named);
	assert_true(is_dir);
	assert_null(warning); /* nothing requested: nothing to warn about */
	assert_true(gone);
}

static void test_leaf_is_under_own_cgroup(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits lim = { .memory_bytes = 256 * MIB };
	struct fixture *f = *state;
	struct rp_cgroup *cg = fixture_cg(state, "own", &lim);
	/* The memory leaf sits under the path /proc/self/cgroup names for memory (v1) or 0:: (v2). */
	char *text = NULL;
	assert_int_equal(read_file("/proc/self/cgroup", &text, NULL, NULL), 0);
	const char *key = strcmp(cg_source(cg), "cgroup2") == 0 ? "0::" : ":memory:";
	char *line = strstr(text, key);
	assert_non_null(line);
	line += strlen(key);
	line[strcspn(line, "\n")] = '\0';
	char *suffix = xasprintf("%s/runpilot-%s", strcmp(line, "/") == 0 ? "" : line, f->id);
	const char *path = cg_path(cg);
	bool ok = strlen(path) >= strlen(suffix) && strcmp(path + strlen(path) - strlen(suffix), suffix) == 0;
	if (!ok)
		print_error("leaf %s is not <own cgroup>%s\n", path, suffix);
	free(suffix);
	free(text);
	assert_true(ok);
}

static void test_memory_limit_kills_with_oom(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits lim = { .memory_bytes = 32 * MIB };
	struct rp_cgroup *cg = fixture_cg(state, "oom", &lim);
	assert_null(cg_warning(cg));
	long long want = 96;
	struct child_run r;
	run_in_cgroup(cg, touch_mib, &want, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGKILL);
	struct rp_usage u;
	cg_read_usage(cg, &r.ru, r.wall, &u);
	assert_true(u.oom_kills >= 1);
	assert_in_range(u.memory_peak_bytes, 24 * MIB, 33 * MIB);
	assert_non_null(strstr(u.memory_peak_source, cg_source(cg))); /* the cgroup's counter */
	struct cg_enforced by;
	cg_enforced(cg, &by);
	assert_non_null(by.memory);
	assert_string_equal(by.memory, cg_source(cg));
}

static void test_memory_peak_of_touched_pages(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits none = { 0 };
	struct rp_cgroup *cg = fixture_cg(state, "peak", &none);
	long long want = 64;
	struct child_run r;
	run_in_cgroup(cg, touch_mib, &want, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	struct rp_usage u;
	cg_read_usage(cg, &r.ru, r.wall, &u);
	assert_in_range(u.memory_peak_bytes, 64 * MIB, 96 * MIB);
	assert_int_equal(u.oom_kills, 0);
	assert_string_equal(u.source, cg_source(cg));
}

static void test_cpu_quota_caps_cpu_time(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits lim = { .cpus = 0.5 };
	struct rp_cgroup *cg = fixture_cg(state, "cpu", &lim);
	struct child_run r;
	run_in_cgroup(cg, spin_one_second, NULL, &r);
	struct rp_usage u;
	cg_read_usage(cg, &r.ru, r.wall, &u);
	/* 1 s of wall time at half a CPU: at most 0.5 s of CPU (+15 %); less only on a loaded host */
	if (u.cpu_total_s < 0.3 || u.cpu_total_s > 0.575 || u.throttled_s < 0)
		print_error("cpu_total_s %.3f throttled_s %.3f\n", u.cpu_total_s, u.throttled_s);
	assert_true(u.cpu_total_s >= 0.3 && u.cpu_total_s <= 0.575);
	assert_true(u.throttled_s >= 0); /* counted (how much depends on the host's load) */
	assert_true(u.cpu_avg_cores <= 0.6);
}

static void test_pids_limit_and_kill_all(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits lim = { .pids = 8 };
	struct rp_cgroup *cg = fixture_cg(state, "pids", &lim);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (cg_enter(cg, NULL) < 0)
			_exit(CANNOT_ENTER);
		fork_sleepers(NULL);
		_exit(0);
	}
	usleep(200000);
	int n = cg_kill_all(cg);
	int status;
	struct rusage ru;
	assert_int_equal(wait4(pid, &status, 0, &ru), pid);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == CANNOT_ENTER);
	struct rp_usage u;
	cg_read_usage(cg, &ru, 0.2, &u);
	assert_in_range(n, 2, 8);
	assert_true(WIFSIGNALED(status));
	if (u.pids_peak >= 0)
		assert_int_equal(u.pids_peak, 8);
}

static void test_kill_all_reaches_detached_grandchild(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits none = { 0 };
	struct rp_cgroup *cg = fixture_cg(state, "detach", &none);
	int pp[2];
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	struct child_run r;
	run_in_cgroup(cg, spawn_detached_grandchild, &pp[1], &r);
	close(pp[1]);
	pid_t g = 0;
	assert_int_equal(read(pp[0], &g, sizeof g), sizeof g);
	close(pp[0]);
	bool alive_before = process_alive(g);
	int n = cg_kill_all(cg);
	bool alive_after = process_alive(g); /* a zombie (nobody reaps orphans here) counts as dead */
	if (alive_after)
		kill(g, SIGKILL);
	assert_true(alive_before);
	assert_true(n >= 1);
	assert_false(alive_after);
}

/* The child moves itself in (cg_enter, as the local runner's shim does): every hierarchy. */
static void test_child_enters_by_itself(void **state)
{
	if (!cgroup_writable())
		skip_because("no cgroup runpilot can write and limit here (needs root, or a delegated cgroup v2)");
	struct cg_limits lim = { .memory_bytes = 32 * MIB, .pids = 16 };
	struct fixture *f = *state;
	struct rp_cgroup *cg = fixture_cg(state, "enter", &lim);
	char *name = xasprintf("/runpilot-%s\n", f->id);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (cg_enter(cg, NULL) < 0)
			_exit(100);
		char *text = NULL;
		if (read_file("/proc/self/cgroup", &text, NULL, NULL) < 0)
			_exit(101);
		int n = 0;
		for (char *p = text; (p = strstr(p, name)); p++)
			n++;
		_exit(n); /* hierarchies that list the run's leaf */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(name);
	assert_true(WIFEXITED(status));
	/* v2: the one unified line; v1: memory, cpu, cpuacct, pids (3 lines when cpu,cpuacct share one) */
	if (strcmp(cg_source(cg), "cgroup2") == 0)
		assert_int_equal(WEXITSTATUS(status), 1);
	else
		assert_in_range(WEXITSTATUS(status), 3, 4);
}

static void test_disabled_falls_back_to_rusage(void **state)
{
	setenv("RUNPILOT_CGROUP", "off", 1);
	struct cg_limits lim = { .cpus = 1.5, .memory_bytes = 64 * MIB, .pids = 32 };
	struct rp_cgroup *cg = cg_create("unit-off", &lim);
	unsetenv("RUNPILOT_CGROUP");
	assert_string_equal(cg_source(cg), "rusage");
	assert_null(cg_path(cg));
	const char *w = cg_warning(cg);
	assert_non_null(w);
	assert_null(strchr(w, '\n'));
	assert_non_null(strstr(w, "memory 64.0 MiB"));
	assert_non_null(strstr(w, "pids 32"));
	assert_non_null(strstr(w, "cpus 1.5"));
	assert_int_equal(cg_kill_all(cg), -1);
	struct cg_enforced by;
	cg_enforced(cg, &by);
	assert_null(by.memory);
	assert_null(by.cpus);
	assert_null(by.pids);
	assert_non_null(strstr(by.why_not, "RUNPILOT_CGROUP=off"));
	assert_non_null(strstr(by.why_not_pids, "RLIMIT_NPROC"));
	struct rusage ru = { .ru_maxrss = 1024 };
	ru.ru_utime.tv_sec = 2;
	struct rp_usage u;
	cg_read_usage(cg, &ru, 4.0, &u);
	assert_string_equal(u.source, "rusage");
	assert_int_equal(u.memory_peak_bytes, MIB);
	assert_true(u.cpu_avg_cores == 0.5);
	cg_destroy(cg);
}

static void test_no_limits_no_warning_without_cgroups(void **state)
{
	setenv("RUNPILOT_CGROUP", "off", 1);
	struct cg_limits lim = { 0 };
	struct rp_cgroup *cg = cg_create("unit-off2", &lim);
	unsetenv("RUNPILOT_CGROUP");
	assert_null(cg_warning(cg)); /* nothing asked, nothing to warn about */
	cg_destroy(cg);
	cg_destroy(NULL);
}

/* An ordinary user (nobody) cannot write runpilot's cgroup: rusage and one warning line. */
static void test_unprivileged_user_gets_rusage(void **state)
{
	if (geteuid() != 0)
		skip_because("needs root to become another user");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(10);
		struct cg_limits lim = { .memory_bytes = 64 * MIB, .pids = 32 };
		struct rp_cgroup *cg = cg_create("unit-nobody", &lim);
		if (strcmp(cg_source(cg), "rusage") != 0)
			_exit(12);
		const char *w = cg_warning(cg);
		if (!w || !strstr(w, "memory") || !strstr(w, "pids") || strchr(w, '\n'))
			_exit(13);
		cg_destroy(cg);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_destroy_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaf_is_under_own_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit_kills_with_oom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_peak_of_touched_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_quota_caps_cpu_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pids_limit_and_kill_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_all_reaches_detached_grandchild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_enters_by_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_falls_back_to_rusage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_limits_no_warning_without_cgroups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unprivileged_user_gets_rusage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
