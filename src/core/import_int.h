/* Between import.c (landing runs) and import_verify.c (reading, staging and checking an archive). */
#ifndef RP_IMPORT_INT_H
#define RP_IMPORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "archive_api.h"
#include "import.h"

struct cJSON;

/* A run the manifest lists (its strings point into the manifest). */
struct imp_run {
	const char *uid, *id, *name;
};

enum imp_kind { IMP_DIR, IMP_FILE, IMP_LINK };

/* One entry of the archive, as staged. */
struct imp_entry {
	char *path;               /* normalised: runs/<uid>/..., no trailing '/' */
	enum imp_kind kind;
	uint64_t size;
	unsigned char sha[32];
	char *target;             /* IMP_LINK */
	long long mtime, mtime_ns;
	bool listed;              /* seen in the manifest's files */
};

/* What a verified archive staged under stage_fd/runs/<uid>/. */
struct imp_staged {
	struct imp_entry *e;
	size_t n, cap;
	size_t *slots, nslots;    /* open addressing on path: index + 1, 0 empty */
	uint64_t total;           /* file bytes written */
	struct cJSON *manifest;
	struct imp_run *runs;
	size_t nruns;
	const char *created, *host;
};

/* Read archive a to its end into stage_fd and verify it against its manifest. */
int imp_stage(const struct rp_archive_api *api, struct archive *a, int stage_fd, uint64_t max_size,
	      const struct import_opts *progress, uint64_t archive_size, struct imp_staged *s, struct rp_err *err);
void imp_staged_free(struct imp_staged *s);
/* A well-formed UUID (8-4-4-4-12 hex digits). */
bool imp_is_uuid(const char *s);
/* Read a staged file (no symlink followed) of at most max bytes, NUL-terminated. */
int imp_read_staged(int stage_fd, const char *path, size_t max, char **out, size_t *len, struct rp_err *err);

#endif
