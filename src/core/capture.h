/* capture.c: the job's output (one pipe for stdout and stderr, so their order is kept) copied to
 * the terminal and to logs.txt, nothing lost at any volume; then the metrics recorder reads the
 * same bytes (metrics.h), after the log and the terminal have them.
 *
 * logs.txt may be cut, never the job: at resources.log_bytes its head and tail are kept (the
 * tail in memory until the end, then a marker line and the tail are appended), and a write that
 * fails (a full disk) stops the log while the output keeps draining to the terminal and the
 * metrics. What was kept and lost is counted for run.json's "logs" section. */
#ifndef RP_CAPTURE_H
#define RP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct mx_recorder;
struct cJSON;

/* How often the job's own metrics file is read while it runs. */
#define CAPTURE_TICK_S 1.0
/* Under a cap, the tail kept is half of it, at most this much (held in memory). */
#define CAPTURE_TAIL_MAX (64ULL << 20)

struct capture {
	int in_fd;           /* read end of the job's output pipe (non-blocking) */
	int log_fd;          /* logs.txt */
	int term_fd;         /* where to stream, -1 for --quiet */
	bool term_broken;    /* the terminal went away: keep logging, stop streaming */
	bool eof;
	unsigned long long bytes;
	int log_errno;       /* first write error on logs.txt, 0 if none */
	struct mx_recorder *metrics; /* or NULL */
	/* logs.txt's cap (resources.log_bytes), 0 for none: set after capture_init. */
	unsigned long long log_cap;
	unsigned long long log_written; /* of the job's bytes, those in logs.txt */
	unsigned long long log_lost;    /* those not in it (cut by the cap or by a write error) */
	char last_logged;               /* the last byte written to logs.txt, 0 if none */
	/* The tail under a cap: a ring of tail_cap bytes, tail_len of them valid, ending at tail_end. */
	char *tail;
	size_t tail_cap, tail_len, tail_end;
	unsigned long long tail_seen;   /* bytes offered to the ring */
};

int capture_init(struct capture *c, int in_fd, const char *log_path, int term_fd, struct rp_err *err);
/* Copy what is available now. Returns 1 at EOF, 0 otherwise. */
int capture_pump(struct capture *c);
/* Every CAPTURE_TICK_S while the job runs: what the job appended to its metrics file. */
void capture_tick(struct capture *c);
/* Appends the kept tail (after its marker line), flushes and closes logs.txt. */
void capture_close(struct capture *c);
/* run.json's "logs" section, after capture_close. */
struct cJSON *capture_logs_section(const struct capture *c);

#endif
