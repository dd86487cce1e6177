/* auth.c: the token of the URL `runpilot ui` prints. It comes as ?token= on a page (answered by a
 * redirect that sets it as a cookie), as the cookie, or as `Authorization: Bearer`; compared in
 * constant time. A POST must also come from the page itself (X-Requested-With, Origin). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#include "util.h"
#include "web_int.h"

int web_token_new(char out[WEB_TOKEN_HEX + 1], struct rp_err *err)
{
	unsigned char raw[WEB_TOKEN_HEX / 2];
	if (random_bytes(raw, sizeof raw) < 0)
		return rp_err_sys(err, "getrandom");
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static bool token_ok(const struct web_server *s, const char *given)
{
	if (!given || strlen(given) != WEB_TOKEN_HEX)
		return false;
	return CRYPTO_memcmp(given, s->token, WEB_TOKEN_HEX) == 0;
}

static const char *bearer(struct web_req *r)
{
	const char *h = r->srv->mhd->lookup_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

enum web_auth web_auth_check(struct web_req *r)
{
	const struct rp_mhd_api *m = r->srv->mhd;
	const char *q = m->lookup_value(r->conn, MHD_GET_ARGUMENT_KIND, "token");
	if (q && !r->is_api && !strcmp(r->method, "GET"))
		return token_ok(r->srv, q) ? WEB_AUTH_REDIRECT : WEB_AUTH_DENIED;
	if (token_ok(r->srv, m->lookup_value(r->conn, MHD_COOKIE_KIND, r->srv->cookie)))
		return WEB_AUTH_OK;
	if (token_ok(r->srv, bearer(r)))
		return WEB_AUTH_OK;
	return WEB_AUTH_DENIED;
}

/* Percent-encode s onto f, leaving RFC 3986's unreserved characters (and '/' when keep_slash). */
static void put_encoded(FILE *f, const char *s, bool keep_slash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p) || (keep_slash && *p == '/'))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
	}
}

struct query_ctx {
	FILE *f;
	bool first;
};

static enum MHD_Result put_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_ctx *q = cls;
	if (!strcmp(key, "token"))
		return MHD_YES;
	fputc(q->first ? '?' : '&', q->f);
	q->first = false;
	put_encoded(q->f, key, false);
	if (value) {
		fputc('=', q->f);
		put_encoded(q->f, value, false);
	}
	return MHD_YES;
}

int web_auth_redirect(struct web_req *r)
{
	char *loc = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&loc, &n);
	if (!f)
		return MHD_NO;
	/* one leading slash: "//host/..." would send the browser to another host */
	const char *path = r->path;
	while (path[0] == '/' && path[1] == '/')
		path++;
	put_encoded(f, path, true);
	struct query_ctx q = {f, true};
	r->srv->mhd->get_values(r->conn, MHD_GET_ARGUMENT_KIND, put_arg, &q);
	if (fclose(f)) {
		free(loc);
		return MHD_NO;
	}
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(loc);
		return MHD_NO;
	}
	char *cookie = xasprintf("%s=%s; HttpOnly; SameSite=Strict; Path=/", r->srv->cookie, r->srv->token);
	r->srv->mhd->add_response_header(resp, "Location", loc);
	r->srv->mhd->add_response_header(resp, "Set-Cookie", cookie);
	free(cookie);
	free(loc);
	return web_queue(r, 303, resp);
}

bool web_auth_same_origin(struct web_req *r)
{
	const struct rp_mhd_api *m = r->srv->mhd;
	const char *xrw = m->lookup_value(r->conn, MHD_HEADER_KIND, "X-Requested-With");
	if (!xrw || strcmp(xrw, "runpilot"))
		return false;
	const char *origin = m->lookup_value(r->conn, MHD_HEADER_KIND, "Origin");
	if (!origin)
		return true;
	const char *host = m->lookup_value(r->conn, MHD_HEADER_KIND, "Host");
	if (!host || strncmp(origin, "http://", 7))
		return false;
	return !strcmp(origin + 7, host);
}

/* Served on loopback, a request must name the server as its Host (127.0.0.1, localhost or [::1]
 * with the port): a page of another site whose name was made to point at 127.0.0.1 (DNS
 * rebinding) names its own. */
bool web_host_ok(struct web_req *r)
{
	if (!r->srv->loopback)
		return true;
	const char *host = r->srv->mhd->lookup_value(r->conn, MHD_HEADER_KIND, "Host");
	if (!host)
		return false;
	if (!strcasecmp(host, r->srv->host))
		return true;
	static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t n = strlen(names[i]);
		if (!strncasecmp(host, names[i], n) && host[n] == ':' && atoi(host + n + 1) == r->srv->port &&
		    strspn(host + n + 1, "0123456789") == strlen(host + n + 1))
			return true;
	}
	return false;
}
