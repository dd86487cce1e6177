/* git.h: the facts of a workdir's git repository, read with libgit2 (Debian's libgit2-dev)
 * instead of running git, which would honour the repository's own configuration: core.fsmonitor,
 * filter drivers and hooks are programs the repository chooses. libgit2 runs none of them.
 *
 * libgit2 is loaded (dlopen) only for a workdir inside a repository: loading it and its
 * dependencies, and its start-up (it reads the system's CA certificates for its transports),
 * take milliseconds no other run or command should pay. */
#include "git.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef LIBGIT2_SONAME
#define LIBGIT2_SONAME "libgit2.so"
#endif

/* The libgit2 calls we make, found by name in the loaded library. */
struct git_api {
	int (*libgit2_init)(void);
	int (*libgit2_opts)(int option, ...);
	const git_error *(*error_last)(void);
	int (*repository_open_ext)(git_repository **out, const char *path, unsigned int flags, const char *ceiling);
	void (*repository_free)(git_repository *repo);
	const char *(*repository_workdir)(const git_repository *repo);
	int (*repository_is_bare)(const git_repository *repo);
	int (*repository_index)(git_index **out, git_repository *repo);
	int (*reference_name_to_id)(git_oid *out, git_repository *repo, const char *name);
	int (*reference_lookup)(git_reference **out, git_repository *repo, const char *name);
	git_reference_t (*reference_type)(const git_reference *ref);
	const char *(*reference_symbolic_target)(const git_reference *ref);
	void (*reference_free)(git_reference *ref);
	char *(*oid_tostr)(char *out, size_t n, const git_oid *id);
	size_t (*index_entrycount)(const git_index *index);
	const git_index_entry *(*index_get_byindex)(git_index *index, size_t n);
	void (*index_free)(git_index *index);
	int (*status_list_new)(git_status_list **out, git_repository *repo, const git_status_options *opts);
	size_t (*status_list_entrycount)(git_status_list *list);
	const git_status_entry *(*status_byindex)(git_status_list *list, size_t idx);
	void (*status_list_free)(git_status_list *list);
};

static struct git_api api;
static int api_state; /* 0 not tried, 1 ready, -1 unavailable */
static char api_error[256];

static int load_api(void)
{
	if (api_state)
		return api_state;
	api_state = -1;
	const struct dl_sym syms[] = {
		{ (void **)&api.libgit2_init, "git_libgit2_init" },
		{ (void **)&api.libgit2_opts, "git_libgit2_opts" },
		{ (void **)&api.error_last, "git_error_last" },
		{ (void **)&api.repository_open_ext, "git_repository_open_ext" },
		{ (void **)&api.repository_free, "git_repository_free" },
		{ (void **)&api.repository_workdir, "git_repository_workdir" },
		{ (void **)&api.repository_is_bare, "git_repository_is_bare" },
		{ (void **)&api.repository_index, "git_repository_index" },
		{ (void **)&api.reference_name_to_id, "git_reference_name_to_id" },
		{ (void **)&api.reference_lookup, "git_reference_lookup" },
		{ (void **)&api.reference_type, "git_reference_type" },
		{ (void **)&api.reference_symbolic_target, "git_reference_symbolic_target" },
		{ (void **)&api.reference_free, "git_reference_free" },
		{ (void **)&api.oid_tostr, "git_oid_tostr" },
		{ (void **)&api.index_entrycount, "git_index_entrycount" },
		{ (void **)&api.index_get_byindex, "git_index_get_byindex" },
		{ (void **)&api.index_free, "git_index_free" },
		{ (void **)&api.status_list_new, "git_status_list_new" },
		{ (void **)&api.status_list_entrycount, "git_status_list_entrycount" },
		{ (void **)&api.status_byindex, "git_status_byindex" },
		{ (void **)&api.status_list_free, "git_status_list_free" },
	};
	if (dl_load(LIBGIT2_SONAME, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) < 0)
		return api_state;
	if (api.libgit2_init() < 0) {
		snprintf(api_error, sizeof api_error, "libgit2 did not start");
		return api_state;
	}
	/* Only reading: a repository owned by someone else (a colleague's clone) is read too. */
	api.libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	api_state = 1;
	return api_state;
}

