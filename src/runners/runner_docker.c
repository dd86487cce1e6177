/* runner_docker.c: run the job in a Docker container, through the engine's API (docker_api.h).
 *
 *   prepare   the engine answers, the image is there (its id and digests); the per-run cgroup
 *             parent and the container are noted as leftovers (nothing exists yet)
 *   start     the container is created, not started
 *   release   a helper process attaches to its output (to job->out_fd), then the container is
 *             started; the helper exits when the output ends, which makes wait_fd readable
 *   wait      the engine's exit status and OOM flag; usage from the per-run cgroup parent, else
 *             from the engine's stats sampled while the container ran (docker_stats.h)
 *   stop      kill?signal=TERM, or KILL
 *   cleanup   the container removed (force), the cgroup parent removed
 *
 * A container's own cgroup is deleted by the engine the moment it exits, before anyone could
 * read its counters: each run gets a cgroup parent of its own (runpilot-<cgroup name>, beside
 * the engine's cgroup, cgroupfs driver) whose counters outlive the container. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cgroup.h"
#include "docker_api.h"
#include "docker_stats.h"
#include "util.h"

#define CONTAINER_WORKDIR "/workspace"
#define CONTAINER_OUTPUTS "/outputs"
/* Short calls (create, start, kill, inspect); removal and the final wait may take longer. */
#define CALL_MS 15000L
#define LONG_CALL_MS 60000L

struct docker_state {
	struct dk_engine eng;
	char *name;              /* rp_0007-<hex> */
	char *engine_version, *api_version, *cgroup_driver, *cgroup_version;
	bool memory_limit, cpu_cfs, pids_limit;
	struct rp_cgroup *cg;    /* the per-run cgroup parent (cg_beside), or NULL */
	char *no_meter_reason;   /* why usage is not metered by the cgroup parent, or NULL */
	struct dk_sampler sampler; /* the engine's stats, sampled where no cgroup parent meters */
	struct dk_stats stats;
	char *no_stats_reason;   /* why no stats were sampled either, or NULL */
	bool created, stop_sent;
	pid_t helper;            /* the attach helper, -1 when none */
	double start_mono;
	int exit_code;           /* from the engine, -1 unknown */
};

/* ---- the engine ---- */

/* GET path as JSON (status 200), or -1 with err naming what. */
static cJSON *get_json(struct docker_state *st, const char *path, long timeout_ms, long *status, struct rp_err *err)
{
	struct dk_response resp;
	if (dk_call(&st->eng, "GET", path, NULL, timeout_ms, &resp, err) < 0)
		return NULL;
	*status = resp.status;
	cJSON *j = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
	if (resp.status != 200)
		rp_err_set(err, RP_ERR_RUNTIME, "docker: GET %s: %s", path, dk_message(&resp));
	else if (!j)
		rp_err_set(err, RP_ERR_RUNTIME, "docker: GET %s: not JSON", path);
	dk_response_free(&resp);
	return j;
}

static char *str_of(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? xstrdup(s) : NULL;
}

static bool true_of(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The engine's facts (version, cgroup driver, what it can limit). */
static int read_engine_facts(struct docker_state *st, struct rp_err *err)
{
	long status;
	cJSON *info = get_json(st, "/info", 5000, &status, err);
	if (!info)
		return -1;
	st->cgroup_driver = str_of(info, "CgroupDriver");
	st->cgroup_version = str_of(info, "CgroupVersion");
	st->memory_limit = true_of(info, "MemoryLimit");
	st->cpu_cfs = true_of(info, "CpuCfsQuota");
	st->pids_limit = true_of(info, "PidsLimit");
	st->engine_version = str_of(info, "ServerVersion");
	cJSON_Delete(info);
	cJSON *ver = get_json(st, "/version", 5000, &status, err);
	if (!ver)
		return -1;
	st->api_version = str_of(ver, "ApiVersion");
	cJSON_Delete(ver);
	return 0;
}

/* The image as the engine has it: its id, registry digests and Env (runner_image); a missing
 * one is named with the fix. */
static int inspect_image(const struct dk_engine *eng, const char *image, struct runner_image *out,
			 struct rp_err *err)
{
	char *path = xasprintf("/images/%s/json", image);
	struct dk_response resp;
	int rc = dk_call(eng, "GET", path, NULL, CALL_MS, &resp, err);
	free(path);
	if (rc < 0)
		return -1;
	cJSON *img = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
	if (resp.status == 404)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: image %s not found on the engine at %s: docker pull %s",
				image, eng->host, image);
	else if (resp.status != 200)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: image %s: %s", image, dk_message(&resp));
	else if (!img || !(out->id = str_of(img, "Id")))
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: image %s: the engine's answer has no Id", image);
	dk_response_free(&resp);
	if (rc < 0) {
		cJSON_Delete(img);
		return -1;
	}
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(img, "RepoDigests"))
		if (cJSON_IsString(d))
			strvec_push(&out->digests, d->valuestring);
	struct strvec env = {0};
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(img, "Config");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(config, "Env"))
		if (cJSON_IsString(d))
			strvec_push(&env, d->valuestring);
	/* The job is the caller's uid (the container's User), whatever the image's says. */
	runner_image_env_defaults(out, strvec_items(&env), geteuid());
	strvec_free(&env);
	cJSON_Delete(img);
	return 0;
}

