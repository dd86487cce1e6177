/* libarchive (Debian's libarchive-dev), loaded with dlopen on first use: it and its compression
 * libraries cost the commands that never read or write a tar (a plain `runpilot run`) nothing.
 * The image store unpacks layers with it; export and import write and read run archives. */
#ifndef RP_ARCHIVE_API_H
#define RP_ARCHIVE_API_H

#include <archive.h>
#include <archive_entry.h>

#include "err.h"

/* The libarchive calls we make, found by name in the loaded library (their own prototypes). */
struct rp_archive_api {
	/* reading */
	__typeof__(archive_read_new) *read_new;
	__typeof__(archive_read_support_filter_all) *support_filter_all;
	__typeof__(archive_read_support_format_tar) *support_format_tar;
	__typeof__(archive_read_open_fd) *open_fd;
	__typeof__(archive_read_open_memory) *open_memory;
	__typeof__(archive_read_next_header) *next_header;
	__typeof__(archive_read_data_block) *data_block;
	__typeof__(archive_read_data) *read_data;
	__typeof__(archive_read_data_skip) *data_skip;
	__typeof__(archive_read_free) *read_free;
	__typeof__(archive_filter_bytes) *filter_bytes;
	/* writing */
	__typeof__(archive_write_new) *write_new;
	__typeof__(archive_write_set_format_pax_restricted) *write_set_format_pax_restricted;
	__typeof__(archive_write_add_filter_gzip) *write_add_filter_gzip;
	__typeof__(archive_write_add_filter_zstd) *write_add_filter_zstd;
	__typeof__(archive_write_add_filter_none) *write_add_filter_none;
	__typeof__(archive_write_set_filter_option) *write_set_filter_option;
	__typeof__(archive_write_set_bytes_in_last_block) *write_set_bytes_in_last_block;
	__typeof__(archive_write_set_bytes_per_block) *write_set_bytes_per_block;
	__typeof__(archive_write_open_fd) *write_open_fd;
	__typeof__(archive_write_open) *write_open;
	__typeof__(archive_write_header) *write_header;
	__typeof__(archive_write_data) *write_data;
	__typeof__(archive_write_close) *write_close;
	__typeof__(archive_write_free) *write_free;
	/* both */
	__typeof__(archive_error_string) *error_string;
	/* entries */
	__typeof__(archive_entry_new) *entry_new;
	__typeof__(archive_entry_clear) *entry_clear;
	__typeof__(archive_entry_free) *entry_free;
	__typeof__(archive_entry_pathname) *entry_pathname;
	__typeof__(archive_entry_filetype) *entry_filetype;
	__typeof__(archive_entry_perm) *entry_perm;
	__typeof__(archive_entry_size) *entry_size;
	__typeof__(archive_entry_size_is_set) *entry_size_is_set;
	__typeof__(archive_entry_symlink) *entry_symlink;
	__typeof__(archive_entry_hardlink) *entry_hardlink;
	__typeof__(archive_entry_mtime) *entry_mtime;
	__typeof__(archive_entry_mtime_nsec) *entry_mtime_nsec;
	__typeof__(archive_entry_set_pathname) *entry_set_pathname;
	__typeof__(archive_entry_set_filetype) *entry_set_filetype;
	__typeof__(archive_entry_set_perm) *entry_set_perm;
	__typeof__(archive_entry_set_size) *entry_set_size;
	__typeof__(archive_entry_set_symlink) *entry_set_symlink;
	__typeof__(archive_entry_set_mtime) *entry_set_mtime;
};

/* The loaded API, or NULL with err when libarchive cannot be loaded. */
const struct rp_archive_api *rp_archive(struct rp_err *err);

#endif
