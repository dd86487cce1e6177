/* The sandbox's entry points: sb_begin starts the setup, sb_release_send lets the job run and
 * sb_release_wait waits until it runs. See include/sandbox.h for the sequence.
 *
 * Parent                               Child (pid 1 of the new pid namespace)
 *   sb_begin:
 *   clone(new namespaces) ---------->    waits on the gate pipe
 *   write uid/gid maps,
 *   move it off our CPU until it runs
 *   write "g" on the gate ----------->   hostname, loopback, fs view (mounts.c),
 *   return: the caller works            reports 'S' (overlay or not), waits on the gate
 *     meanwhile (run.json, fingerprint,
 *     the seccomp filter's compilation)
 *   sb_release_send, sb_release_wait:
 *   write "g" + the filter on the gate -> enters the run's cgroup, cgroup ns; sb_init_spawn():
 *   (the caller works meanwhile)         the job child drops caps, sets
 *                                        no_new_privs, installs the filter, execs; the init
 *   read the message pipe until EOF <-   supervises (the pipe is close-on-exec)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "sb_init.h"
#include "testhooks.h"
#include "log.h"
#include "util.h"

extern char **environ;

/* One record on the message pipe; smaller than PIPE_BUF, so each write is atomic. */
struct sb_msg {
	char kind;               /* 'S' setup report, 'E' error */
	bool overlay;
	int ngpu;
	int err_kind;
	int sys_errno;
	char text[1000];
};

/* Copy a string into a fixed buffer, cutting it if needed. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static void send_msg(int fd, const struct sb_msg *m)
{
	ssize_t n;
	do
		n = write(fd, m, sizeof *m);
	while (n < 0 && errno == EINTR);
}

static noreturn void child_fail(int fd, const struct rp_err *e)
{
	struct sb_msg m = { .kind = 'E', .err_kind = e->kind ? e->kind : RP_ERR_RUNTIME,
			    .sys_errno = e->sys_errno };
	copy_text(m.text, sizeof m.text, e->msg[0] ? e->msg : "sandbox setup failed");
	send_msg(fd, &m);
	_exit(127);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd but the listed ones (the init never execs, so close-on-exec is no help). */
void sb_close_all_except(int *keep, size_t n)
{
	qsort(keep, n, sizeof *keep, cmp_int);
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo) {
			if (keep[i] >= 0 && (unsigned)keep[i] + 1 > lo)
				lo = (unsigned)keep[i] + 1;
			continue;
		}
		if ((unsigned)keep[i] > lo)
			close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

/* In the job child: stdio, workdir, privileges, seccomp, exec. A missing workdir or program is
 * the job's failure, reported as the local runner does (a line on its stderr, exit 126/127);
 * failing to confine it is a setup error. */
static noreturn void job_exec(const struct sb_plan *p, const struct sb_seccomp *filter, int msg_fd)
{
	struct rp_err e = { 0 };
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(p->out_fd, 1) < 0 || dup2(p->out_fd, 2) < 0) {
		rp_err_sys(&e, "sandbox: cannot set up the job's stdin/stdout");
		child_fail(msg_fd, &e);
	}
	if (chdir(p->cwd) < 0) {
		job_say("cannot enter workdir %s: %s", p->cwd, strerror(errno));
		_exit(126);
	}
	/* Everything above 2 (the message pipe included) closes when exec succeeds. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		rp_err_sys(&e, "sandbox: close_range");
		child_fail(msg_fd, &e);
	}
	int notify_fd = -1;
	bool listen = p->seccomp_log && p->seccomp_notify_sock >= 0;
	if (sb_caps_drop(p->keep_caps, &e) < 0 || sb_seccomp_install(filter, listen ? &notify_fd : NULL, &e) < 0)
		child_fail(msg_fd, &e);
	/* The listener runs outside our pid namespace: it gets the fd, we keep nothing of it. A
	 * refused call made before it had the fd would wait for ever: none is made here. */
	if (notify_fd >= 0 && sb_seccomp_send_notify_fd(p->seccomp_notify_sock, notify_fd) < 0) {
		rp_err_sys(&e, "sandbox: cannot hand the seccomp notifications to the listener");
		child_fail(msg_fd, &e);
	}
	close_fd(&notify_fd);
	if (p->seccomp_notify_sock >= 0)
		close(p->seccomp_notify_sock);
	environ = p->envp;
	execvp(p->argv[0], p->argv);
	int saved = errno;
	job_say("cannot run '%s': %s", p->argv[0], strerror(saved));
	_exit(saved == ENOENT ? 127 : 126);
}

