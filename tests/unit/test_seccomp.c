/* sandbox/seccomp.c: each profile is loaded in a forked child, which then tries the calls a
 * job must not make (and the ones ML code needs) and exits with the number of the first
 * check that went wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_test_util.h"

/* A syscall that must fail with want_errno. */
#define DENIED(n, call, want_errno)                                                                \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		if (r_ != -1 || errno != (want_errno))                                             \
			_exit(n);                                                                  \
	} while (0)
#define WORKS(n, call)                                                                             \
	do {                                                                                       \
		if ((long)(call) < 0)                                                              \
			_exit(n);                                                                  \
	} while (0)

static void *thread_fn(void *arg)
{
	return arg;
}

static int run_child(void (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void load(enum sb_seccomp_profile p, char **deny, size_t n)
{
	struct rp_err e = { 0 };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sb_seccomp_load(p, deny, n, false, NULL, &e) < 0)
		_exit(99);
}

static void default_profile_checks(void)
{
	load(SB_SECCOMP_DEFAULT, NULL, 0);
	DENIED(1, unshare(CLONE_NEWUSER), EPERM);
	DENIED(2, unshare(CLONE_NEWNS), EPERM);
	DENIED(3, mount("none", "/tmp", "tmpfs", 0, NULL), EPERM);
	DENIED(4, umount2("/", MNT_DETACH), EPERM);
	DENIED(5, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM);
	DENIED(6, syscall(SYS_bpf, 0, NULL, 0), EPERM);
	DENIED(7, syscall(SYS_clone3, NULL, 0), ENOSYS);
	DENIED(8, syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0), EPERM);
	DENIED(9, syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0), EPERM);
	DENIED(10, syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0), EPERM);
	DENIED(11, syscall(SYS_io_uring_setup, 1, NULL), EPERM);
	DENIED(12, syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM);
	DENIED(13, syscall(SYS_init_module, NULL, 0, ""), EPERM);
	DENIED(14, syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
	DENIED(15, syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
	DENIED(16, syscall(SYS_setns, -1, 0), EPERM);
	DENIED(17, syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
	DENIED(18, syscall(0x40000000 | SYS_getpid), EPERM); /* x32 ABI */
	DENIED(19, syscall(SYS_userfaultfd, 0), EPERM);
	DENIED(20, syscall(SYS_fsopen, "tmpfs", 0), EPERM);
	/* Typing into a terminal: refused whatever the upper 32 bits of the request say (a pty of
	 * our own; a request that reached the tty layer would fail otherwise). */
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	WORKS(21, master);
	char c0 = 'x';
	DENIED(22, ioctl(master, TIOCSTI, &c0), EPERM);
	DENIED(23, syscall(SYS_ioctl, master, 0xffffffff00000000UL | TIOCSTI, &c0), EPERM);
	DENIED(24, ioctl(master, TIOCLINUX, &c0), EPERM);
	WORKS(25, ioctl(master, FIONREAD, &(int){ 0 })); /* other ioctls still work */
	close(master);
	/* An allow list: a call it does not name fails with ENOSYS, as on an older kernel
	 * (open_tree_attr, Linux 6.15, returned an fd under the deny list). */
	DENIED(26, syscall(467 /* open_tree_attr */, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */, NULL, 0), ENOSYS);
	DENIED(27, socket(AF_VSOCK, SOCK_STREAM, 0), EAFNOSUPPORT); /* a channel to the hypervisor */
	DENIED(28, socket(AF_ALG, SOCK_SEQPACKET, 0), EAFNOSUPPORT);
	DENIED(29, personality(ADDR_NO_RANDOMIZE), ENOSYS); /* only Docker's personalities */
	DENIED(38, syscall(SYS_pidfd_getfd, -1, 0, 0), EPERM);
	/* What ML code needs keeps working. */
	int fd = memfd_create("t", MFD_CLOEXEC);
	WORKS(30, fd);
	close(fd);
	pthread_t t;
	if (pthread_create(&t, NULL, thread_fn, NULL) != 0 || pthread_join(t, NULL) != 0)
		_exit(31);
	pid_t c = fork(); /* glibc's fork: clone3 ENOSYS, then clone */
	WORKS(32, c);
	if (c == 0)
		_exit(0);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		_exit(33);
	WORKS(34, syscall(SYS_pidfd_open, getpid(), 0));
	WORKS(35, syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
	WORKS(36, personality(0xffffffff));
	WORKS(37, socket(AF_INET, SOCK_DGRAM, 0));
	/* the NUMA calls torch makes */
	WORKS(39, syscall(SYS_set_mempolicy, 0 /* MPOL_DEFAULT */, NULL, 0));
	WORKS(40, syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0));
	WORKS(41, personality(PER_LINUX32 | 0));
	WORKS(42, personality(PER_LINUX));
}

static void strict_profile_checks(void)
{
	load(SB_SECCOMP_STRICT, NULL, 0);
	DENIED(1, socket(AF_PACKET, SOCK_RAW, 0), EPERM);
	DENIED(2, socket(AF_INET, SOCK_RAW, 1), EPERM);
	DENIED(3, personality(PER_LINUX32), EPERM);
	DENIED(4, unshare(CLONE_NEWUSER), EPERM);
	DENIED(5, personality(0xffffffff), EPERM);
	WORKS(6, socket(AF_INET, SOCK_STREAM, 0));
}

static void extra_deny_checks(void)
{
	char *deny[] = { "uname" };
	load(SB_SECCOMP_UNCONFINED, deny, 1);
	struct utsname u;
	DENIED(1, uname(&u), EPERM);
	WORKS(2, unshare(0)); /* unconfined: nothing else is filtered */
}

static void unconfined_checks(void)
{
	load(SB_SECCOMP_UNCONFINED, NULL, 0);
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Seccomp:", 8) && strtol(line + 8, NULL, 10) != 0)
			_exit(1);
	if (f)
		fclose(f);
}

static void test_default_profile(void **state)
{
	assert_int_equal(run_child(default_profile_checks), 0);
}

static void test_strict_profile(void **state)
{
	assert_int_equal(run_child(strict_profile_checks), 0);
}

static void test_extra_deny(void **state)
{
	assert_int_equal(run_child(extra_deny_checks), 0);
}

static void test_unconfined_loads_nothing(void **state)
{
	assert_int_equal(run_child(unconfined_checks), 0);
}

/* The sandbox compiles the filter in its setup process and installs it in the job later: a
 * filter built here is enforced in a child that only installs it. */
static struct sb_seccomp prebuilt;

static void prebuilt_checks(void)
{
	struct rp_err e = { 0 };
	int notify_fd = 12345;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sb_seccomp_install(&prebuilt, &notify_fd, &e) < 0)
		_exit(99);
	if (notify_fd != -1) /* built without log: no listener */
		_exit(98);
	DENIED(1, unshare(CLONE_NEWNS), EPERM);
	DENIED(2, syscall(SYS_clone3, NULL, 0), ENOSYS);
	WORKS(3, getpid());
}

static void test_built_ahead_installed_later(void **state)
{
	struct rp_err e = { 0 };
	assert_int_equal(sb_seccomp_build(SB_SECCOMP_DEFAULT, NULL, 0, false, &prebuilt, &e), 0);
	assert_non_null(prebuilt.errno_prog.insns);
	assert_true(prebuilt.errno_prog.len > 10);
	assert_null(prebuilt.notify.insns);
	assert_int_equal(run_child(prebuilt_checks), 0);
	sb_seccomp_free(&prebuilt);

	/* log: a notification filter too (the kernel here has user notification) */
	assert_int_equal(sb_seccomp_build(SB_SECCOMP_DEFAULT, NULL, 0, true, &prebuilt, &e), 0);
	assert_non_null(prebuilt.notify.insns);
	assert_true(prebuilt.notify.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER);
	assert_true(prebuilt.errno_prog.flags & SECCOMP_FILTER_FLAG_LOG);
	sb_seccomp_free(&prebuilt);

	/* unconfined without extra names: nothing to install */
	assert_int_equal(sb_seccomp_build(SB_SECCOMP_UNCONFINED, NULL, 0, false, &prebuilt, &e), 0);
	assert_null(prebuilt.errno_prog.insns);
	assert_null(prebuilt.notify.insns);
}

static void test_profile_names(void **state)
{
	enum sb_seccomp_profile p;
	assert_int_equal(sb_seccomp_profile_parse("strict", &p), 0);
	assert_int_equal(p, SB_SECCOMP_STRICT);
	assert_int_equal(sb_seccomp_profile_parse(NULL, &p), 0);
	assert_int_equal(p, SB_SECCOMP_DEFAULT);
	assert_int_equal(sb_seccomp_profile_parse("lax", &p), -1);
	assert_string_equal(sb_seccomp_profile_name(SB_SECCOMP_UNCONFINED), "unconfined");
}

static void test_unknown_deny_name(void **state)
{
	struct rp_err e = { 0 };
	char *ok[] = { "ptrace", "uname" }, *bad[] = { "ptrace", "no_such_call" };
	assert_int_equal(sb_seccomp_check_names(ok, 2, &e), 0);
	assert_int_equal(sb_seccomp_check_names(bad, 2, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "no_such_call"));
}

static void assert_same_prog(const struct sb_seccomp_prog *a, const struct sb_seccomp_prog *b)
{
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->flags, b->flags);
	if (a->len)
		assert_memory_equal(a->insns, b->insns, a->len * sizeof *a->insns);
}

