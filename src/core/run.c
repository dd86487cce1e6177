/* The run lifecycle (run.h): allocate, write the inputs, start and release the runner, supervise,
 * record, clean up. The runner's setup (namespaces, mounts, seccomp: milliseconds) runs while
 * the inputs, the first run.json and the fingerprint are written. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "capture.h"
#include "claim.h"
#include "environment.h"
#include "index.h"
#include "jobenv.h"
#include "log.h"
#include "metrics.h"
#include "orphans.h"
#include "run_int.h"
#include "resources.h"
#include "runner.h"
#include "sanitize.h"
#include "sections.h"
#include "supervise.h"
#include "testhooks.h"
#include "sync.h"
#include "util.h"

/* A job still running this long after its start gets its start time and the runner's facts
 * recorded; one that ends sooner gets them with its outcome, in one write. */
#define RUNNING_RECORD_AFTER_S 0.1

struct run_ctx {
	const struct run_request *req;
	const struct run_events *ev;
	struct rp_store store;
	struct rp_run rec;
	struct runner runner;
	struct rp_job job;
	struct strvec env;
	char id[RP_ID_MAX];
	char uid[37];
	char cgroup_name[48];
	char *run_dir, *out_dir, *log_path;
	bool have_store, have_rec, have_runner, prepared;
	/* Held for the supervisor's life: readers tell a live supervisor from a dead one by it,
	 * and the next runpilot cleans up after a dead one (claim.h). */
	struct claim claim;
	bool orphans_collected; /* other runs' leftovers, once per run, off the start path */
	struct runs_stamp stamp_before, stamp_after; /* runs/ around this run's mkdir (index.h) */
	int warnings_sent;    /* of runner.warnings */
	char *reserve_path;   /* run.json.reserve while it holds room for the final run.json */
};

static void warn(struct run_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct run_ctx *c, const char *fmt, ...)
{
	if (!c->ev->warning)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->ev->warning(c->ev->ctx, msg);
}

/* The runner's warnings not sent yet (prepare adds some, the fingerprint and start more). */
static void send_new_warnings(struct run_ctx *c)
{
	for (; c->warnings_sent < c->runner.nwarnings; c->warnings_sent++)
		warn(c, "%s", c->runner.warnings[c->warnings_sent]);
}

/* ---- the record ---- */

static char **dup_strings(char **v)
{
	struct strvec sv = {0};
	for (size_t i = 0; v && v[i]; i++)
		strvec_push(&sv, v[i]);
	return strvec_items(&sv);
}

void run_record_init(struct rp_run *r, const struct run_request *req, const char *id, const char *uid,
		     const char *run_dir, char **env)
{
	const struct rp_spec *spec = req->spec;
	memset(r, 0, sizeof *r);
	r->schema_version = RP_SCHEMA_VERSION;
	r->id = xstrdup(id);
	r->uid = xstrdup(uid);
	r->parent = req->parent_uid ? xstrdup(req->parent_uid) : NULL;
	r->name = xstrdup(spec->name);
	r->status = req->record_queued ? RP_QUEUED : RP_RUNNING;
	r->created_at = now_realtime();
	r->duration_s = -1;
	r->entrypoint = xstrdup(spec->entrypoint);
	r->argv = dup_strings(spec->argv);
	r->workdir = xstrdup(spec->workdir);
	r->image = spec->image ? xstrdup(spec->image) : NULL;
	r->params = config_params_json(spec);
	r->tags = dup_strings(spec->tags);
	r->env = env_section(env);
	record_fill_host(r);
	r->runpilot_version = xstrdup(RUNPILOT_VERSION);
	r->paths = paths_section(run_dir);
	record_set_section(r, "config_sources", config_sources_section(spec));
	if (req->existing) {
		/* On the node: what its submitter recorded stays. */
		const struct rp_run *e = req->existing;
		r->created_at = e->created_at;
		free(r->parent);
		r->parent = e->parent ? xstrdup(e->parent) : NULL;
		static const char *const kept[] = {"invocation", "config_sources", "sweep"};
		for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
			const cJSON *sec = record_section(e, kept[i]);
			if (sec)
				record_set_section(r, kept[i], cJSON_Duplicate(sec, true));
		}
		return;
	}
	record_set_section(r, "invocation", invocation_section(spec->config_path, req->runner, req->overrides,
								req->parent_id));
	if (req->sweep)
		record_set_section(r, "sweep", cJSON_Duplicate(req->sweep, true));
}

