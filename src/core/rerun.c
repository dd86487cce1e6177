/* rerun.c: an earlier run's own config, its environment checked, for a new run (rerun.h). */
#include "rerun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "record.h"
#include "runs.h"
#include "sections.h"
#include "util.h"
#include "verify.h"

int rerun_config(const struct rerun *rr, const struct rp_overrides *ov, struct rp_spec *spec, struct rp_err *err)
{
	struct rp_overrides resolved = ov ? *ov : (struct rp_overrides){0};
	resolved.resolved = true;
	if (config_load(rr->config_path, &resolved, spec, err) < 0)
		return -1;
	const char *missing = verify_unredact_env(spec);
	if (missing) {
		rp_err_set(err, RP_ERR_USAGE,
			   "%s's config.yaml has the value of env %s redacted: set %s in this environment to rerun it",
			   rr->id, missing, missing);
		config_free(spec);
		return -1;
	}
	return 0;
}

/* The runner the run ran under; for one that never got one, the runner it asked for. */
static char *run_runner(const struct rp_run *r)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->runner, "type"));
	if (type)
		return xstrdup(type);
	struct run_invocation inv;
	invocation_read(record_section(r, "invocation"), &inv);
	char *asked = xstrdup(inv.runner ? inv.runner : "auto");
	invocation_free(&inv);
	return asked;
}

/* The check: the run's own config, without the rerun's overrides, which are asked for, not drift. */
static void check_environment(struct rerun *rr, const struct rp_run *r, const char *run_dir, const char *home)
{
	struct rp_err e = {0};
	struct rp_spec spec;
	if (rerun_config(rr, NULL, &spec, &e) == 0) {
		if (verify_environment(r, run_dir, home, &spec, &rr->cmp, &e) < 0)
			rr->cmp = NULL;
		config_free(&spec);
	}
	if (!rr->cmp)
		rr->check_error = xstrdup(e.msg);
}

int rerun_open(const char *ref, struct rerun *rr, struct rp_err *err)
{
	struct rp_store st = {0};
	struct rp_run r;
	char *run_dir = NULL;
	memset(rr, 0, sizeof *rr);
	if (runs_load(ref, &st, &r, &run_dir, err) < 0) {
		store_close(&st);
		return -1;
	}
	snprintf(rr->id, sizeof rr->id, "%s", r.id);
	rr->uid = r.uid ? xstrdup(r.uid) : NULL;
	rr->runner = run_runner(&r);
	rr->config_path = path_join(run_dir, "config.yaml");
	int rc = 0;
	if (!path_exists(rr->config_path))
		rc = rp_err_set(err, RP_ERR_USAGE, "run %s has no config.yaml to rerun (it failed before writing it)",
				r.id);
	else
		check_environment(rr, &r, run_dir, st.home);
	record_free(&r);
	free(run_dir);
	store_close(&st);
	if (rc < 0)
		rerun_close(rr);
	return rc;
}

void rerun_close(struct rerun *rr)
{
	free(rr->uid);
	free(rr->runner);
	free(rr->config_path);
	cJSON_Delete(rr->cmp);
	free(rr->check_error);
	memset(rr, 0, sizeof *rr);
}
