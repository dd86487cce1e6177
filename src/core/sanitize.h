/* What a job leaves in its run directory must not be a way into the host: after the job,
 * setuid and setgid bits are cleared and device nodes removed in outputs/ and changes/ (an
 * overlay's whiteouts, character devices 0/0, are kept: they record deletions). The walk never
 * follows a symbolic link. run.json's "sanitized" lists what was changed. */
#ifndef RP_SANITIZE_H
#define RP_SANITIZE_H

#include "err.h"

struct cJSON;

/* Sanitize the tree at run_dir/name (absent: nothing to do), appending {"path": "name/...",
 * "action": "cleared setuid" | "cleared setgid" | "cleared setuid and setgid" | "removed device"}
 * to changes (a JSON array). */
int sanitize_tree(const char *run_dir, const char *name, struct cJSON *changes, struct rp_err *err);

#endif