struct job_args {
	const struct sb_plan *plan;
	const struct sb_seccomp *filter;
	int msg_fd;
};

static noreturn void job_main(void *arg)
{
	const struct job_args *a = arg;
	job_exec(a->plan, a->filter, a->msg_fd);
}

/* Wait for one byte on the gate; anything else means the parent gave up: exit, and the
 * namespaces (with every mount built in them) go with us. */
static void wait_gate(int gate_fd)
{
	char go;
	ssize_t n;
	do
		n = read(gate_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1);
}

/* The seccomp filter travels on the gate with the release: its programs, each a header and its
 * instructions. It is
 * compiled by the supervisor while this process builds the mounts. */
struct prog_header {
	uint32_t len, flags;
};

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_prog(int fd, struct sb_seccomp_prog *prog)
{
	struct prog_header h;
	*prog = (struct sb_seccomp_prog){ 0 };
	if (read_full(fd, &h, sizeof h) < 0 || h.len > BPF_MAXINSNS)
		return -1;
	if (h.len == 0)
		return 0;
	prog->insns = xcalloc(h.len, sizeof *prog->insns);
	prog->len = (unsigned short)h.len;
	prog->flags = h.flags;
	return read_full(fd, prog->insns, h.len * sizeof *prog->insns);
}

static int write_prog(int fd, const struct sb_seccomp_prog *prog)
{
	struct prog_header h = { prog->len, prog->flags };
	if (write_all(fd, &h, sizeof h) < 0)
		return -1;
	return prog->len ? write_all(fd, prog->insns, prog->len * sizeof *prog->insns) : 0;
}

/* The programs of a filter, in a fixed order, each a header and its instructions. */
static int read_filter(int fd, struct sb_seccomp *f)
{
	memset(f, 0, sizeof *f);
	return read_prog(fd, &f->arguments) < 0 || read_prog(fd, &f->notify) < 0 || read_prog(fd, &f->errno_prog) < 0
		       ? -1
		       : 0;
}

static int write_filter(int fd, const struct sb_seccomp *f)
{
	return write_prog(fd, &f->arguments) < 0 || write_prog(fd, &f->notify) < 0 || write_prog(fd, &f->errno_prog) < 0
		       ? -1
		       : 0;
}

/* The run's cgroup files, opened by the caller before the clone: the job's host ids may have no
 * right to them, and the kernel checks the opener's. Returns how many, or -1 with e filled. */
static int open_cgroup_files(const struct sb_plan *p, int fds[SB_MAX_CGROUP_FILES], struct rp_err *e)
{
	int n = 0;
	for (; n < p->ncgroup_files && n < SB_MAX_CGROUP_FILES; n++) {
		fds[n] = open(p->cgroup_files[n], O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			rp_err_sys(e, "sandbox: cannot open %s", p->cgroup_files[n]);
			while (n-- > 0)
				close(fds[n]);
			return -1;
		}
	}
	return n;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Join the run's cgroup: "0" (this process) into every file; closes them. */
static int join_cgroup(int *fds, int n)
{
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0 && write(fds[i], "0", 1) != 1)
			rc = -1;
		int saved = errno;
		close(fds[i]);
		errno = saved;
	}
	return rc;
}

/* The CPUs runpilot may use, taken before the clone; the child gets them back at once. */
struct cpu_placement {
	bool known;
	cpu_set_t allowed;
};

/* A new child mostly starts on its parent's CPU and would wait there while the supervisor
 * records the run. Until the child runs, it may use only the other allowed CPUs; it restores
 * the full set as its first act after the gate (so the job inherits exactly runpilot's CPUs).
 * Best effort: any failure leaves the placement alone. */
static void place_off_this_cpu(pid_t child, const struct cpu_placement *cp)
{
	int cpu = sched_getcpu();
	if (!cp->known || cpu < 0 || CPU_COUNT(&cp->allowed) < 2 || !CPU_ISSET(cpu, &cp->allowed))
		return;
	cpu_set_t others = cp->allowed;
	CPU_CLR(cpu, &others);
	(void)sched_setaffinity(child, sizeof others, &others);
}

/* Taking other ids clears the parent-death signal: set it again, and leave if runpilot died
 * meanwhile (its end of the lifeline is closed then). */
