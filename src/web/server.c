/* server.c: the listening socket (ours, so a taken port is told apart and port 0 works), the
 * daemon (a pool of threads on epoll, with limits), and each request's way from its first call
 * (token, origin, size) to its route. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ui_source.h"
#include "util.h"
#include "web.h"
#include "web_int.h"

#define CONNECTIONS_MAX 512
#define CONNECTION_TIMEOUT_S 10
#define CONNECTION_MEMORY (128 * 1024)
#define POOL_MIN 4

static bool is_api(const char *path)
{
	return !strncmp(path, "/api/", 5) || !strcmp(path, "/api");
}

/* What the request's headers alone decide (401, 303, 403), answered once the request is read. */
static int answer_refusal(struct web_req *r)
{
	switch (r->refusal) {
	case 401:
		return web_reply_error(r, 401, "a token is needed: open the URL `runpilot ui` printed");
	case 303:
		return web_auth_redirect(r);
	case 421:
		return web_reply_error(r, 421, "refused: the request names another host than this server (open the URL `runpilot ui` printed)");
	default:
		return web_reply_error(r, 403, "refused: a change must come from the page (X-Requested-With, Origin)");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **state)
{
	struct web_server *srv = cls;
	struct web_req *r = *state;
	if (!r) { /* the headers only: decide what needs no body; a body too large is refused now */
		r = xcalloc(1, sizeof *r);
		*state = r;
		r->srv = srv;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->is_api = is_api(url);
		if (!web_host_ok(r)) {
			r->refusal = 421;
		} else switch (web_auth_check(r)) {
		case WEB_AUTH_DENIED: r->refusal = 401; break;
		case WEB_AUTH_REDIRECT: r->refusal = 303; break;
		case WEB_AUTH_OK:
			if (!strcmp(method, "POST") && !web_auth_same_origin(r))
				r->refusal = 403;
			break;
		}
		const char *len = srv->mhd->lookup_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (!r->refusal && len && strtoull(len, NULL, 10) > WEB_BODY_MAX)
			return web_reply_error(r, 413, "the request is over %d bytes", WEB_BODY_MAX);
		return MHD_YES;
	}
	if (r->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->refusal && !r->too_big && r->body_len + *upload_size <= WEB_BODY_MAX) {
			r->body = xrealloc(r->body, r->body_len + *upload_size + 1);
			memcpy(r->body + r->body_len, upload_data, *upload_size);
			r->body_len += *upload_size;
			r->body[r->body_len] = '\0';
		} else {
			r->too_big = r->too_big || r->body_len + *upload_size > WEB_BODY_MAX;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->refusal)
		return answer_refusal(r);
	if (r->too_big)
		return web_reply_error(r, 413, "the request is over %d bytes", WEB_BODY_MAX);
	return web_dispatch(r);
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return web_unescape(s);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode toe)
{
	struct web_req *r = *state;
	if (!r)
		return;
	free(r->body);
	free(r->cap[0]);
	free(r->cap[1]);
	free(r);
	*state = NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t web_unescape(char *s)
{
	char *w = s;
	for (const char *p = s; *p;) {
		int hi, lo;
		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 && (hi || lo)) {
			*w++ = (char)(hi * 16 + lo);
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* A socket listening on addr:port; -1 with err (EADDRINUSE: errno kept, for the next port). */
static int listen_on(const char *addr, int port, struct sockaddr_storage *sa, socklen_t *salen, struct rp_err *err)
{
	memset(sa, 0, sizeof *sa);
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*salen = sizeof *v4;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*salen = sizeof *v6;
	} else {
		return rp_err_set(err, RP_ERR_USAGE, "--listen '%s': not an IPv4 or IPv6 address (e.g. 127.0.0.1)", addr);
	}
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); /* the pool's threads all accept */
	if (fd < 0)
		return rp_err_sys(err, "socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)sa, *salen) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		if (e == EADDRINUSE)
			return rp_err_set(err, RP_ERR_USAGE, "port %d on %s is taken: pick another with --port N",
					  port, addr);
		return rp_err_sys(err, "cannot listen on %s port %d", addr, port);
	}
	if (getsockname(fd, (struct sockaddr *)sa, salen) < 0) {
		close(fd);
		return rp_err_sys(err, "getsockname");
	}
	return fd;
}

static int open_listener(struct web_server *srv, const struct web_options *o, struct rp_err *err)
{
	const char *addr = o->listen ? o->listen : "127.0.0.1";
	int first = o->port_explicit ? o->port : WEB_PORT_DEFAULT;
	int last = o->port_explicit ? o->port : WEB_PORT_LAST;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd = -1;
	for (int port = first; port <= last; port++) {
		fd = listen_on(addr, port, &sa, &salen, err);
		if (fd >= 0 || errno != EADDRINUSE)
			break;
	}
	if (fd < 0) {
		if (!o->port_explicit && errno == EADDRINUSE)
			rp_err_set(err, RP_ERR_RUNTIME, "ports %d to %d on %s are all taken: pick one with --port N",
				   first, last, addr);
		return -1;
	}
	srv->listen_fd = fd;
	int port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
						  : ((struct sockaddr_in6 *)&sa)->sin6_port);
	bool v6 = sa.ss_family == AF_INET6;
	srv->port = port;
	srv->loopback = v6 ? IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&sa)->sin6_addr)
			   : (ntohl(((struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127;
	snprintf(srv->cookie, sizeof srv->cookie, "rp_token_%d", port);
	snprintf(srv->host, sizeof srv->host, "%s%s%s:%d", v6 ? "[" : "", addr, v6 ? "]" : "", port);
	srv->url = xasprintf("http://%s/?token=%s", srv->host, srv->token);
	return 0;
}

static unsigned pool_size(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > POOL_MIN ? (unsigned)n : POOL_MIN;
}

int web_start(struct ui_source *src, const struct web_options *o, struct web_server **out, struct rp_err *err)
{
	const struct rp_mhd_api *mhd = rp_mhd(err);
	if (!mhd)
		return -1;
	struct web_server *srv = xcalloc(1, sizeof *srv);
	srv->mhd = mhd;
	srv->src = src;
	srv->listen_fd = -1;
	pthread_mutex_init(&srv->lock, NULL);
	if (web_token_new(srv->token, err) < 0 || open_listener(srv, o, err) < 0)
		goto fail;
	if (web_sse_ticker_start(srv, err) < 0)
		goto fail;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	srv->daemon = mhd->start_daemon(flags, 0, NULL, NULL, on_request, srv,
					MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
					MHD_OPTION_THREAD_POOL_SIZE, pool_size(),
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
					MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					MHD_OPTION_UNESCAPE_CALLBACK, unescape, srv,
					MHD_OPTION_END);
	if (!srv->daemon) {
		rp_err_set(err, RP_ERR_RUNTIME, "libmicrohttpd could not start serving on %s", srv->url);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	web_stop(srv);
	return -1;
}

const char *web_url(const struct web_server *s)
{
	return s->url;
}

void web_stop(struct web_server *srv)
{
	if (!srv)
		return;
	web_sse_stop(srv);
	if (srv->daemon)
		srv->mhd->stop_daemon(srv->daemon); /* closes the listening socket too */
	else if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	pthread_mutex_destroy(&srv->lock);
	free(srv->url);
	free(srv);
}
