/* Environment fingerprint (issue 5): named components hashed with SHA-256, and the tools that
 * compare two of them. Core layer: knows the run model, never prints. */
#ifndef RP_FINGERPRINT_H
#define RP_FINGERPRINT_H

#include <stddef.h>

#include "err.h"

struct cJSON;

struct fp_input {
	const char *home;            /* $RUNPILOT_HOME: the per-file hash cache lives under it */
	const char *workdir;         /* absolute */
	const char *exclude_dir;     /* never hashed, even inside workdir (the run store); may be NULL */
	const struct cJSON *config;  /* resolved config (config_to_json), hashed canonically */
	char *const *argv;           /* the job's argv: the interpreter is resolved from it */
	char *const *envp;           /* the job's environment (RUNPILOT_* per-run names are ignored) */
	char *const *declared_env;   /* names the config's env: declared (NULL-terminated, may be NULL) */
	char *const *extra_env;      /* fingerprint.env from the config (NULL-terminated, may be NULL) */
	const char *rootfs;          /* sandbox rootfs or NULL (host) */
	const char *image_id;        /* docker image id or NULL */
	long long max_bytes;         /* workdirs larger are hashed by metadata only; 0 = 2 GB default */
};

/* Compute run.json's "environment" object: {"fingerprint", "components", "context"}. */
int fp_compute(const struct fp_input *in, struct cJSON **environment, struct rp_err *err);

/* Compare two "environment" objects; returns {"same": bool, "components": {name: {"status":
 * "same"|"changed", ...what changed}}}. Caller owns the result. */
struct cJSON *fp_compare(const struct cJSON *old_env, const struct cJSON *new_env);

#endif
