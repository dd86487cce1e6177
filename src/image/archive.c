/* archive.c: a tar reader on a file descriptor, for imports and unpacks (libarchive through
 * include/archive_api.h). */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>

#include "img_int.h"
#include "log.h"

struct archive *img_archive_open(const struct rp_archive_api *a, int fd, const char *what, struct rp_err *err)
{
	struct archive *ar = a->read_new();
	if (!ar)
		rp_log_out_of_memory();
	/* gzip, zstd, xz...: whatever the layer's media type says, the filters recognise it. */
	if (a->support_filter_all(ar) != ARCHIVE_OK || a->support_format_tar(ar) != ARCHIVE_OK ||
	    a->open_fd(ar, fd, 1 << 16) != ARCHIVE_OK) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s: not a tar archive (%s)", what,
			   a->error_string(ar) ? a->error_string(ar) : "unknown format");
		a->read_free(ar);
		return NULL;
	}
	return ar;
}
