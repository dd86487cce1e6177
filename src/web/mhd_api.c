/* mhd_api.c: libmicrohttpd found by its soname at first use (mhd_api.h). */
#include <stdio.h>

#include "mhd_api.h"
#include "util.h"

#ifndef LIBMHD_SONAME
#define LIBMHD_SONAME "libmicrohttpd.so"
#endif

#define SYM(field, name) { (void **)&api.field, #name }

static struct rp_mhd_api api;
static int api_state; /* 0 not tried, 1 ready, -1 unavailable */
static char api_error[256];

static int load_api(void)
{
	if (api_state)
		return api_state;
	api_state = -1;
	const struct dl_sym syms[] = {
		SYM(start_daemon, MHD_start_daemon),
		SYM(stop_daemon, MHD_stop_daemon),
		SYM(queue_response, MHD_queue_response),
		SYM(response_from_buffer, MHD_create_response_from_buffer),
		SYM(response_from_callback, MHD_create_response_from_callback),
		SYM(response_from_fd64, MHD_create_response_from_fd64),
		SYM(destroy_response, MHD_destroy_response),
		SYM(add_response_header, MHD_add_response_header),
		SYM(lookup_value, MHD_lookup_connection_value),
		SYM(get_values, MHD_get_connection_values),
		SYM(suspend_connection, MHD_suspend_connection),
		SYM(resume_connection, MHD_resume_connection),
		SYM(quiesce_daemon, MHD_quiesce_daemon),
		SYM(get_connection_info, MHD_get_connection_info),
	};
	if (dl_load(LIBMHD_SONAME, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) < 0)
		return api_state;
	api_state = 1;
	return api_state;
}

const struct rp_mhd_api *rp_mhd(struct rp_err *err)
{
	if (load_api() < 0) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s (install libmicrohttpd: apt-get install libmicrohttpd12)",
			   api_error);
		return NULL;
	}
	return &api;
}
