/* The runner interface: every way of running a job (local, sandbox, docker, slurm) implements
 * prepare / start / release / stop / wait and fills one common result. The supervisor (supervise.c) only
 * talks to runners through this header. */
#ifndef RP_RUNNER_H
#define RP_RUNNER_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "config.h"
#include "err.h"
#include "meter.h"
#include "util.h"

struct cJSON;

/* What to run, fully resolved by the core. */
/* The job's own metrics file, in its outputs directory ($RUNPILOT_METRICS_FILE): JSON lines the
 * job appends and RunPilot only reads (metrics.h). */
#define RP_METRICS_JOB_FILE "runpilot-metrics.jsonl"

struct rp_job {
	const struct rp_spec *spec;
	const char *run_id;          /* rp_0007 */
	const char *cgroup_name;     /* leaf name after "runpilot-" (record_cgroup_name) */
	const char *run_dir;         /* absolute */
	const char *output_dir;      /* absolute: <run_dir>/outputs */
	const char *store_home;      /* $RUNPILOT_HOME, absolute */
	char **argv;                 /* NULL-terminated */
	char **envp;                 /* the job's complete environment */
	const char *cwd;             /* the workdir (absolute, host path) */
	int out_fd;                  /* write end of the capture pipe: the job's stdout and stderr */
	struct rp_resources limits;  /* requested limits (config + flags) */
};

/* How a job ended. */
struct rp_result {
	int exit_code;               /* 0..255, or -1 when killed by a signal */
	int signal;                  /* terminating signal, 0 if none */
	bool oom;                    /* killed by the memory limit */
	struct rp_usage usage;       /* filled by the runner (meter.h) */
};

/* An image as a runner runs it: its id ("sha256:<hex>", the digest of its config, as `docker
 * inspect` reports it), the registry digests it is known by ("repo@sha256:..."), which the
 * fingerprint records, and its environment defaults ("NAME=value"), with which the core rebuilds
 * the job's environment after prepare (jobenv.h), so every runner gives the job the same one. */
struct runner_image {
	char *id;
	struct strvec digests;
	struct strvec env;
	char *rootfs;                /* the image store's unpacked tree (sandbox), or NULL */
	char *user;                  /* the image's User, or NULL */
};

struct runner;

struct runner_ops {
	const char *type;            /* "local", "sandbox", ... */
	/* The job is isolated from runpilot's environment: it gets an allow list of its variables
	 * (jobenv.h), not all of them. */
	bool isolated_env;
	/* Check the host can run the job and set up what the job needs before it starts
	 * (sandbox plan, cgroup). Failure here leaves nothing behind. */
	int (*prepare)(struct runner *r, struct rp_err *err);
	/* Begin starting the job, holding it before its program runs (sandbox: namespaces and
	 * mounts built in a child; a container created, not started; a batch job submitted held).
	 * Returns without waiting for that setup: the core records the run and takes the
	 * environment fingerprint meanwhile. cleanup() undoes a start that is never released. */
	int (*start)(struct runner *r, struct rp_err *err);
	/* Let the job's program run, once the setup is done (its errors are reported here, or by
	 * await_start). On success, and await_start's if the runner has one, r->pid and r->wait_fd
	 * are set, and the runner keeps job->out_fd open no longer. */
	int (*release)(struct runner *r, struct rp_err *err);
	/* Optional: wait until the released job's program runs; its last setup steps report
	 * their errors here. The core records the run between release and this. Gives up (undoing
	 * the start, failing) if cancel_fd (-1: none) becomes readable first. */
	int (*await_start)(struct runner *r, int cancel_fd, struct rp_err *err);
	/* Ask the job to stop: hard=false → SIGTERM to the whole job, hard=true → SIGKILL to everything. */
	int (*stop)(struct runner *r, bool hard);
	/* Optional: run a short program (the fingerprint's interpreter probe) where the job will run,
	 * stdout and stderr captured; its exit status, or -1 with err. Without it, such a program
	 * runs on the host. */
	int (*capture)(struct runner *r, char *const *argv, char *const *envp, const char *cwd, double timeout_s,
		       char **out, struct rp_err *err);
	/* Called once r->wait_fd is readable: reap the job and fill res. */
	int (*wait)(struct runner *r, struct rp_result *res, struct rp_err *err);
	/* Release everything (cgroups, mounts, temp dirs). Safe to call after any failure. */
	void (*cleanup)(struct runner *r);
	/* The runner's section for run.json ({"type": ..., details}). Caller owns the result. */
	struct cJSON *(*describe)(struct runner *r);
	/* Which mechanism enforces each requested limit (the run's cgroup, cg_enforced). */
	void (*enforcement)(struct runner *r, struct cg_enforced *out);
};