int runner_docker_image(const char *image, struct runner_image *out, struct rp_err *err)
{
	struct dk_engine eng = {0};
	int rc = dk_engine_find(&eng, err);
	if (rc == 0)
		rc = inspect_image(&eng, image, out, err);
	dk_engine_free(&eng);
	if (rc < 0)
		runner_image_free(out);
	return rc;
}

/* The per-run cgroup parent beside the engine's cgroup, when this process can read the
 * engine's cgroups and remove the parent afterwards (root, cgroupfs driver). */
static void plan_cgroup(struct runner *r, struct docker_state *st)
{
	if (!st->cgroup_driver || strcmp(st->cgroup_driver, "cgroupfs") != 0)
		st->no_meter_reason = xasprintf("the engine's cgroup driver is %s, not cgroupfs",
						st->cgroup_driver ? st->cgroup_driver : "unknown");
	else if (geteuid() != 0)
		st->no_meter_reason = xstrdup("only root can remove a per-run cgroup parent made by the engine");
	if (st->no_meter_reason)
		return;
	pid_t engine = dk_engine_pid(&st->eng);
	struct rp_cgroup *cg = engine > 0 ? cg_beside(engine, r->job->cgroup_name) : NULL;
	if (!cg || !cg_path(cg)) {
		st->no_meter_reason = xstrdup("the engine's cgroups are not visible from here");
		cg_destroy(cg);
		return;
	}
	st->cg = cg;
	runner_add_cgroup_leftovers(r, cg);
}

static char *random_name(const char *run_id)
{
	unsigned char b[4] = { 0 };
	if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
		unsigned v = (unsigned)getpid() ^ (unsigned)(now_monotonic() * 1e6);
		memcpy(b, &v, sizeof b);
	}
	return xasprintf("%s-%02x%02x%02x%02x", run_id, b[0], b[1], b[2], b[3]);
}

static int docker_prepare(struct runner *r, struct rp_err *err)
{
	struct docker_state *st = xcalloc(1, sizeof *st);
	st->helper = -1;
	st->exit_code = -1;
	st->sampler = (struct dk_sampler){ .pid = -1, .fd = -1 };
	dk_stats_init(&st->stats);
	r->priv = st;
	if (!r->job->spec->image)
		return rp_err_set(err, RP_ERR_USAGE, "the docker runner needs an image: add `image: NAME` to the config");
	if (dk_engine_find(&st->eng, err) < 0 || read_engine_facts(st, err) < 0 || inspect_image(&st->eng, r->job->spec->image, &r->image, err) < 0)
		return -1;
	st->name = random_name(r->job->run_id);
	/* Noted before it exists: a supervisor killed from here on leaves at most this container. */
	char *leftover = xasprintf("%s %s", st->eng.socket, st->name);
	runner_add_leftover(r, "docker-container", leftover);
	free(leftover);
	plan_cgroup(r, st);
	if (st->no_meter_reason)
		runner_add_warning(r, "docker: usage not metered by cgroup (%s): from the engine's stats, " DK_STATS_SAMPLED,
				   st->no_meter_reason);
	return 0;
}

/* ---- the container ---- */

