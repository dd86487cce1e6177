/* runner.c: pick a runner for a job. auto records why it chose what it chose. */
#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "cgroup.h"
#include "sb_init.h"
#include "util.h"

struct runner_entry {
	const char *name;
	const struct runner_ops *ops;
};

static const struct runner_entry runners[] = {
	{"local", &runner_local_ops},
	{"sandbox", &runner_sandbox_ops},
	{"docker", &runner_docker_ops},
};

const struct runner_ops *runner_ops_named(const char *name)
{
	for (size_t i = 0; i < sizeof runners / sizeof *runners; i++)
		if (!strcmp(runners[i].name, name))
			return runners[i].ops;
	return NULL;
}

bool runner_name_known(const char *name)
{
	return runner_ops_named(name) || !strcmp(name, "slurm");
}

bool runner_sandbox_usable(struct rp_err *why)
{
	return sb_probe(true, why) == 0;
}

/* auto: the best runner this host offers, and why better ones were passed over. A config with
 * an image runs in docker when an engine answers. */
static const struct runner_ops *pick_auto(const struct rp_job *job, char **reason)
{
	struct rp_err why = { 0 };
	char *docker_why = NULL;
	if (job && job->spec && job->spec->image) {
		if (runner_docker_usable(&why)) {
			*reason = NULL;
			return &runner_docker_ops;
		}
		docker_why = xstrdup(why.msg);
		why = (struct rp_err){ 0 };
	}
	if (docker_why) {
		/* The sandbox runs the image from the image store; local only on this host's tree. */
		if (runner_sandbox_usable(&why)) {
			*reason = docker_why;
			return &runner_sandbox_ops;
		}
		*reason = xasprintf("%s; sandbox unavailable: %s", docker_why, why.msg);
		free(docker_why);
		return &runner_local_ops;
	}
	if (runner_sandbox_usable(&why)) {
		*reason = NULL;
		return &runner_sandbox_ops;
	}
	*reason = xasprintf("sandbox unavailable: %s", why.msg);
	return &runner_local_ops;
}

int runner_pick(const char *name, const struct rp_job *job, struct runner *r, struct rp_err *err)
{
	memset(r, 0, sizeof *r);
	r->job = job;
	r->wait_fd = -1;
	r->pid = -1;
	if (!strcmp(name, "auto")) {
		r->ops = pick_auto(job, &r->fallback_reason);
		return 0;
	}
	r->ops = runner_ops_named(name);
	if (r->ops == &runner_docker_ops && job && job->spec && !job->spec->image)
		return rp_err_set(err, RP_ERR_USAGE, "the docker runner needs an image: add `image: NAME` to the config");
	/* No engine: an error before any run directory exists. */
	if (r->ops == &runner_docker_ops && job && !runner_docker_usable(err))
		return -1;
	if (!r->ops) {
		char known[256] = "auto";
		for (size_t i = 0; i < sizeof runners / sizeof *runners; i++) {
			strncat(known, ", ", sizeof known - strlen(known) - 1);
			strncat(known, runners[i].name, sizeof known - strlen(known) - 1);
		}
		strncat(known, ", slurm", sizeof known - strlen(known) - 1);
		return rp_err_set(err, RP_ERR_USAGE, "unknown runner '%s' (known: %s)", name, known);
	}
	return 0;
}

void runner_add_warning(struct runner *r, const char *fmt, ...)
{
	if (r->nwarnings >= (int)(sizeof r->warnings / sizeof *r->warnings))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *s;
	if (vasprintf(&s, fmt, ap) >= 0)
		r->warnings[r->nwarnings++] = s;
	va_end(ap);
}

void runner_add_leftover(struct runner *r, const char *kind, const char *path)
{
	if (!strchr(path, '\n'))
		strvec_pushf(&r->leftovers, "%s %s", kind, path);
}

void runner_remove_overlay_work(const char *dir)
{
	char *inner = path_join(dir, "work");
	/* After a clean unmount both are empty: two rmdirs. Anything left (an interrupted
	 * copy-up) takes the long way, the inner dir opened up first. */
	if ((rmdir(inner) < 0 && errno != ENOENT) || (rmdir(dir) < 0 && errno != ENOENT)) {
		chmod(inner, 0700);
		rm_rf(dir, NULL);
	}
	free(inner);
}