static void init_record(struct run_ctx *c)
{
	run_record_init(&c->rec, c->req, c->id, c->uid, c->run_dir, strvec_items(&c->env));
}

/* The run's row in the index, after a record write: the running record (off the start path,
 * 0.1 s in) and the final one. A run that ends sooner is indexed once, at its end. */
static void note_in_index(struct run_ctx *c)
{
	index_note_run(&c->store, c->run_dir, &c->rec, &c->stamp_before, &c->stamp_after);
	trace_phase("index updated");
}

/* ---- room for the final record ---- */

/* A preallocated file, rather than rewriting the first run.json in place when the disk is full:
 * freeing it just before the final write gives that write the room for its temp file, so the
 * record stays atomic (temp, fsync, rename), and a final record larger than the first (metrics,
 * the runner's facts) still fits. posix_fallocate reserves real blocks (a sparse file would
 * not); where the filesystem cannot preallocate, glibc writes the zeros. */
static int reserve_record_room(struct run_ctx *c, struct rp_err *err)
{
	char *path = path_join(c->run_dir, RP_RECORD_RESERVE_NAME);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		free(path);
		return store_unusable(c->store.home, e, err);
	}
	int e = posix_fallocate(fd, 0, RP_RECORD_RESERVE_BYTES);
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(path);
		free(path);
		return store_unusable(c->store.home, e, err);
	}
	c->reserve_path = path;
	return 0;
}

static void release_record_room(struct run_ctx *c)
{
	if (!c->reserve_path)
		return;
	unlink(c->reserve_path);
	free(c->reserve_path);
	c->reserve_path = NULL;
}

/* Record a run that never got its job going: failed with reason "setup", or cancelled (a
 * signal during the setup), with why. */
static void record_not_started(struct run_ctx *c, enum rp_status status, const char *reason, const char *why)
{
	if (!c->have_rec)
		return;
	c->rec.status = status;
	free(c->rec.reason);
	c->rec.reason = xstrdup(reason);
	c->rec.ended_at = now_realtime();
	record_set_section(&c->rec, "error", cJSON_CreateString(why));
	release_record_room(c);
	if (record_write(c->run_dir, &c->rec, NULL) == 0)
		note_in_index(c);
}

static void record_runner(struct run_ctx *c)
{
	cJSON_Delete(c->rec.runner);
	c->rec.runner = runner_section(&c->runner);
	if (c->req->existing)
		c->rec.runner = slurm_node_runner_section(c->req->existing->runner, c->rec.runner, c->rec.started_at);
}

static void record_outcome(struct run_ctx *c, const struct supervise_outcome *out)
{
	struct rp_run *r = &c->rec;
	r->ended_at = now_realtime();
	r->duration_s = out->res.usage.valid && out->res.usage.wall_s > 0 ? out->res.usage.wall_s
									   : r->ended_at - r->started_at;
	r->status = out->status;
	free(r->reason);
	r->reason = out->status == RP_CANCELLED ? xstrdup("cancelled") : out->reason ? xstrdup(out->reason) : NULL;
	r->has_exit_code = !out->res.signal;
	r->exit_code = out->res.exit_code;
	r->signal = out->res.signal;
	struct cg_enforced by = {0};
	if (c->runner.ops->enforcement)
		c->runner.ops->enforcement(&c->runner, &by);
	record_set_section(r, "resources", resources_section(&c->job.limits, &by, &out->res.usage));
	/* The runner may know more at the end (sandbox: the syscalls seccomp refused). */
	record_runner(c);
}

