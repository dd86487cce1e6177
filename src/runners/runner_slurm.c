/* The Slurm runner's side of the scheduler (slurm.h): the batch script and the Slurm commands. */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Each Slurm command's time limit: a controller that is down makes the clients retry for
 * about ten seconds. */
#define SLURM_CMD_TIMEOUT_S 5.0
#define SLURM_OUTPUT_MAX (1 << 20)

extern char **environ;

/* ---- the batch script ---- */

long slurm_time_minutes(const struct rp_spec *spec)
{
	if (spec->slurm.time_s > 0)
		return (long)ceil(spec->slurm.time_s / 60);
	if (spec->resources.timeout_s > 0)
		return (long)ceil(spec->resources.timeout_s / 60) + 1;
	return 0;
}

/* Single-quoted for the shell. */
static char *shell_quote(const char *s)
{
	struct strvec parts = {0};
	strvec_push(&parts, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			strvec_push(&parts, "'\\''");
		else
			strvec_pushf(&parts, "%c", *p);
	}
	strvec_push(&parts, "'");
	char *out = strvec_join(&parts, "");
	strvec_free(&parts);
	return out;
}

static void sbatch_options(const struct slurm_batch *b, struct strvec *o)
{
	const struct rp_slurm_cfg *c = &b->spec->slurm;
	const struct rp_resources *r = &b->spec->resources;
	strvec_pushf(o, "--job-name=%s", b->job_name);
	strvec_pushf(o, "--output=%s", b->output);
	strvec_push(o, "--ntasks=1");
	if (c->partition)
		strvec_pushf(o, "--partition=%s", c->partition);
	if (c->account)
		strvec_pushf(o, "--account=%s", c->account);
	if (c->qos)
		strvec_pushf(o, "--qos=%s", c->qos);
	if (c->nodes)
		strvec_pushf(o, "--nodes=%lld", c->nodes);
	if (r->cpus > 0)
		strvec_pushf(o, "--cpus-per-task=%ld", (long)ceil(r->cpus));
	if (r->memory_bytes > 0)
		strvec_pushf(o, "--mem=%lldM", (r->memory_bytes + (1 << 20) - 1) >> 20);
	long minutes = slurm_time_minutes(b->spec);
	if (minutes > 0)
		strvec_pushf(o, "--time=%ld", minutes);
	if (c->gpus)
		strvec_pushf(o, "--gres=gpu:%s", c->gpus);
	if (b->array) {
		if (b->array_parallel > 0)
			strvec_pushf(o, "--array=0-%zu%%%ld", b->nruns - 1, b->array_parallel);
		else
			strvec_pushf(o, "--array=0-%zu", b->nruns - 1);
	}
	for (size_t i = 0; i < c->nextra_args; i++)
		strvec_push(o, c->extra_args[i]);
}

char *slurm_batch_script(const struct slurm_batch *b)
{
	struct strvec s = {0}, opts = {0};
	strvec_push(&s, "#!/bin/bash\n# Made by runpilot: the job runs `runpilot __node-run RUN_DIR` on the node, which\n"
			"# runs the run's job (in runpilot's sandbox where the node allows) and records it.\n");
	sbatch_options(b, &opts);
	for (size_t i = 0; i < opts.n; i++)
		strvec_pushf(&s, "#SBATCH %s\n", opts.v[i]);
	char *home = shell_quote(b->home), *exe = shell_quote(b->exe);
	strvec_pushf(&s, "\nexport RUNPILOT_HOME=%s\nrun_dirs=(\n", home);
	for (size_t i = 0; i < b->nruns; i++) {
		char *q = shell_quote(b->run_dirs[i]);
		strvec_pushf(&s, "\t%s\n", q);
		free(q);
	}
	strvec_pushf(&s, ")\nrun_dir=${run_dirs[${SLURM_ARRAY_TASK_ID:-0}]}\n"
			 "if [ ! -d \"$run_dir\" ]; then\n"
			 "\techo \"runpilot: error: the run directory $run_dir is not visible on node $(hostname): "
			 "RUNPILOT_HOME must be on storage the compute nodes share (docs/cluster.md)\" >&2\n"
			 "\texit 2\n"
			 "fi\n"
			 "exec %s __node-run \"$run_dir\"\n", exe);
	free(home);
	free(exe);
	char *text = strvec_join(&s, "");
	strvec_free(&s);
	strvec_free(&opts);
	return text;
}

/* ---- running a Slurm command ---- */

struct cmd_result {
	int status;            /* exit status, or -1: killed or not run */
	char *out, *errout;    /* owned, NUL-terminated */
};

static void cmd_result_free(struct cmd_result *r)
{
	free(r->out);
	free(r->errout);
}

