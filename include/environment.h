/* run.json's "environment" section: the fingerprint input of a loaded config, built the same
 * way for `run` (which records it) and `verify` (which recomputes it). src/core/environment.c. */
#ifndef RP_ENVIRONMENT_H
#define RP_ENVIRONMENT_H

#include "config.h"
#include "fingerprint.h"

struct runner;

/* The fingerprint input of a loaded config, as `run` and `verify` build it. Owns its strings. */
struct fp_spec_input {
	struct fp_input in;
	struct cJSON *config;
	char **declared, **extra;
	char *files_path;
};
/* envp: the job's environment; runner_type: "sandbox" uses spec's rootfs; run_dir (may be
 * NULL): where the per-file list is written. */
void fp_spec_input_init(struct fp_spec_input *si, const struct rp_spec *spec, const char *home,
			char *const *envp, const char *runner_type, const char *run_dir);
/* The job runs in an image (image_id not NULL): its id is the runtime, not a rootfs's tree.
 * The strings stay the caller's. */
void fp_spec_input_image(struct fp_spec_input *si, const char *image_id, char *const *digests);
void fp_spec_input_free(struct fp_spec_input *si);
/* The environment a job of spec would get now (jobenv.h): under a runner that isolates it, the
 * allow list of ours; else all of ours; the image's defaults (image_env, may be NULL) and the
 * config's env on top. RunPilot's per-run variables are never fingerprinted. Free with
 * fp_env_free. */
char **fp_job_env_now(const struct rp_spec *spec, bool isolated, char *const *image_env);
void fp_env_free(char **envp);

/* run.json's "environment" for a run about to start: the fingerprint, or {"error": ...} when it
 * could not be computed (the run still starts; *warning says why, caller frees). */
struct cJSON *fp_run_environment(const struct rp_spec *spec, const char *home, char *const *envp,
				 struct runner *rn, const char *run_dir, char **warning);
/* Programs the workdir controls (the interpreter's probe) run in a sandbox of spec's, or, where
 * none can be built here, not at all: for verify, which never runs them on the host. */
void fp_spec_input_sandbox_probes(struct fp_spec_input *si, const struct rp_spec *spec);

#endif
