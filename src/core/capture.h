/* capture.c: the job's output (one pipe for stdout and stderr, so their order is kept) copied to
 * the terminal and to logs.txt, nothing lost at any volume; then the metrics recorder reads the
 * same bytes (metrics.h), after the log and the terminal have them. */
#ifndef RP_CAPTURE_H
#define RP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct mx_recorder;

/* How often the job's own metrics file is read while it runs. */
#define CAPTURE_TICK_S 1.0

struct capture {
	int in_fd;           /* read end of the job's output pipe (non-blocking) */
	int log_fd;          /* logs.txt */
	int term_fd;         /* where to stream, -1 for --quiet */
	bool term_broken;    /* the terminal went away: keep logging, stop streaming */
	bool eof;
	unsigned long long bytes;
	int log_errno;       /* first write error on logs.txt, 0 if none */
	struct mx_recorder *metrics; /* or NULL */
};

int capture_init(struct capture *c, int in_fd, const char *log_path, int term_fd, struct rp_err *err);
/* Copy what is available now. Returns 1 at EOF, 0 otherwise. */
int capture_pump(struct capture *c);
/* Every CAPTURE_TICK_S while the job runs: what the job appended to its metrics file. */
void capture_tick(struct capture *c);
void capture_close(struct capture *c);

#endif
