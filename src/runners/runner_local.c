/* runner_local.c: run the job as a plain child process, under the sb_init shim (a subreaper that
 * forwards signals, kills leftovers, and takes the job down if runpilot dies), metered and, where
 * the host allows, limited through the run's cgroup. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cgroup.h"
#include "sb_init.h"
#include "log.h"
#include "util.h"

struct local_state {
	struct rp_cgroup *cg;
	int lifeline_w;    /* kept open for the job's life; the shim watches for EOF */
	int status_r;      /* the shim writes the job's wait status here */
	int gate_w;        /* between start and release: one byte lets the shim start the job */
	double start_mono;
};

static int local_prepare(struct runner *r, struct rp_err *err)
{
	struct local_state *st = xcalloc(1, sizeof *st);
	st->lifeline_w = st->status_r = st->gate_w = -1;
	r->priv = st;
	if (r->job->spec->image)
		runner_add_warning(r, "image: %s is not used by the local runner: the job runs on this host's "
				      "own tree (--runner sandbox or docker run it in the image)", r->job->spec->image);
	struct cg_limits lim = runner_cg_limits(&r->job->limits);
	st->cg = cg_create(r->job->cgroup_name, &lim);
	runner_add_cgroup_leftovers(r, st->cg);
	const char *warn = cg_warning(st->cg);
	if (warn)
		runner_add_warning(r, "%s", warn);
	return 0;
}

/* In the job process (sb_job_main): wire up stdio, leave nothing else open, exec. */
static _Noreturn void exec_job(void *arg)
{
	const struct rp_job *job = arg;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(job->out_fd, 1) < 0 || dup2(job->out_fd, 2) < 0)
		_exit(126);
	if (chdir(job->cwd) < 0) {
		job_say("cannot enter workdir %s: %s", job->cwd, strerror(errno));
		_exit(126);
	}
	close_range(3, ~0U, 0);
	extern char **environ;
	environ = job->envp; /* so execvp searches the job's PATH */
	execvp(job->argv[0], job->argv);
	int e = errno;
	job_say("cannot run '%s': %s", job->argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* In the shim: wait for the go from the supervisor, start the job, supervise it. */
static _Noreturn void run_shim(const struct rp_job *job, const struct rp_cgroup *cg, int sync_r, int lifeline_r,
			       int status_w)
{
	char go;
	setpgid(0, 0); /* out of the terminal's group: Ctrl-C reaches runpilot only */
	/* Into the run's cgroup before anything starts (cg_enter says why from here). */
	struct rp_err e = { 0 };
	if (cg_enter(cg, &e) < 0) {
		dprintf(job->out_fd, "runpilot: %s\n", e.msg);
		_exit(125);
	}
	if (read(sync_r, &go, 1) != 1)
		_exit(125); /* the supervisor failed to set us up */
	close(sync_r);
	pid_t pid = sb_init_spawn(exec_job, (void *)job, &e);
	if (pid < 0) {
		dprintf(job->out_fd, "runpilot: cannot start the job: %s\n", e.msg);
		_exit(125);
	}
	close(job->out_fd);
	struct sb_init_cfg cfg = {.lifeline_fd = lifeline_r, .status_fd = status_w, .pid_namespace = false};
	sb_init_supervise(pid, &cfg);
}

static int local_start(struct runner *r, struct rp_err *err)
{
	struct local_state *st = r->priv;
	int sync_p[2], life_p[2], status_p[2];
	if (pipe2(sync_p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	if (pipe2(life_p, O_CLOEXEC) < 0) {
		close(sync_p[0]);
		close(sync_p[1]);
		return rp_err_sys(err, "pipe");
	}
	if (pipe2(status_p, O_CLOEXEC) < 0) {
		close(sync_p[0]);
		close(sync_p[1]);
		close(life_p[0]);
		close(life_p[1]);
		return rp_err_sys(err, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			close(sync_p[i]);
			close(life_p[i]);
			close(status_p[i]);
		}
		errno = e;
		return rp_err_sys(err, "fork");
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		close(sync_p[1]);
		close(life_p[1]);
		close(status_p[0]);
		run_shim(r->job, st->cg, sync_p[0], life_p[0], status_p[1]);
	}
	close(sync_p[0]);
	close(life_p[0]);
	close(status_p[1]);
	st->lifeline_w = life_p[1];
	st->status_r = status_p[0];
	r->pid = pid;
	/* The shim enters the run's cgroup itself (cg_enter) before it starts the job. Its report
	 * on the status pipe marks the job's end. */
	r->wait_fd = fcntl(st->status_r, F_DUPFD_CLOEXEC, 3);
	if (r->wait_fd < 0) {
		rp_err_sys(err, "dup");
		close(sync_p[1]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r->pid = -1;
		return -1;
	}
	st->gate_w = sync_p[1];
	return 0;
}

/* The shim waits on the gate before it starts the job. */
static int local_release(struct runner *r, struct rp_err *err)
{
	struct local_state *st = r->priv;
	st->start_mono = now_monotonic();
	ssize_t n = write(st->gate_w, "g", 1);
	close_fd(&st->gate_w);
	if (n != 1)
		return rp_err_sys(err, "cannot release the job");
	return 0;
}

static int local_stop(struct runner *r, bool hard)
{
	struct local_state *st = r->priv;
	return runner_stop_init(r->pid, st->cg, hard);
}

static int local_wait(struct runner *r, struct rp_result *res, struct rp_err *err)
{
	struct local_state *st = r->priv;
	return runner_reap_init(&r->pid, st->status_r, st->cg, st->start_mono, res, err);
}

static void local_cleanup(struct runner *r)
{
	struct local_state *st = r->priv;
	if (!st)
		return;
	close_fd(&st->gate_w); /* a shim never released exits at this EOF */
	runner_end_init(r, SB_INIT_KILL_SIGNAL, st->cg, &st->lifeline_w, &st->status_r);
	free(st);
	r->priv = NULL;
}

static cJSON *local_describe(struct runner *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "local");
	return o;
}

static void local_enforcement(struct runner *r, struct cg_enforced *out)
{
	struct local_state *st = r->priv;
	cg_enforced(st ? st->cg : NULL, out);
}

const struct runner_ops runner_local_ops = {
	.type = "local",
	.prepare = local_prepare,
	.start = local_start,
	.release = local_release,
	.stop = local_stop,
	.wait = local_wait,
	.cleanup = local_cleanup,
	.describe = local_describe,
	.enforcement = local_enforcement,
};
