/* The code component: what the workdir holds.
 *   git:  commit, branch, dirty, and a hash over the commit id plus the content of every
 *         modified, staged and untracked-not-ignored file (a dirty tree never passes for its
 *         commit). Read with libgit2 (git.c): nothing the repository configures runs.
 *   tree: outside git, a hash over every file's relative path, mode and content.
 * Both honour .runpilotignore and the built-in defaults, never count the run store
 * (exclude_dir) or .git, and keep the list of counted files with per-file hashes so verify can
 * name what changed. A workdir over max_bytes is hashed by size and mtime only. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "components.h"
#include "git.h"
#include "util.h"

/* The files git counts under the workdir (tracked and untracked-not-ignored: git ls-files
 * --cached --others --exclude-standard), minus the run store and what .runpilotignore ignores. */
static int git_files(const struct fp_git *g, const struct fp_ignore *ig, int root_fd, const char *exclude_rel,
		     struct fp_filelist *fl, struct rp_err *err)
{
	const struct strvec *lists[] = { &g->tracked, &g->untracked };
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			const char *p = lists[l]->v[i];
			if ((exclude_rel && strncmp(p, exclude_rel, strlen(exclude_rel)) == 0 &&
			     p[strlen(exclude_rel)] == '/') ||
			    fp_ignore_match_path(ig, p))
				continue;
			if (fp_filelist_add(fl, root_fd, p, err) < 0)
				return -1;
		}
	return 0;
}

/* The dirty paths that count (not the run store, not ignored by .runpilotignore). */
static void keep_counted_dirty(struct fp_git *g, const struct fp_ignore *ig, const char *exclude_rel)
{
	struct strvec kept = { 0 };
	for (size_t i = 0; i < g->dirty.n; i++) {
		const char *p = g->dirty.v[i];
		if ((exclude_rel && strncmp(p, exclude_rel, strlen(exclude_rel)) == 0 && p[strlen(exclude_rel)] == '/') ||
		    fp_ignore_match_path(ig, p))
			continue;
		strvec_push(&kept, p);
	}
	strvec_free(&g->dirty);
	g->dirty = kept;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* commit id + (path, mode, content hash | "deleted") of every dirty path, sorted. */
static void git_hash(const struct fp_git *g, const struct fp_filelist *fl, int root_fd, unsigned char out[FP_HASH_LEN])
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "git-v1");
	fp_hasher_str(&h, g->commit);
	for (size_t i = 0; i < g->dirty.n; i++) {
		const char *p = g->dirty.v[i];
		const struct fp_file *f = fp_filelist_find(fl, p);
		struct stat st;
		fp_hasher_str(&h, p);
		if (f) {
			char m[8];
			fp_mode_str(f->mode, m);
			fp_hasher_str(&h, m);
			fp_hasher_field(&h, f->hash, FP_HASH_LEN);
		} else if (fstatat(root_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			fp_hasher_str(&h, "directory"); /* a submodule with changes */
		} else {
			fp_hasher_str(&h, "deleted");
		}
	}
	fp_hasher_final(&h, out);
}

/* exclude_dir relative to workdir when it lies inside it, else NULL. */
static char *exclude_relative(const char *workdir, const char *exclude_dir)
{
	if (!exclude_dir)
		return NULL;
	char *w = realpath(workdir, NULL), *x = realpath(exclude_dir, NULL), *rel = NULL;
	if (w && x) {
		size_t n = strlen(w);
		if (strncmp(x, w, n) == 0 && x[n] == '/')
			rel = xstrdup(x + n + 1);
		else if (strcmp(w, "/") == 0 && x[1])
			rel = xstrdup(x + 1);
	}
	free(w);
	free(x);
	return rel;
}

static char *human_bytes(unsigned long long b)
{
	const char *units[] = { "B", "KB", "MB", "GB", "TB" };
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	return u ? xasprintf("%.1f %s", v, units[u]) : xasprintf("%llu B", b);
}

