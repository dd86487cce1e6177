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
/* run.json of a dead supervisor's run (its lock held by the caller): a running one becomes
 * lost; none at all (it died before writing one) gets one, lost. Finished runs and someone
 * else's are left alone. True when it was changed (dry_run: would be), with *why the reason
 * (owned). */
/* Whether the run's supervisor ran on a Slurm node and the run is not over: this host cannot
 * judge that claim (the node's processes, its cgroups), and Slurm settles the run's end
 * (runs_settle), so the claim is left alone. */
bool orphan_on_node(const char *run_dir);
bool orphan_mark_lost(const struct claim_info *info, const char *run_dir, bool dry_run, char **why);
/* The names of the temp files of a dead supervisor's atomic writes in its run directory
 * (NAME.tmp.PID, run.lock.PID), and of any other writer's there whose process is gone (one
 * finishing the run off, killed in turn), appended to names. */
void orphan_temp_files(const char *run_dir, pid_t pid, struct strvec *names);
/* The pid an atomic write's temp file name carries ("NAME.tmp.PID", "run.lock.PID"), or 0. */
pid_t orphan_temp_file_pid(const char *name);
/* Clean up after every dead supervisor listed in <home>/active/; what is still busy is tried
 * again next time. Returns the number of runs finished off. */
int orphans_collect(const struct rp_store *st);

#endif
