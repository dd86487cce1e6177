/* runpilot run: load the config, allocate the run, start the job, supervise it, record it. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "capture.h"
#include "cmds.h"
#include "config.h"
#include "print.h"
#include "record.h"
#include "resources.h"
#include "runner.h"
#include "store.h"
#include "supervise.h"
#include "environment.h"
#include "util.h"

const char usage_run[] =
	"usage: runpilot run CONFIG [options]\n"
	"\n"
	"Run the job CONFIG describes and record it as a new run (rp_NNNN).\n"
	"The job's output is streamed here and kept in the run's logs.txt; runpilot exits with\n"
	"the job's exit code (128+N when it was killed by signal N).\n"
	"\n"
	"  --name NAME        override the config's name\n"
	"  --tag TAG          add a tag (repeatable)\n"
	"  --param KEY=VALUE  override or add a param (repeatable)\n"
	"  --runner RUNNER    auto (default), local or sandbox\n"
	"  --cpus N           CPU limit, e.g. 1.5\n"
	"  --memory SIZE      memory limit, e.g. 512m, 2g\n"
	"  --pids N           process limit\n"
	"  --timeout DUR      stop the job after DUR (90s, 30m, 2h)\n"
	"  -q, --quiet        do not stream the job's output (it is still logged)\n";

struct run_opts {
	const char *config;
	const char *runner;
	bool quiet;
	struct rp_overrides ov;
	struct strvec tags, params;
};

static int parse_run_args(int argc, char **argv, struct run_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'},   {"tag", required_argument, NULL, 't'},
		{"param", required_argument, NULL, 'p'},  {"runner", required_argument, NULL, 'r'},
		{"cpus", required_argument, NULL, 'C'},   {"memory", required_argument, NULL, 'M'},
		{"pids", required_argument, NULL, 'P'},   {"timeout", required_argument, NULL, 'T'},
		{"quiet", no_argument, NULL, 'q'},        {NULL, 0, NULL, 0},
	};
	o->runner = "auto";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":q", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->ov.name = optarg; break;
		case 't': strvec_push(&o->tags, optarg); break;
		case 'p': strvec_push(&o->params, optarg); break;
		case 'r': o->runner = optarg; break;
		case 'q': o->quiet = true; break;
		case 'C':
			if (parse_cpus(optarg, &o->ov.resources.cpus) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--cpus '%s': expected a positive number, e.g. 1.5", optarg);
			break;
		case 'M':
			if (parse_memory(optarg, &o->ov.resources.memory_bytes) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--memory '%s': expected a size, e.g. 512m or 2g", optarg);
			break;
		case 'P':
			if (parse_count(optarg, &o->ov.resources.pids) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--pids '%s': expected a positive integer", optarg);
			break;
		case 'T':
			if (parse_duration(optarg, &o->ov.resources.timeout_s) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--timeout '%s': expected a duration, e.g. 90s, 30m, 2h", optarg);
			break;
		case ':':
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot run --help`)", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return rp_err_set(err, RP_ERR_USAGE, "missing CONFIG (usage: runpilot run CONFIG [options])");
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one CONFIG per run)", argv[optind + 1]);
	o->config = argv[optind];
	o->ov.tags = (const char **)strvec_items(&o->tags);
	o->ov.ntags = o->tags.n;
	o->ov.params = (const char **)strvec_items(&o->params);
	o->ov.nparams = o->params.n;
	return 0;
}

/* RUNPILOT_PARAM_<KEY>: upper case, anything but letters and digits becomes '_'. */
static char *param_env_name(const char *key)
{
	char *name = xasprintf("RUNPILOT_PARAM_%s", key);
	for (char *p = name + strlen("RUNPILOT_PARAM_"); *p; p++)
		*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	return name;
}