/* The job's environment with the RUNPILOT_* paths as the container sees them. */
static cJSON *container_env(const struct rp_job *job)
{
	cJSON *a = cJSON_CreateArray();
	for (char **e = job->envp; e && *e; e++) {
		if (!strncmp(*e, "RUNPILOT_OUTPUT_DIR=", 20))
			cJSON_AddItemToArray(a, cJSON_CreateString("RUNPILOT_OUTPUT_DIR=" CONTAINER_OUTPUTS));
		else if (!strncmp(*e, "RUNPILOT_METRICS_FILE=", 22))
			cJSON_AddItemToArray(a, cJSON_CreateString("RUNPILOT_METRICS_FILE=" CONTAINER_OUTPUTS
								   "/" RP_METRICS_JOB_FILE));
		else if (!strncmp(*e, "RUNPILOT_RUN_DIR=", 17))
			continue; /* the run directory is not in the container */
		else
			cJSON_AddItemToArray(a, cJSON_CreateString(*e));
	}
	return a;
}

static const char *network_mode(const struct rp_spec *spec)
{
	const char *n = spec->sandbox.network;
	if (n && !strcmp(n, "none"))
		return "none";
	if (n && !strcmp(n, "host"))
		return "host";
	return "default"; /* outbound: the engine's default network */
}

static void add_string_owned(cJSON *a, char *s)
{
	cJSON_AddItemToArray(a, cJSON_CreateString(s));
	free(s);
}

static cJSON *host_config(const struct runner *r, const struct docker_state *st)
{
	const struct rp_job *job = r->job;
	cJSON *hc = cJSON_CreateObject();
	cJSON *binds = cJSON_AddArrayToObject(hc, "Binds");
	add_string_owned(binds, xasprintf("%s:" CONTAINER_WORKDIR, job->cwd));
	add_string_owned(binds, xasprintf("%s:" CONTAINER_OUTPUTS, job->output_dir));
	cJSON_AddBoolToObject(hc, "Init", true);
	cJSON_AddStringToObject(hc, "NetworkMode", network_mode(job->spec));
	if (job->limits.cpus > 0)
		cJSON_AddNumberToObject(hc, "NanoCpus", (double)(long long)(job->limits.cpus * 1e9));
	if (job->limits.memory_bytes > 0) {
		cJSON_AddNumberToObject(hc, "Memory", (double)job->limits.memory_bytes);
		cJSON_AddNumberToObject(hc, "MemorySwap", (double)job->limits.memory_bytes); /* no swap past it */
	}
	if (job->limits.pids > 0)
		cJSON_AddNumberToObject(hc, "PidsLimit", (double)job->limits.pids);
	if (st->cg) {
		char *parent = xasprintf("runpilot-%s", job->cgroup_name);
		cJSON_AddStringToObject(hc, "CgroupParent", parent);
		free(parent);
	}
	return hc;
}

static char *create_body(const struct runner *r, const struct docker_state *st)
{
	const struct rp_job *job = r->job;
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "Image", r->image.id); /* the image prepare resolved, not a newer tag */
	cJSON *ep = cJSON_AddArrayToObject(c, "Entrypoint");
	cJSON *cmd = cJSON_AddArrayToObject(c, "Cmd");
	for (char **a = job->argv; a && *a; a++)
		cJSON_AddItemToArray(a == job->argv ? ep : cmd, cJSON_CreateString(*a));
	cJSON_AddItemToObject(c, "Env", container_env(job));
	cJSON_AddStringToObject(c, "WorkingDir", CONTAINER_WORKDIR);
	char *user = xasprintf("%d:%d", (int)geteuid(), (int)getegid()); /* outputs are the caller's */
	cJSON_AddStringToObject(c, "User", user);
	free(user);
	cJSON_AddBoolToObject(c, "Tty", false);
	cJSON_AddBoolToObject(c, "OpenStdin", false);
	cJSON_AddBoolToObject(c, "AttachStdout", true);
	cJSON_AddBoolToObject(c, "AttachStderr", true);
	cJSON *labels = cJSON_AddObjectToObject(c, "Labels");
	cJSON_AddStringToObject(labels, "runpilot.run_id", job->run_id);
	char *uid = xasprintf("%d", (int)geteuid());
	cJSON_AddStringToObject(labels, "runpilot.uid", uid);
	free(uid);
	cJSON_AddStringToObject(labels, "runpilot.home", job->store_home);
	cJSON_AddItemToObject(c, "HostConfig", host_config(r, st));
	char *body = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	return body;
}

