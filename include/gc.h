/* gc: removing what runs left behind, and runs a policy no longer keeps.
 *
 * Only RunPilot's own things, and only what is provably unused:
 *   - dead supervisors' runs (their claim's lock is free): marked lost, their overlay work dir
 *     and temp files removed, their active/ entry dropped once nothing of theirs is left;
 *   - cgroups named runpilot-<id>-<uid8>[-...] in every hierarchy (v1 and v2) that hold no
 *     process and no child: those of this store's runs whose supervisor is gone; those of runs
 *     this store does not know (another store's) only when untouched for an hour;
 *   - Docker containers labelled with this store's home whose run is not running;
 *   - temp dirs under <home>/tmp/ and images/tmp/ (and half-made images/rootfs/.unpack-*) whose
 *     lock (the entry's own flock, or its .lock file's) is free, a minute old at least;
 *   - NAME.tmp.PID files in run directories of processes that are gone;
 *   - index rows whose run directory is gone;
 *   - trash entries older than the trash age (from the entry's mtime: the time rm moved it).
 * Then the policy: runs moved to the trash as rm does; running runs never. */
#ifndef RP_GC_H
#define RP_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "util.h"

enum gc_kind {
	GC_CGROUP,
	GC_CONTAINER,
	GC_OVERLAY_WORK,
	GC_TEMP_DIR,
	GC_TEMP_FILE,
	GC_INDEX_ROW,
	GC_TRASH,
	GC_LOST,       /* a run marked lost */
	GC_POLICY,     /* a run moved to the trash by the policy */
	GC_EMPTY_RUN_DIR, /* a run directory with nothing in it: its runpilot died making it */
	GC_NKINDS
};

/* One thing removed (or, in a dry run, that would be), or that could not be. */
struct gc_item {
	enum gc_kind kind;
	const char *what;     /* a path; a container's name; a run id (index rows, lost, policy) */
	const char *detail;   /* containers: their run id; lost: why; else NULL */
	uint64_t bytes;       /* trash entries: their size */
	const char *error;    /* NULL when done; else why it was not */
};

struct gc_events {
	void (*item)(void *ctx, const struct gc_item *it);
	/* Something gc did not check or left on purpose ("docker: no engine ...: containers not checked"). */
	void (*note)(void *ctx, const char *msg);
	/* Before the policy moves runs (ids oldest first): false keeps them all. NULL: yes. */
	bool (*confirm)(void *ctx, const struct strvec *ids);
	/* Over the run directories, the longest part. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* Which runs the policy removes: all conditions given must hold (AND). */
struct gc_policy {
	long keep_last;          /* < 0: not given; else the newest N (of the statuses) are kept */
	double older_than_s;     /* 0: not given; else runs that ended longer ago than this */
	char **statuses;         /* any of these (status as of now); none: any */
	size_t nstatuses;
};

struct gc_opts {
	bool dry_run;
	double trash_age_s;
	bool policy_given;
	struct gc_policy policy;
};

/* Everything above, each thing told through ev->item. Fails only when the store cannot be
 * read; what could not be removed is an item with its error. */
int gc_run(const struct rp_store *st, const struct gc_opts *o, const struct gc_events *ev, struct rp_err *err);

#endif
