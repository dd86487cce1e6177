/* bundle.h: the files of an import's source (a tar or a directory), copied and hashed into its
 * temporary directory (bundle.c). */
#ifndef RP_BUNDLE_H
#define RP_BUNDLE_H

#include <cjson/cJSON.h>

#include "img_int.h"

struct bundle_member {
	char *name;      /* checked relative path */
	char *file;      /* the staged copy, or NULL for a link */
	char *link;      /* a link's target member, or NULL */
	char hex[65];    /* sha256 of the copy */
	long long size;
};

struct bundle {
	int dir_fd;      /* a directory source, else -1 (a tar, read whole at open) */
	char *stage;     /* the import's temporary directory; copies go to <stage>/in/ */
	const char *image;
	struct img_budget *budget;
	struct bundle_member **m;
	size_t n, seq;
};

int bundle_open(struct bundle *b, const char *path, const char *stage, const char *image, struct img_budget *budget,
		struct rp_err *err);
void bundle_close(struct bundle *b);
/* The member of that name (links followed inside the bundle), NULL when there is none (err
 * untouched) or on an error (err filled: pass a cleared one). */
struct bundle_member *bundle_get(struct bundle *b, const char *name, struct rp_err *err);
/* 1 and *out parsed, 0 when there is no such member, -1 on an error. */
int bundle_read_json(struct bundle *b, const char *name, cJSON **out, struct rp_err *err);

#endif
