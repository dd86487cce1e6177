/* Child processes for the fingerprint and the job's environment (proc.c). */
#ifndef RP_FP_PROC_H
#define RP_FP_PROC_H

#include "err.h"

/* Run argv (PATH not searched when argv[0] has a '/') with envp (NULL = ours) in cwd, stdin
 * /dev/null, stderr discarded; collect stdout (up to 16 MiB). Kills it after timeout_s.
 * Returns the exit status (0..255), or -1 with err filled when it could not run or timed out. */
int fp_run_capture(char *const *argv, char *const *envp, const char *cwd, double timeout_s,
		   char **out, struct rp_err *err);

/* Value of NAME in envp, or NULL. */
const char *fp_getenv(char *const *envp, const char *name);

#endif
