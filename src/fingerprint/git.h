/* A workdir's git facts, read with libgit2 without running anything the repository controls
 * (git.c). */
#ifndef RP_FP_GIT_H
#define RP_FP_GIT_H

#include <stdbool.h>

#include "err.h"
#include "util.h"

struct fp_git {
	bool is_git;             /* the workdir is inside a git work tree */
	const char *unavailable; /* why git facts could not be read (libgit2 missing), or NULL */
	char *prefix;            /* workdir relative to the top: "" or "sub/dir/" */
	char *commit;            /* NULL before the first commit */
	char *branch;            /* NULL when detached */
	struct strvec tracked;   /* index entries under the workdir, relative to it */
	struct strvec untracked; /* untracked, not ignored files under it */
	struct strvec dirty;     /* staged, modified, deleted or untracked paths under it */
};

/* Read them; a workdir outside any repository (or with libgit2 unavailable: see unavailable)
 * leaves is_git false. -1 with err when the repository cannot be read. */
int fp_git_read(const char *workdir, struct fp_git *g, struct rp_err *err);
void fp_git_free(struct fp_git *g);

#endif
