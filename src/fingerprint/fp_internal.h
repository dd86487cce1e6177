/* Internals of the environment fingerprint (the files of src/fingerprint/). Only those files and
 * their unit tests include this. */
#ifndef RP_FP_INTERNAL_H
#define RP_FP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* SHA256_Init/Update/Final are marked deprecated in OpenSSL 3.0 but kept in 3.x: fingerprint.c
 * says why RunPilot uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "err.h"
#include "fingerprint.h"

struct cJSON;

#define FP_HASH_LEN 32
#define FP_HEX_LEN 64

/* ---- hashing (fingerprint.c) ---- */

/* An incremental SHA-256 (OpenSSL's SHA256_* functions, see fingerprint.c). fp_hasher_field
 * hashes a 64-bit big-endian length before the bytes, so consecutive fields can never run into
 * each other. */
struct fp_hasher {
	SHA256_CTX ctx;
};
void fp_hasher_init(struct fp_hasher *h);
void fp_hasher_update(struct fp_hasher *h, const void *p, size_t n);
void fp_hasher_field(struct fp_hasher *h, const void *p, size_t n);
void fp_hasher_str(struct fp_hasher *h, const char *s);   /* field; NULL hashes as "" */
void fp_hasher_u64(struct fp_hasher *h, unsigned long long v);
void fp_hasher_final(struct fp_hasher *h, unsigned char out[FP_HASH_LEN]);

void fp_sha256(const void *p, size_t n, unsigned char out[FP_HASH_LEN]);
void fp_hex(const unsigned char h[FP_HASH_LEN], char out[FP_HEX_LEN + 1]);
int fp_unhex(const char *hex, unsigned char out[FP_HASH_LEN]);   /* 0 or -1 */
/* "sha256:<hex>", malloc'd. */
char *fp_hash_str(const unsigned char h[FP_HASH_LEN]);
/* SHA-256 of an open file's content from its current offset. */
int fp_hash_fd(int fd, unsigned char out[FP_HASH_LEN], struct rp_err *err);
int fp_hash_path(const char *path, unsigned char out[FP_HASH_LEN], struct rp_err *err);
/* Canonical JSON text: object keys sorted bytewise at every level, no whitespace. */
char *fp_canonical_json(const struct cJSON *v);

/* ---- per-file hash cache (fp_cache.c) ---- */

/* One cache per scope (a workdir, a rootfs, "system"): $home/cache/files-<sha256(scope)[:16]>.
 * Keyed by (dev, ino); an entry is used only when size, mtime ns and ctime ns all match and
 * the entry is not racy: its mtime and ctime are older than the moment the computation that
 * wrote the cache started (git's racy-clean rule). */
struct fp_cache;
/* Never fails: a missing, unreadable or corrupt cache is an empty one. home NULL = no cache. */
struct fp_cache *fp_cache_open(const char *home, const char *scope);
bool fp_cache_lookup(struct fp_cache *c, const struct stat *st, unsigned char out[FP_HASH_LEN]);
void fp_cache_put(struct fp_cache *c, const struct stat *st, const unsigned char h[FP_HASH_LEN]);
/* Write the cache (atomically) when it changed: only entries looked up or put since open. */
int fp_cache_save(struct fp_cache *c, struct rp_err *err);
void fp_cache_free(struct fp_cache *c);
/* Path of a scope's cache file (malloc'd). */
char *fp_cache_path(const char *home, const char *scope);
/* For tests: pretend this computation started at ns (CLOCK_REALTIME), the racy threshold saved. */
void fp_cache_set_start_ns(struct fp_cache *c, long long ns);
long long fp_stat_mtime_ns(const struct stat *st);
long long fp_stat_ctime_ns(const struct stat *st);

/* ---- file lists, ignore rules, tree walks (fp_code.c) ---- */

struct fp_file {
	char *path;                   /* relative to the root, '/'-separated */
	unsigned mode;                /* normalised like git: 0100644, 0100755, 0120000 */
	struct stat st;
	unsigned char hash[FP_HASH_LEN];
	int read_errno;               /* non-zero: could not be read; hash covers the errno */
};
struct fp_filelist {
	struct fp_file *v;
	size_t n, cap;
	unsigned long long bytes;     /* sum of sizes of regular files */
};
void fp_filelist_free(struct fp_filelist *fl);
void fp_filelist_sort(struct fp_filelist *fl);
/* Add one path (relative to root_fd) after an lstat; non-files are skipped (returns 0). */
int fp_filelist_add(struct fp_filelist *fl, int root_fd, const char *rel, struct rp_err *err);

