/* Detached runs, and cancelling a run from elsewhere (run.h). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "claim.h"
#include "run_int.h"
#include "slurm.h"
#include <cjson/cJSON.h>
#include "runs.h"
#include "util.h"

/* The detached supervisor tells its starter one line on the pipe: "I <id>" once the run
 * exists, or "E <kind> <message>" when no run could be started. */
struct detach_ctx {
	int fd;
};

static void tell(struct detach_ctx *d, const char *line)
{
	if (d->fd < 0)
		return;
	if (write_all(d->fd, line, strlen(line)) < 0) {
		/* the starter is gone: nothing to tell anyone */
	}
	close_fd(&d->fd);
}

static void on_queued(void *ctx, const char *id)
{
	char line[RP_ID_MAX + 4];
	snprintf(line, sizeof line, "I %s\n", id);
	tell(ctx, line);
}

/* Stdio on /dev/null, every other descriptor closed but keep (moved to 3): no terminal, no
 * pipe of the starter's caller, is held open by the run. */
static int detach_fds(int *keep)
{
	int moved = fcntl(*keep, F_DUPFD_CLOEXEC, 3); /* above stdio, which is replaced next */
	if (moved < 0)
		return -1;
	close(*keep);
	*keep = moved;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(null, fd) < 0)
			return -1;
	if (null > 2)
		close(null);
	if (*keep != 3) {
		if (dup3(*keep, 3, O_CLOEXEC) < 0)
			return -1;
		close(*keep);
		*keep = 3;
	}
	return close_range(4, ~0U, 0);
}

/* The detached supervisor: runs req to its end. */
static void supervise_detached(const struct run_request *req, int fd)
{
	struct detach_ctx d = {.fd = fd};
	if (detach_fds(&d.fd) < 0) {
		char line[256];
		snprintf(line, sizeof line, "E %d cannot detach the run: %s\n", RP_ERR_RUNTIME, strerror(errno));
		tell(&d, line);
		return;
	}
	/* cancel's SIGINT must reach it, even when its starter's shell ignored it (`cmd &`). */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	struct run_request own = *req;
	own.output_fd = -1;
	own.record_queued = true;
	struct run_events ev = {.ctx = &d, .queued = on_queued};
	struct run_outcome out;
	struct rp_err err = {0};
	if (run_execute(&own, &ev, &out, &err) < 0 && d.fd >= 0) {
		char *line = xasprintf("E %d %s\n", err.kind, err.msg);
		tell(&d, line);
		free(line);
	}
	close_fd(&d.fd);
}

/* What the detached supervisor said; 0 with id, or -1 with its error. */
static int read_answer(int fd, char id[RP_ID_MAX], struct rp_err *err)
{
	char *text = NULL;
	int rc = read_fd_all(fd, &text, NULL);
	if (rc < 0) {
		free(text);
		return rp_err_sys(err, "cannot hear from the detached run");
	}
	rc = -1;
	int kind, n = 0;
	size_t len = strcspn(text, "\n");
	text[len] = '\0';
	if (text[0] == 'I' && text[1] == ' ' && len - 2 < RP_ID_MAX && len > 2) {
		snprintf(id, RP_ID_MAX, "%s", text + 2);
		rc = 0;
	} else if (sscanf(text, "E %d %n", &kind, &n) == 1 && n > 0) {
		rp_err_set(err, kind, "%s", text + n);
	} else {
		rp_err_set(err, RP_ERR_RUNTIME, "the detached run's supervisor died before its run started");
	}
	free(text);
	return rc;
}