/* POST path (no body); 0 when the status is one of ok (0-terminated), else -1 with err. */
static int post(struct docker_state *st, const char *what, const char *path, const char *body, long timeout_ms,
		const long *ok, struct rp_err *err)
{
	struct dk_response resp;
	if (dk_call(&st->eng, "POST", path, body, timeout_ms, &resp, err) < 0)
		return -1;
	int rc = -1;
	for (const long *s = ok; *s; s++)
		if (resp.status == *s)
			rc = 0;
	if (rc < 0)
		rp_err_set(err, RP_ERR_RUNTIME, "docker: %s: %s", what, dk_message(&resp));
	dk_response_free(&resp);
	return rc;
}

static int docker_start(struct runner *r, struct rp_err *err)
{
	struct docker_state *st = r->priv;
	char *body = create_body(r, st);
	char *path = xasprintf("/containers/create?name=%s", st->name);
	int rc = post(st, "cannot create the container", path, body, CALL_MS, (const long[]){ 201, 0 }, err);
	free(path);
	free(body);
	if (rc == 0)
		st->created = true;
	return rc;
}

/* ---- the helper: the container's output to the capture pipe ---- */

/* In the helper: the fds it needs moved to 3 and 4, everything else closed. */
static int keep_only(int *out_fd, int *ready_fd, int *done_fd)
{
	int fds[3] = { *out_fd, *ready_fd, *done_fd }, high[3];
	for (int i = 0; i < 3; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD, 100)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], 3 + i) < 0)
			return -1;
	close_range(6, ~0U, 0);
	*out_fd = 3;
	*ready_fd = 4;
	*done_fd = 5;
	return 0;
}

/* What the helper sends the engine when runpilot dies: built before, sent from a signal
 * handler (socket, connect, write and read are async-signal-safe; libcurl is not). */
static struct sockaddr_un death_addr;
static char death_request[512];

static void on_supervisor_death(int sig)
{
	(void)sig;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&death_addr, sizeof death_addr) == 0 &&
	    write(fd, death_request, strlen(death_request)) > 0) {
		char buf[256];
		while (read(fd, buf, sizeof buf) > 0)
			; /* the reply ends once the container is gone */
	}
	_exit(1);
}

/* A killed runpilot (kill -9) takes its container down through the helper at once; the claim's
 * leftover is there for what this misses (the helper killed too, or runpilot killed before the
 * release). */
static void remove_container_on_death(const struct docker_state *st, pid_t supervisor)
{
	death_addr.sun_family = AF_UNIX;
	snprintf(death_addr.sun_path, sizeof death_addr.sun_path, "%s", st->eng.socket);
	snprintf(death_request, sizeof death_request,
		 "DELETE /v" DK_API_VERSION "/containers/%s?force=1 HTTP/1.0\r\nHost: docker\r\n\r\n", st->name);
	struct sigaction sa = { .sa_handler = on_supervisor_death };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != supervisor)
		on_supervisor_death(SIGTERM); /* died before the prctl */
}

static _Noreturn void run_helper(struct docker_state *st, pid_t supervisor, int out_fd, int ready_fd, int done_fd)
{
	/* Out of the terminal's process group: Ctrl-C is the supervisor's to handle (it stops the
	 * container), the output must keep flowing until the container ends. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor's mask blocks SIGTERM */
	remove_container_on_death(st, supervisor);
	if (keep_only(&out_fd, &ready_fd, &done_fd) < 0)
		_exit(125);
	struct rp_err e = { 0 };
	int rc = dk_attach(&st->eng, st->name, out_fd, ready_fd, &e);
	if (rc < 0)
		dprintf(out_fd, "runpilot: %s\n", e.msg);
	(void)done_fd; /* closed at exit: that is the news */
	_exit(rc < 0 ? 1 : 0);
}

/* Wait (at most timeout_s) for the helper's byte saying the engine attached it. */
static int await_attach(int ready_r, double timeout_s, struct rp_err *err)
{
	struct pollfd p = { .fd = ready_r, .events = POLLIN };
	int n;
	do
		n = poll(&p, 1, (int)(timeout_s * 1000));
	while (n < 0 && errno == EINTR);
	char c;
	if (n > 0 && read(ready_r, &c, 1) == 1)
		return 0;
	if (n < 0)
		return rp_err_sys(err, "poll");
	return rp_err_set(err, RP_ERR_RUNTIME, "docker: cannot attach to the container's output");
}

