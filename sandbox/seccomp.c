/* seccomp profiles, modeled on Docker's default (moby/profiles seccomp/default.json); the
 * differences and why are in docs/sandbox.md.
 *
 * A profile is two filters. The first is an allow list: the calls a container without extra
 * capabilities may make are allowed, the ones it must not make (mounts, namespaces, the kernel,
 * other processes) fail with EPERM (or go to the listener with seccomp.log), and every other
 * call, unknown or added to the kernel later, fails with ENOSYS, so a program falls back as on
 * an older kernel. clone3 answers ENOSYS so glibc falls back to clone, whose flags the second
 * filter can inspect. The second filter checks arguments of calls the first allows (ioctl
 * requests, socket families, clone flags): two filters because libseccomp lets an
 * unconditional allow of a call win over a conditional refusal of it, and the kernel takes the
 * stricter answer of the two. Calls of a foreign architecture (i386 int 0x80, x32) are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

/* Allowed (default and strict): what Docker allows a container without extra capabilities,
 * without io_uring, ptrace, process_vm_*, name_to_handle_at (refused below), with the NUMA calls
 * torch needs, and with newer calls glibc uses where libseccomp knows them. Names this
 * architecture or this libseccomp lacks are skipped. */
static const char *const allow_list[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
	"capget", "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres", "clock_gettime",
	"clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2",
	"dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
	"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs",
	"fsync", "ftruncate", "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
	"futimesat", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu", "getcwd",
	"getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
	"gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
	"io_pgetevents", "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek",
	"lsetxattr", "lstat", "madvise", "map_shadow_stack", "mbind", "membarrier", "memfd_create",
	"memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
	"mlockall", "mmap", "modify_ldt", "move_pages", "mprotect", "mq_getsetattr", "mq_notify",
	"mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget",
	"msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat",
	"open", "openat", "openat2", "pause", "personality", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl",
	"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pwrite64",
	"pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom",
	"recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
	"restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
	"set_mempolicy", "set_mempolicy_home_node", "set_robust_list", "set_thread_area",
	"set_tid_address", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid",
	"setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid",
	"setsockopt", "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
	"sigaltstack", "signalfd", "signalfd4", "socket", "socketpair", "splice", "stat", "statfs",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
	"tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill",
	"truncate", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork",
	"vmsplice", "wait4", "waitid", "write", "writev",
	NULL,
};

/* Refused with EPERM (and logged with seccomp.log): what a job must never do. */
static const char *const refuse_list[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	/* other processes and the kernel */
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
	"keyctl", "add_key", "request_key", "bpf", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "quotactl_fd",
	"settimeofday", "clock_settime", "stime", "sethostname", "setdomainname",
	"iopl", "ioperm", "syslog", "lookup_dcookie", "perf_event_open", "fanotify_init",
	"nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "vm86old", "vhangup",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	NULL,
};

/* strict also refuses: every personality change, splice tricks, page residency probes (and, in
 * the argument filter, raw and packet sockets). */
static const char *const refuse_strict[] = { "personality", "vmsplice", "mincore", NULL };

/* The personalities Docker allows: Linux, Linux32, UNAME26 with each, and the query. */
static const unsigned long personalities[] = { PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, 0xffffffffUL };

static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
	CLONE_NEWCGROUP,
};

/* Socket families refused: vsock reaches the hypervisor's host whatever the network namespace,
 * and the kernel's crypto API (AF_ALG) is attack surface no job needs. */
static const int refused_families[] = { AF_VSOCK, AF_ALG };

int sb_seccomp_profile_parse(const char *name, enum sb_seccomp_profile *p)
{
	if (!name || strcmp(name, "default") == 0)
		*p = SB_SECCOMP_DEFAULT;
	else if (strcmp(name, "strict") == 0)
		*p = SB_SECCOMP_STRICT;
	else if (strcmp(name, "unconfined") == 0)
		*p = SB_SECCOMP_UNCONFINED;
	else
		return -1;
	return 0;
}

const char *sb_seccomp_profile_name(enum sb_seccomp_profile p)
{
	return p == SB_SECCOMP_STRICT ? "strict" : p == SB_SECCOMP_UNCONFINED ? "unconfined" : "default";
}

int sb_seccomp_check_names(char **names, size_t n, struct rp_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_syscall_resolve_name(names[i]) == __NR_SCMP_ERROR)
			return rp_err_set(err, RP_ERR_USAGE, "sandbox.seccomp.deny: unknown syscall '%s'",
					  names[i]);
	return 0;
}