static const char *last_error(void)
{
	const git_error *e = api.error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

void fp_git_free(struct fp_git *g)
{
	free(g->prefix);
	free(g->commit);
	free(g->branch);
	strvec_free(&g->tracked);
	strvec_free(&g->untracked);
	strvec_free(&g->dirty);
	memset(g, 0, sizeof *g);
}

/* Some ancestor of dir (or dir) holds .git: only then is libgit2 worth loading. */
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

/* path (relative to the repository's top) under the prefix: the rest, else NULL. */
static const char *under_prefix(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 ? path + n : NULL;
}

static void read_head(git_repository *repo, struct fp_git *g)
{
	git_oid oid;
	if (api.reference_name_to_id(&oid, repo, "HEAD") == 0) {
		char hex[GIT_OID_HEXSZ + 1];
		g->commit = xstrdup(api.oid_tostr(hex, sizeof hex, &oid));
	}
	git_reference *head = NULL;
	if (api.reference_lookup(&head, repo, "HEAD") == 0) {
		const char *target = api.reference_type(head) == GIT_REFERENCE_SYMBOLIC
					     ? api.reference_symbolic_target(head) : NULL;
		if (target && !strncmp(target, "refs/heads/", 11))
			g->branch = xstrdup(target + 11);
		api.reference_free(head);
	}
}

/* Tracked files under the prefix (the index: ls-files --cached), each once. */
static int read_index(git_repository *repo, struct fp_git *g, struct rp_err *err)
{
	git_index *index = NULL;
	if (api.repository_index(&index, repo) < 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "git index: %s", last_error());
	size_t n = api.index_entrycount(index);
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *e = api.index_get_byindex(index, i);
		const char *rel = e ? under_prefix(e->path, g->prefix) : NULL;
		/* unmerged paths have one entry per stage, next to each other */
		if (rel && *rel && (!g->tracked.n || strcmp(g->tracked.v[g->tracked.n - 1], rel)))
			strvec_push(&g->tracked, rel);
	}
	api.index_free(index);
	return 0;
}

/* Changed paths under the prefix (status: staged, modified, deleted, untracked not ignored;
 * renames not detected), and the untracked files among them. */
static int read_status(git_repository *repo, struct fp_git *g, struct rp_err *err)
{
	git_status_options opts;
	memset(&opts, 0, sizeof opts);
	opts.version = GIT_STATUS_OPTIONS_VERSION;
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	char *spec = g->prefix[0] ? xstrdup(g->prefix) : NULL;
	if (spec) {
		opts.pathspec.strings = &spec;
		opts.pathspec.count = 1;
	}
	git_status_list *list = NULL;
	int rc = api.status_list_new(&list, repo, &opts);
	free(spec);
	if (rc < 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "git status: %s", last_error());
	size_t n = api.status_list_entrycount(list);
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = api.status_byindex(list, i);
		if (!e || e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED))
			continue;
		const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
		const char *path = d ? (d->new_file.path ? d->new_file.path : d->old_file.path) : NULL;
		const char *rel = path ? under_prefix(path, g->prefix) : NULL;
		if (!rel || !*rel)
			continue;
		strvec_push(&g->dirty, rel);
		if (e->status & GIT_STATUS_WT_NEW)
			strvec_push(&g->untracked, rel);
	}
	api.status_list_free(list);
	return 0;
}

int fp_git_read(const char *workdir, struct fp_git *g, struct rp_err *err)
{
	memset(g, 0, sizeof *g);
	if (!has_git_ancestor(workdir))
		return 0;
	if (load_api() < 0) {
		g->unavailable = api_error;
		return 0;
	}
	git_repository *repo = NULL;
	if (api.repository_open_ext(&repo, workdir, 0, NULL) < 0 || api.repository_is_bare(repo)) {
		if (repo)
			api.repository_free(repo);
		return 0; /* not a work tree after all (or one libgit2 cannot read): a plain tree */
	}
	char *top = realpath(api.repository_workdir(repo), NULL), *wd = realpath(workdir, NULL);
	int rc = 0;
	if (!top || !wd) {
		rc = rp_err_sys(err, "cannot resolve %s", wd ? api.repository_workdir(repo) : workdir);
	} else {
		size_t n = strlen(top);
		if (strcmp(wd, top) == 0)
			g->prefix = xstrdup("");
		else if (strncmp(wd, top, n) == 0 && wd[n] == '/')
			g->prefix = xasprintf("%s/", wd + n + 1);
	}
	if (rc == 0 && g->prefix) {
		g->is_git = true;
		read_head(repo, g);
		rc = read_index(repo, g, err);
		if (rc == 0)
			rc = read_status(repo, g, err);
	}
	free(top);
	free(wd);
	api.repository_free(repo);
	if (rc < 0)
		fp_git_free(g);
	return rc;
}
