/* archive_api.c: libarchive found by its soname at first use (include/archive_api.h). */
#include <stdio.h>

#include "archive_api.h"
#include "util.h"

#ifndef LIBARCHIVE_SONAME
#define LIBARCHIVE_SONAME "libarchive.so"
#endif

#define SYM(field, name) { (void **)&api.field, #name }

static struct rp_archive_api api;
static int api_state; /* 0 not tried, 1 ready, -1 unavailable */
static char api_error[256];

static int load_api(void)
{
	if (api_state)
		return api_state;
	api_state = -1;
	const struct dl_sym syms[] = {
		SYM(read_new, archive_read_new),
		SYM(support_filter_all, archive_read_support_filter_all),
		SYM(support_format_tar, archive_read_support_format_tar),
		SYM(open_fd, archive_read_open_fd),
		SYM(open_memory, archive_read_open_memory),
		SYM(next_header, archive_read_next_header),
		SYM(data_block, archive_read_data_block),
		SYM(read_data, archive_read_data),
		SYM(data_skip, archive_read_data_skip),
		SYM(read_free, archive_read_free),
		SYM(filter_bytes, archive_filter_bytes),
		SYM(write_new, archive_write_new),
		SYM(write_set_format_pax_restricted, archive_write_set_format_pax_restricted),
		SYM(write_add_filter_gzip, archive_write_add_filter_gzip),
		SYM(write_add_filter_zstd, archive_write_add_filter_zstd),
		SYM(write_add_filter_none, archive_write_add_filter_none),
		SYM(write_set_filter_option, archive_write_set_filter_option),
		SYM(write_set_bytes_in_last_block, archive_write_set_bytes_in_last_block),
		SYM(write_set_bytes_per_block, archive_write_set_bytes_per_block),
		SYM(write_open_fd, archive_write_open_fd),
		SYM(write_open, archive_write_open),
		SYM(write_header, archive_write_header),
		SYM(write_data, archive_write_data),
		SYM(write_close, archive_write_close),
		SYM(write_free, archive_write_free),
		SYM(error_string, archive_error_string),
		SYM(entry_new, archive_entry_new),
		SYM(entry_clear, archive_entry_clear),
		SYM(entry_free, archive_entry_free),
		SYM(entry_pathname, archive_entry_pathname),
		SYM(entry_filetype, archive_entry_filetype),
		SYM(entry_perm, archive_entry_perm),
		SYM(entry_size, archive_entry_size),
		SYM(entry_size_is_set, archive_entry_size_is_set),
		SYM(entry_symlink, archive_entry_symlink),
		SYM(entry_hardlink, archive_entry_hardlink),
		SYM(entry_mtime, archive_entry_mtime),
		SYM(entry_mtime_nsec, archive_entry_mtime_nsec),
		SYM(entry_set_pathname, archive_entry_set_pathname),
		SYM(entry_set_filetype, archive_entry_set_filetype),
		SYM(entry_set_perm, archive_entry_set_perm),
		SYM(entry_set_size, archive_entry_set_size),
		SYM(entry_set_symlink, archive_entry_set_symlink),
		SYM(entry_set_mtime, archive_entry_set_mtime),
	};
	if (dl_load(LIBARCHIVE_SONAME, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) < 0)
		return api_state;
	api_state = 1;
	return api_state;
}

const struct rp_archive_api *rp_archive(struct rp_err *err)
{
	if (load_api() < 0) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s", api_error);
		return NULL;
	}
	return &api;
}