static bool is_per_run_var(const char *entry)
{
	static const char *const names[] = {"RUNPILOT_RUN_ID=", "RUNPILOT_RUN_UID=", "RUNPILOT_RUN_DIR=",
					    "RUNPILOT_OUTPUT_DIR=", NULL};
	if (!strncmp(entry, "RUNPILOT_PARAM_", 15))
		return true;
	for (size_t i = 0; names[i]; i++)
		if (!strncmp(entry, names[i], strlen(names[i])))
			return true;
	return false;
}

static bool env_overridden(const char *entry, const struct rp_spec *spec)
{
	size_t len = strcspn(entry, "=");
	for (size_t i = 0; i < spec->nenv; i++)
		if (strlen(spec->env[i].key) == len && !strncmp(entry, spec->env[i].key, len))
			return true;
	return false;
}

/* The job's environment: runpilot's own, the config's env on top, then the per-run variables
 * (a runpilot started inside a job does not leak its parent run's variables). */
static void build_job_env(const struct rp_spec *spec, const char *id, const char *uid, const char *run_dir,
			  const char *out_dir, struct strvec *env)
{
	extern char **environ;
	for (char **e = environ; *e; e++)
		if (!is_per_run_var(*e) && !env_overridden(*e, spec))
			strvec_push(env, *e);
	for (size_t i = 0; i < spec->nenv; i++)
		strvec_pushf(env, "%s=%s", spec->env[i].key, spec->env[i].value);
	strvec_pushf(env, "RUNPILOT_RUN_ID=%s", id);
	strvec_pushf(env, "RUNPILOT_RUN_UID=%s", uid);
	strvec_pushf(env, "RUNPILOT_RUN_DIR=%s", run_dir);
	strvec_pushf(env, "RUNPILOT_OUTPUT_DIR=%s", out_dir);
	for (size_t i = 0; i < spec->nparams; i++) {
		char *name = param_env_name(spec->params[i].key);
		strvec_pushf(env, "%s=%s", name, spec->params[i].value);
		free(name);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run.json "env": what the job was given, sorted, secret-looking values redacted. */
static cJSON *env_record(char **envp)
{
	size_t n = 0;
	while (envp[n])
		n++;
	char **sorted = xmalloc((n + 1) * sizeof *sorted);
	memcpy(sorted, envp, (n + 1) * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_str);
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(sorted[i], '=');
		if (!eq)
			continue;
		char *name = xstrndup(sorted[i], (size_t)(eq - sorted[i]));
		cJSON_AddStringToObject(o, name, env_looks_secret(name, eq + 1) ? "<redacted>" : eq + 1);
		free(name);
	}
	free(sorted);
	return o;
}

static void fill_host(struct rp_run *r)
{
	struct utsname u;
	if (uname(&u) == 0) {
		r->host_hostname = xstrdup(u.nodename);
		r->host_kernel = xstrdup(u.release);
		r->host_arch = xstrdup(u.machine);
	}
	struct passwd *pw = getpwuid(geteuid());
	r->host_user = pw ? xstrdup(pw->pw_name) : xasprintf("%d", (int)geteuid());
}

static cJSON *paths_record(const char *run_dir)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "run_dir", run_dir);
	static const char *const files[][2] = {{"logs", "logs.txt"}, {"outputs", "outputs"},
					       {"config", "config.yaml"}, {"params", "params.json"}};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char *f = path_join(run_dir, files[i][1]);
		cJSON_AddStringToObject(p, files[i][0], f);
		free(f);
	}
	return p;
}

static char **dup_strings(char **v)
{
	struct strvec sv = {0};
	for (size_t i = 0; v && v[i]; i++)
		strvec_push(&sv, v[i]);
	return strvec_items(&sv);
}

/* config.yaml and params.json: the resolved config as it ran. */
static int write_run_inputs(const struct rp_spec *spec, const char *run_dir, struct rp_err *err)
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

