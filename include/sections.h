/* run.json's sections, written and read back here and nowhere else (docs/run-json.md): env,
 * paths, invocation and runner (sections.c); resources (resources.h) and environment
 * (environment.h) have their own modules. */
#ifndef RP_SECTIONS_H
#define RP_SECTIONS_H

#include "config.h"
#include "err.h"
#include "record.h"
#include "util.h"

struct cJSON;
struct runner;

/* "env": what the job was given, sorted by name, secret-looking values redacted. */
struct cJSON *env_section(char *const *envp);
/* "paths": the run directory and the files in it users look for. */
struct cJSON *paths_section(const char *run_dir);
/* "host" and "supervisor": this machine and this process. */
void record_fill_host(struct rp_run *r);
/* "runner": the runner's own description, its type, and why auto passed better ones over. */
struct cJSON *runner_section(struct runner *rn);

/* "invocation": how the run was asked for (the command, the config file, the runner, every
 * override), so `verify` can ask the same question again. */
struct run_invocation {
	char *command;               /* "run", "rerun"; NULL when not recorded */
	char *rerun_of;              /* rerun: the id of the run it reran, else NULL */
	char *config_path;           /* absolute, or NULL when not recorded */
	char *runner;                /* NULL when not recorded */
	struct rp_overrides ov;      /* pointing into the vectors below */
	char *name;
	struct strvec tags, params;
};
/* rerun_of: the id of the run a rerun reruns, NULL for `run`. */
struct cJSON *invocation_section(const char *config_path, const char *runner, const struct rp_overrides *ov,
				 const char *rerun_of);
/* Read an invocation back (a missing or partial one gives what is there); free with
 * invocation_free. */
void invocation_read(const struct cJSON *section, struct run_invocation *inv);
void invocation_free(struct run_invocation *inv);

/* "config_sources": the files the resolved config came from, [{"path", "role"}], role "run",
 * "project defaults" or "user". */
struct cJSON *config_sources_section(const struct rp_spec *spec);

#endif
