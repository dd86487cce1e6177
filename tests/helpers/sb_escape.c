/* Escape attempts for tests/integration/test_sandbox_escape.sh, run inside
 * `runpilot run --runner sandbox`. Never run it bare on a host.
 * Each attempt prints "BLOCKED name: detail" or "ESCAPED name: detail"; "DONE" at the end.
 * Environment: ESC_HOST_PID (a host process of the same user, passed with sandbox.env_pass),
 * ESC_PORT (a host loopback
 * listener), ESC_WORKDIR_FILE (a workdir file to overwrite), ESC_SECRETS (colon-separated
 * masked files), ESC_SUID (a setuid-root copy of cat), ESC_HOST_SOCKETS (colon-separated
 * pathname sockets of host daemons that must not be reachable), ESC_PEER_SOCKETS (reachable
 * ones, whose listener on the host records who connected), ESC_ABSTRACT (an abstract socket
 * name a host process listens on). `sb_escape --terminal` makes only the terminal attempts
 * (under a pty, tests/integration/test_terminal.sh). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

static void report(const char *name, int escaped, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(const char *name, int escaped, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("%s %s: %s\n", escaped ? "ESCAPED" : "BLOCKED", name, buf);
	fflush(stdout);
}

/* A raw syscall that must fail. */
static void sys_fails(const char *name, long nr, long a, long b, long c, long d, long e)
{
	errno = 0;
	long r = syscall(nr, a, b, c, d, e);
	if (r == 0 && nr == SYS_clone)
		_exit(0); /* a clone that worked: the child leaves at once */
	report(name, r >= 0, "ret=%ld %s", r, r < 0 ? strerror(errno) : "");
}

static void must_fail(const char *name, int rc)
{
	report(name, rc >= 0, "%s", rc < 0 ? strerror(errno) : "succeeded");
}

static int write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, strlen(data));
	int saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : 0;
}

static long status_field(const char *text, const char *key, int base, int word)
{
	const char *p = strstr(text, key);
	if (!p)
		return -1;
	p += strlen(key);
	for (int i = 0; i < word; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
	}
	return strtol(p, NULL, base);
}

