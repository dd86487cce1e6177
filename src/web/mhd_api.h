/* libmicrohttpd (Debian's libmicrohttpd-dev), loaded with dlopen on first use: it and GnuTLS
 * cost the commands that serve nothing (every one but `ui`) nothing. Its header gives the types
 * and prototypes only. */
#ifndef RP_WEB_MHD_API_H
#define RP_WEB_MHD_API_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "err.h"

struct rp_mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_create_response_from_buffer) *response_from_buffer;
	__typeof__(MHD_create_response_from_callback) *response_from_callback;
	__typeof__(MHD_create_response_from_fd64) *response_from_fd64;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_lookup_connection_value) *lookup_value;
	__typeof__(MHD_get_connection_values) *get_values;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
	__typeof__(MHD_quiesce_daemon) *quiesce_daemon;
	__typeof__(MHD_get_connection_info) *get_connection_info;
};

/* The headers every answer carries (reply.c): csp as Content-Security-Policy, nosniff, no
 * referrer, cache as Cache-Control. Shared by `runpilot ui` and `runpilot server`. */
void web_security_headers(const struct rp_mhd_api *m, struct MHD_Response *resp, const char *csp, const char *cache);

/* json (consumed) as an application/json answer; one of 500 with an error object when it cannot
 * be printed (*status set so). NULL when libmicrohttpd has no memory for it. */
struct cJSON;
struct MHD_Response *web_json_response(const struct rp_mhd_api *m, struct cJSON *json, unsigned *status);

/* The loaded API, or NULL with err when libmicrohttpd cannot be loaded. */
const struct rp_mhd_api *rp_mhd(struct rp_err *err);

#endif