/* ---- inputs ---- */

/* config.yaml and params.json: the resolved config as it ran. */
int run_write_inputs(const struct rp_spec *spec, const char *run_dir, struct rp_err *err)
{
	char *yaml = config_to_yaml(spec, err);
	if (!yaml)
		return -1;
	char *path = path_join(run_dir, "config.yaml");
	/* Atomic, flushed once the job runs (sync_run_inputs); the run.json written next fsyncs the
	 * directory, so the names are durable with it. */
	int rc = write_file_atomic_flags(path, yaml, strlen(yaml), 0644, RP_WRITE_NO_FSYNC, err);
	free(path);
	free(yaml);
	if (rc < 0)
		return -1;
	cJSON *params = config_params_json(spec);
	char *text = cJSON_Print(params);
	cJSON_Delete(params);
	path = path_join(run_dir, "params.json");
	char *withnl = xasprintf("%s\n", text);
	rc = write_file_atomic_flags(path, withnl, strlen(withnl), 0644, RP_WRITE_NO_FSYNC, err);
	free(withnl);
	free(text);
	free(path);
	return rc;
}

/* The inputs written before the job started (config.yaml, params.json, files.json) are renamed
 * into place atomically but not fsync'd then: each fsync is a device flush on the way to
 * starting the job, and run.json, which is, holds their content (params, the config's values,
 * the fingerprint). Once the job runs they are flushed, off that path. */
static const char *const unsynced_inputs[] = { "config.yaml", "params.json", FP_FILES_NAME };

static void sync_run_inputs(struct run_ctx *c)
{
	for (size_t i = 0; i < sizeof unsynced_inputs / sizeof *unsynced_inputs; i++) {
		char *p = path_join(c->run_dir, unsynced_inputs[i]);
		if (fsync_path(p) < 0 && errno != ENOENT)
			warn(c, "%s: cannot flush %s: %s", c->id, p, strerror(errno));
		free(p);
	}
}

/* While the runner sets the job up: the run's inputs, logs.txt, and the environment
 * fingerprint, taken before the job can change anything. */
