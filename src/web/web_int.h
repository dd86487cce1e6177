/* What the files of src/web share: the server, one request, and the replies. */
#ifndef RP_WEB_INT_H
#define RP_WEB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "mhd_api.h"
#include "err.h"

struct cJSON;
struct ui_source;
struct sse_stream;

#define WEB_TOKEN_HEX 64            /* 32 random bytes as hex */
#define WEB_BODY_MAX (1024 * 1024)  /* a request body larger than this is refused (413) */
#define WEB_STREAMS_MAX 64          /* open log streams; more are 503 */

struct web_server {
	const struct rp_mhd_api *mhd;
	struct MHD_Daemon *daemon;
	struct ui_source *src;
	char token[WEB_TOKEN_HEX + 1];
	char *url;
	int listen_fd;
	int port;
	bool loopback;           /* listening on 127.0.0.0/8 or ::1: a request must name it as Host */
	char cookie[32];         /* the token's cookie: its name carries the port, as cookies do not */
	char host[80];           /* ADDR:PORT as the printed URL names it */
	/* the log streams waiting for new text (sse.c) */
	pthread_mutex_t lock;
	pthread_cond_t tick_cond;
	pthread_t ticker;
	bool ticker_running;
	bool stopping;
	struct sse_stream *waiting;
	int nstreams;
};

/* One request, from its first call of the access handler to its completion. */
struct web_req {
	struct web_server *srv;
	struct MHD_Connection *conn;
	const char *method;      /* GET (HEAD too), POST, ... */
	const char *path;        /* decoded by MHD */
	bool is_api;             /* under /api/: Cache-Control: no-store */
	bool answered;
	unsigned refusal;        /* 401, 303 or 403, decided from the headers */
	bool too_big;
	char *body;
	size_t body_len;
	char *cap[2];            /* what a route's '*' and '**' matched, in order */
};

/* auth.c */
int web_token_new(char out[WEB_TOKEN_HEX + 1], struct rp_err *err);
enum web_auth { WEB_AUTH_OK, WEB_AUTH_REDIRECT, WEB_AUTH_DENIED };
/* The request's token: the cookie, Bearer, or (a page) ?token=, which asks for a redirect. */
enum web_auth web_auth_check(struct web_req *r);
/* 303 to the same URL without ?token=, setting the cookie. */
int web_auth_redirect(struct web_req *r);
/* A POST's X-Requested-With and Origin; false when refused. */
bool web_auth_same_origin(struct web_req *r);
bool web_host_ok(struct web_req *r);

/* reply.c: every response goes out through web_queue (the security headers). */
int web_queue(struct web_req *r, unsigned status, struct MHD_Response *resp);
int web_reply_buffer(struct web_req *r, unsigned status, const char *type, const void *data, size_t n,
		     bool copy);
int web_reply_json(struct web_req *r, unsigned status, struct cJSON *json); /* frees json */
int web_reply_error(struct web_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error of the source: 400, 404 or 500 by its kind. */
int web_reply_err(struct web_req *r, const struct rp_err *err);

/* routes.c */
int web_dispatch(struct web_req *r);
/* Does path match a route's pattern ('*': one segment, '**': the rest)? cap[] gets what the
 * wildcards matched (allocated; NULL when none). */
bool web_route_match(const char *pattern, const char *path, char *cap[2]);
/* A path with a "." or ".." segment names nothing here. */
bool web_path_has_dot_segment(const char *path);
/* Content-Disposition for a download named name: the quoted filename has '_' for what is not
 * printable ASCII, '"' and '\\'; RFC 5987's filename* besides when the name is not all ASCII. */
char *web_disposition(const char *name);

/* server.c: MHD's percent-decoding in place, but "%00" is left as it is (a NUL would cut a path
 * short); the new length. */
size_t web_unescape(char *s);

/* sse.c */
int web_sse_start(struct web_req *r, const char *id, long long offset);
int web_sse_ticker_start(struct web_server *s, struct rp_err *err);
/* End every stream and join the ticker: before the daemon stops (no suspended connection may
 * remain then). */
void web_sse_stop(struct web_server *s);

/* assets.c */
struct web_asset {
	const char *name;
	const unsigned char *data;
	const unsigned char *end;
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;
/* The asset by its name (index.html, app.js, uPlot.iife.min.js, ...), NULL if none. */
int web_serve_asset(struct web_req *r, const char *name);

#endif