/* .runpilotignore rules (gitignore syntax: *, ?, [..], **, leading/trailing /, !), after the
 * built-in defaults (__pycache__/, *.pyc, .ipynb_checkpoints/). Last matching rule wins. */
struct fp_ignore;
struct fp_ignore *fp_ignore_new(void);
/* Add one line of an ignore file (comments and blank lines are accepted and skipped). */
void fp_ignore_add(struct fp_ignore *ig, const char *line);
/* Builtin defaults + root/.runpilotignore when present. */
int fp_ignore_load(struct fp_ignore *ig, const char *root, struct rp_err *err);
bool fp_ignore_match(const struct fp_ignore *ig, const char *rel, bool is_dir);
bool fp_ignore_used_file(const struct fp_ignore *ig);
void fp_ignore_free(struct fp_ignore *ig);

/* Walk root: every regular file and symlink, never exclude_dir, nothing ig (may be NULL)
 * ignores. Unsorted. */
enum {
	FP_WALK_SKIP_GIT = 1,    /* skip .git */
	FP_WALK_SKIP_VENVS = 2,  /* skip virtualenvs (dirs holding pyvenv.cfg): packages covers them */
	FP_WALK_XDEV = 4,        /* stay on root's filesystem */
};
int fp_walk(const char *root, const struct fp_ignore *ig, const char *exclude_dir, unsigned flags,
	    struct fp_filelist *out, struct rp_err *err);
/* Fill every file's hash: from the cache when valid, else by reading it (in parallel), or from
 * size+mtime only when metadata_only. */
int fp_hash_files(struct fp_filelist *fl, const char *root, struct fp_cache *cache,
		  bool metadata_only, struct rp_err *err);
/* Tree hash over (path, mode, hash) of a sorted list. */
void fp_tree_hash(const struct fp_filelist *fl, unsigned char out[FP_HASH_LEN]);
/* ["<hex> 100644 <size> <path>", ...] (see fp_files_row_path) */
struct cJSON *fp_filelist_json(const struct fp_filelist *fl);

/* The code component; fills files (sorted) with what was counted. */
int fp_code_component(const struct fp_input *in, struct cJSON **comp, struct fp_filelist *files,
		      struct rp_err *err);

/* ---- child processes (fp_runtime.c) ---- */

/* Run argv (PATH not searched when argv[0] has a '/') with envp (NULL = ours) in cwd, stdin
 * /dev/null, stderr discarded; collect stdout (up to 16 MiB). Kills it after timeout_s.
 * Returns the exit status (0..255), or -1 with err filled when it could not run or timed out. */
int fp_run_capture(char *const *argv, char *const *envp, const char *cwd, double timeout_s,
		   char **out, struct rp_err *err);

/* ---- runtime, packages, env, context ---- */

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
void fp_python_probe(const char *home, char *const *envp, const char *workdir, struct fp_interp *ip);

int fp_runtime_component(const struct fp_input *in, struct fp_interp *ip, struct cJSON **comp,
			 struct fp_filelist *rootfs_files, struct rp_err *err);
int fp_packages_component(const struct fp_input *in, const struct fp_interp *ip,
			  struct cJSON **comp, struct rp_err *err);
/* Installed distributions ("name==version", sorted) in the given site dirs. */
struct cJSON *fp_scan_distributions(char *const *dirs);
/* Value of NAME in envp, or NULL. */
const char *fp_getenv(char *const *envp, const char *name);
int fp_env_component(const struct fp_input *in, struct cJSON **comp, struct cJSON **other);
/* True for the documented behaviour-changing inherited names (PATH, PYTHONPATH, LC_*, ...). */
bool fp_env_name_tracked(const char *name);
/* True for names never recorded: RUNPILOT_*, PWD, OLDPWD, SHLVL, TERM, SSH_*, _. */
bool fp_env_name_never(const char *name);
struct cJSON *fp_context(const struct fp_input *in, struct cJSON *env_other);

#endif
