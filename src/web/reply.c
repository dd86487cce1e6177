/* reply.c: responses, each with the security headers every answer carries (docs/ui.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ui_source.h"
#include "util.h"
#include "web_int.h"

static const char csp[] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
			  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

void web_security_headers(const struct rp_mhd_api *m, struct MHD_Response *resp, const char *policy, const char *cache)
{
	m->add_response_header(resp, "Content-Security-Policy", policy);
	m->add_response_header(resp, "X-Content-Type-Options", "nosniff");
	m->add_response_header(resp, "Referrer-Policy", "no-referrer");
	m->add_response_header(resp, "Cache-Control", cache);
}

int web_queue(struct web_req *r, unsigned status, struct MHD_Response *resp)
{
	const struct rp_mhd_api *m = r->srv->mhd;
	web_security_headers(m, resp, csp, r->is_api ? "no-store" : "no-cache");
	enum MHD_Result rc = m->queue_response(r->conn, status, resp);
	m->destroy_response(resp);
	r->answered = true;
	return rc;
}

int web_reply_buffer(struct web_req *r, unsigned status, const char *type, const void *data, size_t n, bool copy)
{
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(
		n, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	r->srv->mhd->add_response_header(resp, "Content-Type", type);
	return web_queue(r, status, resp);
}

struct MHD_Response *web_json_response(const struct rp_mhd_api *m, cJSON *json, unsigned *status)
{
	static const char oom[] = "{\"error\":\"out of memory\"}";
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	struct MHD_Response *resp;
	if (text) {
		resp = m->response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(text);
	} else {
		*status = 500;
		resp = m->response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
	}
	if (resp)
		m->add_response_header(resp, "Content-Type", "application/json");
	return resp;
}

int web_reply_json(struct web_req *r, unsigned status, cJSON *json)
{
	struct MHD_Response *resp = web_json_response(r->srv->mhd, json, &status);
	return resp ? web_queue(r, status, resp) : MHD_NO;
}

int web_reply_error(struct web_req *r, unsigned status, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	if (o)
		cJSON_AddStringToObject(o, "error", msg);
	return web_reply_json(r, status, o);
}

int web_reply_err(struct web_req *r, const struct rp_err *err)
{
	unsigned status = 500;
	if (ui_err_is_not_found(err))
		status = 404;
	else if (err->kind == RP_ERR_USAGE)
		status = 400;
	return web_reply_error(r, status, "%s", err->msg[0] ? err->msg : "unknown error");
}
