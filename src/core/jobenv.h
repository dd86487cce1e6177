/* The job's environment. Under a runner that isolates the job (the sandbox), only an allow list
 * of runpilot's own variables reaches it (locale, terminal, identity, GPU and thread settings),
 * the names the config's sandbox.env_pass adds, the config's env, and the run's own variables;
 * under the local runner, which trusts the job, all of runpilot's. run.json's "env_sources"
 * says where each name came from. */
#ifndef RP_JOBENV_H
#define RP_JOBENV_H

#include <stdbool.h>

#include "config.h"
#include "util.h"

struct cJSON;

/* The run's own variables. */
struct job_env_run {
	const char *id, *uid, *run_dir, *output_dir;
};

/* Fill env (NAME=value entries) and *sources ({"inherited": [names], "env_pass": [...],
 * "image": [...], "config": [...], "runpilot": [...]}, caller owns). from is runpilot's
 * environment; image_env (or NULL) the defaults of the image the job runs in, which replace
 * what the allow list would pass and yield to the config and env_pass. */
void job_env_build(const struct rp_spec *spec, bool allow_list_only, char *const *from, char *const *image_env,
		   const struct job_env_run *run, struct strvec *env, struct cJSON **sources);
/* True for the names the allow list passes whatever the config says. */
bool job_env_allowed(const char *name);

#endif
