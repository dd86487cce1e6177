/* The code component: what the workdir holds.
 *   git:  commit, branch, dirty, and a hash over the commit id plus the content of every
 *         modified, staged and untracked-not-ignored file (a dirty tree never passes for its
 *         commit). git is asked through its CLI with GIT_OPTIONAL_LOCKS=0 (read-only).
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
#include "proc.h"
#include "util.h"

extern char **environ;

/* ---- git ---- */

/* Our environment for git, pointed at the workdir's repository and read-only. */
static char **git_env(void)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof *env);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "GIT_DIR=", 8) && strncmp(environ[i], "GIT_WORK_TREE=", 14) &&
		    strncmp(environ[i], "GIT_INDEX_FILE=", 15) && strncmp(environ[i], "GIT_OPTIONAL_LOCKS=", 19))
			env[k++] = xstrdup(environ[i]);
	env[k] = xstrdup("GIT_OPTIONAL_LOCKS=0");
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

/* Run `git ARGS...` in dir; stdout in *out. Returns git's exit status or -1. */
static int git(const char *dir, char **env, char **out, struct rp_err *err, const char *a1, const char *a2,
	       const char *a3, const char *a4, const char *a5, const char *a6, const char *a7)
{
	char *argv[] = { "git", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, (char *)a6, (char *)a7,
			 NULL };
	return fp_run_capture(argv, env, dir, 120, out, err);
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

struct git_info {
	char *prefix;      /* workdir relative to the top, "" or "sub/dir/" */
	char *commit;      /* NULL before the first commit */
	char *branch;      /* NULL when detached */
	struct strvec dirty; /* relative to workdir */
};

static void git_info_free(struct git_info *g)
{
	free(g->prefix);
	free(g->commit);
	free(g->branch);
	strvec_free(&g->dirty);
}

/* Some ancestor of dir (or dir) holds .git: only then is git worth starting (a few ms). */
static bool has_git_ancestor(const char *dir)
{
	char *p = realpath(dir, NULL);
	bool found = false;
	while (p && !found) {
		char *g = path_join(p, ".git");
		found = path_exists(g);
		free(g);
		char *slash = strrchr(p, '/');
		if (!slash || !strcmp(p, "/"))
			break;
		slash[slash == p ? 1 : 0] = '\0'; /* "/a" -> "/", "/a/b" -> "/a" */
	}
	free(p);
	return found;
}

/* Is workdir inside a git work tree? Fills prefix. Any failure (no git, not a repo, a repo git
 * refuses to read) means "no". */
static bool git_detect(const char *workdir, char **env, struct git_info *g)
{
	if (!has_git_ancestor(workdir))
		return false;
	char *out = NULL;
	int st = git(workdir, env, &out, NULL, "rev-parse", "--is-inside-work-tree", "--show-prefix", NULL, NULL,
		     NULL, NULL);
	bool yes = st == 0 && out && strncmp(out, "true\n", 5) == 0;
	if (yes) {
		g->prefix = xstrdup(out + 5);
		chomp(g->prefix);
	}
	free(out);
	return yes;
}

static int git_collect(const char *workdir, char **env, const struct fp_ignore *ig, int root_fd,
		       const char *exclude_rel, struct git_info *g, struct fp_filelist *fl, struct rp_err *err)
{
	char *out = NULL;
	if (git(workdir, env, &out, NULL, "rev-parse", "--verify", "-q", "HEAD", NULL, NULL, NULL) == 0 && out) {
		chomp(out);
		g->commit = out;
	} else {
		free(out);
	}
	out = NULL;
	if (git(workdir, env, &out, NULL, "symbolic-ref", "-q", "--short", "HEAD", NULL, NULL, NULL) == 0 && out) {
		chomp(out);
		g->branch = out;
	} else {
		free(out);
	}

	out = NULL;
	int st = git(workdir, env, &out, err, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
		     ".");
	if (st != 0) {
		free(out);
		return st < 0 ? rp_err_wrap(err, "git ls-files") :
				rp_err_set(err, RP_ERR_RUNTIME, "git ls-files failed in %s (exit %d)", workdir, st);
	}
	for (char *p = out; *p; p += strlen(p) + 1) {
		if (fl->n && strcmp(fl->v[fl->n - 1].path, p) == 0)
			continue; /* unmerged paths are listed once per stage */
		if ((exclude_rel && (strncmp(p, exclude_rel, strlen(exclude_rel)) == 0 &&
				     p[strlen(exclude_rel)] == '/')) ||
		    fp_ignore_match_path(ig, p))
			continue;
		if (fp_filelist_add(fl, root_fd, p, err) < 0) {
			free(out);
			return -1;
		}
	}
	free(out);

	out = NULL;
	st = git(workdir, env, &out, err, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
		 "--", ".");
	if (st != 0) {
		free(out);
		return st < 0 ? rp_err_wrap(err, "git status") :
				rp_err_set(err, RP_ERR_RUNTIME, "git status failed in %s (exit %d)", workdir, st);
	}
	size_t plen = strlen(g->prefix);
	for (char *p = out; *p; p += strlen(p) + 1) {
		if (strlen(p) < 4)
			continue;
		const char *path = p + 3; /* "XY path" */
		if (strncmp(path, g->prefix, plen) != 0)
			continue;
		path += plen;
		if ((exclude_rel && strncmp(path, exclude_rel, strlen(exclude_rel)) == 0 &&
		     path[strlen(exclude_rel)] == '/') ||
		    fp_ignore_match_path(ig, path))
			continue;
		strvec_push(&g->dirty, path);
	}
	free(out);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* commit id + (path, mode, content hash | "deleted") of every dirty path, sorted. */
static void git_hash(const struct git_info *g, const struct fp_filelist *fl, int root_fd, unsigned char out[FP_HASH_LEN])
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
	struct git_info g = { 0 };
	char **env = git_env();
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
	is_git = git_detect(in->workdir, env, &g);
	if (is_git) {
		if (git_collect(in->workdir, env, ig, root_fd, exclude_rel, &g, files, err) < 0)
			goto out;
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
	free_env(env);
	git_info_free(&g);
	fp_ignore_free(ig);
	return rc;
}
