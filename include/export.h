/* Exporting runs into one archive, the format `runpilot import` reads back: a pax tar,
 * optionally gzip- or zstd-compressed, holding each run directory's entries under
 * runs/<uid>/ (directories, regular files, symbolic links that stay inside the run; run.lock
 * and the supervisor's *.tmp.* files never) and MANIFEST.json last: the runs, and every
 * non-directory entry in archive order with its size and SHA-256, computed in the same pass
 * that writes the file. Memory stays flat: files are streamed through one buffer. */
#ifndef RP_EXPORT_H
#define RP_EXPORT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define EXPORT_FORMAT_VERSION 1

enum export_compress { EXPORT_NONE, EXPORT_GZIP, EXPORT_ZSTD };

/* "none", "gzip", "zstd" → *c; a usage error otherwise. */
int export_compress_parse(const char *s, enum export_compress *c, struct rp_err *err);
/* The compression an output name asks for: .tar none, .tar.gz/.tgz gzip, .tar.zst zstd; false
 * for any other name. */
bool export_compress_for_name(const char *path, enum export_compress *c);

struct export_request {
	char *const *refs;          /* the runs: ids, numbers, names, "last" (duplicates go once) */
	size_t nrefs;
	const char *path;           /* the archive; NULL: write to fd instead */
	int fd;                     /* with path NULL (stdout): not closed, not synced */
	enum export_compress compress;
	bool no_outputs;            /* leave out outputs/ (its directory entry stays, empty) */
	/* After each chunk: bytes of file data done, of total (a stat walk before writing). */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	/* Set (by a signal handler) to stop: the export fails and leaves no file. May be NULL. */
	volatile sig_atomic_t *stop;
};

struct export_run {
	char id[RP_ID_MAX];
	char *uid, *name;
	uint64_t bytes;             /* its files' data in the archive */
};

struct export_result {
	struct export_run *runs;    /* in archive order */
	size_t nruns;
	uint64_t total_bytes;       /* file data, every run */
	uint64_t archive_bytes;     /* what was written, compressed */
};

/* Write the archive. Every run is resolved and checked before anything is written: a run that
 * is running, or whose supervisor still holds its claim, is a usage error naming it. With a
 * path, the archive is written to a temporary file next to it, synced and renamed into place;
 * on any failure the temporary file is removed and path is untouched. */
int export_runs(const struct export_request *req, struct export_result *res, struct rp_err *err);
void export_result_free(struct export_result *res);

#endif