static void init_record(struct rp_run *r, const struct rp_spec *spec, const char *id, const char *uid,
			const char *run_dir, char **envp)
{
	memset(r, 0, sizeof *r);
	r->schema_version = RP_SCHEMA_VERSION;
	r->id = xstrdup(id);
	r->uid = xstrdup(uid);
	r->name = xstrdup(spec->name);
	r->status = RP_RUNNING;
	r->created_at = now_realtime();
	r->duration_s = -1;
	r->entrypoint = xstrdup(spec->entrypoint);
	r->argv = dup_strings(spec->argv);
	r->workdir = xstrdup(spec->workdir);
	r->image = spec->image ? xstrdup(spec->image) : NULL;
	r->params = config_params_json(spec);
	r->tags = dup_strings(spec->tags);
	r->env = env_record(envp);
	fill_host(r);
	r->supervisor_pid = (int)getpid();
	r->supervisor_start_ticks = process_start_ticks(getpid());
	r->supervisor_boot_id = current_boot_id();
	r->runpilot_version = xstrdup(RUNPILOT_VERSION);
	r->paths = paths_record(run_dir);
}

/* run.json "invocation": how the run was asked for (the config file and every override), so
 * `verify` (and later `rerun`) can ask the same question again. */
static cJSON *invocation_record(const struct rp_spec *spec, const struct run_opts *o)
{
	cJSON *inv = cJSON_CreateObject();
	cJSON_AddStringToObject(inv, "config_path", spec->config_path);
	cJSON_AddStringToObject(inv, "runner", o->runner);
	cJSON *ov = cJSON_AddObjectToObject(inv, "overrides");
	if (o->ov.name)
		cJSON_AddStringToObject(ov, "name", o->ov.name);
	cJSON_AddItemToObject(ov, "tags", cJSON_CreateStringArray(o->ov.tags, (int)o->ov.ntags));
	cJSON_AddItemToObject(ov, "params", cJSON_CreateStringArray(o->ov.params, (int)o->ov.nparams));
	cJSON_AddItemToObject(ov, "resources", config_resources_json(&o->ov.resources));
	return inv;
}

static cJSON *runner_record(struct runner *rn)
{
	cJSON *o = rn->ops->describe ? rn->ops->describe(rn) : cJSON_CreateObject();
	if (!cJSON_GetObjectItemCaseSensitive(o, "type"))
		cJSON_AddStringToObject(o, "type", rn->ops->type);
	if (rn->fallback_reason)
		cJSON_AddStringToObject(o, "fallback_reason", rn->fallback_reason);
	else
		cJSON_AddNullToObject(o, "fallback_reason");
	return o;
}

static cJSON *resources_record(struct runner *rn, const struct rp_usage *u)
{
	struct cg_enforced by = { 0 };
	if (rn->ops->enforcement)
		rn->ops->enforcement(rn, &by);
	return resources_section(&rn->job->limits, &by, u);
}

static double kill_grace_seconds(void)
{
	const char *g = getenv("RUNPILOT_KILL_GRACE");
	double s;
	if (g && parse_duration(g, &s) == 0)
		return s;
	return 10.0;
}

/* The job's exit code as runpilot's own, like `docker run`. */
static int exit_code_of(const struct rp_result *res)
{
	return res->signal ? 128 + res->signal : res->exit_code;
}

static void print_summary(const struct rp_run *r, const struct rp_result *res)
{
	char status[64], dur[32];
	fmt_status(r, status, sizeof status);
	fmt_duration(r->duration_s, dur, sizeof dur);
	fprintf(stderr, "runpilot: run %s %s in %s (exit %d); logs: runpilot logs %s\n", r->id, status, dur,
		exit_code_of(res), r->id);
}

struct run_ctx {
	struct rp_spec spec;
	struct rp_store store;
	struct rp_run rec;
	struct runner runner;
	struct rp_job job;
	struct strvec env;
	char id[RP_ID_MAX];
	char uid[37];
	char cgroup_name[48];
	char *run_dir, *out_dir, *log_path;
	bool have_store, have_spec, have_rec, have_runner, prepared;
	int lock_fd; /* the supervisor's lock on <run_dir>/run.lock, -1 before */
	int warnings_printed; /* of runner.warnings */
};