static int spawn_cmd(char *const *argv, int out_w, int err_w, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	spawnattr_clean_signals(&attr);
	int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/* Read both pipes until they close or the deadline passes; false on the deadline. */
static bool drain_pipes(int fds[2], struct strvec *bufs, double deadline)
{
	size_t total = 0;
	while (fds[0] >= 0 || fds[1] >= 0) {
		double left = deadline - now_monotonic();
		if (left <= 0)
			return false;
		struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
		int n = poll(p, 2, (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR)
			return false;
		for (int i = 0; i < 2 && n > 0; i++) {
			if (fds[i] < 0 || !p[i].revents)
				continue;
			char buf[8192];
			ssize_t got = read(fds[i], buf, sizeof buf);
			if (got <= 0) {
				if (got < 0 && errno == EINTR)
					continue;
				close_fd(&fds[i]);
				continue;
			}
			total += (size_t)got;
			if (total <= SLURM_OUTPUT_MAX)
				strvec_pushf(&bufs[i], "%.*s", (int)got, buf);
		}
	}
	return true;
}

/* When a Slurm command last ran out of time: the controller is down or stuck, and asking again
 * at once would make a reader of many runs wait that long for each. */
#define SLURM_RETRY_AFTER_S 30.0
static double slurm_silent_since = -1;

/* Run a Slurm command with the time limit: 0 with r filled (whatever its exit status), or -1
 * with err when it could not run or did not finish in time. */
static int run_cmd(char *const *argv, struct cmd_result *r, struct rp_err *err)
{
	*r = (struct cmd_result){.status = -1};
	if (slurm_silent_since >= 0 && now_monotonic() - slurm_silent_since < SLURM_RETRY_AFTER_S)
		return rp_err_set(err, RP_ERR_RUNTIME, "Slurm did not answer (is slurmctld up?)");
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return rp_err_sys(err, "pipe");
	}
	pid_t pid;
	int sp = spawn_cmd(argv, po[1], pe[1], &pid);
	close(po[1]);
	close(pe[1]);
	int fds[2] = {po[0], pe[0]};
	if (sp != 0) {
		close_fd(&fds[0]);
		close_fd(&fds[1]);
		errno = sp;
		return rp_err_sys(err, "cannot run %s", argv[0]);
	}
	struct strvec bufs[2] = {{0}, {0}};
	bool done = drain_pipes(fds, bufs, now_monotonic() + SLURM_CMD_TIMEOUT_S);
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	if (!done)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->out = strvec_join(&bufs[0], "");
	r->errout = strvec_join(&bufs[1], "");
	strvec_free(&bufs[0]);
	strvec_free(&bufs[1]);
	if (!done) {
		cmd_result_free(r);
		slurm_silent_since = now_monotonic();
		return rp_err_set(err, RP_ERR_RUNTIME, "%s did not answer in %.0f s (is slurmctld up?)", argv[0],
				  SLURM_CMD_TIMEOUT_S);
	}
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return 0;
}

/* The first line of a command's complaint, for an error message. */
static const char *first_line(char *text)
{
	text[strcspn(text, "\n")] = '\0';
	while (!strncmp(text, "sbatch: error: ", 15) || !strncmp(text, "scancel: error: ", 16) ||
	       !strncmp(text, "scontrol: error: ", 17))
		text = strchr(text, ' ') + 1 + strlen("error: ");
	return *text ? text : "no message";
}

/* Run argv; 0 when it exited 0, else -1 with "WHAT failed: <its first line>". */
static int run_ok(char *const *argv, const char *what, struct cmd_result *r, struct rp_err *err)
{
	if (run_cmd(argv, r, err) < 0)
		return -1;
	if (r->status == 0)
		return 0;
	rp_err_set(err, RP_ERR_RUNTIME, "%s failed: %s", what, first_line(r->errout));
	cmd_result_free(r);
	return -1;
}

bool slurm_usable(struct rp_err *why)
{
	char *path = getenv("PATH") ? xstrdup(getenv("PATH")) : xstrdup("/usr/bin:/bin");
	bool found = false;
	for (char *save = NULL, *d = strtok_r(path, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(d, "sbatch");
		found = access(p, X_OK) == 0;
		free(p);
	}
	free(path);
	if (!found)
		rp_err_set(why, RP_ERR_USAGE, "the slurm runner needs Slurm's sbatch on PATH (run on a login node, "
					      "or load the cluster's slurm module)");
	return found;
}

int slurm_submit_held(const char *script_path, char **job_id, struct rp_err *err)
{
	char *argv[] = {"sbatch", "--parsable", "--hold", (char *)script_path, NULL};
	struct cmd_result r;
	if (run_ok(argv, "sbatch", &r, err) < 0)
		return -1;
	/* "<id>" or "<id>;<cluster>" */
	r.out[strcspn(r.out, ";\n")] = '\0';
	int rc = 0;
	if (!*r.out || strspn(r.out, "0123456789") != strlen(r.out))
		rc = rp_err_set(err, RP_ERR_RUNTIME, "sbatch answered no job id ('%s')", r.out);
	else
		*job_id = xstrdup(r.out);
	cmd_result_free(&r);
	return rc;
}

int slurm_release(const char *job_id, struct rp_err *err)
{
	char *argv[] = {"scontrol", "release", (char *)job_id, NULL};
	struct cmd_result r;
	if (run_ok(argv, "scontrol release", &r, err) < 0)
		return -1;
	cmd_result_free(&r);
	return 0;
}

int slurm_cancel(const char *job_id, struct rp_err *err)
{
	char *argv[] = {"scancel", (char *)job_id, NULL};
	struct cmd_result r;
	if (run_ok(argv, "scancel", &r, err) < 0)
		return -1;
	cmd_result_free(&r);
	return 0;
}

/* ---- the job's state ---- */

bool slurm_state_final(const char *s)
{
	static const char *const final[] = {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED",
					    "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", NULL};
	for (size_t i = 0; final[i]; i++)
		if (!strcmp(s, final[i]))
			return true;
	return false;
}

/* Slurm's times: local time "2026-12-03T14:40:01"; "Unknown", "None" or "N/A": 0. */
static double parse_slurm_time(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && *end != ' ' && *end != '|'))
		return 0;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	return t == (time_t)-1 ? 0 : (double)t;
}

