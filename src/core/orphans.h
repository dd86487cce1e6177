/* Runs whose supervisor died: what readers show for them, and the cleanup the next `runpilot
 * run` does (their cgroups, overlay work dir and temp files removed, run.json marked lost under
 * the run's lock). Only <home>/active/ is read to find them, never the whole store. */
#ifndef RP_ORPHANS_H
#define RP_ORPHANS_H

#include "claim.h"
#include "record.h"
#include "store.h"

/* Why a running run's supervisor is gone: "host rebooted" (its boot id is not this boot's) or
 * "supervisor died". */
const char *orphan_reason(const char *supervisor_boot_id);
/* The record of a run whose supervisor died before writing any (from its claim): lost. */
void orphan_record(const struct claim_info *info, const char *run_dir, struct rp_run *r);
/* Clean up after every dead supervisor listed in <home>/active/; what is still busy is tried
 * again next time. Returns the number of runs finished off. */
int orphans_collect(const struct rp_store *st);

#endif
