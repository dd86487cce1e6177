/* runpilot import: runs from an export archive (docs/transfer.md), an untrusted input. The
 * whole archive is staged and verified under $RUNPILOT_HOME/tmp/import-XXXXXX/ (held with flock
 * on its .lock) before any run lands in runs/, each with one rename; nothing is landed when
 * anything is wrong, and a bad or hostile archive is a usage error naming the entry. */
#ifndef RP_IMPORT_H
#define RP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Why a symlink at REL in a run (e.g. "outputs/best") pointing to target would not be imported,
 * or NULL: the target is relative, its ".." parts come first (a ".." after a name could climb
 * out through another symlink), no more of them than the link is deep in the run. Export keeps
 * only links that pass. */
const char *import_link_problem(const char *rel, const char *target);

#define IMPORT_DEFAULT_MAX_SIZE (64ULL << 30)

struct import_opts {
	uint64_t max_size;   /* the files' sizes summed may not exceed it; 0: IMPORT_DEFAULT_MAX_SIZE */
	bool dry_run;        /* verify and plan only: nothing written outside tmp/, and that removed */
	/* called as the archive is read: bytes read, the archive's size (0 when not a regular file) */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

/* One run of the archive, in the manifest's order. */
struct import_run {
	char uid[40];
	char orig_id[RP_ID_MAX];  /* its id where it was exported */
	char id[RP_ID_MAX];       /* its local id: given (or, with dry_run, to be given), or the run already here */
	char *name;               /* may be NULL */
	bool present;             /* a run or trash entry of this uid was here already */
};

struct import_result {
	struct import_run *runs;
	size_t n, imported, present;
};

/* Import the archive read from fd (any tar the manifest describes, plain, gzip or zstd). */
int import_archive(const struct rp_store *st, int fd, const struct import_opts *o, struct import_result *res,
		   struct rp_err *err);
void import_result_free(struct import_result *res);

/* The reader and the checks alone, on an archive in memory, staged under stage_fd (an empty
 * directory, left holding what was staged): 0 for a valid export, or -1 with err (RP_ERR_USAGE
 * for a bad archive). For the fuzz target. */
int import_verify_memory(const void *buf, size_t len, int stage_fd, uint64_t max_size, struct rp_err *err);

#endif