static int record_run_start(struct run_ctx *c, struct rp_err *err)
{
	if (run_write_inputs(c->req->spec, c->run_dir, err) < 0)
		return -1;
	/* logs.txt exists from the start, so `runpilot logs -f` can follow at once. */
	int fd = open(c->log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return rp_err_sys(err, "cannot create %s", c->log_path);
	close(fd);
	trace_phase("inputs written");
	char *fp_warning = NULL;
	record_set_section(&c->rec, "environment",
			   fp_run_environment(c->req->spec, c->store.home, strvec_items(&c->env),
					      &c->runner, c->run_dir, &fp_warning));
	if (fp_warning)
		runner_add_warning(&c->runner, "%s", fp_warning);
	free(fp_warning);
	trace_phase("environment fingerprinted");
	return 0;
}

/* ---- supervision callbacks ---- */

/* What dead supervisors of other runs left: done once per run, while the job runs (or after a
 * short one), never on the way to starting it. */
static void collect_orphans(struct run_ctx *c)
{
	if (c->orphans_collected || !c->have_store)
		return;
	c->orphans_collected = true;
	orphans_collect(&c->store);
	trace_phase("orphans collected");
}

static void record_running(void *ctx)
{
	struct run_ctx *c = ctx;
	struct rp_err e = {0};
	sync_run_inputs(c);
	/* started_at and the runner's details; the directory fsyncs make the run's directory and
	 * every name in it durable: from here a power loss leaves a lost run, not none. */
	if (record_write(c->run_dir, &c->rec, &e) < 0)
		warn(c, "%s: %s (retried when the job ends)", c->id, e.msg);
	if (fsync_path(c->store.runs_dir) < 0)
		warn(c, "%s: cannot flush %s: %s", c->id, c->store.runs_dir, strerror(errno));
	trace_phase("run.json updated (running)");
	note_in_index(c);
	collect_orphans(c);
}

static void send_notice(void *ctx, const char *msg)
{
	struct run_ctx *c = ctx;
	if (c->ev->notice)
		c->ev->notice(c->ev->ctx, c->id, msg);
}

/* ---- the steps ---- */

/* Once the job is over, what it left in outputs/ and changes/ (sanitize.h), before the final
 * record lists it. A failure is a warning: the run happened. */
static void sanitize_leftovers(struct run_ctx *c)
{
	static const char *const trees[] = { "outputs", "changes" };
	cJSON *changes = cJSON_CreateArray();
	for (size_t i = 0; i < sizeof trees / sizeof *trees; i++) {
		struct rp_err e = {0};
		if (sanitize_tree(c->run_dir, trees[i], changes, &e) < 0)
			warn(c, "%s: %s", c->id, e.msg);
	}
	if (changes->child)
		record_set_section(&c->rec, "sanitized", changes);
	else
		cJSON_Delete(changes);
}

static int take_claim(struct run_ctx *c, struct rp_err *err)
{
	struct claim_info info = {.pid = getpid(), .start_ticks = process_start_ticks(getpid()),
				  .boot_id = current_boot_id(), .id = c->id, .uid = c->uid,
				  .name = c->req->spec->name, .created = now_realtime(),
				  .cgroup_name = c->cgroup_name};
	int rc = claim_take(c->store.home, c->run_dir, &info, &c->claim, err);
	free(info.boot_id);
	return rc;
}

/* Whether a leftover the runner noted is still there after its cleanup (an empty dir that
 * holds the job's files is not a leftover). */
static bool leftovers_remain(const struct runner *r)
{
	for (size_t i = 0; i < r->leftovers.n; i++) {
		const char *l = r->leftovers.v[i], *path = strchr(l, ' ');
		if (path && strncmp(l, "empty-dir ", 10) != 0 && path_exists(path + 1))
			return true;
	}
	return false;
}

/* The queued run.json and an empty logs.txt, for readers to see (and follow) the run at once. */
static int record_queued(struct run_ctx *c, struct rp_err *err)
{
	int fd = open(c->log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return rp_err_sys(err, "cannot create %s", c->log_path);
	close(fd);
	if (record_write(c->run_dir, &c->rec, err) < 0)
		return -1;
	note_in_index(c);
	return 0;
}

/* The run directory and record in memory, the runner picked and prepared: nothing runs yet. */
static int prepare_run(struct run_ctx *c, struct rp_err *err)
{
	const struct rp_spec *spec = c->req->spec;
	if (store_open(&c->store, true, err) < 0)
		return -1;
	c->have_store = true;
	if (c->req->existing) {
		/* On a Slurm node: the submitter's run; other hosts' runs are theirs to clean up. */
		snprintf(c->id, sizeof c->id, "%s", c->req->existing->id);
		snprintf(c->uid, sizeof c->uid, "%s", c->req->existing->uid);
		c->run_dir = xstrdup(c->req->existing_run_dir);
		c->orphans_collected = true;
	} else {
		index_runs_stamp(&c->store, &c->stamp_before);
		if (store_new_run(&c->store, c->id, &c->run_dir, err) < 0)
			return -1;
		index_runs_stamp(&c->store, &c->stamp_after);
		trace_phase("run directory created");
		uuid_v4(c->uid);
	}
	/* Before the claim (microseconds): a store too full for the record gets no run at all. */
	bool have_room = reserve_record_room(c, err) == 0;
	record_cgroup_name(c->id, c->uid, c->cgroup_name);
	if (!have_room || take_claim(c, err) < 0) {
		release_record_room(c);
		if (!c->req->existing)
			rmdir(c->run_dir); /* still empty: no run to show */
		return -1;
	}
	trace_phase("run claimed");
	c->out_dir = path_join(c->run_dir, "outputs");
	c->log_path = path_join(c->run_dir, "logs.txt");
	c->job = (struct rp_job){.spec = spec, .run_id = c->id, .cgroup_name = c->cgroup_name,
				 .run_dir = c->run_dir, .output_dir = c->out_dir, .store_home = c->store.home,
				 .argv = spec->argv, .cwd = spec->workdir, .out_fd = -1, .limits = spec->resources};
	if (runner_pick(c->req->runner, &c->job, &c->runner, err) < 0)
		return -1;
	c->have_runner = true;
	/* The environment depends on the runner: an isolating one passes only an allow list. */
	extern char **environ;
	struct job_env_run own = {.id = c->id, .uid = c->uid, .run_dir = c->run_dir, .output_dir = c->out_dir};
	cJSON *sources;
	job_env_build(spec, c->runner.ops->isolated_env, environ, NULL, &own, &c->env, &sources);
	c->job.envp = strvec_items(&c->env);
	init_record(c);
	c->have_rec = true;
	record_set_section(&c->rec, "env_sources", sources);
	if (c->req->record_queued && record_queued(c, err) < 0)
		return -1;
	if (c->ev->queued)
		c->ev->queued(c->ev->ctx, c->id);
	if (mkdir(c->out_dir, 0755) < 0 && errno != EEXIST)
		return rp_err_sys(err, "cannot create %s", c->out_dir);
	c->prepared = true;
	int prepared = c->runner.ops->prepare(&c->runner, err);
	/* Noted even when prepare failed half-way: its cleanup may be cut short by a kill too. */
	struct rp_err note_err = {0};
	if (claim_note(&c->claim, c->runner.leftovers.v, c->runner.leftovers.n, &note_err) < 0)
		warn(c, "%s: %s", c->id, note_err.msg);
	if (prepared < 0)
		return -1;
	if (c->runner.image.id) {
		strvec_free(&c->env);
		job_env_build(spec, c->runner.ops->isolated_env, environ, strvec_items(&c->runner.image.env), &own,
			      &c->env, &sources);
		c->job.envp = strvec_items(&c->env);
		record_set_section(&c->rec, "env_sources", sources);
	}
	record_runner(c);
	trace_phase("runner prepared");
	test_hook_stop_at("prepared");
	return 0;
}

/* Release the job and make the first run.json (begun before the runner started) visible while
 * it starts: its fsync, a device flush, overlaps the job's exec instead of delaying it. No
 * directory fsync yet: the run directory's own entry in runs/ is not flushed either until
 * record_running. */
static int release_and_record(struct run_ctx *c, struct atomic_file *first, struct rp_err *err)
{
	c->rec.started_at = now_realtime();
	if (c->runner.ops->release(&c->runner, err) < 0) {
		atomic_file_abort(first);
		return -1;
	}
	struct rp_err commit_err = {0};
	int committed = atomic_file_commit(first, RP_WRITE_NO_DIRSYNC, &commit_err);
	if (c->runner.ops->await_start) {
		/* Ctrl-C or SIGTERM ends a setup that hangs (a mount on a dead server, say). */
		int cancel_fd = supervise_signal_fd();
		int rc = c->runner.ops->await_start(&c->runner, cancel_fd, err);
		if (cancel_fd >= 0)
			close(cancel_fd);
		if (rc < 0)
			return -1;
	}
	c->rec.status = RP_RUNNING; /* recorded by record_running, or with the outcome */
	if (committed < 0) {
		c->runner.ops->stop(&c->runner, true);
		*err = commit_err;
		return -1;
	}
	trace_phase("first run.json on disk");
	if (c->ev->started)
		c->ev->started(c->ev->ctx, c->id, c->runner.ops->type, c->runner.fallback_reason);
	return 0;
}

/* The metrics recorder for the job's output and its own file; NULL (with a warning) if it cannot
 * start: the run goes on without metrics rather than not at all. */
static struct mx_recorder *start_metrics(struct run_ctx *c)
{
	struct mx_recorder *m;
	struct rp_err e = {0};
	char *job_file = path_join(c->out_dir, RP_METRICS_JOB_FILE);
	int rc = mx_recorder_open(c->run_dir, job_file, &c->req->spec->metrics, &m, &e);
	free(job_file);
	if (rc < 0) {
		warn(c, "%s: no metrics: %s", c->id, e.msg);
		return NULL;
	}
	return m;
}

/* The last lines, metrics.json and the summary for run.json. */
static void finish_metrics(struct run_ctx *c, struct mx_recorder *m)
{
	if (!m)
		return;
	struct rp_err e = {0};
	struct cJSON *summary;
	if (mx_recorder_finish(m, &summary, &e) < 0)
		warn(c, "%s: metrics: %s", c->id, e.msg);
	else if (summary)
		record_set_section(&c->rec, "metrics", summary);
	if (mx_recorder_dropped(m))
		warn(c, "%s: metrics: %llu points of names past the first 1000 were dropped", c->id,
		     mx_recorder_dropped(m));
	mx_recorder_free(m);
}

/* Said at the end, after the job's output: a cut log is worth a line. */
static void report_log_cut(struct run_ctx *c, const struct capture *cap)
{
	if (cap->log_errno)
		warn(c, "%s: logs.txt is cut: writing it failed (%s); %llu of %llu bytes of output are not in it "
		     "(the job ran on and its output was still streamed)", c->id, strerror(cap->log_errno),
		     cap->log_lost, cap->bytes);
	else if (cap->log_lost) {
		char msg[256];
		snprintf(msg, sizeof msg, "logs.txt keeps %llu of %llu bytes of output, its start and its end "
			 "(resources.log_bytes); %llu bytes cut", cap->log_written, cap->bytes, cap->log_lost);
		send_notice(c, msg);
	}
}

/* Start the job and supervise it to the end; fills the outcome. */
static int execute(struct run_ctx *c, struct supervise_outcome *out, struct rp_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	c->job.out_fd = pipefd[1];
	/* The runner starts first: a sandbox's setup is usually the longest path to the job. */
	int rc = c->runner.ops->start(&c->runner, err);
	struct atomic_file first;
	/* Queued until the job starts: a runner that sets it up after its release says when. */
	c->rec.status = c->runner.ops->await_start ? RP_QUEUED : RP_RUNNING;
	if (rc == 0)
		rc = record_write_begin(c->run_dir, &c->rec, &first, err);
	if (rc == 0) {
		rc = record_run_start(c, err);
		if (rc == 0)
			rc = release_and_record(c, &first, err);
		else
			atomic_file_abort(&first);
	}
	close(pipefd[1]);
	c->job.out_fd = -1;
	if (rc < 0) {
		close(pipefd[0]);
		return -1; /* run_ctx_free has the runner undo its start */
	}
	trace_phase("job started");
	send_new_warnings(c);
	/* Some of the runner's facts are only known once the job started (sandbox: overlay or not). */
	record_runner(c);
	struct capture cap;
	if (capture_init(&cap, pipefd[0], c->log_path, c->req->output_fd, err) < 0) {
		c->runner.ops->stop(&c->runner, true);
		close(pipefd[0]);
		return -1;
	}
	cap.metrics = start_metrics(c);
	cap.log_cap = (unsigned long long)c->req->spec->resources.log_bytes;
	struct supervise_opts so = {.timeout_s = c->req->spec->resources.timeout_s,
				    .grace_s = c->req->kill_grace_s,
				    .notice = send_notice,
				    .ctx = c,
				    .on_running = record_running,
				    .running_after_s = RUNNING_RECORD_AFTER_S};
	rc = supervise_run(&c->runner, &cap, &so, out, err);
	trace_phase("job ended");
	finish_metrics(c, cap.metrics);
	trace_phase("metrics recorded");
	capture_close(&cap);
	record_set_section(&c->rec, "logs", capture_logs_section(&cap));
	if (rc == 0)
		report_log_cut(c, &cap);
	return rc;
}

static void run_ctx_free(struct run_ctx *c)
{
	bool remain = false;
	if (c->have_runner) {
		if (c->prepared && c->runner.ops->cleanup)
			c->runner.ops->cleanup(&c->runner);
		remain = leftovers_remain(&c->runner);
		runner_free(&c->runner);
	}
	/* Leftovers still busy stay listed in active/: the next runpilot tries again. */
	claim_release(&c->claim, remain);
	release_record_room(c);
	if (c->have_rec)
		record_free(&c->rec);
	if (c->have_store)
		store_close(&c->store);
	strvec_free(&c->env);
	free(c->run_dir);
	free(c->out_dir);
	free(c->log_path);
}

/* The job's exit code as runpilot's own, like `docker run`. */
static int exit_code_of(const struct rp_result *res)
{
	return res->signal ? 128 + res->signal : res->exit_code;
}

int run_execute(const struct run_request *req, const struct run_events *ev, struct run_outcome *out,
		struct rp_err *err)
{
	static const struct run_events no_events;
	struct run_ctx c = {.req = req, .ev = ev ? ev : &no_events, .claim = {.fd = -1}};
	memset(out, 0, sizeof *out);
	if (!strcmp(req->runner, "slurm"))
		return submit_one(req, c.ev, out, err);
	/* Unknown runner names are usage errors: checked before a run directory exists. */
	struct runner probe;
	struct rp_job probe_job = {.spec = req->spec, .limits = req->spec->resources};
	if (runner_pick(req->runner, &probe_job, &probe, err) < 0)
		return -1;
	runner_free(&probe);

	sigset_t old_mask;
	if (supervise_block_signals(&old_mask, err) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN); /* a closed terminal must not kill the supervisor */
	int rc = -1;
	if (prepare_run(&c, err) < 0) {
		if (c.have_rec) {
			record_not_started(&c, RP_FAILED, "setup", err->msg);
			rp_err_wrap(err, "run %s", c.id);
		}
		goto done;
	}
	snprintf(out->id, sizeof out->id, "%s", c.id);
	struct supervise_outcome so;
	if (execute(&c, &so, err) < 0) {
		int sig = supervise_pending_signal();
		if (sig) {
			/* Interrupted before the job ran: a cancelled run, not a broken setup. */
			record_not_started(&c, RP_CANCELLED, "cancelled", "cancelled during the runner's setup");
			out->status = RP_CANCELLED;
			out->setup_signal = sig;
			out->exit_code = 128 + sig;
			rc = 0;
			goto done;
		}
		record_not_started(&c, RP_FAILED, "setup", err->msg);
		rp_err_wrap(err, "run %s", c.id);
		goto done;
	}
	sanitize_leftovers(&c);
	record_outcome(&c, &so);
	/* The outcome, durable, before the runner's leftovers (its init, cgroups, scratch dirs) are
	 * cleaned up by run_ctx_free: an init still tearing its namespaces down (an overlay's
	 * unmount flushes the filesystem under it) then does so while the device writes the record. */
	release_record_room(&c);
	/* The job ran: its exit status stays runpilot's even when its record cannot be written. */
	bool recorded = record_write(c.run_dir, &c.rec, err) == 0;
	if (!recorded) {
		warn(&c, "%s: the final run.json could not be written (%s): the run shows lost", c.id, err->msg);
		*err = (struct rp_err){0};
	}
	trace_phase("final run.json written");
	test_hook_stop_at("recorded");
	out->status = c.rec.status;
	out->exit_code = exit_code_of(&so.res);
	if (c.ev->ended)
		c.ev->ended(c.ev->ctx, &c.rec, out->exit_code);
	if (recorded) {
		note_in_index(&c);
		sync_auto_after_run(c.store.home, c.req->spec ? c.req->spec->config_dir : NULL, c.run_dir, c.uid);
	}
	rc = 0;
done:
	collect_orphans(&c);
	run_ctx_free(&c);
	return rc;
}
