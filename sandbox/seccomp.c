/* seccomp profiles, modeled on Docker's default (moby/profiles seccomp/default.json).
 *
 * Docker's profile is an allow list that also grants calls by capability; ours is the equivalent
 * deny list (everything Docker refuses to a container without extra capabilities, minus the NUMA
 * calls ML code needs), answered with EPERM so a program sees an ordinary failure. clone3 answers
 * ENOSYS so glibc falls back to clone, whose namespace flags the filter can inspect. Calls of a
 * foreign architecture (i386 int 0x80, x32) are refused. */
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
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

static const char *const deny_default[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	/* other processes and the kernel */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
	"keyctl", "add_key", "request_key", "bpf", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "quotactl_fd",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	"iopl", "ioperm", "syslog", "lookup_dcookie", "perf_event_open", "nfsservctl", "uselib",
	"ustat", "sysfs", "_sysctl", "vm86", "vm86old", "vhangup",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	NULL,
};

/* strict adds: personality changes, raw and packet sockets, splice tricks. */
/* personality is refused outright: libseccomp cannot say "anything but 0 and the query" in one
 * rule, and programs that need it are rare. */
static const char *const deny_strict[] = { "personality", "vmsplice", "mincore", NULL };

static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
	CLONE_NEWCGROUP,
};

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

/* Deny one syscall by name; names this architecture lacks are skipped (builtin lists only). */
static int deny_name(scmp_filter_ctx ctx, const char *name, uint32_t deny, bool must_exist,
		     struct rp_err *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return must_exist ? rp_err_set(err, RP_ERR_USAGE, "seccomp: unknown syscall '%s'", name) : 0;
	int rc = seccomp_rule_add(ctx, deny, nr, 0);
	if (rc < 0 && rc != -EEXIST) {
		errno = -rc;
		return rp_err_sys(err, "seccomp: cannot add a rule for %s", name);
	}
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		    const struct scmp_arg_cmp *cmp, struct rp_err *err)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc < 0) {
		errno = -rc;
		return rp_err_sys(err, "seccomp: cannot add a rule for syscall %d", nr);
	}
	return 0;
}

static int add_default(scmp_filter_ctx ctx, uint32_t deny, struct rp_err *err)
{
	for (size_t i = 0; deny_default[i]; i++)
		if (deny_name(ctx, deny_default[i], deny, false, err) < 0)
			return -1;
	for (size_t i = 0; i < sizeof clone_ns_flags / sizeof *clone_ns_flags; i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
		if (add_rule(ctx, deny, SCMP_SYS(clone), 1, &c, err) < 0)
			return -1;
	}
	/* Typing into a terminal (TIOCSTI) or a console (TIOCLINUX) would run commands in the
	 * user's shell after the run. The request is compared as the 32 bits the kernel reads. */
	static const unsigned long tty_requests[] = { TIOCSTI, TIOCLINUX };
	for (size_t i = 0; i < sizeof tty_requests / sizeof *tty_requests; i++) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, tty_requests[i]);
		if (add_rule(ctx, deny, SCMP_SYS(ioctl), 1, &c, err) < 0)
			return -1;
	}
	return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL, err);
}

static int add_strict(scmp_filter_ctx ctx, uint32_t deny, struct rp_err *err)
{
	for (size_t i = 0; deny_strict[i]; i++)
		if (deny_name(ctx, deny_strict[i], deny, false, err) < 0)
			return -1;
	struct scmp_arg_cmp packet = SCMP_A0(SCMP_CMP_EQ, AF_PACKET);
	struct scmp_arg_cmp raw = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW);
	if (add_rule(ctx, deny, SCMP_SYS(socket), 1, &packet, err) < 0 ||
	    add_rule(ctx, deny, SCMP_SYS(socket), 1, &raw, err) < 0)
		return -1;
	return 0;
}

/* Build one filter with libseccomp and export its BPF program; deny is the action for refused
 * calls (EPERM, or a notification). The program is loaded later by install_prog. */
static int build_prog(enum sb_seccomp_profile p, char **deny_names, size_t ndeny, uint32_t deny,
		      bool audit_log, struct sb_seccomp_prog *out, struct rp_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return rp_err_set(err, RP_ERR_RUNTIME, "seccomp: cannot create a filter");
	int rc = 0;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM)) < 0)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "seccomp: cannot set filter attributes");
	if (rc == 0 && p != SB_SECCOMP_UNCONFINED)
		rc = add_default(ctx, deny, err);
	if (rc == 0 && p == SB_SECCOMP_STRICT)
		rc = add_strict(ctx, deny, err);
	for (size_t i = 0; rc == 0 && i < ndeny; i++)
		rc = deny_name(ctx, deny_names[i], deny, true, err);
	/* libseccomp 2.5 exports to a file descriptor only: a memfd, read back whole. */
	int fd = rc == 0 ? memfd_create("runpilot-seccomp", MFD_CLOEXEC) : -1;
	if (rc == 0 && fd < 0)
		rc = rp_err_sys(err, "seccomp: memfd_create");
	if (rc == 0) {
		int erc = seccomp_export_bpf(ctx, fd);
		if (erc < 0) {
			errno = -erc;
			rc = rp_err_sys(err, "seccomp: cannot export the filter");
		}
	}
	if (rc == 0) {
		char *bytes = NULL;
		size_t len = 0;
		if (lseek(fd, 0, SEEK_SET) < 0 || read_fd_all(fd, &bytes, &len) < 0)
			rc = rp_err_sys(err, "seccomp: cannot read the exported filter");
		else if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "seccomp: exported filter has a bad size (%zu bytes)", len);
		if (rc == 0) {
			out->insns = (struct sock_filter *)bytes;
			out->len = (unsigned short)(len / sizeof(struct sock_filter));
			out->flags = audit_log ? SECCOMP_FILTER_FLAG_LOG : 0;
			if (deny == SCMP_ACT_NOTIFY)
				out->flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
		} else {
			free(bytes);
		}
	}
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

int sb_seccomp_build(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log, struct sb_seccomp *out,
		     struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (p == SB_SECCOMP_UNCONFINED && ndeny == 0)
		return 0; /* nothing to load */
	/* Logging: refused calls go to a listener (sb_seccomp_listen) that records them and answers
	 * EPERM. Where notifications are not available, the kernel's audit log has to do: that
	 * filter is built too, for install to fall back on. */
	if (log) {
		struct rp_err ignored = { 0 };
		(void)build_prog(p, deny, ndeny, SCMP_ACT_NOTIFY, false, &out->notify, &ignored);
	}
	return build_prog(p, deny, ndeny, SCMP_ACT_ERRNO(EPERM), log, &out->errno_prog, err);
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

/* One fd passed over a unix socket (SCM_RIGHTS); -1 when none came. */
static int receive_fd(int sock)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

int sb_seccomp_send_notify_fd(int sock, int notify_fd)
{
	char byte = 'n';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &notify_fd, sizeof notify_fd);
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
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