/* A job still running this long after its start gets its start time and the runner's facts
 * recorded; one that ends sooner gets them with its outcome, in one write. */
#define RUNNING_RECORD_AFTER_S 0.1

/* The inputs written before the job started (config.yaml, params.json, files.json) are renamed
 * into place atomically but not fsync'd then: each fsync is a device flush (~0.5 ms here) on the
 * way to starting the job, and run.json, which is, holds their content (params, the config's
 * values, the fingerprint). Once the job runs they are flushed, off that path. */
static const char *const unsynced_inputs[] = { "config.yaml", "params.json", FP_FILES_NAME };

static void sync_run_inputs(const struct run_ctx *c)
{
	for (size_t i = 0; i < sizeof unsynced_inputs / sizeof *unsynced_inputs; i++) {
		char *p = path_join(c->run_dir, unsynced_inputs[i]);
		if (fsync_path(p) < 0 && errno != ENOENT)
			fprintf(stderr, "runpilot: warning: %s: cannot flush %s: %s\n", c->id, p, strerror(errno));
		free(p);
	}
}

static void record_running(void *ctx)
{
	struct run_ctx *c = ctx;
	struct rp_err e = { 0 };
	sync_run_inputs(c);
	/* started_at and the runner's details; the directory fsyncs make the run's directory and
	 * every name in it durable: from here a power loss leaves a lost run, not none. */
	if (record_write(c->run_dir, &c->rec, &e) < 0)
		fprintf(stderr, "runpilot: warning: %s: %s (retried when the job ends)\n", c->id, e.msg);
	if (fsync_path(c->store.runs_dir) < 0)
		fprintf(stderr, "runpilot: warning: %s: cannot flush %s: %s\n", c->id, c->store.runs_dir,
			strerror(errno));
	trace_phase("run.json updated (running)");
}

static void print_notice(void *ctx, const char *msg)
{
	const struct run_ctx *c = ctx;
	fprintf(stderr, "runpilot: %s: %s\n", c->id, msg);
}

/* The runner's warnings not printed yet (prepare adds some, the fingerprint and start more). */
static void print_new_warnings(struct run_ctx *c)
{
	for (; c->warnings_printed < c->runner.nwarnings; c->warnings_printed++)
		fprintf(stderr, "runpilot: warning: %s\n", c->runner.warnings[c->warnings_printed]);
	fflush(stderr);
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
	record_write(c->run_dir, &c->rec, NULL);
}

static void record_setup_failure(struct run_ctx *c, const struct rp_err *err)
{
	record_not_started(c, RP_FAILED, "setup", err->msg);
}

static void run_ctx_free(struct run_ctx *c)
{
	if (c->have_runner) {
		if (c->prepared && c->runner.ops->cleanup)
			c->runner.ops->cleanup(&c->runner);
		runner_free(&c->runner);
	}
	if (c->have_rec)
		record_free(&c->rec);
	if (c->have_store)
		store_close(&c->store);
	if (c->have_spec)
		config_free(&c->spec);
	strvec_free(&c->env);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c->run_dir);
	free(c->out_dir);
	free(c->log_path);
}

/* While the runner sets the job up: the run's inputs, logs.txt, and the environment
 * fingerprint, taken before the job can change anything. */