struct runner {
	const struct runner_ops *ops;
	const struct rp_job *job;
	char *fallback_reason;       /* why auto did not pick something better, or NULL */
	/* The image the job runs in, once prepare resolved the config's image (id NULL: none). */
	struct runner_image image;
	pid_t pid;                   /* the process that stands for the job (signals go to it) */
	int wait_fd;                 /* pollable, readable or hung up once the job ended; -1 before */
	char *warnings[8];           /* one-line warnings to print at start (owned) */
	int nwarnings;
	/* What prepare made that a supervisor killed before cleanup would leave behind, "KIND
	 * PATH" (runner_add_leftover): the core notes them in the run's claim, so the next
	 * runpilot can remove them (runner_remove_leftover). */
	struct strvec leftovers;
	void *priv;                  /* runner-specific state */
};

/* Pick a runner by name ("auto", "local", "sandbox", ...). auto records its choice's reason in
 * r->fallback_reason. Unknown names are RP_ERR_USAGE. */
int runner_pick(const char *name, const struct rp_job *job, struct runner *r, struct rp_err *err);
/* Whether name is a runner's: one of runner_ops_named's, or "slurm" (whose runs the core submits,
 * and whose jobs run under one of the others on the node: slurm.h). */
bool runner_name_known(const char *name);
/* A runner by its type ("local", "sandbox"), NULL if unknown. */
const struct runner_ops *runner_ops_named(const char *type);
void runner_add_warning(struct runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Leftover kinds: "cgroup" (a cgroup directory of the run), "overlay-work" (the sandbox's
 * overlay work dir), "empty-dir" (removed only when empty), "docker-container" ("SOCKET NAME":
 * the engine's socket and the container's name). */
void runner_add_leftover(struct runner *r, const char *kind, const char *path);
/* Remove one leftover "KIND PATH" of a dead run whose cgroups are named runpilot-<cgroup_name>:
 * 0 once it is gone, -1 with err while it cannot be (busy: try again later). */
int runner_remove_leftover(const char *leftover, const char *cgroup_name, struct rp_err *err);
/* Remove a dead run's empty cgroups by name under this process's own cgroup(s), for leftovers
 * made but not noted. */
void runner_remove_cgroups_named(const char *cgroup_name);
/* The sandbox's overlay work dir: its inner "work" dir is mode 000, opened up first. */
void runner_remove_overlay_work(const char *dir);
void runner_free(struct runner *r);

/* Note the directories of the run's cgroup as leftovers (runner_add_leftover). */
void runner_add_cgroup_leftovers(struct runner *r, const struct rp_cgroup *cg);
/* The run's cgroup limits from the requested resources (the timeout is the supervisor's). */
struct cg_limits runner_cg_limits(const struct rp_resources *r);
/* stop() for runners whose job runs under sb_init (pid): SIGTERM, which the init forwards to the
 * whole job; hard: the init's kill signal, and SIGKILL to everything in the run's cgroup. */
int runner_stop_init(pid_t pid, struct rp_cgroup *cg, bool hard);
/* For runners whose job runs under sb_init (local shim, sandbox init), once status_fd (their
 * wait_fd) is readable: the job's status and rusage from the init's report, metered (cgroup
 * counters, else that rusage). The init is reaped if it is gone already (*pid = -1); one still
 * tearing its namespaces down is left for cleanup. With no report (the init was killed), waits
 * for it and takes its own status. */
/* At cleanup, for the same runners: kill the init with sig (and whatever is left in the run's
 * cgroup), reap it, remove the cgroups, close the init's pipes and the wait fd. */
void runner_end_init(struct runner *r, int sig, struct rp_cgroup *cg, int *lifeline_w, int *status_r);
int runner_reap_init(pid_t *pid, int status_fd, struct rp_cgroup *cg, double start_mono,
		     struct rp_result *res, struct rp_err *err);

/* The image spec names as a runner of this type would run it now (docker: the engine's; the
 * sandbox: the image store's, pulled first if it is missing and pull is true). For run's
 * prepare, and for verify. */
int runner_image_resolve(const char *type, const struct rp_spec *spec, const char *home, bool pull,
			 struct runner_image *out, struct rp_err *err);
void runner_image_free(struct runner_image *img);
/* The Docker runner's: the image as the engine (DOCKER_HOST, the CLI's context) has it. */
int runner_docker_image(const char *image, struct runner_image *out, struct rp_err *err);
/* Fill img->env from an image's Env, with Docker's defaults for PATH and HOME (for the job's
 * uid inside) where it sets none. */
void runner_image_env_defaults(struct runner_image *img, char *const *image_env, uid_t uid);
/* The ids of the image's User ("name", "uid", "name:group", "uid:gid"), names looked up in its
 * tree's /etc/passwd and /etc/group (read as the job would: symlinks stay inside the tree). */
int runner_image_user_ids(const struct runner_image *img, uid_t *uid, gid_t *gid, struct rp_err *err);

/* Whether a sandbox can be built here (a user namespace with mounts in it); why not in why. */
bool runner_sandbox_usable(struct rp_err *why);
/* The sandbox's capture for a config, without a run: where a sandboxed job of spec would run,
 * read-only, with no network; the output is capped at 1 MiB, the program killed after timeout_s.
 * For verify, which must never run the workdir's code on the host. */
int runner_sandboxed_capture(const struct rp_spec *spec, char *const *argv, char *const *envp, const char *cwd,
			     double timeout_s, char **out, struct rp_err *err);

/* Docker (runner_docker.c). Whether the engine (DOCKER_HOST, the docker CLI's context, or the
 * default socket) answers quickly; why not in why ("docker: daemon not reachable at ..."). */
bool runner_docker_usable(struct rp_err *why);
/* The engine's facts, for doctor. */
struct runner_docker_facts {
	char *endpoint, *version, *api_version, *cgroup_driver, *cgroup_version;
	bool memory_limit, cpu_cfs, pids_limit;
};
int runner_docker_facts(struct runner_docker_facts *f, struct rp_err *err);
void runner_docker_facts_free(struct runner_docker_facts *f);
/* Remove a "docker-container" leftover ("SOCKET NAME"): 0 once the container is gone. */
int runner_docker_remove_leftover(const char *socket_and_name, struct rp_err *err);
/* A container the docker runner made (for gc). */
struct runner_container {
	char *id, *name;         /* name without the leading '/' */
	char *run_id;            /* its label runpilot.run_id */
	bool running;
};
/* The containers on the engine (as runner_docker_usable finds it) made for runs of the store at
 * home (label runpilot.home); -1 with err when no engine answers. */
int runner_docker_containers(const char *home, struct runner_container **out, size_t *n, struct rp_err *err);
void runner_containers_free(struct runner_container *v, size_t n);
/* Remove a container by id, killing it if it runs; 0 once it is gone. */
int runner_docker_remove_container(const char *id, struct rp_err *err);

extern const struct runner_ops runner_local_ops;
extern const struct runner_ops runner_docker_ops;
extern const struct runner_ops runner_sandbox_ops;

#endif