static int spawn_helper(struct runner *r, struct docker_state *st, struct rp_err *err)
{
	int ready[2], done[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	if (pipe2(done, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return rp_err_sys(err, "pipe");
	}
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		close(done[0]);
		close(done[1]);
		errno = e;
		return rp_err_sys(err, "fork");
	}
	if (pid == 0)
		run_helper(st, self, r->job->out_fd, ready[1], done[1]);
	close(ready[1]);
	close(done[1]);
	st->helper = pid;
	r->pid = pid;
	r->wait_fd = done[0];
	int rc = await_attach(ready[0], 10.0, err);
	close(ready[0]);
	return rc;
}

/* Where no cgroup parent meters, the engine's stats, sampled from the start on. */
static void start_sampler(struct runner *r, struct docker_state *st)
{
	struct rp_err e = { 0 };
	if (!st->no_meter_reason || dk_sampler_start(&st->sampler, &st->eng, st->name, &e) == 0)
		return;
	st->no_stats_reason = xasprintf("cannot sample the engine's stats: %s", e.msg);
	runner_add_warning(r, "docker: %s: wall time only", st->no_stats_reason);
}

static int docker_release(struct runner *r, struct rp_err *err)
{
	struct docker_state *st = r->priv;
	if (spawn_helper(r, st, err) < 0)
		return -1;
	st->start_mono = now_monotonic();
	char *path = xasprintf("/containers/%s/start", st->name);
	int rc = post(st, "cannot start the container", path, NULL, CALL_MS, (const long[]){ 204, 304, 0 }, err);
	free(path);
	if (rc == 0)
		start_sampler(r, st);
	return rc;
}

static int docker_stop(struct runner *r, bool hard)
{
	struct docker_state *st = r->priv;
	if (!st || !st->created)
		return 0;
	st->stop_sent = true;
	char *path = xasprintf("/containers/%s/kill?signal=%s", st->name, hard ? "KILL" : "TERM");
	/* 409: not running any more. */
	int rc = post(st, "cannot stop the container", path, NULL, CALL_MS, (const long[]){ 204, 409, 0 }, NULL);
	free(path);
	return rc;
}

/* ---- the end ---- */

static void reap_helper(struct docker_state *st, bool kill_it)
{
	if (st->helper <= 0)
		return;
	if (kill_it)
		kill(st->helper, SIGKILL);
	while (waitpid(st->helper, NULL, 0) < 0 && errno == EINTR)
		;
	st->helper = -1;
}

/* The container's exit status, from the engine (it has exited: the wait returns at once). */
static int container_status(struct docker_state *st, int *code, struct rp_err *err)
{
	char *path = xasprintf("/containers/%s/wait?condition=not-running", st->name);
	struct dk_response resp;
	int rc = dk_call(&st->eng, "POST", path, NULL, LONG_CALL_MS, &resp, err);
	free(path);
	if (rc < 0)
		return -1;
	cJSON *j = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "StatusCode");
	if (cJSON_IsNumber(sc))
		*code = sc->valueint;
	else
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: waiting for the container: %s", dk_message(&resp));
	cJSON_Delete(j);
	dk_response_free(&resp);
	return rc;
}

static bool container_oom(struct docker_state *st)
{
	char *path = xasprintf("/containers/%s/json", st->name);
	long status;
	cJSON *c = get_json(st, path, CALL_MS, &status, NULL);
	free(path);
	bool oom = true_of(cJSON_GetObjectItemCaseSensitive(c, "State"), "OOMKilled");
	cJSON_Delete(c);
	return oom;
}

/* The sampler's figures, once the container ended; why there are none in st->no_stats_reason. */
static void collect_stats(struct docker_state *st)
{
	if (st->sampler.pid <= 0)
		return;
	struct rp_err e = { 0 };
	/* A sample in flight ends within its own limit (5 s). */
	if (dk_sampler_finish(&st->sampler, &st->stats, 10.0, &e) < 0)
		st->no_stats_reason = xasprintf("engine stats: %s", e.msg);
	else if (st->stats.samples == 0)
		st->no_stats_reason = xstrdup("no engine stats sample caught the container running");
}

