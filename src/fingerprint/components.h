/* The fingerprint's components, which fingerprint.c composes: code (code.c), runtime
 * (runtime.c), packages (packages.c), env (env.c), and the unhashed context (context.c). */
#ifndef RP_FP_COMPONENTS_H
#define RP_FP_COMPONENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "files.h"
#include "fingerprint.h"
#include "hash.h"

struct cJSON;

/* The code component; fills files (sorted) with what was counted. */
int fp_code_component(const struct fp_input *in, struct cJSON **comp, struct fp_filelist *files,
		      struct rp_err *err);

struct fp_interp {
	char *command;                /* the word resolved ("python3"), or NULL when none */
	char *path;                   /* as found on PATH (venvs depend on it), or NULL */
	char *realpath;
	unsigned char hash[FP_HASH_LEN];
	bool hashed;
	bool is_python;
	char *version;                /* python only */
	char **sys_path;              /* python only, NULL-terminated */
	char *executable;             /* python only: sys.executable (a shim's real binary) */
	char *probe_error;            /* why the version/site dirs are unknown */
};
void fp_interp_free(struct fp_interp *ip);
/* Which program the job's argv runs: for `sh -c "CMD ..."` the first word of CMD (after VAR=x
 * assignments, exec, env); a script's #! interpreter is followed. Searched on envp's PATH,
 * relative names against workdir; under rootfs when set. ok with command NULL when unknown. */
int fp_resolve_interpreter(char *const *argv, char *const *envp, const char *workdir,
			   const char *rootfs, struct fp_interp *ip, struct rp_err *err);
/* For a python interpreter on the host: version and sys.path, asked once and cached under
 * $home/cache/ keyed by the interpreter's content hash, path and the variables that move
 * sys.path. Never fails: probe_error says why when unknown. */
void fp_python_probe(const struct fp_input *in, struct fp_interp *ip);

int fp_runtime_component(const struct fp_input *in, struct fp_interp *ip, struct cJSON **comp,
			 struct fp_filelist *rootfs_files, struct rp_err *err);
int fp_packages_component(const struct fp_input *in, const struct fp_interp *ip,
			  struct cJSON **comp, struct rp_err *err);
/* Installed distributions ("name==version", sorted) in the given site dirs. */
struct cJSON *fp_scan_distributions(char *const *dirs);
int fp_env_component(const struct fp_input *in, struct cJSON **comp, struct cJSON **other);
/* True for the documented behaviour-changing inherited names (PATH, PYTHONPATH, LC_*, ...). */
bool fp_env_name_tracked(const char *name);
/* True for names never recorded: RUNPILOT_*, PWD, OLDPWD, SHLVL, TERM, SSH_*, _. */
bool fp_env_name_never(const char *name);
struct cJSON *fp_context(const struct fp_input *in, struct cJSON *env_other);

#endif