static void read_all(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void syscalls(pid_t host_pid)
{
	int self_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int root_fd = open("/", O_RDONLY | O_CLOEXEC);
	char buf[64];
	sys_fails("mount tmpfs", SYS_mount, (long)"none", (long)"/mnt", (long)"tmpfs", 0, 0);
	sys_fails("umount /", SYS_umount2, (long)"/", 2 /* MNT_DETACH */, 0, 0, 0);
	sys_fails("pivot_root", SYS_pivot_root, (long)"/tmp", (long)"/tmp", 0, 0, 0);
	sys_fails("unshare user", SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0);
	sys_fails("unshare mount", SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0);
	sys_fails("unshare net", SYS_unshare, CLONE_NEWNET, 0, 0, 0, 0);
	sys_fails("setns", SYS_setns, self_ns, 0, 0, 0, 0);
	sys_fails("clone newuser", SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	sys_fails("clone newpid", SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
	sys_fails("ptrace attach host pid", SYS_ptrace, 16 /* PTRACE_ATTACH */, host_pid, 0, 0, 0);
	sys_fails("ptrace attach init", SYS_ptrace, 16, 1, 0, 0, 0);
	sys_fails("process_vm_readv host pid", SYS_process_vm_readv, host_pid, 0, 0, 0, 0);
	sys_fails("keyctl", SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0, 0, 0);
	sys_fails("add_key", SYS_add_key, (long)"user", (long)"k", (long)"v", 1, -3);
	sys_fails("request_key", SYS_request_key, (long)"user", (long)"k", 0, -3, 0);
	sys_fails("bpf", SYS_bpf, 0, 0, 0, 0, 0);
	sys_fails("kexec_load", SYS_kexec_load, 0, 0, 0, 0, 0);
	sys_fails("kexec_file_load", SYS_kexec_file_load, -1, -1, 0, 0, 0);
	sys_fails("init_module", SYS_init_module, 0, 0, (long)"", 0, 0);
	sys_fails("finit_module", SYS_finit_module, 0, (long)"", 0, 0, 0);
	sys_fails("delete_module", SYS_delete_module, (long)"ext4", 0, 0, 0, 0);
	sys_fails("reboot", SYS_reboot, 0xfee1dead, 672274793, 0x4321FEDC, 0, 0);
	sys_fails("open_by_handle_at", SYS_open_by_handle_at, root_fd, 0, 0, 0, 0);
	sys_fails("swapon", SYS_swapon, (long)"/dev/null", 0, 0, 0, 0);
	sys_fails("settimeofday", SYS_settimeofday, 0, 0, 0, 0, 0);
	sys_fails("iopl", SYS_iopl, 3, 0, 0, 0, 0);
	sys_fails("ioperm", SYS_ioperm, 0x80, 1, 1, 0, 0);
	sys_fails("syslog read", SYS_syslog, 3, (long)buf, sizeof buf, 0, 0);
	sys_fails("perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0);
	sys_fails("io_uring_setup", SYS_io_uring_setup, 1, 0, 0, 0, 0);
	sys_fails("userfaultfd", SYS_userfaultfd, 0, 0, 0, 0, 0);
	sys_fails("x32 getpid", 0x40000000L | SYS_getpid, 0, 0, 0, 0, 0);
	sys_fails("x32 mount", 0x40000000L | SYS_mount, (long)"none", (long)"/mnt", (long)"tmpfs", 0, 0);
	sys_fails("sethostname", SYS_sethostname, (long)"pwned", 5, 0, 0, 0);
	sys_fails("acct", SYS_acct, (long)"/tmp/acct", 0, 0, 0, 0);
	sys_fails("chroot", SYS_chroot, (long)"/tmp", 0, 0, 0, 0);
	sys_fails("fsopen", SYS_fsopen, (long)"tmpfs", 0, 0, 0, 0);
	sys_fails("open_tree", SYS_open_tree, AT_FDCWD, (long)"/", 1 /* OPEN_TREE_CLONE */, 0, 0);
	/* Newer than the filter's lists (Linux 6.15): an allow list refuses what it does not know. */
	sys_fails("open_tree_attr", 467, AT_FDCWD, (long)"/", 0, 0, 0);
	/* vsock ignores network namespaces: a channel to the hypervisor's host. */
	sys_fails("socket AF_VSOCK", SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0, 0, 0);
	sys_fails("socket AF_ALG", SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0, 0, 0);
	sys_fails("personality ADDR_NO_RANDOMIZE", SYS_personality, 0x0040000, 0, 0, 0, 0);
	close(self_ns);
	close(root_fd);
}

static void processes(pid_t host_pid)
{
	must_fail("kill host pid", kill(host_pid, SIGKILL));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", (int)host_pid);
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	report("host pids visible in /proc", access(path, F_OK) == 0 || n > 20, "%d pids", n);
}

static void files(void)
{
	must_fail("write /", write_file("/escape-test", "x"));
	must_fail("write /etc", write_file("/etc/escape-test", "x"));
	must_fail("write /etc/passwd", write_file("/etc/passwd", "pwned"));
	must_fail("write /usr", write_file("/usr/escape-test", "x"));
	must_fail("write /proc/sys drop_caches", write_file("/proc/sys/vm/drop_caches", "3"));
	must_fail("write /proc/sys hostname", write_file("/proc/sys/kernel/hostname", "pwned"));
	must_fail("write /proc/sysrq-trigger", write_file("/proc/sysrq-trigger", "h"));
	must_fail("open block device", open("/dev/vda", O_RDONLY | O_CLOEXEC));
	must_fail("write cgroupfs", write_file("/sys/fs/cgroup/pids/escape-test", "x"));
	must_fail("mknod /dev/null copy", mknod("/tmp/null2", S_IFCHR | 0600, makedev(1, 3)));
	char *secrets = strdup(getenv("ESC_SECRETS") ? getenv("ESC_SECRETS") : "");
	for (char *s = strtok(secrets, ":"); s; s = strtok(NULL, ":")) {
		char name[300], data[256];
		snprintf(name, sizeof name, "read masked secret %s", s);
		read_all(s, data, sizeof data);
		report(name, strstr(data, "SECRET") != NULL, "read %zu bytes", strlen(data));
	}
	free(secrets);
	/* Device nodes on the host's tree (the read-only root, the workdir overlay): a copy of a
	 * device the sandbox does not offer must not open (nodev). */
	char *nodes = strdup(getenv("ESC_DEVNODES") ? getenv("ESC_DEVNODES") : "");
	for (char *s = strtok(nodes, ":"); s; s = strtok(NULL, ":")) {
		char name[300];
		snprintf(name, sizeof name, "open device node %s", s);
		int fd = open(s, O_RDONLY | O_CLOEXEC);
		must_fail(name, fd);
		if (fd >= 0)
			close(fd);
	}
	free(nodes);
	const char *wf = getenv("ESC_WORKDIR_FILE");
	if (wf && write_file(wf, "changed inside") == 0)
		printf("WROTE workdir file\n");
}

/* Setuid files left behind: a copy of this program made setuid in outputs/ and in the workdir
 * (kept in changes/). A root job's would be setuid root on the host; runpilot clears the bits
 * after the run (the test checks the files). */
static void setuid_leftovers(void)
{
	const char *dirs[] = { getenv("RUNPILOT_OUTPUT_DIR"), "." };
	for (size_t i = 0; i < 2; i++) {
		if (!dirs[i])
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/suid-left", dirs[i]);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
		if (fd >= 0)
			close(fd);
		if (fd >= 0 && chmod(path, 04755 | S_ISGID) == 0)
			printf("LEFT setuid file %s\n", path);
	}
}

/* The invoking shell's secrets: the test sets AWS_SECRET_ACCESS_KEY and PROBE_SECRET when it
 * starts runpilot; the sandbox passes only an allow list of runpilot's variables. */
static void environment(void)
{
	static const char *const names[] = { "AWS_SECRET_ACCESS_KEY", "PROBE_SECRET" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char name[96];
		const char *v = getenv(names[i]);
		snprintf(name, sizeof name, "read the caller's %s", names[i]);
		report(name, v != NULL, "%s", v ? "set" : "not in the environment");
	}
}

static void privileges(void)
{
	char st[4096];
	read_all("/proc/self/status", st, sizeof st);
	long eff = status_field(st, "CapEff:", 16, 0), bnd = status_field(st, "CapBnd:", 16, 0);
	report("capabilities effective", eff != 0, "CapEff %lx", eff);
	report("capabilities bounding", bnd != 0, "CapBnd %lx", bnd);
	report("no_new_privs unset", status_field(st, "NoNewPrivs:", 10, 0) != 1, "%s", "checked");
	/* A setuid-root binary (a copy of cat) must not bring uid 0 or capabilities along. */
	int p[2];
	const char *suid = getenv("ESC_SUID");
	if (!suid || pipe(p) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		execl(suid, suid, "/proc/self/status", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char out[4096] = "";
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(c, NULL, 0);
	long seff = status_field(out, "CapEff:", 16, 0), seuid = status_field(out, "Uid:", 10, 1);
	report("setuid binary gains privileges", seff != 0 || (getuid() != 0 && seuid == 0),
	       "CapEff %lx euid %ld", seff, seuid);
}

/* The user's terminal: typing into it (TIOCSTI) runs commands in the shell that started
 * runpilot once the run ends; TIOCLINUX does the same on a virtual console. Tried on
 * /dev/tty (the controlling terminal, when the job has one) and on its own stdio. */
static void terminal(void)
{
	static const char line[] = "echo INJECTED-BY-JOB\n";
	int fds[4] = { open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), 0, 1, 2 };
	const char *names[4] = { "/dev/tty", "stdin", "stdout", "stderr" };
	for (int i = 0; i < 4; i++) {
		char name[64];
		snprintf(name, sizeof name, "TIOCSTI on %s", names[i]);
		if (fds[i] < 0) {
			report(name, 0, "open: %s", strerror(errno));
			continue;
		}
		int rc = 0;
		for (const char *c = line; *c && rc == 0; c++)
			rc = ioctl(fds[i], TIOCSTI, c);
		must_fail(name, rc);
		snprintf(name, sizeof name, "TIOCLINUX on %s", names[i]);
		char sub = 12; /* TIOCL_GETKMSGREDIRECT */
		must_fail(name, ioctl(fds[i], TIOCLINUX, &sub));
	}
	if (fds[0] >= 0)
		close(fds[0]);
}

/* Silence the seccomp log: kill every other process this job can see (the listener that
 * records refused calls, when it lives in the job's pid namespace), then make a refused call
 * nothing else in this suite makes (swapoff): the test checks seccomp.log still has it. */
static void listener(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int killed = 0;
	char what[256] = "";
	while (d && (e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 1 || pid == getpid() || pid == getppid())
			continue;
		char path[64], comm[64];
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
		read_all(path, comm, sizeof comm);
		comm[strcspn(comm, "\n")] = '\0';
		if (kill(pid, SIGKILL) == 0) {
			killed++;
			snprintf(what + strlen(what), sizeof what - strlen(what), " %d(%s)", (int)pid, comm);
		}
	}
	if (d)
		closedir(d);
	report("kill the seccomp listener", killed > 0, "killed%s", killed ? what : " nothing: none visible");
	usleep(100 * 1000);
	errno = 0;
	long r = syscall(SYS_swapoff, "/nonexistent-swap");
	printf("MARKER swapoff after the kill: ret=%ld %s\n", r, strerror(errno));
}

static int connect_unix(const char *path, bool abstract)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len + 1 >= sizeof a.sun_path)
		return -1;
	memcpy(a.sun_path + (abstract ? 1 : 0), path, len);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 1 : 0));
	if (connect(s, (struct sockaddr *)&a, alen) < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* Host daemons' sockets: those under /run and the agents' must not be there; a reachable one
 * (ESC_PEER_SOCKETS) must see the job as an unprivileged host user (its listener checks). */
static void host_sockets(void)
{
	char *list = strdup(getenv("ESC_HOST_SOCKETS") ? getenv("ESC_HOST_SOCKETS") : "");
	for (char *p = strtok(list, ":"); p; p = strtok(NULL, ":")) {
		char name[300];
		snprintf(name, sizeof name, "connect to host socket %s", p);
		int s = connect_unix(p, false);
		must_fail(name, s);
		if (s >= 0)
			close(s);
	}
	free(list);
	list = strdup(getenv("ESC_PEER_SOCKETS") ? getenv("ESC_PEER_SOCKETS") : "");
	for (char *p = strtok(list, ":"); p; p = strtok(NULL, ":")) {
		int s = connect_unix(p, false);
		printf("MARKER connect %s: %s\n", p, s < 0 ? strerror(errno) : "connected");
		if (s >= 0) {
			(void)!send(s, "hello\n", 6, MSG_NOSIGNAL);
			close(s);
		}
	}
	free(list);
	const char *abstract = getenv("ESC_ABSTRACT");
	if (abstract && *abstract) {
		int s = connect_unix(abstract, true);
		must_fail("connect to a host abstract unix socket", s);
		if (s >= 0)
			close(s);
	}
}

static void network(void)
{
	int port = atoi(getenv("ESC_PORT") ? getenv("ESC_PORT") : "0");
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	must_fail("connect to host loopback listener", s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof a));
	if (s >= 0)
		close(s);
}

int main(int argc, char **argv)
{
	pid_t host_pid = (pid_t)atoi(getenv("ESC_HOST_PID") ? getenv("ESC_HOST_PID") : "0");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--terminal")) {
		terminal();
		printf("DONE\n");
		return 0;
	}
	syscalls(host_pid);
	processes(host_pid);
	files();
	setuid_leftovers();
	environment();
	privileges();
	terminal();
	listener();
	network();
	host_sockets();
	printf("DONE\n");
	return 0;
}