static void rearm_parent_death(int lifeline_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct pollfd l = { .fd = lifeline_fd, .events = POLLIN };
	if (poll(&l, 1, 0) > 0 && (l.revents & (POLLHUP | POLLERR)))
		_exit(1);
}

/* How long the job waits for network "outbound" to come up (pasta takes tens of ms). */
#define NET_UP_TIMEOUT_MS 10000

/* What the setup child gets from sb_begin besides the plan. */
struct child_fds {
	int gate, msg, trees;    /* trees: -1 unless sb_trees_needed */
	int cgroup[SB_MAX_CGROUP_FILES];
	int ncgroup;
};

static noreturn void child_main(const struct sb_plan *p, struct child_fds *fds, ino_t parent_mntns,
				const struct cpu_placement *cp)
{
	struct rp_err e = { 0 };
	int gate_fd = fds->gate, msg_fd = fds->msg;
	int keep[7 + SB_MAX_CGROUP_FILES] = { gate_fd, msg_fd, fds->trees, p->out_fd, p->lifeline_fd,
					      p->status_fd, p->seccomp_notify_sock };
	size_t nkeep = 7;
	for (int i = 0; i < fds->ncgroup; i++)
		keep[nkeep++] = fds->cgroup[i];
	sb_close_all_except(keep, nkeep);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	wait_gate(gate_fd); /* maps written, placed */
	if (sb_userns_become(p->uid, p->gid, &e) < 0)
		child_fail(msg_fd, &e);
	rearm_parent_death(p->lifeline_fd);
	if (cp->known && sched_setaffinity(0, sizeof cp->allowed, &cp->allowed) < 0) {
		/* runpilot's CPUs changed meanwhile (its cpuset shrank): every CPU, which the
		 * kernel narrows to what is allowed now, rather than the one we were moved to. */
		cpu_set_t all;
		memset(&all, 0xff, sizeof all);
		(void)sched_setaffinity(0, sizeof all, &all);
	}
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0) {
		rp_err_sys(&e, "sandbox: sethostname");
		child_fail(msg_fd, &e);
	}
	if (p->netns && sb_ns_loopback_up(&e) < 0)
		child_fail(msg_fd, &e);
	int route_fd = p->net_wait_route ? sb_ns_route_watch(&e) : -1;
	if (p->net_wait_route && route_fd < 0)
		child_fail(msg_fd, &e);

	while (test_hook("RUNPILOT_TEST_STALL_SETUP"))
		pause(); /* as a setup stuck on a dead mount would */
	struct sb_started st = { 0 };
	if (sb_mounts_build(p, parent_mntns, fds->trees, &st, &e) < 0)
		child_fail(msg_fd, &e);
	if (fds->trees >= 0)
		close(fds->trees);
	struct sb_msg m = { .kind = 'S', .overlay = st.workdir_overlay, .ngpu = st.ngpu_devices };
	copy_text(m.text, sizeof m.text, st.workdir_error.msg);
	send_msg(msg_fd, &m);
	wait_gate(gate_fd); /* sb_release_send */
	struct sb_seccomp filter;
	if (read_filter(gate_fd, &filter) < 0)
		_exit(1);
	close(gate_fd);
	/* The network helper has had the setup's time to wire the namespace. */
	if (route_fd >= 0 && sb_ns_route_wait(route_fd, NET_UP_TIMEOUT_MS, &e) < 0)
		child_fail(msg_fd, &e);
	close_fd(&route_fd);
	/* Into the run's cgroup only now: what the setup allocated (mount points, dentries, the
	 * overlay's work dir) stays charged to runpilot's cgroup, so the run's cgroup, once
	 * removed, is not kept alive ("dying") by it, and the run's figures are the job's. */
	if (join_cgroup(fds->cgroup, fds->ncgroup) < 0) {
		rp_err_sys(&e, "sandbox: cannot enter the run's cgroup");
		child_fail(msg_fd, &e);
	}
	if (unshare(CLONE_NEWCGROUP) < 0) {
		rp_err_sys(&e, "sandbox: cannot create a cgroup namespace");
		child_fail(msg_fd, &e);
	}

	struct job_args args = { p, &filter, msg_fd };
	pid_t job = sb_init_spawn(job_main, &args, &e);
	if (job < 0)
		child_fail(msg_fd, &e);
	sb_seccomp_free(&filter);

	close(msg_fd);
	close(p->out_fd);
	if (p->seccomp_notify_sock >= 0)
		close(p->seccomp_notify_sock); /* the job has handed its fd over by now */
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		close(nul);
	}
	prctl(PR_SET_PDEATHSIG, 0);
	struct sb_init_cfg cfg = {
		.lifeline_fd = p->lifeline_fd, .status_fd = p->status_fd, .pid_namespace = true,
	};
	sb_init_supervise(job, &cfg);
}

