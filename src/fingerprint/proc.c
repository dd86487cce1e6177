/* Running a program for the fingerprint (git, python, nvidia-smi) and reading the job's
 * environment. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

extern char **environ;

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

int fp_run_capture(char *const *argv, char *const *envp, const char *cwd, double timeout_s, char **out,
		   struct rp_err *err)
{
	enum { MAX_OUT = 256 << 20 };
	int p[2];
	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	spawnattr_clean_signals(&attr);
	pid_t pid;
	char *const *env = envp ? envp : environ;
	int rc = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, &attr, argv, env)
				      : posix_spawnp(&pid, argv[0], &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		errno = rc;
		return rp_err_sys(err, "cannot run %s", argv[0]);
	}

	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	double deadline = now_monotonic() + timeout_s;
	bool timed_out = false;
	for (;;) {
		int ms = (int)((deadline - now_monotonic()) * 1000);
		if (ms <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int pr = poll(&pfd, 1, ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			timed_out = pr == 0;
			break;
		}
		if (cap - len < 65536 && cap < MAX_OUT) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(p[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len + 1 >= MAX_OUT)
			break;
	}
	close(p[0]);
	buf[len] = '\0';
	int status = 0;
	if (timed_out)
		kill(pid, SIGKILL);
	reap(pid, &status);
	if (timed_out) {
		free(buf);
		return rp_err_set(err, RP_ERR_RUNTIME, "%s did not finish within %.0f s", argv[0], timeout_s);
	}
	*out = buf;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

const char *fp_getenv(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