int runner_remove_leftover(const char *leftover, const char *cgroup_name, struct rp_err *err)
{
	const char *path = strchr(leftover, ' ');
	if (!path || path[1] != '/')
		return rp_err_set(err, RP_ERR_RUNTIME, "not a leftover: %s", leftover);
	size_t kl = (size_t)(path - leftover);
	path++;
	if (kl == 6 && !strncmp(leftover, "cgroup", kl))
		return cg_remove_leftover(path, cgroup_name, err);
	if (kl == 12 && !strncmp(leftover, "overlay-work", kl)) {
		runner_remove_overlay_work(path);
		return path_exists(path) ? rp_err_set(err, RP_ERR_RUNTIME, "cannot remove %s", path) : 0;
	}
	if (kl == 16 && !strncmp(leftover, "docker-container", kl))
		return runner_docker_remove_leftover(path, err);
	if (kl == 9 && !strncmp(leftover, "empty-dir", kl)) {
		if (rmdir(path) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
			return rp_err_sys(err, "cannot remove %s", path);
		return 0;
	}
	return rp_err_set(err, RP_ERR_RUNTIME, "unknown leftover kind: %s", leftover);
}

void runner_remove_cgroups_named(const char *cgroup_name)
{
	(void)cg_remove_stale(cgroup_name);
}

void runner_free(struct runner *r)
{
	for (int i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	r->nwarnings = 0;
	strvec_free(&r->leftovers);
	free(r->fallback_reason);
	r->fallback_reason = NULL;
	runner_image_free(&r->image);
}

void runner_add_cgroup_leftovers(struct runner *r, const struct rp_cgroup *cg)
{
	struct strvec dirs = { 0 };
	cg_leaf_dirs(cg, &dirs);
	for (size_t i = 0; i < dirs.n; i++)
		runner_add_leftover(r, "cgroup", dirs.v[i]);
	strvec_free(&dirs);
}

struct cg_limits runner_cg_limits(const struct rp_resources *r)
{
	return (struct cg_limits){ .cpus = r->cpus, .memory_bytes = r->memory_bytes, .pids = r->pids };
}

int runner_stop_init(pid_t pid, struct rp_cgroup *cg, bool hard)
{
	if (pid <= 0)
		return 0;
	if (hard) {
		kill(pid, SB_INIT_KILL_SIGNAL);
		cg_kill_all(cg);
	} else {
		kill(pid, SIGTERM); /* the init forwards it to the whole job */
	}
	return 0;
}

void runner_end_init(struct runner *r, int sig, struct rp_cgroup *cg, int *lifeline_w, int *status_r)
{
	if (r->pid > 0) {
		kill(r->pid, sig);
		cg_kill_all(cg);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
	}
	cg_destroy(cg);
	close_fd(lifeline_w);
	close_fd(status_r);
	close_fd(&r->wait_fd);
}

int runner_reap_init(pid_t *pid, int status_fd, struct rp_cgroup *cg, double start_mono,
		     struct rp_result *res, struct rp_err *err)
{
	double wall = now_monotonic() - start_mono;
	struct sb_init_report rep;
	int status;
	struct rusage ru;
	if (sb_init_read_report(status_fd, &rep) == 0) {
		status = rep.status;
		ru = rep.children;
		/* Reap the init if it is gone already; if it is still tearing its namespaces down,
		 * the runner's cleanup reaps it while the run is recorded. */
		if (waitpid(*pid, NULL, WNOHANG) == *pid)
			*pid = -1;
	} else {
		/* No report: the init itself was killed (the OOM killer, a kill -9); its status says
		 * how. */
		pid_t got;
		do
			got = wait4(*pid, &status, 0, &ru);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return rp_err_sys(err, "wait4");
		*pid = -1;
		wall = now_monotonic() - start_mono;
	}
	memset(res, 0, sizeof *res);
	if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->exit_code = -1;
	} else {
		res->exit_code = WEXITSTATUS(status);
	}
	cg_read_usage(cg, &ru, wall, &res->usage);
	/* The OOM killer may hit a worker (a DataLoader process) rather than the job's main
	 * process, which then fails in its own way: any OOM kill in a failed run is the reason. */
	res->oom = res->usage.oom_kills > 0 && (res->signal != 0 || res->exit_code != 0);
	return 0;
}
