/* The sandbox's network "outbound": its own network namespace, wired to the outside by pasta
 * (Debian's passt package), a user-mode network stack that runs on the host and turns the job's
 * packets into ordinary sockets of its own. The job gets outbound TCP, UDP and ping, and DNS
 * through pasta's forwarder at SB_NET_DNS; nothing reaches the host's loopback (pasta does not
 * map the gateway to it), no port is forwarded either way, and the host's abstract unix
 * sockets, which belong to a network namespace, are out of reach.
 *
 * pasta attaches to the namespaces of the sandbox's setup process by path, runs as the caller
 * (root's pasta must stay root to enter the job's user namespace; it drops its capabilities and
 * isolates itself once attached) and dies with runpilot (parent-death signal). The setup process
 * waits for the default route pasta installs before it lets the job start (ns.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

const char *sb_net_helper(void)
{
	/* Absolute directories of PATH only: a relative entry would find a program of the
	 * workdir's, run on the host. */
	static char found[4096];
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	const char *hit = NULL;
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !hit; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/')
			continue;
		snprintf(found, sizeof found, "%s/pasta", dir);
		struct stat st;
		if (stat(found, &st) == 0 && S_ISREG(st.st_mode) && access(found, X_OK) == 0)
			hit = found;
	}
	free(copy);
	return hit;
}

/* pasta re-executes its AVX2 build when the CPU has it; going there at once saves an exec. */
static const char *fastest_build(const char *pasta, char *buf, size_t size)
{
	__builtin_cpu_init();
	snprintf(buf, size, "%s.avx2", pasta);
	return __builtin_cpu_supports("avx2") && access(buf, X_OK) == 0 ? buf : pasta;
}

bool sb_net_host_has_route(void)
{
	static const char *const tables[] = { "/proc/net/route", "/proc/net/ipv6_route" };
	for (size_t i = 0; i < 2; i++) {
		char *text = NULL;
		size_t len;
		if (read_file(tables[i], &text, &len, NULL) < 0)
			continue;
		bool found = false;
		for (char *line = text, *next; line && *line && !found; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			else
				next = line + strlen(line);
			/* IPv4: "iface\t00000000\tgateway..."; IPv6: 32 zero digits and prefix 00 first */
			char *tab = strchr(line, '\t');
			found = i == 0 ? tab && strncmp(tab, "\t00000000\t", 10) == 0
				       : strncmp(line, "00000000000000000000000000000000 00 ", 36) == 0 &&
						 !strstr(line, " lo");
		}
		free(text);
		if (found)
			return true;
	}
	return false;
}

static noreturn void exec_pasta(const char *pasta, const struct sb_setup *s, int err_fd)
{
	/* The namespaces as our own fds (3 and 4): the setup process, which has taken the job's
	 * ids by now, is not dumpable, and pasta drops CAP_SYS_PTRACE before it opens them. */
	char runas[64];
	snprintf(runas, sizeof runas, "%u:%u", (unsigned)getuid(), (unsigned)getgid());
	char *argv[] = {
		"pasta", "--runas", runas, "--config-net", "--quiet", "--foreground",
		/* no port forwarded, in either direction */
		"-t", "none", "-u", "none", "-T", "none", "-U", "none",
		/* the gateway is not the host: no way to its loopback */
		"--no-map-gw", "--dns-forward", SB_NET_DNS,
		"--userns", "/proc/self/fd/3", "--netns", "/proc/self/fd/4", NULL,
	};
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	/* fds 3 and 4 may be where the namespace fds are: move them out of the way first */
	int user = fcntl(s->userns_fd, F_DUPFD, 10), net = fcntl(s->netns_fd, F_DUPFD, 10);
	if (user < 0 || net < 0 || dup2(user, 3) < 0 || dup2(net, 4) < 0)
		_exit(127);
	close_range(5, ~0U, 0);
	/* runpilot ignores SIGPIPE and blocks the signals it reads from a signalfd: pasta starts
	 * with the defaults (it takes an ignored SIGPIPE for a failure to set its handlers). */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execv(pasta, argv);
	_exit(127); /* sb_net_failure: "status 127" */
}

int sb_net_start(const struct sb_setup *s, struct sb_net *net, struct rp_err *err)
{
	*net = (struct sb_net){ .pid = -1, .err_fd = -1 };
	if (s->userns_fd < 0 || s->netns_fd < 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "network: the sandbox's namespaces are not open");
	const char *pasta = sb_net_helper();
	if (!pasta)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s", SB_NET_NO_HELPER);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "network: pipe");
	char avx2[4200];
	const char *exe = fastest_build(pasta, avx2, sizeof avx2);
	pid_t pid = fork();
	if (pid == 0)
		exec_pasta(exe, s, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return rp_err_sys(err, "network: cannot start pasta");
	}
	*net = (struct sb_net){ .pid = pid, .err_fd = p[0] };
	return 0;
}

/* pasta's first line of complaint, if it exited: for the error that says the network did not
 * come up. */
char *sb_net_failure(struct sb_net *net)
{
	if (net->pid <= 0)
		return NULL;
	int status;
	pid_t r;
	while ((r = waitpid(net->pid, &status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r != net->pid)
		return NULL; /* still running */
	net->pid = -1;
	char buf[512];
	ssize_t n = 0;
	int fl = fcntl(net->err_fd, F_GETFL);
	if (fl >= 0 && fcntl(net->err_fd, F_SETFL, fl | O_NONBLOCK) == 0)
		n = read(net->err_fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	/* pasta also says it could not reach syslog: skip those lines */
	char *line = buf, *pick = NULL;
	for (char *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strstr(line, "syslog") && *line && !pick)
			pick = line;
	}
	return xasprintf("pasta exited (%s%d)%s%s", WIFEXITED(status) ? "status " : "signal ",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), pick ? ": " : "", pick ? pick : "");
}

void sb_net_kill(struct sb_net *net)
{
	if (net->pid > 0)
		kill(net->pid, SIGKILL);
}

void sb_net_stop(struct sb_net *net)
{
	if (net->pid > 0) {
		kill(net->pid, SIGKILL);
		while (waitpid(net->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	net->pid = -1;
	close_fd(&net->err_fd);
}