int run_detach(const struct run_request *req, char id[RP_ID_MAX], struct rp_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return rp_err_sys(err, "fork");
	}
	if (pid == 0) {
		/* A new session, and a grandchild in it that is not its leader: it never gets a
		 * terminal, and no hangup of the caller's reaches it. Its parent exits at once. */
		close(p[0]);
		if (setsid() < 0)
			_exit(1);
		pid_t g = fork();
		if (g != 0)
			_exit(g < 0 ? 1 : 0);
		supervise_detached(req, p[1]);
		return 1;
	}
	close(p[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int rc = read_answer(p[0], id, err);
	close(p[0]);
	return rc;
}

/* ---- cancel ---- */

/* The claim's supervisor, when it is the live process that took the claim; 0 otherwise. */
static pid_t live_supervisor(int fd)
{
	struct claim_info info;
	struct rp_err ignored = {0};
	if (claim_read(fd, &info, &ignored) < 0)
		return 0;
	pid_t pid = info.pid;
	char *boot = current_boot_id();
	if (pid <= 0 || !process_alive(pid) || !info.start_ticks ||
	    process_start_ticks(pid) != info.start_ticks ||
	    (info.boot_id && boot && strcmp(info.boot_id, "-") && strcmp(info.boot_id, boot)))
		pid = 0;
	free(boot);
	claim_info_free(&info);
	return pid;
}

/* A Slurm run is cancelled through Slurm, wherever its job is (queued, or on a node): 1 when
 * the run is one, 0 when it is not. */
static int cancel_in_slurm(const char *run_dir, enum run_cancel_result *res, struct rp_err *err)
{
	struct rp_run r;
	if (record_read(run_dir, &r, NULL) < 0)
		return 0;
	int rc = 0;
	if (slurm_run(&r)) {
		rc = 1;
		runs_status_now(run_dir, &r);
		const char *job = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.runner, "job_id"));
		const cJSON *task = cJSON_GetObjectItemCaseSensitive(r.runner, "array_task");
		if (status_live(r.status) && job) {
			char *name = cJSON_IsNumber(task) ? xasprintf("%s_%d", job, task->valueint) : xstrdup(job);
			if (slurm_cancel(name, err) < 0)
				rc = -1;
			else
				*res = RUN_CANCEL_SENT;
			free(name);
		}
	}
	record_free(&r);
	return rc;
}

int run_cancel(const char *run_dir, enum run_cancel_result *res, struct rp_err *err)
{
	*res = RUN_CANCEL_ENDED;
	int slurm = cancel_in_slurm(run_dir, res, err);
	if (slurm != 0)
		return slurm < 0 ? -1 : 0;
	char *lock = path_join(run_dir, "run.lock");
	int probe;
	enum claim_state state = claim_try(lock, false, &probe);
	*res = RUN_CANCEL_ENDED;
	int rc = 0;
	if (state == CLAIM_FREE) {
		close(probe);
	} else if (state == CLAIM_HELD) {
		/* Held: read who holds it (the file is complete once it has its name). */
		int fd = open(lock, O_RDONLY | O_CLOEXEC);
		pid_t pid = fd >= 0 ? live_supervisor(fd) : 0;
		if (fd >= 0)
			close(fd);
		if (!pid)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "cannot tell which process supervises %s: not cancelled",
					run_dir);
		else if (kill(pid, SIGINT) < 0 && errno != ESRCH)
			rc = rp_err_sys(err, "cannot signal the supervisor of %s (pid %d)", run_dir, (int)pid);
		else
			*res = RUN_CANCEL_SENT;
	}
	free(lock);
	return rc;
}

bool run_is_over(const char *run_dir)
{
	char *lock = path_join(run_dir, "run.lock");
	int fd;
	enum claim_state state = claim_try(lock, false, &fd);
	free(lock);
	if (state == CLAIM_HELD)
		return false;
	if (state == CLAIM_FREE)
		close(fd);
	struct rp_run r;
	struct rp_err e = {0};
	int rd = runs_read_dir(run_dir, &r, &e);
	if (rd != RUNS_READ_OK)
		return rd == RUNS_READ_BROKEN;
	runs_status_now(run_dir, &r);
	bool over = !status_live(r.status);
	record_free(&r);
	return over;
}
