/* docker_stats.c: the engine's stats of a running container, sampled by a helper process
 * (docker_stats.h). */
#include "docker_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "util.h"

/* One request's limit: a stats call of a running container answers in milliseconds. */
#define SAMPLE_CALL_MS 5000L

/* ---- the figures ---- */

void dk_stats_init(struct dk_stats *s)
{
	memset(s, 0, sizeof *s);
	s->cpu_total_ns = s->cpu_user_ns = s->cpu_system_ns = -1;
	s->throttled_ns = s->memory_peak = s->pids_peak = -1;
}

/* The number at o.a.b (b may be NULL), -1 when absent or not a non-negative number. */
static long long num_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (long long)v->valuedouble : -1;
}

static long long max_ll(long long a, long long b)
{
	return a > b ? a : b;
}

static void add_cpu(struct dk_stats *s, const cJSON *cpu_stats, long long total)
{
	if (total < s->cpu_total_ns)
		return; /* the counter only grows: an older answer */
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(cpu_stats, "cpu_usage");
	s->cpu_total_ns = total;
	s->cpu_user_ns = num_at(usage, "usage_in_usermode", NULL);
	s->cpu_system_ns = num_at(usage, "usage_in_kernelmode", NULL);
	long long thr = num_at(cpu_stats, "throttling_data", "throttled_time");
	if (thr >= 0)
		s->throttled_ns = max_ll(s->throttled_ns, thr);
}

static void add_memory(struct dk_stats *s, const cJSON *mem)
{
	long long max_usage = num_at(mem, "max_usage", NULL); /* cgroup v1 only */
	if (max_usage > 0) {
		s->memory_max_usage = true;
		s->memory_peak = max_ll(s->memory_peak, max_usage);
	}
	long long usage = num_at(mem, "usage", NULL);
	if (usage > 0)
		s->memory_peak = max_ll(s->memory_peak, usage);
}

bool dk_stats_add(struct dk_stats *s, const char *json)
{
	cJSON *j = cJSON_Parse(json);
	const cJSON *cpu_stats = cJSON_GetObjectItemCaseSensitive(j, "cpu_stats");
	long long total = num_at(cpu_stats, "cpu_usage", "total_usage");
	/* A container that is not running answers with zeros. */
	bool running = total > 0;
	if (running) {
		add_cpu(s, cpu_stats, total);
		add_memory(s, cJSON_GetObjectItemCaseSensitive(j, "memory_stats"));
		long long pids = num_at(j, "pids_stats", "current");
		if (pids > 0)
			s->pids_peak = max_ll(s->pids_peak, pids);
		s->samples++;
	}
	cJSON_Delete(j);
	return running;
}

static double ns_s(long long ns)
{
	return ns < 0 ? -1 : (double)ns / 1e9;
}

static void usage_cpu(const struct dk_stats *s, double wall_s, struct rp_usage *u)
{
	u->cpu_total_s = ns_s(s->cpu_total_ns);
	u->cpu_user_s = ns_s(s->cpu_user_ns);
	u->cpu_system_s = ns_s(s->cpu_system_ns);
	/* v1's split is counted in ticks, the total exactly: the split scaled to the total. */
	double split = u->cpu_user_s + u->cpu_system_s;
	if (u->cpu_total_s >= 0 && u->cpu_user_s >= 0 && u->cpu_system_s >= 0 && split > 0) {
		u->cpu_user_s = u->cpu_total_s * u->cpu_user_s / split;
		u->cpu_system_s = u->cpu_total_s - u->cpu_user_s;
	}
	u->cpu_avg_cores = wall_s > 0 && u->cpu_total_s >= 0 ? u->cpu_total_s / wall_s : 0;
	u->throttled_s = ns_s(s->throttled_ns);
}

void dk_stats_usage(const struct dk_stats *s, double wall_s, struct rp_usage *u)
{
	memset(u, 0, sizeof *u);
	u->valid = true;
	u->wall_s = wall_s;
	snprintf(u->source, sizeof u->source, "engine stats");
	usage_cpu(s, wall_s, u);
	u->memory_peak_bytes = s->memory_peak;
	if (s->memory_peak >= 0)
		snprintf(u->memory_peak_source, sizeof u->memory_peak_source, "%s",
			 s->memory_max_usage ? "engine stats memory max_usage (cgroup1)" : "engine stats memory usage, peak sampled");
	u->max_rss_bytes = -1; /* per-process RSS is not seen through the engine */
	u->pids_peak = s->pids_peak;
	u->oom_kills = -1;
}

/* ---- the sampler process ---- */

