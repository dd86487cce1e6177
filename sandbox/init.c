/* init.c: the tiny init between the supervisor and the job (see include/sb_init.h).
 * In the sandbox it is pid 1 of the job's pid namespace; for the local runner it is a child
 * subreaper. Either way, every process the job leaves behind ends up as its descendant, so it
 * can forward signals to all of them and kill all of them at the end. */
#include "sb_init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1};


static void init_signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof forwarded_signals / sizeof *forwarded_signals; i++)
		sigaddset(set, forwarded_signals[i]);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SB_INIT_KILL_SIGNAL);
}

/* In the job's process, before job_main: default dispositions for what the init handles, no
 * signal blocked whatever the supervisor had blocked, and a session of its own: without a
 * controlling terminal the job can neither open /dev/tty nor type into the user's terminal
 * (TIOCSTI), and the terminal's Ctrl-C reaches runpilot only, which forwards it. */
static void job_process_setup(void)
{
	for (size_t i = 0; i < sizeof forwarded_signals / sizeof *forwarded_signals; i++)
		signal(forwarded_signals[i], SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SB_INIT_KILL_SIGNAL, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		setpgid(0, 0); /* a group of its own at least: signals to -pid reach it all */
}

pid_t sb_init_spawn(sb_job_main *job_main, void *arg, struct rp_err *err)
{
	sigset_t set;
	init_signal_set(&set);
	/* Orphans of the job must re-parent to us, not to the host's init. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return rp_err_sys(err, "prctl(PR_SET_CHILD_SUBREAPER)");
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return rp_err_sys(err, "sigprocmask");
	/* vfork: the job only sets itself up and execs, so it borrows our memory instead of getting
	 * a copy of our page tables (measurably slower, see bench/). We are suspended until it
	 * execs or exits, and job_main never returns. ASan builds fork: its shadow stack does not
	 * follow a vfork child. */
#ifdef __SANITIZE_ADDRESS__
	pid_t pid = fork();
#else
	pid_t pid = vfork();
#endif
	if (pid == 0) {
		job_process_setup();
		job_main(arg);
		_exit(127); /* not reached: job_main execs or exits */
	}
	if (pid < 0)
		return rp_err_sys(err, "fork");
	return pid;
}

/* Every descendant of this process (children, grandchildren, ...), from a /proc scan. */
/* Every descendant of root (children, grandchildren, ...), from a scan of all of /proc: a busy
 * host may run any number of processes. Returns a malloc'd array (*n entries) or NULL. */
static pid_t *list_descendants(pid_t root, size_t *n_out)
{
	size_t n = 0, cap = 0;
	pid_t *pids = NULL, *ppids = NULL;
	*n_out = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		long ppid;
		char state;
		if (!p || sscanf(p + 2, "%c %ld", &state, &ppid) != 2)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pids = xrealloc(pids, cap * sizeof *pids);
			ppids = xrealloc(ppids, cap * sizeof *ppids);
		}
		pids[n] = (pid_t)pid;
		ppids[n] = (pid_t)ppid;
		n++;
	}
	closedir(d);
	/* Breadth-first from root over the parent links; out doubles as the queue. */
	pid_t *out = xmalloc((n + 1) * sizeof *out);
	size_t count = 0, head = 0;
	pid_t parent = root;
	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (ppids[i] == parent && count < n)
				out[count++] = pids[i];
		if (head == count)
			break;
		parent = out[head++];
	}
	free(pids);
	free(ppids);
	*n_out = count;
	return out;
}

static void signal_everything(pid_t job, int sig, bool pid_namespace)
{
	if (pid_namespace) {
		kill(-1, sig); /* as pid 1: every process in the namespace but us */
		return;
	}
	kill(-job, sig);
	size_t n;
	pid_t *desc = list_descendants(getpid(), &n);
	for (size_t i = 0; i < n; i++)
		if (getpgid(desc[i]) != job)
			kill(desc[i], sig);
	free(desc);
}

/* Reap every child that has exited; remember the job's status. Returns true if the job ended. */
static bool reap_children(pid_t job, int *job_status)
{
	bool ended = false;
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		if (pid == job) {
			*job_status = status;
			ended = true;
		}
	}
	return ended;
}

/* Kill whatever is left and wait until no child remains. */
static void kill_and_reap_all(pid_t job, bool pid_namespace)
{
	/* As a subreaper (or pid 1) every live descendant is a child of ours or below one: with
	 * no child left there is nothing to kill, and the /proc scan can be skipped. */
	int status;
	if (waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD)
		return;
	for (int round = 0; round < 1000; round++) {
		signal_everything(job, SIGKILL, pid_namespace);
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == ECHILD)
			return;
	}
}

noreturn void sb_init_supervise(pid_t job, const struct sb_init_cfg *cfg)
{
	sigset_t set;
	init_signal_set(&set);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		kill_and_reap_all(job, cfg->pid_namespace);
		_exit(126);
	}
	int job_status = 0;
	bool job_ended = false;
	while (!job_ended) {
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
					{.fd = cfg->lifeline_fd, .events = POLLIN}};
		int nfds = cfg->lifeline_fd >= 0 ? 2 : 1;
		if (poll(fds, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (nfds == 2 && fds[1].revents) {
			/* The supervisor is gone (or closed the lifeline): nobody will record the run,
			 * and the job must not outlive it. */
			char c;
			if (read(cfg->lifeline_fd, &c, 1) <= 0) {
				kill_and_reap_all(job, cfg->pid_namespace);
				_exit(137);
			}
		}
		if (!(fds[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof si) != sizeof si)
			continue;
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD)
			job_ended = reap_children(job, &job_status);
		else if (sig == SB_INIT_KILL_SIGNAL)
			signal_everything(job, SIGKILL, cfg->pid_namespace);
		else
			signal_everything(job, sig, cfg->pid_namespace);
	}
	/* The job is done: anything it left behind goes with it. */
	kill_and_reap_all(job, cfg->pid_namespace);
	if (cfg->status_fd >= 0) {
		struct sb_init_report rep = { .status = job_status };
		getrusage(RUSAGE_CHILDREN, &rep.children);
		(void)!write(cfg->status_fd, &rep, sizeof rep);
	}
	_exit(0);
}

int sb_init_read_report(int status_fd, struct sb_init_report *rep)
{
	ssize_t n;
	do
		n = read(status_fd, rep, sizeof *rep);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *rep ? 0 : -1;
}
