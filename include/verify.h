/* Verifying a run's environment: recompute the fingerprint a job of a config would get now under
 * the run's runner, and compare it with the one the run recorded. `verify` prints it; `rerun`
 * checks it before it starts. src/core/verify.c. */
#ifndef RP_VERIFY_H
#define RP_VERIFY_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "record.h"
#include "store.h"

struct cJSON;

/* Run r's recorded environment against the one spec's job would get now: *cmp is fp_compare's
 * object (the caller's), with the changed files named where the run's files.json allows. A run
 * without a recorded fingerprint, or an image that cannot be resolved now, is an error. */
int verify_environment(const struct rp_run *r, const char *run_dir, const char *home, const struct rp_spec *spec,
		       struct cJSON **cmp, struct rp_err *err);

/* `verify RUN`: the config checked is config_path when given, else the file the run was started
 * from with the run's own overrides, else (that file gone) the run's config.yaml; params
 * ("key=value") on top. Fills id with the run's id and *cmp as verify_environment. */
int verify_run(const char *ref, const char *config_path, char *const *params, size_t nparams, char id[RP_ID_MAX],
	       struct cJSON **cmp, struct rp_err *err);

/* A run's stored config.yaml keeps secret-looking env values as "<redacted>": take each from our
 * own environment. Returns the name of the first one not set there (left redacted), or NULL. */
const char *verify_unredact_env(struct rp_spec *spec);

/* Whether a comparison found the environment the same. */
bool verify_same(const struct cJSON *cmp);

/* What differs, one line per changed component ("code: 2 files changed", "image: digest
 * changed", "packages: 3 changed"), NULL-terminated (empty when the same); free with
 * verify_changes_free. */
char **verify_changes(const struct cJSON *cmp);
void verify_changes_free(char **lines);

#endif
