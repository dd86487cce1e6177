/* File lists, ignore rules and tree walks (files.c), and the rows of files.json. */
#ifndef RP_FP_FILES_H
#define RP_FP_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cache.h"
#include "err.h"
#include "hash.h"

struct cJSON;

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
/* The entry for path in a sorted list, or NULL. */
const struct fp_file *fp_filelist_find(const struct fp_filelist *fl, const char *path);
/* A normalised mode in octal ("100644"). */
void fp_mode_str(unsigned mode, char out[8]);
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
/* For paths not found by our own walk (git's lists): ignored when any parent dir is. */
bool fp_ignore_match_path(const struct fp_ignore *ig, const char *rel);
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

#endif
