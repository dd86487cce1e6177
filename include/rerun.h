/* rerun: a new run of an earlier run's own config.yaml (resolved as it ran: params and overrides
 * baked in, workdir absolute), its environment first checked against the one it recorded.
 * src/core/rerun.c; the run itself is run_execute's, with the request's parent set. */
#ifndef RP_RERUN_H
#define RP_RERUN_H

#include "config.h"
#include "err.h"
#include "store.h"

struct cJSON;

struct rerun {
	char id[RP_ID_MAX];          /* the run rerun */
	char *uid;                   /* its uid: the new run's parent (NULL in a very old record) */
	char *runner;                /* the runner it ran under: the rerun's default */
	char *config_path;           /* its config.yaml */
	struct cJSON *cmp;           /* its environment now against then (verify.h), or NULL: */
	char *check_error;           /* why it could not be compared */
};

/* Load the run ref names and compare its environment now with the one it recorded, for its own
 * config as it ran. An unknown run, or one without a config.yaml, is an error (RP_ERR_USAGE); a
 * comparison that cannot be made (no fingerprint recorded, the image gone) is check_error. */
int rerun_open(const char *ref, struct rerun *rr, struct rp_err *err);
/* The new run's spec: the run's config.yaml with ov on top (the overrides say `resolved`).
 * config.yaml keeps secret-looking env values as "<redacted>": each is taken from our own
 * environment, and one that is not set there is an error (RP_ERR_USAGE) naming it. */
int rerun_config(const struct rerun *rr, const struct rp_overrides *ov, struct rp_spec *spec, struct rp_err *err);
void rerun_close(struct rerun *rr);

#endif