/* In the sampler: fd kept, every other descriptor past stderr closed (the capture pipe's write
 * end among them: the job's output must end when the attach helper's does). The fd kept, or -1. */
static int keep_only_fd(int fd)
{
	if (fd < 3 && (fd = fcntl(fd, F_DUPFD, 3)) < 0)
		return -1;
	if (fd > 3 && close_range(3, (unsigned)fd - 1, 0) < 0)
		return -1;
	if (close_range((unsigned)fd + 1, ~0U, 0) < 0)
		return -1;
	return fd;
}

/* Out of the terminal's process group (Ctrl-C is the supervisor's), default signals, and gone
 * with the supervisor. */
static int detach_from_supervisor(pid_t supervisor)
{
	if (setpgid(0, 0) < 0)
		return -1;
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD };
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -1;
	return getppid() == supervisor ? 0 : -1; /* died before the prctl */
}

static void sample_once(const struct dk_engine *e, const char *path, struct dk_stats *s)
{
	struct dk_response resp;
	if (dk_call(e, "GET", path, NULL, SAMPLE_CALL_MS, &resp, NULL) < 0)
		return;
	if (resp.status == 200)
		dk_stats_add(s, resp.body);
	dk_response_free(&resp);
}

/* Sleep until the next sample is due (*due, moved on by one interval); true when the supervisor
 * said stop (its end shut down or gone). Samples keep their rate however long each call took. */
static bool told_to_stop(int fd, double *due)
{
	double now = now_monotonic();
	*due += DK_STATS_INTERVAL_S;
	if (*due < now)
		*due = now; /* a slow call: the next sample at once, no burst to catch up */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, (int)((*due - now) * 1000));
	if (n < 0)
		return errno != EINTR;
	return n > 0;
}

static _Noreturn void run_sampler(const struct dk_engine *e, const char *container, pid_t supervisor, int fd)
{
	if (detach_from_supervisor(supervisor) < 0 || (fd = keep_only_fd(fd)) < 0)
		_exit(1);
	char *path = xasprintf("/containers/%s/stats?stream=false&one-shot=true", container);
	struct dk_stats s;
	dk_stats_init(&s);
	double due = now_monotonic();
	do
		sample_once(e, path, &s);
	while (!told_to_stop(fd, &due));
	free(path);
	_exit(write_all(fd, &s, sizeof s) < 0 ? 1 : 0);
}

int dk_sampler_start(struct dk_sampler *sp, const struct dk_engine *e, const char *container, struct rp_err *err)
{
	sp->pid = -1;
	sp->fd = -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return rp_err_sys(err, "socketpair");
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return rp_err_sys(err, "fork");
	}
	if (pid == 0) {
		close(sv[0]);
		run_sampler(e, container, self, sv[1]);
	}
	close(sv[1]);
	sp->pid = pid;
	sp->fd = sv[0];
	return 0;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Read exactly len bytes from fd by the deadline (monotonic); 0, or -1 with errno (ETIMEDOUT,
 * EPIPE for an early end). */
static int read_by(int fd, void *buf, size_t len, double deadline)
{
	size_t have = 0;
	while (have < len) {
		double left = deadline - now_monotonic();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t r = read(fd, (char *)buf + have, len - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		have += (size_t)r;
	}
	return 0;
}

int dk_sampler_finish(struct dk_sampler *sp, struct dk_stats *s, double timeout_s, struct rp_err *err)
{
	if (sp->pid <= 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "no stats sampler ran");
	int rc = 0;
	/* Its end of the socket sees the end of ours: the sampler stops sleeping and answers. */
	if (shutdown(sp->fd, SHUT_WR) < 0)
		rc = rp_err_sys(err, "stats sampler: shutdown");
	else if (read_by(sp->fd, s, sizeof *s, now_monotonic() + timeout_s) < 0)
		rc = errno == ETIMEDOUT ? rp_err_set(err, RP_ERR_RUNTIME, "the stats sampler did not answer in time")
		   : errno == EPIPE ? rp_err_set(err, RP_ERR_RUNTIME, "the stats sampler ended without its figures")
				    : rp_err_sys(err, "stats sampler: read");
	close_fd(&sp->fd);
	if (rc < 0)
		kill(sp->pid, SIGKILL);
	reap(sp->pid);
	sp->pid = -1;
	return rc;
}

void dk_sampler_kill(struct dk_sampler *sp)
{
	if (sp->pid > 0) {
		kill(sp->pid, SIGKILL);
		reap(sp->pid);
		sp->pid = -1;
	}
	close_fd(&sp->fd);
}