static void meter_wall_only(struct rp_usage *u, double wall)
{
	/* No counters: only the wall time is known; rusage's zeros would be wrong. */
	struct rusage none = { 0 };
	meter_from_rusage(u, &none, wall);
	snprintf(u->source, sizeof u->source, "docker");
	u->memory_peak_source[0] = '\0';
	u->cpu_user_s = u->cpu_system_s = u->cpu_total_s = -1;
	u->cpu_avg_cores = 0;
	u->memory_peak_bytes = u->max_rss_bytes = u->pids_peak = u->oom_kills = -1;
	u->throttled_s = -1;
}

static void meter(struct runner *r, struct docker_state *st, double wall, struct rp_usage *u)
{
	struct rusage none = { 0 };
	if (st->cg && !cg_exists(st->cg)) {
		free(st->no_meter_reason);
		st->no_meter_reason = xstrdup("the engine did not create the per-run cgroup parent where expected");
		free(st->no_stats_reason);
		st->no_stats_reason = xstrdup("engine stats were not sampled (a cgroup parent was planned)");
		runner_add_warning(r, "docker: usage not metered by cgroup (%s): wall time only", st->no_meter_reason);
	}
	if (!st->no_meter_reason) {
		cg_read_usage(st->cg, &none, wall, u);
		u->max_rss_bytes = -1; /* per-process RSS is not seen through the engine */
		/* The quota is the container's own cgroup's, and so was its throttling counter. */
		u->throttled_s = -1;
	} else if (!st->no_stats_reason) {
		dk_stats_usage(&st->stats, wall, u);
	} else {
		meter_wall_only(u, wall);
	}
}

static int docker_wait(struct runner *r, struct rp_result *res, struct rp_err *err)
{
	struct docker_state *st = r->priv;
	reap_helper(st, false);
	r->pid = -1;
	double wall = now_monotonic() - st->start_mono;
	collect_stats(st);
	memset(res, 0, sizeof *res);
	int code = -1;
	if (container_status(st, &code, err) < 0)
		return -1;
	st->exit_code = code;
	res->oom = container_oom(st);
	/* 128+N is how the init reports a job killed by signal N: a signal when runpilot or the
	 * memory limit sent one; otherwise the job's own exit code. */
	if (code > 128 && code < 128 + 65 && (st->stop_sent || res->oom)) {
		res->signal = code - 128;
		res->exit_code = -1;
	} else {
		res->exit_code = code;
	}
	meter(r, st, wall, &res->usage);
	/* v1 counts an OOM kill in the container's own cgroup, gone by now: the engine's flag says. */
	if (res->oom && res->usage.oom_kills < 1)
		res->usage.oom_kills = 1;
	return 0;
}

static void remove_container(struct docker_state *st)
{
	char *path = xasprintf("/containers/%s?force=1", st->name);
	struct dk_response resp;
	if (dk_call(&st->eng, "DELETE", path, NULL, LONG_CALL_MS, &resp, NULL) == 0)
		dk_response_free(&resp);
	free(path);
}

static void docker_cleanup(struct runner *r)
{
	struct docker_state *st = r->priv;
	if (!st)
		return;
	if (st->created)
		remove_container(st); /* kills it first when it still runs */
	reap_helper(st, true);
	dk_sampler_kill(&st->sampler);
	r->pid = -1;
	close_fd(&r->wait_fd);
	cg_destroy(st->cg);
	dk_engine_free(&st->eng);
	free(st->name);
	free(st->engine_version);
	free(st->api_version);
	free(st->cgroup_driver);
	free(st->cgroup_version);
	free(st->no_meter_reason);
	free(st->no_stats_reason);
	free(st);
	r->priv = NULL;
}

/* Where the usage comes from: the cgroup parent, else the engine's stats (and why not the
 * cgroup), else nowhere (and why). */
static void describe_usage(cJSON *o, const struct docker_state *st)
{
	if (!st->no_meter_reason) {
		if (st->cg) { /* NULL only before prepare got this far */
			cJSON_AddStringToObject(o, "cgroup_parent", cg_path(st->cg));
			cJSON_AddStringToObject(o, "usage_source", "cgroup");
		}
	} else if (!st->no_stats_reason) {
		cJSON_AddStringToObject(o, "usage_source", "engine stats (" DK_STATS_SAMPLED ")");
		cJSON_AddStringToObject(o, "usage_not_cgroup", st->no_meter_reason);
		if (st->stats.samples > 0) /* the sampler's figures are in */
			cJSON_AddNumberToObject(o, "usage_samples", st->stats.samples);
	} else {
		char *why = xasprintf("%s; %s", st->no_meter_reason, st->no_stats_reason);
		cJSON_AddStringToObject(o, "usage_not_metered", why);
		free(why);
	}
}

