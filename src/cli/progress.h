/* A one-line progress bar on stderr for long work (export, import, reindex, gc), shown only when
 * stderr is a terminal; elsewhere every call is a no-op, so logs and pipes stay clean. */
#ifndef RP_PROGRESS_H
#define RP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *label;   /* "export", "import", ... */
	uint64_t total;      /* bytes (or items, with .items) to do; 0 when unknown */
	bool items;          /* count items rather than bytes */
	bool on;             /* stderr is a terminal */
	double last_draw;    /* monotonic seconds of the last redraw */
	bool drawn;
};

void progress_begin(struct progress *p, const char *label, uint64_t total, bool items);
/* Redraws at most ten times a second, and always at 100%. */
void progress_update(struct progress *p, uint64_t done);
/* Clears the line. */
void progress_end(struct progress *p);
/* A progress_update with the (void *) context the core's callbacks take. */
void progress_callback(void *ctx, uint64_t done, uint64_t total);

#endif