static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* Wait until fd can be read; false when cancel_fd (if >= 0) became readable first. A report
 * that is there wins over a cancel arriving with it. */
static bool wait_readable(int fd, int cancel_fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN } };
	for (;;) {
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 || p[0].revents || !p[1].revents;
	}
}

/* Read the child's reports until the pipe closes (the job exec'd, or setup failed). */
static int read_reports(int fd, int cancel_fd, struct sb_started *out, struct rp_err *err)
{
	bool got_setup = false;
	for (;;) {
		struct sb_msg m;
		if (!wait_readable(fd, cancel_fd))
			return rp_err_set(err, RP_ERR_RUNTIME, "sandbox: setup interrupted");
		ssize_t n = read(fd, &m, sizeof m);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rp_err_sys(err, "sandbox: reading the setup report");
		if (n == 0)
			break;
		if (n != (ssize_t)sizeof m)
			return rp_err_set(err, RP_ERR_RUNTIME, "sandbox: short setup report");
		m.text[sizeof m.text - 1] = '\0';
		if (m.kind == 'E') {
			rp_err_set(err, m.err_kind == RP_ERR_USAGE ? RP_ERR_USAGE : RP_ERR_RUNTIME, "%s", m.text);
			if (err)
				err->sys_errno = m.sys_errno;
			return -1;
		}
		if (m.kind == 'S') {
			got_setup = true;
			out->workdir_overlay = m.overlay;
			out->ngpu_devices = m.ngpu;
			if (!m.overlay)
				rp_err_set(&out->workdir_error, RP_ERR_RUNTIME, "%s", m.text);
		}
	}
	if (!got_setup)
		return rp_err_set(err, RP_ERR_RUNTIME, "sandbox: setup process died before reporting");
	return 0;
}

static void close_setup_fds(struct sb_setup *s)
{
	close_fd(&s->gate_fd);
	close_fd(&s->msg_fd);
	close_fd(&s->userns_fd);
	close_fd(&s->netns_fd);
}

/* The child's namespaces, for the helpers, while it is dumpable still (it has not taken the
 * job's ids: it waits on the gate). */
static int open_namespaces(const struct sb_plan *p, struct sb_setup *s, struct rp_err *err)
{
	char path[64];
	if (sb_trees_needed(p) || p->net_wait_route) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)s->pid);
		if ((s->userns_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return rp_err_sys(err, "sandbox: cannot open %s", path);
	}
	if (p->net_wait_route) {
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)s->pid);
		if ((s->netns_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return rp_err_sys(err, "sandbox: cannot open %s", path);
	}
	return 0;
}

static void reap_helper(struct sb_setup *s, bool kill_it)
{
	if (s->helper <= 0)
		return;
	if (kill_it)
		kill(s->helper, SIGKILL);
	while (waitpid(s->helper, NULL, 0) < 0 && errno == EINTR)
		;
	s->helper = -1;
}

void sb_abort(struct sb_setup *s)
{
	close_setup_fds(s);
	reap_helper(s, true);
	if (s->pid > 0)
		kill_and_reap(s->pid); /* its namespaces, and every mount in them, go with it */
	s->pid = -1;
}

/* The pipes and sockets between the caller and the setup child, and the cgroup files. */
static int open_channels(const struct sb_plan *p, int gate[2], int msg[2], int trees[2], struct child_fds *c,
			 struct rp_err *err)
{
	gate[0] = gate[1] = msg[0] = msg[1] = trees[0] = trees[1] = -1;
	c->ncgroup = open_cgroup_files(p, c->cgroup, err);
	if (c->ncgroup < 0)
		return -1;
	if (pipe2(gate, O_CLOEXEC) < 0 || pipe2(msg, O_CLOEXEC) < 0 ||
	    (sb_trees_needed(p) && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, trees) < 0)) {
		rp_err_sys(err, "sandbox: pipe");
		for (int i = 0; i < 2; i++) {
			close_fd(&gate[i]);
			close_fd(&msg[i]);
			close_fd(&trees[i]);
		}
		close_fds(c->cgroup, c->ncgroup);
		return -1;
	}
	c->gate = gate[0];
	c->msg = msg[1];
	c->trees = trees[1];
	return 0;
}