static int record_run_start(struct run_ctx *c, struct rp_err *err)
{
	if (write_run_inputs(&c->spec, c->run_dir, err) < 0)
		return -1;
	/* logs.txt exists from the start, so `runpilot logs -f` can follow at once. */
	int fd = open(c->log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return rp_err_sys(err, "cannot create %s", c->log_path);
	close(fd);
	trace_phase("inputs written");
	char *fp_warning = NULL;
	record_set_section(&c->rec, "environment",
			   fp_run_environment(&c->spec, c->store.home, strvec_items(&c->env), c->runner.ops->type,
					      c->run_dir, &fp_warning));
	if (fp_warning)
		runner_add_warning(&c->runner, "%s", fp_warning);
	free(fp_warning);
	trace_phase("environment fingerprinted");
	return 0;
}

/* Release the job and make the first run.json (begun before the runner started) visible while
 * it starts: its fsync, a device flush, overlaps the job's exec instead of delaying it. From the
 * rename on a dead supervisor leaves a "lost" run; it dying in the fraction of a millisecond
 * before takes the job with it (the runners' lifelines) and leaves no record. No directory fsync
 * yet: the run directory's own entry in runs/ is not flushed either until record_running. */
static int release_and_record(struct run_ctx *c, struct atomic_file *first, struct rp_err *err)
{
	c->rec.started_at = now_realtime();
	if (c->runner.ops->release(&c->runner, err) < 0) {
		atomic_file_abort(first);
		return -1;
	}
	struct rp_err commit_err = { 0 };
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
	if (committed < 0) {
		c->runner.ops->stop(&c->runner, true);
		*err = commit_err;
		return -1;
	}
	trace_phase("first run.json on disk");
	fprintf(stderr, "runpilot: run %s started (%s runner%s%s)\n", c->id, c->runner.ops->type,
		c->runner.fallback_reason ? ": " : "", c->runner.fallback_reason ? c->runner.fallback_reason : "");
	return 0;
}

/* Start the job and supervise it to the end; fills the record's outcome. The runner's setup
 * (namespaces, mounts, seccomp: milliseconds) runs while record_run_start does its work. */
static int execute(struct run_ctx *c, const struct run_opts *o, struct supervise_outcome *out, struct rp_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	c->job.out_fd = pipefd[1];
	/* The runner starts first: a sandbox's setup is usually the longest path to the job. */
	int rc = c->runner.ops->start(&c->runner, err);
	struct atomic_file first;
	if (rc == 0)
		rc = record_write_begin(c->run_dir, &c->rec, &first, err);
	if (rc == 0) {
		/* Held until runpilot exits: readers tell a live supervisor from a dead one by it
		 * (taken before the first run.json says "running"). */
		c->lock_fd = record_lock_supervisor(c->run_dir, err);
		if (c->lock_fd >= 0)
			rc = record_run_start(c, err);
		else
			rc = -1;
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
	print_new_warnings(c);
	/* Some of the runner's facts are only known once the job started (sandbox: overlay or not). */
	cJSON_Delete(c->rec.runner);
	c->rec.runner = runner_record(&c->runner);
	struct capture cap;
	if (capture_init(&cap, pipefd[0], c->log_path, o->quiet ? -1 : STDOUT_FILENO, err) < 0) {
		c->runner.ops->stop(&c->runner, true);
		close(pipefd[0]);
		return -1;
	}
	struct supervise_opts so = {.timeout_s = c->spec.resources.timeout_s,
				    .grace_s = kill_grace_seconds(),
				    .notice = print_notice,
				    .ctx = c,
				    .on_running = record_running,
				    .running_after_s = RUNNING_RECORD_AFTER_S};
	rc = supervise_run(&c->runner, &cap, &so, out, err);
	trace_phase("job ended");
	capture_close(&cap);
	if (rc == 0 && cap.log_errno) {
		errno = cap.log_errno;
		fprintf(stderr, "runpilot: warning: %s: writing logs.txt failed: %s\n", c->id, strerror(errno));
	}
	return rc;
}

static void finish_record(struct run_ctx *c, const struct supervise_outcome *out)
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
	record_set_section(r, "resources", resources_record(&c->runner, &out->res.usage));
	/* The runner may know more at the end (sandbox: the syscalls seccomp refused). */
	cJSON_Delete(r->runner);
	r->runner = runner_record(&c->runner);
}

/* The outcome, durable, before the runner's leftovers (its init, cgroups, scratch dirs) are
 * cleaned up by run_ctx_free: an init still tearing its namespaces down (an overlay's unmount
 * flushes the filesystem under it) then does so while the device writes the record. */
static int record_final(struct run_ctx *c, struct rp_err *err)
{
	return record_write(c->run_dir, &c->rec, err);
}

/* The run directory and record in memory, the runner picked and prepared: nothing runs yet. */
static int prepare_run(struct run_ctx *c, const struct run_opts *o, struct rp_err *err)
{
	if (store_open(&c->store, true, err) < 0)
		return -1;
	c->have_store = true;
	if (store_new_run(&c->store, c->id, &c->run_dir, err) < 0)
		return -1;
	trace_phase("run directory created");
	uuid_v4(c->uid);
	c->out_dir = path_join(c->run_dir, "outputs");
	c->log_path = path_join(c->run_dir, "logs.txt");
	build_job_env(&c->spec, c->id, c->uid, c->run_dir, c->out_dir, &c->env);
	init_record(&c->rec, &c->spec, c->id, c->uid, c->run_dir, strvec_items(&c->env));
	c->have_rec = true;
	record_set_section(&c->rec, "invocation", invocation_record(&c->spec, o));
	if (mkdir(c->out_dir, 0755) < 0 && errno != EEXIST)
		return rp_err_sys(err, "cannot create %s", c->out_dir);
	record_cgroup_name(c->id, c->uid, c->cgroup_name);
	c->job = (struct rp_job){.spec = &c->spec, .run_id = c->id, .cgroup_name = c->cgroup_name,
				 .run_dir = c->run_dir,
				 .output_dir = c->out_dir, .store_home = c->store.home,
				 .argv = c->spec.argv, .envp = strvec_items(&c->env), .cwd = c->spec.workdir,
				 .out_fd = -1, .limits = c->spec.resources};
	if (runner_pick(o->runner, &c->job, &c->runner, err) < 0)
		return -1;
	c->have_runner = true;
	c->prepared = true;
	if (c->runner.ops->prepare(&c->runner, err) < 0)
		return -1;
	cJSON_Delete(c->rec.runner);
	c->rec.runner = runner_record(&c->runner);
	trace_phase("runner prepared");
	return 0;
}

int cmd_run(int argc, char **argv, struct rp_err *err)
{
	struct run_opts o = {0};
	struct run_ctx c = {.lock_fd = -1};
	int rc = -1;
	if (parse_run_args(argc, argv, &o, err) < 0)
		goto out;
	if (config_load(o.config, &o.ov, &c.spec, err) < 0)
		goto out;
	trace_phase("config loaded");
	c.have_spec = true;
	/* Unknown runner names are usage errors: check before a run directory exists. */
	struct runner probe;
	struct rp_job probe_job = {.spec = &c.spec, .limits = c.spec.resources};
	if (runner_pick(o.runner, &probe_job, &probe, err) < 0)
		goto out;
	runner_free(&probe);

	sigset_t old_mask;
	if (supervise_block_signals(&old_mask, err) < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN); /* a closed terminal must not kill the supervisor */
	if (prepare_run(&c, &o, err) < 0) {
		record_setup_failure(&c, err);
		if (c.have_rec)
			rp_err_wrap(err, "run %s", c.id);
		goto out;
	}

	struct supervise_outcome out;
	if (execute(&c, &o, &out, err) < 0) {
		int sig = supervise_pending_signal();
		if (sig) {
			/* Interrupted before the job ran: a cancelled run, not a broken setup. */
			record_not_started(&c, RP_CANCELLED, "cancelled", "cancelled during the runner's setup");
			fprintf(stderr, "runpilot: run %s cancelled during setup (%s)\n", c.id, strsignal(sig));
			rc = 128 + sig;
			goto out;
		}
		record_setup_failure(&c, err);
		rp_err_wrap(err, "run %s", c.id);
		goto out;
	}
	finish_record(&c, &out);
	if (record_final(&c, err) < 0)
		goto out;
	trace_phase("final run.json written");
	print_summary(&c.rec, &out.res);
	rc = exit_code_of(&out.res);
out:
	run_ctx_free(&c);
	trace_phase("done");
	strvec_free(&o.tags);
	strvec_free(&o.params);
	return rc;
}