/* The profiles compiled when runpilot was built are the ones libseccomp makes now; with deny
 * names or log the filter is compiled at the start. */
static void test_prebuilt_profiles_match(void **state)
{
	enum sb_seccomp_profile ps[] = { SB_SECCOMP_DEFAULT, SB_SECCOMP_STRICT };
	for (size_t i = 0; i < 2; i++) {
		struct sb_seccomp built, compiled;
		struct rp_err e = { 0 };
		assert_int_equal(sb_seccomp_build(ps[i], NULL, 0, false, &built, &e), 0);
		assert_int_equal(sb_seccomp_compile(ps[i], NULL, 0, false, &compiled, &e), 0);
		assert_true(built.errno_prog.len > 100 && built.arguments.len > 10);
		assert_same_prog(&built.arguments, &compiled.arguments);
		assert_same_prog(&built.errno_prog, &compiled.errno_prog);
		assert_null(built.notify.insns);
		sb_seccomp_free(&built);
		sb_seccomp_free(&compiled);
	}
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prebuilt_profiles_match),
		cmocka_unit_test(test_default_profile),
		cmocka_unit_test(test_strict_profile),
		cmocka_unit_test(test_extra_deny),
		cmocka_unit_test(test_unconfined_loads_nothing),
		cmocka_unit_test(test_built_ahead_installed_later),
		cmocka_unit_test(test_profile_names),
		cmocka_unit_test(test_unknown_deny_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
