/* sandbox/: capabilities, masks, the mount-namespace guard, and sb_start end to end (a job that
 * exits, a program that does not exist, a setup failure that must leave nothing behind). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_test_util.h"
#include "sb_init.h"
#include "util.h"

static char *mountinfo(void)
{
	char *s = NULL;
	struct rp_err e = { 0 };
	if (read_file("/proc/self/mountinfo", &s, NULL, &e) < 0)
		return xstrdup("");
	return s;
}

static void test_caps_parse(void **state)
{
	struct rp_err e = { 0 };
	uint64_t m;
	char *ok[] = { "CAP_NET_BIND_SERVICE", "sys_ptrace", "cap_kill" };
	assert_int_equal(sb_caps_parse(ok, 3, &m, &e), 0);
	assert_true(m == ((1ULL << 10) | (1ULL << 19) | (1ULL << 5)));
	char *bad[] = { "CAP_FLY" };
	assert_int_equal(sb_caps_parse(bad, 1, &m, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "CAP_FLY"));
	assert_int_equal(sb_caps_parse(NULL, 0, &m, &e), 0);
	assert_true(m == 0);
}

static long status_hex(const char *key)
{
	char *s = NULL;
	struct rp_err e = { 0 };
	if (read_file("/proc/self/status", &s, NULL, &e) < 0)
		return -1;
	char *p = strstr(s, key);
	long v = p ? strtol(p + strlen(key), NULL, 16) : -1;
	free(s);
	return v;
}

static void test_caps_drop_keeps_only_listed(void **state)
{
	if (geteuid() != 0)
		skip_because("needs root");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rp_err e = { 0 };
		if (sb_caps_drop(1ULL << 10, &e) < 0)
			_exit(1);
		if (status_hex("CapEff:") != 0x400 || status_hex("CapBnd:") != 0x400 ||
		    status_hex("CapPrm:") != 0x400 || status_hex("CapAmb:") != 0x400)
			_exit(2);
		_exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 3);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static bool has(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

/* Credentials, root's home and the places daemons and agents keep their sockets, whoever runs. */
static void test_default_masks(void **state)
{
	struct strvec v = { 0 };
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	setenv("SSH_AUTH_SOCK", "/tmp/ssh-XXXXabc/agent.77", 1);
	setenv("GPG_AGENT_INFO", "/home/ada/.gnupg/S.gpg-agent:0:1", 1);
	sb_default_mask_paths("/home/ada", &v);
	const char *want[] = { "/home/ada/.ssh", "/home/ada/.netrc", "/root", "/etc/shadow", "/run", "/var/run",
			       "/run/user/1000", "/tmp/ssh-XXXXabc", "/home/ada/.gnupg" };
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!has(&v, want[i]))
			fail_msg("%s is not masked", want[i]);
	strvec_free(&v);
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("SSH_AUTH_SOCK");
	setenv("GPG_AGENT_INFO", "relative/S.gpg-agent", 1);
	sb_default_mask_paths(NULL, &v);
	assert_true(has(&v, "/root") && has(&v, "/run"));
	assert_false(has(&v, "relative"));
	assert_int_equal(v.n, 5); /* the fixed ones only */
	strvec_free(&v);
	unsetenv("GPG_AGENT_INFO");
	(void)state;
}

/* The guard: mount setup refuses to run in the namespace it was started from. The check runs in
 * a child with a private mount namespace of its own, so even a broken guard touches nothing of
 * the host's. */