static bool in_list(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

static bool in_names(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		    const struct scmp_arg_cmp *cmp, struct rp_err *err)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc < 0 && rc != -EEXIST) {
		errno = -rc;
		return rp_err_sys(err, "seccomp: cannot add a rule for syscall %d", nr);
	}
	return 0;
}

/* One rule by name; names this architecture (or libseccomp) lacks are skipped unless
 * must_exist (a user's seccomp.deny). */
static int add_named(scmp_filter_ctx ctx, uint32_t action, const char *name, bool must_exist,
		     struct rp_err *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return must_exist ? rp_err_set(err, RP_ERR_USAGE, "seccomp: unknown syscall '%s'", name) : 0;
	return add_rule(ctx, action, nr, 0, NULL, err);
}

/* What the first filter refuses with the deny action: the refuse list, strict's additions, and
 * the user's seccomp.deny. */
static bool refused(enum sb_seccomp_profile p, char **deny, size_t ndeny, const char *name)
{
	return in_list(refuse_list, name) || (p == SB_SECCOMP_STRICT && in_list(refuse_strict, name)) ||
	       in_names(deny, ndeny, name);
}

static int add_calls(scmp_filter_ctx ctx, enum sb_seccomp_profile p, char **deny, size_t ndeny,
		     uint32_t deny_action, struct rp_err *err)
{
	for (size_t i = 0; refuse_list[i]; i++)
		if (add_named(ctx, deny_action, refuse_list[i], false, err) < 0)
			return -1;
	for (size_t i = 0; p == SB_SECCOMP_STRICT && refuse_strict[i]; i++)
		if (add_named(ctx, deny_action, refuse_strict[i], false, err) < 0)
			return -1;
	for (size_t i = 0; allow_list[i]; i++) {
		const char *name = allow_list[i];
		if (refused(p, deny, ndeny, name))
			continue;
		if (!strcmp(name, "personality")) {
			for (size_t k = 0; k < sizeof personalities / sizeof *personalities; k++) {
				struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, personalities[k]);
				if (add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1, &c, err) < 0)
					return -1;
			}
		} else if (add_named(ctx, SCMP_ACT_ALLOW, name, false, err) < 0) {
			return -1;
		}
	}
	/* clone3 is not allowed: its flags are in memory the filter cannot read, so it gets the
	 * default ENOSYS, and glibc uses clone. */
	if (!in_names(deny, ndeny, "clone") && add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0, NULL, err) < 0)
		return -1;
	return 0;
}

/* The second filter: refusals by argument, of calls the first allows. */
static int add_argument_checks(scmp_filter_ctx ctx, enum sb_seccomp_profile p, struct rp_err *err)
{
	for (size_t i = 0; i < sizeof clone_ns_flags / sizeof *clone_ns_flags; i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &c, err) < 0)
			return -1;
	}
	/* Typing into a terminal (TIOCSTI) or a console (TIOCLINUX) would run commands in the
	 * user's shell after the run. The request is compared as the 32 bits the kernel reads. */
	static const unsigned long tty_requests[] = { TIOCSTI, TIOCLINUX };
	for (size_t i = 0; i < sizeof tty_requests / sizeof *tty_requests; i++) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, tty_requests[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, &c, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof refused_families / sizeof *refused_families; i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)refused_families[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, &c, err) < 0 ||
		    add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1, &c, err) < 0)
			return -1;
	}
	if (p == SB_SECCOMP_STRICT) {
		struct scmp_arg_cmp packet = SCMP_A0(SCMP_CMP_EQ, AF_PACKET);
		struct scmp_arg_cmp raw = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, &packet, err) < 0 ||
		    add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, &raw, err) < 0)
			return -1;
	}
	return 0;
}

/* Export a libseccomp filter as a BPF program (libseccomp 2.5 exports to a file descriptor
 * only: a memfd, read back whole). */
