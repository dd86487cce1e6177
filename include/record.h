/* run.json ↔ struct rp_run. The schema is documented in docs/run-json.md; later versions add
 * top-level sections (resources, environment, metrics, ...), which round-trip untouched in
 * `sections`. Fields are never renamed. */
#ifndef RP_RECORD_H
#define RP_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "util.h"

struct cJSON;

#define RP_SCHEMA_VERSION 1

/* queued: the run exists, its job has not started yet (a detached run, a setup under way). */
enum rp_status { RP_RUNNING, RP_SUCCESS, RP_FAILED, RP_CANCELLED, RP_LOST, RP_QUEUED };

struct rp_run {
	int schema_version;
	char *id;                 /* rp_0007 */
	char *uid;                /* UUID v4, globally unique */
	char *parent;             /* rerun: the uid of the run it reran, or NULL */
	char *name;
	enum rp_status status;
	char *reason;             /* why it failed/ended: "timeout", "oom", "signal", "exit", ... or NULL */
	double created_at, started_at, ended_at;   /* epoch seconds; 0 = not yet (null in JSON) */
	double duration_s;        /* < 0: null */
	bool has_exit_code;
	int exit_code;
	int signal;               /* 0: none (null in JSON) */
	char *entrypoint;
	char **argv;              /* NULL-terminated */
	char *workdir;
	char *image;              /* or NULL */
	struct cJSON *params;     /* object */
	char **tags;              /* NULL-terminated */
	struct cJSON *env;        /* object: what the job was given, secret values redacted */
	struct cJSON *runner;     /* {"type": ..., "fallback_reason": ..., ...runner details} */
	char *host_hostname, *host_kernel, *host_arch, *host_user;
	int supervisor_pid;
	unsigned long long supervisor_start_ticks; /* guards against pid reuse */
	char *supervisor_boot_id;
	char *runpilot_version;
	struct cJSON *paths;      /* {"run_dir", "logs", "outputs", "config", "params"} */
	struct cJSON *sections;   /* every other top-level key, kept verbatim (object) */
};

const char *status_name(enum rp_status s);
int status_parse(const char *s, enum rp_status *out);
/* queued or running: not ended yet (as written; runs.h says whether its supervisor lives). */
bool status_live(enum rp_status s);

struct cJSON *record_to_json(const struct rp_run *r);
int record_from_json(const struct cJSON *j, struct rp_run *r, struct rp_err *err);
/* Atomically (temp, fsync, rename) write <run_dir>/run.json. */
int record_write(const char *run_dir, const struct rp_run *r, struct rp_err *err);
/* record_write with write_file_atomic_flags flags: the run's intermediate updates skip the
 * directory fsync (the creation and the final write do it). */
int record_write_flags(const char *run_dir, const struct rp_run *r, int flags, struct rp_err *err);
/* The first half of a record write (atomic_file_begin): the caller commits it with
 * atomic_file_commit, doing other work while the device writes. */
int record_write_begin(const char *run_dir, const struct rp_run *r, struct atomic_file *f, struct rp_err *err);
/* Room for the final run.json, preallocated in the run directory when the run starts and freed
 * just before that write: a job that fills the disk still gets its outcome recorded. */
#define RP_RECORD_RESERVE_NAME "run.json.reserve"
#define RP_RECORD_RESERVE_BYTES (256 * 1024)
/* Read <run_dir>/run.json; a missing or broken file is an error naming it. */
int record_read(const char *run_dir, struct rp_run *r, struct rp_err *err);
void record_free(struct rp_run *r);

/* A top-level section other than the core fields (e.g. "resources", "environment"). */
const struct cJSON *record_section(const struct rp_run *r, const char *name);
/* Set or replace a section; takes ownership of value. */
void record_set_section(struct rp_run *r, const char *name, struct cJSON *value);

/* The name of the run's cgroup leaves after "runpilot-": "<id>-<first 8 hex digits of uid>",
 * so runs of different run stores (which reuse ids) never share or remove each other's. */
void record_cgroup_name(const char *id, const char *uid, char out[48]);

/* For a run without a claim (recorded by an older runpilot): why its supervisor is gone, judged
 * by pid, start time (pid reuse) and boot id: "host rebooted", "supervisor died", "supervisor
 * unknown"; NULL while it lives or when the run is not running. */
const char *record_supervisor_gone_reason(const struct rp_run *r, const char *boot_id);

#endif