int fp_code_component(const struct fp_input *in, cJSON **comp, struct fp_filelist *files, struct rp_err *err)
{
	struct fp_ignore *ig = fp_ignore_new();
	struct fp_git g = { 0 };
	char *exclude_rel = exclude_relative(in->workdir, in->exclude_dir);
	struct fp_cache *cache = NULL;
	int root_fd = -1, rc = -1;
	bool is_git = false;

	if (fp_ignore_load(ig, in->workdir, err) < 0)
		goto out;
	root_fd = open(in->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		rp_err_sys(err, "workdir %s", in->workdir);
		goto out;
	}
	if (fp_git_read(in->workdir, &g, err) < 0)
		goto out;
	is_git = g.is_git;
	if (is_git) {
		if (git_files(&g, ig, root_fd, exclude_rel, files, err) < 0)
			goto out;
		keep_counted_dirty(&g, ig, exclude_rel);
	} else if (fp_walk(in->workdir, ig, in->exclude_dir, FP_WALK_SKIP_GIT | FP_WALK_SKIP_VENVS, files, err) < 0) {
		goto out;
	}
	fp_filelist_sort(files);
	if (g.dirty.n > 1)
		qsort(g.dirty.v, g.dirty.n, sizeof *g.dirty.v, cmp_str);

	long long max = in->max_bytes > 0 ? in->max_bytes : FP_DEFAULT_MAX_BYTES;
	bool metadata_only = files->bytes > (unsigned long long)max;
	cache = fp_cache_open(in->home, in->workdir);
	if (fp_hash_files(files, in->workdir, cache, metadata_only, err) < 0)
		goto out;
	struct rp_err cache_err = { 0 };
	(void)fp_cache_save(cache, &cache_err); /* a cache we cannot write only costs time next run */

	unsigned char h[FP_HASH_LEN];
	if (is_git)
		git_hash(&g, files, root_fd, h);
	else
		fp_tree_hash(files, h);
	if (metadata_only) { /* never equal to a content hash of the same tree */
		struct fp_hasher mh;
		fp_hasher_init(&mh);
		fp_hasher_str(&mh, "metadata-only");
		fp_hasher_field(&mh, h, FP_HASH_LEN);
		fp_hasher_final(&mh, h);
	}

	cJSON *c = cJSON_CreateObject();
	char *hs = fp_hash_str(h);
	cJSON_AddStringToObject(c, "hash", hs);
	free(hs);
	cJSON_AddStringToObject(c, "kind", is_git ? "git" : "tree");
	if (is_git) {
		if (g.commit)
			cJSON_AddStringToObject(c, "commit", g.commit);
		else
			cJSON_AddNullToObject(c, "commit");
		if (g.branch)
			cJSON_AddStringToObject(c, "branch", g.branch);
		else
			cJSON_AddNullToObject(c, "branch");
		cJSON_AddBoolToObject(c, "dirty", g.dirty.n > 0);
		cJSON *d = cJSON_AddArrayToObject(c, "dirty_files");
		for (size_t i = 0; i < g.dirty.n && i < 100; i++)
			cJSON_AddItemToArray(d, cJSON_CreateString(g.dirty.v[i]));
		cJSON_AddNumberToObject(c, "dirty_count", (double)g.dirty.n);
	}
	cJSON_AddNumberToObject(c, "files", (double)files->n);
	cJSON_AddNumberToObject(c, "bytes", (double)files->bytes);
	cJSON_AddStringToObject(c, "hashed_by", metadata_only ? "metadata" : "content");
	if (metadata_only) {
		char *a = human_bytes(files->bytes), *b = human_bytes((unsigned long long)max);
		char *note = xasprintf("workdir holds %s, over fingerprint.max_bytes (%s): files hashed by size "
				       "and mtime only", a, b);
		cJSON_AddStringToObject(c, "note", note);
		free(a);
		free(b);
		free(note);
	}
	if (fp_ignore_used_file(ig))
		cJSON_AddStringToObject(c, "ignore_file", ".runpilotignore");
	if (in->files_path) {
		const char *base = strrchr(in->files_path, '/');
		cJSON_AddStringToObject(c, "files_list", base ? base + 1 : in->files_path);
	}
	size_t unreadable = 0;
	for (size_t i = 0; i < files->n; i++)
		unreadable += files->v[i].read_errno != 0;
	if (unreadable)
		cJSON_AddNumberToObject(c, "unreadable", (double)unreadable);
	*comp = c;
	rc = 0;
out:
	if (root_fd >= 0)
		close(root_fd);
	fp_cache_free(cache);
	free(exclude_rel);
	fp_git_free(&g);
	fp_ignore_free(ig);
	return rc;
}
