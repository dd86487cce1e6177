/* archive.c: libarchive (Debian's libarchive-dev), loaded with dlopen only when an import or
 * an unpack reads a tar: it and its compression libraries cost every other command (a plain
 * `runpilot run`) nothing. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>

#include "img_int.h"
#include "log.h"

#ifndef LIBARCHIVE_SONAME
#define LIBARCHIVE_SONAME "libarchive.so"
#endif

static struct img_archive_api api;
static int api_state; /* 0 not tried, 1 ready, -1 unavailable */
static char api_error[256];

static int load_api(void)
{
	if (api_state)
		return api_state;
	api_state = -1;
	const struct dl_sym syms[] = {
		{ (void **)&api.read_new, "archive_read_new" },
		{ (void **)&api.support_filter_all, "archive_read_support_filter_all" },
		{ (void **)&api.support_format_tar, "archive_read_support_format_tar" },
		{ (void **)&api.open_fd, "archive_read_open_fd" },
		{ (void **)&api.next_header, "archive_read_next_header" },
		{ (void **)&api.data_block, "archive_read_data_block" },
		{ (void **)&api.data_skip, "archive_read_data_skip" },
		{ (void **)&api.error_string, "archive_error_string" },
		{ (void **)&api.read_free, "archive_read_free" },
		{ (void **)&api.entry_pathname, "archive_entry_pathname" },
		{ (void **)&api.entry_filetype, "archive_entry_filetype" },
		{ (void **)&api.entry_perm, "archive_entry_perm" },
		{ (void **)&api.entry_size, "archive_entry_size" },
		{ (void **)&api.entry_size_is_set, "archive_entry_size_is_set" },
		{ (void **)&api.entry_symlink, "archive_entry_symlink" },
		{ (void **)&api.entry_hardlink, "archive_entry_hardlink" },
		{ (void **)&api.entry_mtime, "archive_entry_mtime" },
		{ (void **)&api.entry_mtime_nsec, "archive_entry_mtime_nsec" },
	};
	if (dl_load(LIBARCHIVE_SONAME, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) < 0)
		return api_state;
	api_state = 1;
	return api_state;
}

const struct img_archive_api *img_archive(struct rp_err *err)
{
	if (load_api() < 0) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s", api_error);
		return NULL;
	}
	return &api;
}

struct archive *img_archive_open(const struct img_archive_api *a, int fd, const char *what, struct rp_err *err)
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
