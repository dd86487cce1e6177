/* Environment fingerprint: named components hashed with SHA-256, and the tools that compare two
 * of them (src/fingerprint/). Knows no run model: the core fills fp_input (environment.h) and
 * stores the result. Never prints. docs/fingerprint.md describes every component. */
#ifndef RP_FINGERPRINT_H
#define RP_FINGERPRINT_H

#include <stdbool.h>
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
	const char *image_id;        /* the image's id ("sha256:..."), or NULL: no image */
	char *const *image_digests;  /* its registry digests (recorded, not hashed: an imported
				      * copy has none), NULL-terminated, may be NULL */
	long long max_bytes;         /* workdirs larger are hashed by metadata only; 0 = 2 GB default */
	/* Optional: where to write the per-file list (path, mode, size, hash of every file counted;
	 * FP_FILES_NAME in the run dir). NULL = do not write it. Written atomically. */
	const char *files_path;
	bool no_context;             /* skip the "context" object (verify does not need it) */
	/* How to run a program the workdir may control (the interpreter's probe: a venv's python, a
	 * sitecustomize.py on PYTHONPATH): NULL runs it on the host (a local run trusts its job);
	 * the sandbox runner and verify run it in a sandbox. Returns its exit status, or -1. */
	int (*capture)(void *ctx, char *const *argv, char *const *envp, const char *cwd, double timeout_s,
		       char **out, struct rp_err *err);
	void *capture_ctx;
	/* Why such a program must not run at all (no sandbox for verify here), or NULL. */
	const char *no_capture;
};

#define FP_DEFAULT_MAX_BYTES (2LL << 30)
/* The per-file list's name inside a run directory (run.json's code component names it too). */
#define FP_FILES_NAME "files.json"

/* Compute run.json's "environment" object: {"fingerprint", "components", "context"}. */
int fp_compute(const struct fp_input *in, struct cJSON **environment, struct rp_err *err);
/* Same, and also return the per-file list ({"version":1,"code":[rows],"rootfs":[rows]}) that
 * fp_compute writes to files_path. Caller owns both. */
int fp_compute_files(const struct fp_input *in, struct cJSON **environment, struct cJSON **files,
		     struct rp_err *err);
/* Read a per-file list written by fp_compute. */
int fp_files_load(const char *path, struct cJSON **files, struct rp_err *err);
/* A list's rows are strings "<sha256 hex> <mode> <size> <path>": the path of one, or NULL. */
const char *fp_files_row_path(const struct cJSON *row);
/* The rows as [{"path", "mode", "size", "sha256"}] for people and scripts. Caller owns it. */
struct cJSON *fp_files_rows_json(const struct cJSON *rows);

/* Compare two "environment" objects; returns {"same": bool, "components": {name: {"status":
 * "same"|"changed", ...what changed}}}. Caller owns the result. */
struct cJSON *fp_compare(const struct cJSON *old_env, const struct cJSON *new_env);
/* Add the file-level differences (added/removed/modified names) of two per-file lists to the
 * code (and runtime, for rootfs) entries of a fp_compare result. Either list may be NULL. */
void fp_compare_files(struct cJSON *cmp, const struct cJSON *old_files, const struct cJSON *new_files);
/* Human-readable report of a fp_compare result, one component per line with indented details.
 * all=false leaves out components that are the same. Caller frees. */
char *fp_compare_text(const struct cJSON *cmp, bool all);

/* The short form shown by `list --fingerprint`: the first 12 hex digits, or "-". */
void fp_short(const struct cJSON *environment, char out[13]);

#endif
