/* fsck: the whole store checked, and with repair, what needs no guessing repaired.
 *
 *   - what runs left behind, through gc (gc.h, without its trash and policy passes): runs whose
 *     runpilot died (repair: marked lost), empty cgroups, containers, overlay work dirs, temp
 *     dirs and files of dead processes, index rows whose run directory is gone;
 *   - each run directory: run.json parses, its id is the directory's name, it has a uid; a run
 *     that ended success or failed has logs.txt and ended_at; metrics.json parses and names the
 *     metrics run.json's summary names; metrics.jsonl's complete lines are points;
 *     annotations.json parses. A run whose record files are
 *     damaged is quarantined (repair: moved to trash/ as rm does, with FSCK_NOTE_FILE saying
 *     why; `runpilot restore` brings it back), never deleted; a running one is left alone;
 *   - the index (index.db): readable, of this schema, a row for each run that agrees with its
 *     run.json (status, name); repair: rebuilt from the directories;
 *   - the image store: each blob's sha256 against its name (repair: the damaged blob removed;
 *     the images using it need a pull or import again), blobs images list that are missing.
 * Nothing is hashed but the image store's blobs. */
#ifndef RP_FSCK_H
#define RP_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Written into a quarantined run's directory: when and why fsck moved it. */
#define FSCK_NOTE_FILE "FSCK-NOTE.txt"

enum fsck_area { FSCK_RUN, FSCK_INDEX, FSCK_LEFTOVER, FSCK_IMAGE };

enum fsck_state {
	FSCK_LEFT,          /* no repair without guessing: for a person */
	FSCK_REPAIRABLE,    /* repair would fix it (not asked for) */
	FSCK_REPAIRED,
	FSCK_REPAIR_FAILED, /* error says why */
};

/* One problem found. */
struct fsck_finding {
	enum fsck_area area;
	const char *what;      /* a run id, "index.db", a path, a container, a blob's sha256 */
	const char *file;      /* the file of a run (run.json, metrics.json, ...), "index"; or NULL */
	const char *problem;   /* one line */
	const char *fix;       /* what repair does ("quarantine it to trash/rp_0007"), NULL when LEFT */
	const char *fixed;     /* the same done ("quarantined to trash/rp_0007") */
	enum fsck_state state;
	const char *error;     /* REPAIR_FAILED: why */
};

struct fsck_events {
	void (*finding)(void *ctx, const struct fsck_finding *f);
	/* Something not checked ("docker: no engine ...: containers not checked"). */
	void (*note)(void *ctx, const char *msg);
	/* Over the run directories. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* What was looked at. */
struct fsck_counts {
	size_t runs, index_rows, blobs;
};

/* Check the store (and repair, when repair is set), each problem told through ev->finding.
 * Fails only when the store cannot be read at all. */
int fsck_run(const struct rp_store *st, bool repair, const struct fsck_events *ev, struct fsck_counts *counts,
	     struct rp_err *err);

#endif