static cJSON *docker_describe(struct runner *r)
{
	struct docker_state *st = r->priv;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "docker");
	if (!st)
		return o;
	cJSON_AddStringToObject(o, "engine", st->eng.host ? st->eng.host : "");
	cJSON_AddStringToObject(o, "engine_source", st->eng.source ? st->eng.source : "");
	if (st->engine_version)
		cJSON_AddStringToObject(o, "engine_version", st->engine_version);
	if (st->api_version)
		cJSON_AddStringToObject(o, "engine_api_version", st->api_version);
	cJSON_AddStringToObject(o, "api_version", DK_API_VERSION);
	if (st->name)
		cJSON_AddStringToObject(o, "container", st->name);
	if (r->image.id)
		cJSON_AddStringToObject(o, "image_id", r->image.id);
	if (st->cgroup_driver)
		cJSON_AddStringToObject(o, "cgroup_driver", st->cgroup_driver);
	if (st->cgroup_version)
		cJSON_AddStringToObject(o, "cgroup_version", st->cgroup_version);
	cJSON_AddStringToObject(o, "network", network_mode(r->job->spec));
	describe_usage(o, st);
	return o;
}

static void docker_enforcement(struct runner *r, struct cg_enforced *out)
{
	struct docker_state *st = r->priv;
	*out = (struct cg_enforced){ 0 };
	if (!st || !st->cgroup_version)
		return;
	const char *by = !strcmp(st->cgroup_version, "2") ? "docker (cgroup2)" : "docker (cgroup1)";
	out->cpus = st->cpu_cfs ? by : NULL;
	out->memory = st->memory_limit ? by : NULL;
	out->pids = st->pids_limit ? by : NULL;
	out->why_not = out->why_not_pids = "the engine reports no support for this limit";
}

/* ---- for auto, doctor and the next runpilot ---- */

bool runner_docker_usable(struct rp_err *why)
{
	struct dk_engine e;
	if (dk_engine_find(&e, why) < 0)
		return false;
	struct dk_response resp;
	bool ok = dk_call(&e, "GET", "/_ping", NULL, 2000, &resp, why) == 0;
	if (ok && resp.status != 200) {
		rp_err_set(why, RP_ERR_RUNTIME, "docker: the engine at %s answers /_ping with %s", e.host, dk_message(&resp));
		ok = false;
	}
	if (ok || resp.body)
		dk_response_free(&resp);
	dk_engine_free(&e);
	return ok;
}

int runner_docker_facts(struct runner_docker_facts *f, struct rp_err *err)
{
	memset(f, 0, sizeof *f);
	struct docker_state st = { 0 };
	int rc = -1;
	if (dk_engine_find(&st.eng, err) == 0 && read_engine_facts(&st, err) == 0) {
		f->endpoint = xasprintf("%s (%s)", st.eng.host, st.eng.source);
		f->version = st.engine_version;
		f->api_version = st.api_version;
		f->cgroup_driver = st.cgroup_driver;
		f->cgroup_version = st.cgroup_version;
		st.engine_version = st.api_version = st.cgroup_driver = st.cgroup_version = NULL;
		f->memory_limit = st.memory_limit;
		f->cpu_cfs = st.cpu_cfs;
		f->pids_limit = st.pids_limit;
		rc = 0;
	}
	free(st.engine_version);
	free(st.api_version);
	free(st.cgroup_driver);
	free(st.cgroup_version);
	dk_engine_free(&st.eng);
	return rc;
}

void runner_docker_facts_free(struct runner_docker_facts *f)
{
	free(f->endpoint);
	free(f->version);
	free(f->api_version);
	free(f->cgroup_driver);
	free(f->cgroup_version);
	memset(f, 0, sizeof *f);
}