static void test_refuses_same_mount_namespace(void **state)
{
	if (geteuid() != 0)
		skip_because("needs root");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			_exit(10);
		char *before = mountinfo();
		struct sb_plan p = { .cwd = "/" };
		struct sb_started st = { 0 };
		struct rp_err e = { 0 };
		int rc = sb_mounts_build(&p, sb_mntns_inode(), -1, &st, &e);
		char *after = mountinfo();
		if (rc != -1 || !strstr(e.msg, "refusing"))
			_exit(1);
		_exit(strcmp(before, after) == 0 ? 0 : 2);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

struct run {
	int status;
	int rc;
	struct rp_err err;
	struct sb_started st;
};

/* The job's host ids as the runner picks them: the caller's, or nobody's for root (the setup then
 * gets its paths as idmapped mounts). */
static unsigned job_host_uid(void)
{
	return getuid() == 0 ? 65534 : getuid();
}

static unsigned job_host_gid(void)
{
	return getuid() == 0 ? 65534 : getgid();
}

/* Start argv in a minimal plan; wait for it; the job's wait status in r->status. */
static void run_plan(char **argv, const char *rootfs, struct run *r)
{
	int life[2], stat_p[2], out[2];
	assert_int_equal(pipe2(life, O_CLOEXEC), 0);
	assert_int_equal(pipe2(stat_p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct sb_plan p = {
		.argv = argv, .envp = envp, .cwd = "/", .out_fd = out[1], .hostname = "rp_test",
		.uid = getuid(), .gid = getgid(), .host_uid = job_host_uid(), .host_gid = job_host_gid(), .rootfs = rootfs,
		.lifeline_fd = life[0], .status_fd = stat_p[1], .seccomp_notify_sock = -1,
	};
	memset(r, 0, sizeof *r);
	r->rc = sb_start(&p, &r->st, &r->err);
	close(life[0]);
	close(stat_p[1]);
	close(out[1]);
	if (r->rc == 0) {
		char buf[256];
		while (read(out[0], buf, sizeof buf) > 0)
			;
		int ws;
		assert_int_equal(waitpid(r->st.pid, &ws, 0), r->st.pid);
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
		struct sb_init_report rep;
		assert_int_equal(sb_init_read_report(stat_p[0], &rep), 0);
		r->status = rep.status;
	}
	close(out[0]);
	close(life[1]);
	close(stat_p[0]);
}

static void test_start_runs_job(void **state)
{
	struct rp_err probe_why = { 0 };
	if (sb_probe(geteuid() != 0, &probe_why) < 0)
		skip_because(probe_why.msg);
	struct run r;
	char *argv[] = { "sh", "-c", "test \"$(hostname)\" = rp_test && exit 7", NULL };
	run_plan(argv, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 7);

	char *missing[] = { "no-such-program-rp", NULL };
	run_plan(missing, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(WEXITSTATUS(r.status), 127);
}

static void test_setup_failure_leaves_nothing(void **state)
{
	struct rp_err probe_why = { 0 };
	if (sb_probe(geteuid() != 0, &probe_why) < 0)
		skip_because(probe_why.msg);
	char *before = mountinfo();
	struct run r;
	char *argv[] = { "true", NULL };
	run_plan(argv, "/no/such/rootfs-rp", &r);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err.msg, "sandbox.rootfs"));
	assert_null(strchr(r.err.msg, '\n'));
	char *after = mountinfo();
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* the setup process was reaped */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* sb_begin builds the sandbox but holds the job: only sb_release lets it run, under the seccomp
 * filter it sends; sb_abort before that leaves nothing (no process, no mount) and the job never
 * ran. */
struct held {
	char dir[64];
	char marker[96];
	int life[2], stat_p[2], out[2];
	struct sb_plan plan;
	struct sb_setup setup;
};

static bool held_begin(struct held *h, char **argv)
{
	struct rp_err probe_why = { 0 };
	if (sb_probe(geteuid() != 0, &probe_why) < 0) {
		return false;
	}
	snprintf(h->dir, sizeof h->dir, "/tmp/rp-test-held-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->marker, sizeof h->marker, "%s/ran", h->dir);
	assert_int_equal(pipe2(h->life, O_CLOEXEC), 0);
	assert_int_equal(pipe2(h->stat_p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(h->out, O_CLOEXEC), 0);
	static char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	h->plan = (struct sb_plan){
		.argv = argv, .envp = envp, .cwd = "/", .out_fd = h->out[1], .hostname = "rp_test",
		.uid = getuid(), .gid = getgid(), .host_uid = job_host_uid(), .host_gid = job_host_gid(), .output_dir = h->dir,
		.lifeline_fd = h->life[0], .status_fd = h->stat_p[1], .seccomp_notify_sock = -1,
	};
	struct rp_err e = { 0 };
	if (sb_begin(&h->plan, &h->setup, &e) < 0)
		fail_msg("sb_begin: %s", e.msg);
	close(h->life[0]);
	close(h->stat_p[1]);
	close(h->out[1]);
	return true;
}

static void held_end(struct held *h)
{
	sb_abort(&h->setup); /* released or not: nothing of the setup is left */
	close(h->out[0]);
	close(h->life[1]);
	close(h->stat_p[0]);
	unlink(h->marker);
	rmdir(h->dir);
}

static void test_job_waits_for_release(void **state)
{
	struct held h;
	/* the marker only appears under the filter sent with the release */
	char *argv[] = { "sh", "-c", "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && touch \"$0\"", h.marker,
			 NULL };
	if (!held_begin(&h, argv))
		skip_because("the sandbox cannot run on this host (runpilot doctor)");
	usleep(300 * 1000); /* ample time for the setup, and for a job that was not held */
	assert_false(path_exists(h.marker));
	struct sb_started st;
	struct rp_err e = { 0 };
	struct sb_seccomp filter;
	assert_int_equal(sb_seccomp_build(SB_SECCOMP_DEFAULT, NULL, 0, false, &filter, &e), 0);
	assert_int_equal(sb_release(&h.setup, &filter, &st, &e), 0);
	sb_seccomp_free(&filter);
	assert_int_equal(h.setup.pid, -1); /* handed over in st.pid */
	char buf[256];
	while (read(h.out[0], buf, sizeof buf) > 0)
		;
	int ws, status;
	assert_int_equal(waitpid(st.pid, &ws, 0), st.pid);
	struct sb_init_report rep;
	assert_int_equal(sb_init_read_report(h.stat_p[0], &rep), 0);
	status = rep.status;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(path_exists(h.marker));
	held_end(&h);
}

static void test_abort_before_release_leaves_nothing(void **state)
{
	char *before = mountinfo();
	struct held h;
	char *argv[] = { "sh", "-c", "touch \"$0\"", h.marker, NULL };
	if (!held_begin(&h, argv)) {
		free(before);
		skip_because("the sandbox cannot run on this host (runpilot doctor)");
	}
	usleep(100 * 1000);
	sb_abort(&h.setup);
	assert_int_equal(h.setup.pid, -1);
	assert_false(path_exists(h.marker));
	char *after = mountinfo();
	assert_string_equal(before, after);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* reaped */
	assert_int_equal(errno, ECHILD);
	free(before);
	free(after);
	held_end(&h);
}

static void test_namespace_names(void **state)
{
	struct sb_plan p = { .netns = true };
	const char *n[8];
	assert_int_equal(sb_namespace_names(&p, n), 7);
	assert_string_equal(n[0], "user");
	assert_string_equal(n[6], "net");
	p.netns = false;
	assert_int_equal(sb_namespace_names(&p, n), 6);
	assert_string_equal(n[0], "user");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_parse),
		cmocka_unit_test(test_caps_drop_keeps_only_listed),
		cmocka_unit_test(test_default_masks),
		cmocka_unit_test(test_refuses_same_mount_namespace),
		cmocka_unit_test(test_start_runs_job),
		cmocka_unit_test(test_setup_failure_leaves_nothing),
		cmocka_unit_test(test_job_waits_for_release),
		cmocka_unit_test(test_abort_before_release_leaves_nothing),
		cmocka_unit_test(test_namespace_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