static int export_prog(scmp_filter_ctx ctx, unsigned flags, struct sb_seccomp_prog *out, struct rp_err *err)
{
	int fd = memfd_create("runpilot-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "seccomp: memfd_create");
	int rc = 0, erc = seccomp_export_bpf(ctx, fd);
	char *bytes = NULL;
	size_t len = 0;
	if (erc < 0) {
		errno = -erc;
		rc = rp_err_sys(err, "seccomp: cannot export the filter");
	} else if (lseek(fd, 0, SEEK_SET) < 0 || read_fd_all(fd, &bytes, &len) < 0) {
		rc = rp_err_sys(err, "seccomp: cannot read the exported filter");
	} else if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc = rp_err_set(err, RP_ERR_RUNTIME, "seccomp: exported filter has a bad size (%zu bytes)", len);
	}
	close(fd);
	if (rc < 0) {
		free(bytes);
		return -1;
	}
	out->insns = (struct sock_filter *)bytes;
	out->len = (unsigned short)(len / sizeof(struct sock_filter));
	out->flags = flags;
	return 0;
}

enum which_filter { CALLS_FILTER, ARGUMENTS_FILTER };

/* Build one filter and export it. deny_action is the answer to refused calls (EPERM, or a
 * notification for the listener); audit_log adds SECCOMP_FILTER_FLAG_LOG. */
static int build_prog(enum which_filter which, enum sb_seccomp_profile p, char **deny, size_t ndeny,
		      uint32_t deny_action, bool audit_log, struct sb_seccomp_prog *out, struct rp_err *err)
{
	/* unconfined: only the user's seccomp.deny, everything else allowed */
	uint32_t dflt = which == ARGUMENTS_FILTER || p == SB_SECCOMP_UNCONFINED ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(ENOSYS);
	scmp_filter_ctx ctx = seccomp_init(dflt);
	if (!ctx)
		return rp_err_set(err, RP_ERR_RUNTIME, "seccomp: cannot create a filter");
	int rc = 0;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM)) < 0)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "seccomp: cannot set filter attributes");
	if (rc == 0 && which == ARGUMENTS_FILTER)
		rc = add_argument_checks(ctx, p, err);
	else if (rc == 0 && p != SB_SECCOMP_UNCONFINED)
		rc = add_calls(ctx, p, deny, ndeny, deny_action, err);
	for (size_t i = 0; rc == 0 && which == CALLS_FILTER && i < ndeny; i++)
		rc = add_named(ctx, deny_action, deny[i], true, err);
	unsigned flags = audit_log ? SECCOMP_FILTER_FLAG_LOG : 0;
	if (deny_action == SCMP_ACT_NOTIFY)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	if (rc == 0)
		rc = export_prog(ctx, flags, out, err);
	seccomp_release(ctx);
	return rc;
}

/* The profiles as compiled when runpilot was built (mk/seccomp-prebuild.c): the same programs
 * sb_seccomp_compile makes, without the milliseconds libseccomp takes at each start. Weak: the
 * generator itself is linked without them. */
extern const struct sb_seccomp_prebuilt sb_seccomp_prebuilt[] __attribute__((weak));
extern const size_t sb_seccomp_nprebuilt __attribute__((weak));

static void copy_prog(const struct sb_seccomp_prebuilt_prog *from, struct sb_seccomp_prog *to)
{
	*to = (struct sb_seccomp_prog){ .len = from->len, .flags = from->flags };
	if (from->len) {
		to->insns = xcalloc(from->len, sizeof *to->insns);
		memcpy(to->insns, from->insns, from->len * sizeof *to->insns);
	}
}

static bool copy_prebuilt(enum sb_seccomp_profile p, struct sb_seccomp *out)
{
	if (!&sb_seccomp_nprebuilt || !sb_seccomp_prebuilt)
		return false;
	for (size_t i = 0; i < sb_seccomp_nprebuilt; i++) {
		if (sb_seccomp_prebuilt[i].profile != p)
			continue;
		copy_prog(&sb_seccomp_prebuilt[i].arguments, &out->arguments);
		copy_prog(&sb_seccomp_prebuilt[i].errno_prog, &out->errno_prog);
		return true;
	}
	return false;
}

int sb_seccomp_build(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log, struct sb_seccomp *out,
		     struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (ndeny == 0 && !log && copy_prebuilt(p, out))
		return 0;
	return sb_seccomp_compile(p, deny, ndeny, log, out, err);
}