static void copy_field(char *dst, size_t n, const char *src, size_t len)
{
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* "CANCELLED by 0" → "CANCELLED"; "3:0" → code 3, signal 0. */
static void set_state(struct slurm_job *j, const char *s, size_t len)
{
	copy_field(j->state, sizeof j->state, s, strcspn(s, " +|\n") < len ? strcspn(s, " +|\n") : len);
}

static void set_exit(struct slurm_job *j, const char *s)
{
	int code, sig;
	if (sscanf(s, "%d:%d", &code, &sig) == 2) {
		j->has_exit = true;
		j->exit_code = code;
		j->exit_signal = sig;
	}
}

/* The n-th '|'-separated field of line. */
static const char *field(const char *line, int n, size_t *len)
{
	for (int i = 0; i < n && line; i++) {
		line = strchr(line, '|');
		if (line)
			line++;
	}
	if (!line)
		return NULL;
	*len = strcspn(line, "|\n");
	return line;
}

static char *field_dup(const char *line, int n)
{
	size_t len;
	const char *f = field(line, n, &len);
	return f ? xstrndup(f, len) : xstrdup("");
}

static double field_time(const char *line, int n)
{
	char *t = field_dup(line, n);
	double v = parse_slurm_time(t);
	free(t);
	return v;
}

/* A query that found nothing: the job is unknown to this command, or the command failed. */
static enum slurm_answer not_found(const char *cmd, const struct cmd_result *r, struct rp_err *err)
{
	if (r->status == 0 || strstr(r->errout, "Invalid job id"))
		return SLURM_UNKNOWN_JOB;
	char *text = xstrdup(r->errout);
	rp_err_set(err, RP_ERR_RUNTIME, "%s failed: %s", cmd, first_line(text));
	free(text);
	return SLURM_NO_ANSWER;
}

/* squeue -h -t all -j ID -o '%T|%r|%N|%V|%S|%e'. */
static enum slurm_answer from_squeue(const char *job_id, struct slurm_job *j, struct rp_err *err)
{
	char *argv[] = {"squeue", "-h", "-t", "all", "-j", (char *)job_id, "-o", "%T|%r|%N|%V|%S|%e", NULL};
	struct cmd_result r;
	if (run_cmd(argv, &r, err) < 0)
		return SLURM_NO_ANSWER;
	enum slurm_answer a;
	if (r.status == 0 && *r.out) {
		size_t len;
		const char *f = field(r.out, 0, &len);
		set_state(j, f, len);
		f = field(r.out, 1, &len);
		if (f && strncmp(f, "None", 4))
			copy_field(j->reason, sizeof j->reason, f, len);
		f = field(r.out, 2, &len);
		if (f)
			copy_field(j->node, sizeof j->node, f, len);
		j->submit_time = field_time(r.out, 3);
		j->start_time = field_time(r.out, 4);
		j->source = "squeue";
		a = SLURM_KNOWN;
	} else {
		a = not_found("squeue", &r, err);
	}
	cmd_result_free(&r);
	return a;
}

/* sacct -n -X -P -j ID -o State,ExitCode,NodeList,Submit,Start,End (accounting only). */
static enum slurm_answer from_sacct(const char *job_id, struct slurm_job *j)
{
	char *argv[] = {"sacct", "-n", "-X", "-P", "-j", (char *)job_id, "-o", "State,ExitCode,NodeList,Submit,Start,End",
			NULL};
	struct cmd_result r;
	struct rp_err ignored = {0};
	if (run_cmd(argv, &r, &ignored) < 0)
		return SLURM_NO_ANSWER;
	enum slurm_answer a = SLURM_UNKNOWN_JOB;
	if (r.status == 0 && *r.out) {
		size_t len;
		const char *f = field(r.out, 0, &len);
		set_state(j, f, len);
		char *v = field_dup(r.out, 1);
		set_exit(j, v);
		free(v);
		f = field(r.out, 2, &len);
		if (f && strncmp(f, "None", 4))
			copy_field(j->node, sizeof j->node, f, len);
		j->submit_time = field_time(r.out, 3);
		j->start_time = field_time(r.out, 4);
		j->end_time = field_time(r.out, 5);
		j->source = "sacct";
		a = SLURM_KNOWN;
	}
	cmd_result_free(&r);
	return a;
}

/* KEY=value in scontrol's one-line output (value up to the next space). */
static const char *scontrol_value(const char *text, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	for (const char *p = text; (p = strstr(p, key)); p += klen) {
		if ((p == text || p[-1] == ' ') && p[klen] == '=') {
			p += klen + 1;
			*len = strcspn(p, " \n");
			return p;
		}
	}
	return NULL;
}

static double scontrol_time(const char *text, const char *key)
{
	size_t len;
	const char *v = scontrol_value(text, key, &len);
	if (!v)
		return 0;
	char *s = xstrndup(v, len);
	double t = parse_slurm_time(s);
	free(s);
	return t;
}

/* scontrol -o show job ID: the controller's memory of a job, MinJobAge seconds past its end. */
static enum slurm_answer from_scontrol(const char *job_id, struct slurm_job *j, struct rp_err *err)
{
	char *argv[] = {"scontrol", "-o", "show", "job", (char *)job_id, NULL};
	struct cmd_result r;
	if (run_cmd(argv, &r, err) < 0)
		return SLURM_NO_ANSWER;
	enum slurm_answer a;
	size_t len;
	const char *v;
	if (r.status == 0 && (v = scontrol_value(r.out, "JobState", &len))) {
		set_state(j, v, len);
		if ((v = scontrol_value(r.out, "Reason", &len)) && strncmp(v, "None", 4))
			copy_field(j->reason, sizeof j->reason, v, len);
		if ((v = scontrol_value(r.out, "NodeList", &len)) && strncmp(v, "(null)", 6))
			copy_field(j->node, sizeof j->node, v, len);
		if ((v = scontrol_value(r.out, "ExitCode", &len))) {
			char *s = xstrndup(v, len);
			set_exit(j, s);
			free(s);
		}
		j->submit_time = scontrol_time(r.out, "SubmitTime");
		j->start_time = scontrol_time(r.out, "StartTime");
		j->end_time = scontrol_time(r.out, "EndTime");
		j->source = "scontrol";
		a = SLURM_KNOWN;
	} else {
		a = not_found("scontrol", &r, err);
	}
	cmd_result_free(&r);
	return a;
}

/* Killed for its time limit: COMPLETING while its processes get SIGTERM, then TIMEOUT. */
static void normalize_state(struct slurm_job *j)
{
	if (!strcmp(j->state, "COMPLETING") && !strcmp(j->reason, "TimeLimit"))
		snprintf(j->state, sizeof j->state, "TIMEOUT");
}

enum slurm_answer slurm_query(const char *job_id, struct slurm_job *j, struct rp_err *err)
{
	memset(j, 0, sizeof *j);
	enum slurm_answer a = from_squeue(job_id, j, err);
	if (a == SLURM_KNOWN)
		normalize_state(j);
	if (a == SLURM_NO_ANSWER || (a == SLURM_KNOWN && !slurm_state_final(j->state)))
		return a;
	/* Ended (or gone from the queue): its exit code and end from accounting, else from the
	 * controller's memory of it. */
	struct slurm_job ended = {0};
	enum slurm_answer b = from_sacct(job_id, &ended);
	if (b != SLURM_KNOWN)
		b = from_scontrol(job_id, &ended, err);
	if (b != SLURM_KNOWN)
		return a == SLURM_KNOWN ? a : b;
	normalize_state(&ended);
	if (a == SLURM_KNOWN && !slurm_state_final(ended.state))
		snprintf(ended.state, sizeof ended.state, "%s", j->state); /* squeue saw the end first */
	*j = ended;
	return SLURM_KNOWN;
}