int runner_docker_remove_leftover(const char *socket_and_name, struct rp_err *err)
{
	const char *sp = strrchr(socket_and_name, ' ');
	if (!sp || !sp[1])
		return rp_err_set(err, RP_ERR_RUNTIME, "not a docker-container leftover: %s", socket_and_name);
	char *socket = xstrndup(socket_and_name, (size_t)(sp - socket_and_name));
	if (!path_exists(socket)) {
		/* The engine is gone with its socket (a private one, a reinstall): nothing to reach,
		 * and retrying at every run would never end. */
		free(socket);
		return 0;
	}
	struct dk_engine e;
	dk_engine_at(&e, socket);
	free(socket);
	char *path = xasprintf("/containers/%s?force=1", sp + 1);
	struct dk_response resp;
	int rc = dk_call(&e, "DELETE", path, NULL, LONG_CALL_MS, &resp, err);
	if (rc == 0 && resp.status != 204 && resp.status != 404) /* 404: gone already, or never made */
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: cannot remove container %s: %s", sp + 1, dk_message(&resp));
	if (rc == 0 || resp.body)
		dk_response_free(&resp);
	free(path);
	dk_engine_free(&e);
	return rc;
}

/* ---- for gc ---- */

/* s percent-encoded for a query string (everything but unreserved characters). */
static char *url_encode(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	return out;
}

/* One entry of GET /containers/json into c; false when it is not one of home's. */
static bool container_of(const cJSON *j, const char *home, struct runner_container *c)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "Labels");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(labels, "runpilot.home");
	const cJSON *run = cJSON_GetObjectItemCaseSensitive(labels, "runpilot.run_id");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "Id");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "State");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "Names");
	const cJSON *name = cJSON_IsArray(names) ? cJSON_GetArrayItem(names, 0) : NULL;
	if (!cJSON_IsString(h) || strcmp(h->valuestring, home) || !cJSON_IsString(id) || !cJSON_IsString(run))
		return false;
	c->id = xstrdup(id->valuestring);
	const char *n = cJSON_IsString(name) ? name->valuestring : id->valuestring;
	c->name = xstrdup(n[0] == '/' ? n + 1 : n);
	c->run_id = xstrdup(run->valuestring);
	c->running = cJSON_IsString(state) && (!strcmp(state->valuestring, "running") ||
					       !strcmp(state->valuestring, "paused") ||
					       !strcmp(state->valuestring, "restarting"));
	return true;
}

int runner_docker_containers(const char *home, struct runner_container **out, size_t *n, struct rp_err *err)
{
	*out = NULL;
	*n = 0;
	struct dk_engine e;
	if (dk_engine_find(&e, err) < 0)
		return -1;
	char *filter = xasprintf("{\"label\":[\"runpilot.home=%s\"]}", home);
	char *enc = url_encode(filter);
	char *path = xasprintf("/containers/json?all=1&filters=%s", enc);
	struct dk_response resp;
	int rc = dk_call(&e, "GET", path, NULL, CALL_MS, &resp, err);
	if (rc == 0) {
		cJSON *j = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
		if (!cJSON_IsArray(j)) {
			rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: cannot list containers: %s", dk_message(&resp));
		} else {
			*out = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof **out);
			const cJSON *it;
			cJSON_ArrayForEach(it, j)
				if (container_of(it, home, &(*out)[*n]))
					(*n)++;
		}
		cJSON_Delete(j);
		dk_response_free(&resp);
	}
	free(path);
	free(enc);
	free(filter);
	dk_engine_free(&e);
	return rc;
}

void runner_containers_free(struct runner_container *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].run_id);
	}
	free(v);
}

int runner_docker_remove_container(const char *id, struct rp_err *err)
{
	struct dk_engine e;
	if (dk_engine_find(&e, err) < 0)
		return -1;
	char *path = xasprintf("/containers/%s?force=1", id);
	struct dk_response resp;
	int rc = dk_call(&e, "DELETE", path, NULL, LONG_CALL_MS, &resp, err);
	if (rc == 0) {
		if (resp.status != 204 && resp.status != 404)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: %s", dk_message(&resp));
		dk_response_free(&resp);
	}
	free(path);
	dk_engine_free(&e);
	return rc;
}

const struct runner_ops runner_docker_ops = {
	.type = "docker",
	.isolated_env = true,
	.prepare = docker_prepare,
	.start = docker_start,
	.release = docker_release,
	.stop = docker_stop,
	.wait = docker_wait,
	.cleanup = docker_cleanup,
	.describe = docker_describe,
	.enforcement = docker_enforcement,
};