int sb_seccomp_compile(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log, struct sb_seccomp *out,
		       struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (p == SB_SECCOMP_UNCONFINED && ndeny == 0)
		return 0; /* nothing to load */
	if (p != SB_SECCOMP_UNCONFINED &&
	    build_prog(ARGUMENTS_FILTER, p, NULL, 0, SCMP_ACT_ERRNO(EPERM), log, &out->arguments, err) < 0)
		return -1;
	/* Logging: refused calls go to a listener (sb_seccomp_listener_start) that records them and
	 * answers EPERM. Where notifications are not available, the kernel's audit log has to do:
	 * that filter is built too, for install to fall back on. */
	if (log) {
		struct rp_err ignored = { 0 };
		(void)build_prog(CALLS_FILTER, p, deny, ndeny, SCMP_ACT_NOTIFY, false, &out->notify, &ignored);
	}
	if (build_prog(CALLS_FILTER, p, deny, ndeny, SCMP_ACT_ERRNO(EPERM), log, &out->errno_prog, err) < 0) {
		sb_seccomp_free(out);
		return -1;
	}
	return 0;
}

/* Load one program into the calling thread; the listener fd for NEW_LISTENER programs. */
static int install_prog(const struct sb_seccomp_prog *prog)
{
	struct sock_fprog fprog = { .len = prog->len, .filter = prog->insns };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, prog->flags, &fprog);
}

int sb_seccomp_install(const struct sb_seccomp *f, int *notify_fd, struct rp_err *err)
{
	if (notify_fd)
		*notify_fd = -1;
	if (f->arguments.insns && install_prog(&f->arguments) < 0)
		return rp_err_sys(err, "seccomp: cannot load the argument filter");
	if (f->notify.insns && notify_fd) {
		int fd = install_prog(&f->notify);
		if (fd >= 0) {
			*notify_fd = fd;
			return 0;
		}
	}
	if (!f->errno_prog.insns)
		return 0; /* unconfined */
	if (install_prog(&f->errno_prog) < 0)
		return rp_err_sys(err, "seccomp: cannot load the filter");
	return 0;
}

void sb_seccomp_free(struct sb_seccomp *f)
{
	free(f->arguments.insns);
	free(f->notify.insns);
	free(f->errno_prog.insns);
	memset(f, 0, sizeof *f);
}

/* Answer every notification with EPERM and append "NR NAME" lines to log_fd, until no task
 * uses the filter any more (the fd hangs up). */
static noreturn void listen_notifications(int notify_fd, int log_fd)
{
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	if (seccomp_notify_alloc(&req, &resp) < 0)
		_exit(1);
	for (;;) {
		struct pollfd p = { .fd = notify_fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (!(p.revents & POLLIN))
			_exit(0); /* POLLHUP: the job and everything it started are gone */
		memset(req, 0, sizeof *req); /* the kernel wants a zeroed request */
		if (seccomp_notify_receive(notify_fd, req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue; /* ENOENT: the caller died before we read it */
			_exit(0);
		}
		char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
		dprintf(log_fd, "%d %s\n", req->data.nr, name ? name : "?");
		free(name);
		resp->id = req->id;
		resp->val = 0;
		resp->error = -EPERM;
		resp->flags = 0;
		seccomp_notify_respond(notify_fd, resp); /* ENOENT: the caller is gone meanwhile */
	}
}

/* The notification fd the job sends (sb_seccomp_send_notify_fd); -1 when none came. */
static int receive_fd(int sock)
{
	char byte;
	int fd;
	if (sb_fd_receive(sock, &byte, 1, &fd) == 1)
		return fd;
	close_fd(&fd);
	return -1;
}

int sb_seccomp_send_notify_fd(int sock, int notify_fd)
{
	return sb_fd_send(sock, "n", 1, notify_fd);
}

int sb_seccomp_listener_start(int log_fd, int *sock, pid_t *pid, struct rp_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return rp_err_sys(err, "seccomp listener: socketpair");
	pid_t child = fork();
	if (child < 0) {
		close(sv[0]);
		close(sv[1]);
		return rp_err_sys(err, "seccomp listener: fork");
	}
	if (child == 0) {
		/* Not dumpable first: nobody of the same uid may take its fds or memory, ever. */
		if (prctl(PR_SET_DUMPABLE, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		int keep[] = { sv[1], log_fd };
		sb_close_all_except(keep, 2);
		int notify_fd = receive_fd(sv[1]);
		close(sv[1]);
		if (notify_fd < 0)
			_exit(0); /* the job never got as far as its filter */
		listen_notifications(notify_fd, log_fd);
	}
	close(sv[1]);
	*sock = sv[0];
	*pid = child;
	return 0;
}