int sb_begin(const struct sb_plan *p, struct sb_setup *s, struct rp_err *err)
{
	int gate_p[2], msg_p[2], trees_p[2];
	struct child_fds fds;
	*s = (struct sb_setup){ .pid = -1, .helper = -1, .gate_fd = -1, .msg_fd = -1, .userns_fd = -1, .netns_fd = -1 };
	ino_t mntns = sb_mntns_inode();
	if (mntns == 0)
		return rp_err_sys(err, "sandbox: cannot read /proc/self/ns/mnt");
	if (open_channels(p, gate_p, msg_p, trees_p, &fds, err) < 0)
		return -1;
	struct cpu_placement cp;
	cp.known = sched_getaffinity(0, sizeof cp.allowed, &cp.allowed) == 0;
	/* fork-like clone (no new stack): the child continues below with a copy of our memory. */
	pid_t pid = (pid_t)syscall(SYS_clone, sb_clone_flags(p) | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0) {
		close(gate_p[1]);
		close(msg_p[0]);
		if (trees_p[0] >= 0)
			close(trees_p[0]);
		child_main(p, &fds, mntns, &cp);
	}
	int saved = errno;
	close(gate_p[0]);
	close(msg_p[1]);
	close_fd(&trees_p[1]);
	close_fds(fds.cgroup, fds.ncgroup);
	*s = (struct sb_setup){ .pid = pid, .helper = -1, .gate_fd = gate_p[1], .msg_fd = msg_p[0], .userns_fd = -1,
				.netns_fd = -1 };
	if (pid < 0) {
		close_setup_fds(s);
		close_fd(&trees_p[0]);
		errno = saved;
		return rp_err_sys(err, "sandbox: cannot create namespaces (clone)");
	}
	struct sb_ids ids = { .uid = p->uid, .host_uid = p->host_uid, .gid = p->gid, .host_gid = p->host_gid };
	int rc = sb_userns_write_maps(pid, &ids, err);
	if (rc == 0)
		rc = open_namespaces(p, s, err);
	if (rc == 0 && trees_p[0] >= 0) {
		/* The caller's files are to appear as the job's: through the job's own user namespace
		 * when the job is the caller's id inside, else through one mapping exactly that. */
		int idmap = -1;
		if (p->uid != getuid() || p->gid != getgid()) {
			struct sb_ids own = { .uid = getuid(), .host_uid = p->host_uid, .gid = getgid(),
					      .host_gid = p->host_gid };
			rc = (idmap = sb_userns_idmap_fd(&own, err)) < 0 ? -1 : 0;
		}
		if (rc == 0) {
			s->helper = sb_trees_start(p, idmap >= 0 ? idmap : s->userns_fd, trees_p[0], err);
			rc = s->helper < 0 ? -1 : 0;
		}
		close_fd(&idmap);
	}
	close_fd(&trees_p[0]);
	if (rc == 0)
		place_off_this_cpu(pid, &cp);
	if (rc == 0 && write_all(s->gate_fd, "g", 1) < 0)
		rc = rp_err_sys(err, "sandbox: cannot release the setup process");
	if (rc < 0)
		sb_abort(s);
	return rc;
}

void sb_release_send(struct sb_setup *s, const struct sb_seccomp *filter)
{
	/* A setup that failed meanwhile has exited: the write fails (EPIPE, SIGPIPE ignored by the
	 * caller) or lands in a pipe nobody reads; either way its report says why. */
	if (write_all(s->gate_fd, "g", 1) == 0)
		(void)write_filter(s->gate_fd, filter);
	close(s->gate_fd);
	s->gate_fd = -1;
}

int sb_release_wait(struct sb_setup *s, int cancel_fd, struct sb_started *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	out->pid = -1;
	int rc = read_reports(s->msg_fd, cancel_fd, out, err);
	if (rc < 0) {
		sb_abort(s);
		return -1;
	}
	close_setup_fds(s);
	/* The helper is done (the setup has its mounts) but may still be tearing its mount
	 * namespace down: it is reaped later, by sb_abort, off the job's way. */
	out->pid = s->pid;
	s->pid = -1;
	return 0;
}
