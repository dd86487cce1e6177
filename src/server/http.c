/* http.c: `runpilot server`'s HTTP side (include/server.h): the listening socket, the daemon
 * (libmicrohttpd's thread pool on epoll, loaded by src/web), one PostgreSQL connection per worker
 * thread, and each request's way to its route: authentication, then the route's rule (deny by
 * default: a project's routes answer 404 to whoever is not its member), then the handler. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pgdb.h"
#include "server_push.h"
#include "srv_int.h"
#include "util.h"

#define PORT_DEFAULT 7100
#define POOL_SIZE 16 /* a worker waiting on a password hash or the database holds its thread */
#define CONNECTIONS_MAX 1024
#define CONNECTION_TIMEOUT_S 15
#define CONNECTION_MEMORY (64 * 1024)
#define DRAIN_S 10

/* An API answers data, never a page: nothing in it may load or run. */
static const char csp[] = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/* ---- replies ---- */

int srv_reply(struct srv_req *r, unsigned status, struct MHD_Response *resp)
{
	const struct rp_mhd_api *m = r->srv->mhd;
	web_security_headers(m, resp, csp, "no-store");
	enum MHD_Result rc = m->queue_response(r->conn, status, resp);
	m->destroy_response(resp);
	r->answered = true;
	return rc;
}

int srv_reply_json(struct srv_req *r, unsigned status, cJSON *json)
{
	struct MHD_Response *resp = web_json_response(r->srv->mhd, json, &status);
	return resp ? srv_reply(r, status, resp) : MHD_NO;
}

int srv_reply_error(struct srv_req *r, unsigned status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	return srv_reply_json(r, status, o);
}

int srv_reply_empty(struct srv_req *r, unsigned status)
{
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	return resp ? srv_reply(r, status, resp) : MHD_NO;
}

int srv_reply_internal(struct srv_req *r, const struct rp_err *err)
{
	rp_log(RP_LOG_WARNING, "server: %s %s: %s", r->method, r->path, err->msg);
	return srv_reply_error(r, 500, "internal error (the server's log says more)");
}

/* ---- the request's parts ---- */

const char *srv_header(struct srv_req *r, const char *name)
{
	return r->srv->mhd->lookup_value(r->conn, MHD_HEADER_KIND, name);
}

const char *srv_arg(struct srv_req *r, const char *name)
{
	return r->srv->mhd->lookup_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_cap(struct srv_req *r, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < SRV_CAPS; i++)
		if (r->cap_name[i] && !strncmp(r->cap_name[i] + 1, name, n) && r->cap_name[i][n + 1] == '}')
			return r->cap[i];
	return NULL;
}

/* Deeper than SRV_JSON_DEPTH (brackets outside strings)? cJSON itself recurses per level. */
static bool too_deep(const char *s)
{
	int depth = 0;
	bool in_str = false;
	for (; *s; s++) {
		if (in_str) {
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '"')
				in_str = false;
		} else if (*s == '"') {
			in_str = true;
		} else if (*s == '[' || *s == '{') {
			if (++depth > SRV_JSON_DEPTH)
				return true;
		} else if (*s == ']' || *s == '}') {
			depth--;
		}
	}
	return false;
}

cJSON *srv_body_json(struct srv_req *r)
{
	if (!r->body || !r->body_len) {
		srv_reply_error(r, 400, "a JSON object is needed as the body");
		return NULL;
	}
	if (strlen(r->body) != r->body_len || too_deep(r->body)) {
		srv_reply_error(r, 400, "the body is not a JSON object of at most %d levels", SRV_JSON_DEPTH);
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		srv_reply_error(r, 400, "the body is not a JSON object");
		return NULL;
	}
	return j;
}

/* ---- one connection per worker thread ---- */

static __thread struct pg_db *thread_db;

/* A connection found lost (PostgreSQL restarted) is replaced at the thread's next request. */
struct pg_db *srv_db(struct srv_req *r, struct rp_err *err)
{
	if (thread_db && pg_connected(thread_db))
		return thread_db;
	struct pg_db *db = pg_connect(r->srv->db_url, err);
	if (!db)
		return NULL;
	struct srv *s = r->srv;
	pthread_mutex_lock(&s->lock);
	size_t i = 0;
	while (i < s->ndbs && s->dbs[i] != thread_db)
		i++;
	if (thread_db && i < s->ndbs) {
		pg_close(thread_db);
		s->dbs[i] = db;
	} else {
		s->dbs = xrealloc(s->dbs, (s->ndbs + 1) * sizeof *s->dbs);
		s->dbs[s->ndbs++] = db;
	}
	pthread_mutex_unlock(&s->lock);
	thread_db = db;
	return db;
}

void srv_audit(struct srv_req *r, const char *action, const char *project, cJSON *detail)
{
	struct rp_err err = {0};
	char *text = detail ? cJSON_PrintUnformatted(detail) : NULL;
	cJSON_Delete(detail);
	struct audit_event ev = {.actor = r->who.account_id ? r->who.name : "-", .address = r->address,
				 .action = action, .project = project, .detail = text};
	struct pg_db *db = srv_db(r, &err);
	if (!db || audit_append(db, &ev, NULL, &err) < 0)
		rp_log(RP_LOG_WARNING, "server: audit of %s: %s", action, err.msg);
	free(text);
}

/* ---- routing ---- */

const char *srv_role_name(enum srv_role role)
{
	static const char *const names[] = {"ANY", "AUTH", "VIEWER", "EDITOR", "ADMIN", "SERVER_ADMIN"};
	return role <= ROLE_SERVER_ADMIN ? names[role] : "?";
}

static int role_rank(const char *role)
{
	return !role ? 0 : !strcmp(role, "viewer") ? 1 : !strcmp(role, "editor") ? 2 : !strcmp(role, "admin") ? 3 : 0;
}

/* Does path match pattern segment by segment? {NAME} segments are captured into r. */
static bool match(const char *pattern, const char *path, struct srv_req *r)
{
	int ncap = 0;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++, s++;
		size_t pn = strcspn(p, "/"), sn = strcspn(s, "/");
		if (*p == '{') {
			if (!sn || ncap == SRV_CAPS)
				return false;
			ncap++;
		} else if (pn != sn || strncmp(p, s, pn)) {
			return false;
		}
		p += pn, s += sn;
	}
	if (*p || *s)
		return false;
	/* a second walk captures, once the whole path matched */
	ncap = 0;
	for (p = pattern, s = path; *p; ) {
		p++, s++;
		size_t pn = strcspn(p, "/"), sn = strcspn(s, "/");
		if (*p == '{') {
			r->cap_name[ncap] = p;
			r->cap[ncap++] = xstrndup(s, sn);
		}
		p += pn, s += sn;
	}
	return true;
}

void srv_deny_audit(struct srv_req *r, unsigned status, const char *project)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "method", r->method);
	cJSON_AddStringToObject(d, "path", r->path);
	cJSON_AddNumberToObject(d, "status", status);
	srv_audit(r, "denied", project, d);
}

/* The Origin of a change made with the cookie, when the browser names one, is this server. */
static bool origin_ok(struct srv_req *r)
{
	const char *origin = srv_header(r, "Origin");
	if (!origin)
		return true;
	if (!strcmp(origin, r->srv->url))
		return true;
	const char *host = srv_header(r, "Host");
	const char *scheme = r->srv->tls ? "https://" : "http://";
	size_t n = strlen(scheme);
	return host && !strncmp(origin, scheme, n) && !strcmp(origin + n, host);
}

static bool csrf_ok(struct srv_req *r, const char *csrf)
{
	const char *given = srv_header(r, "X-CSRF-Token");
	return given && csrf && strlen(given) == strlen(csrf) && CRYPTO_memcmp(given, csrf, strlen(csrf)) == 0;
}

/* The session's CSRF token (for a change made with the cookie). */
static char *session_csrf(struct srv_req *r, struct rp_err *err)
{
	struct pg_db *db = srv_db(r, err);
	if (!db)
		return NULL;
	const char *p[] = {r->who.session_hash};
	struct pg_res *res = pg_exec(db, "SELECT csrf FROM sessions WHERE hash = decode($1, 'hex')", 1, p, err);
	if (!res)
		return NULL;
	char *csrf = pg_rows(res) ? xstrdup(pg_value(res, 0, 0)) : xstrdup("");
	pg_res_free(res);
	return csrf;
}

/* The project of {project} and the caller's role in it: 0 found, 1 not a member (or no such
 * project: the same answer), -1 with err. */
static int resolve_project(struct srv_req *r, struct rp_err *err)
{
	const char *name = srv_cap(r, "project");
	struct pg_db *db = srv_db(r, err);
	if (!db)
		return -1;
	char acc[24];
	snprintf(acc, sizeof acc, "%lld", r->who.account_id);
	const char *p[] = {name, acc};
	struct pg_res *res = pg_exec(db,
				     "SELECT p.id, m.role FROM projects p JOIN members m ON m.project_id = p.id"
				     " WHERE p.name = $1 AND m.account_id = $2::bigint",
				     2, p, err);
	if (!res)
		return -1;
	int rc = 1;
	if (pg_rows(res) == 1) {
		r->project_id = atoll(pg_value(res, 0, 0));
		static __thread char role[16];
		snprintf(role, sizeof role, "%s", pg_value(res, 0, 1));
		r->role = role;
		r->project = name;
		rc = 0;
	}
	pg_res_free(res);
	return rc;
}

/* The handler, once the caller passed the route's rule; with call false only the rule is checked
 * (r->answered tells a refusal). */
static int route(struct srv_req *r, const struct srv_route *rt, bool call)
{
	struct rp_err err = {0};
	if (rt->role == ROLE_ANY)
		return call ? rt->fn(r) : MHD_YES;
	if (!r->who.account_id)
		return srv_reply_error(r, 401, "log in first: a Bearer token or a session");
	bool change = strcmp(r->method, "GET") && strcmp(r->method, "HEAD");
	if (change && r->who.by_session) {
		char *csrf = NULL;
		if (!origin_ok(r) || !(csrf = session_csrf(r, &err)) || !csrf_ok(r, csrf)) {
			free(csrf);
			if (err.msg[0])
				return srv_reply_internal(r, &err);
			srv_deny_audit(r, 403, NULL);
			return srv_reply_error(r, 403, "refused: a change made with the session cookie needs its "
					       "X-CSRF-Token, from this server's origin");
		}
		free(csrf);
	}
	if (rt->role == ROLE_AUTH)
		return call ? rt->fn(r) : MHD_YES;
	if (rt->role == ROLE_SERVER_ADMIN) {
		if (r->who.is_admin)
			return call ? rt->fn(r) : MHD_YES;
		srv_deny_audit(r, 403, NULL);
		return srv_reply_error(r, 403, "refused: only a server administrator may");
	}
	int rc = resolve_project(r, &err);
	if (rc < 0)
		return srv_reply_internal(r, &err);
	if (rc > 0) {
		srv_deny_audit(r, 404, NULL);
		return srv_reply_error(r, 404, "not found: %s", r->path);
	}
	int need = rt->role == ROLE_VIEWER ? 1 : rt->role == ROLE_EDITOR ? 2 : 3;
	if (role_rank(r->role) < need) {
		srv_deny_audit(r, 403, r->project);
		return srv_reply_error(r, 403, "refused: this needs the project's %s role (yours: %s)",
				       need == 2 ? "editor" : "admin", r->role);
	}
	return call ? rt->fn(r) : MHD_YES;
}

/* The route of r's method and path, its captures kept in r (NULL: none; r->path_known when the
 * path is another method's). */
static const struct srv_route *find_route(struct srv_req *r)
{
	const char *method = strcmp(r->method, "HEAD") ? r->method : "GET";
	for (size_t i = 0; i < srv_nroutes; i++) {
		struct srv_req probe = {0};
		if (!match(srv_routes[i].pattern, r->path, &probe))
			continue;
		if (strcmp(srv_routes[i].method, method)) {
			r->path_known = true;
			for (int k = 0; k < SRV_CAPS; k++)
				free(probe.cap[k]);
			continue;
		}
		memcpy(r->cap_name, probe.cap_name, sizeof r->cap_name);
		memcpy(r->cap, probe.cap, sizeof r->cap);
		return &srv_routes[i];
	}
	return NULL;
}

/* Authenticate, then the route's rule; the handler too when call is set. */
static int dispatch(struct srv_req *r, bool call)
{
	const struct srv_route *found = r->route;
	if (!found)
		return r->path_known ? srv_reply_error(r, 405, "method not allowed")
				     : srv_reply_error(r, 404, "not found: %s", r->path);
	struct rp_err err = {0};
	if (srv_authenticate(r, &err) < 0)
		return srv_reply_internal(r, &err);
	if (r->bad_credentials && found->role != ROLE_ANY) {
		srv_deny_audit(r, 401, NULL);
		return srv_reply_error(r, 401, "the token or session is not valid (expired, revoked, or unknown): "
				       "log in again");
	}
	return route(r, found, call);
}

/* A streamed body goes to an unlinked file under the data directory (nothing is left when the
 * server is killed). */
static int spool_open(struct srv_req *r, struct rp_err *err)
{
	char *dir = xasprintf("%s/blobs/tmp", r->srv->data_dir);
	char *tmp = xasprintf("%s/spool.XXXXXX", dir);
	int rc = mkdir_p(dir, 0700, err);
	if (rc == 0 && (r->spool_fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		rc = rp_err_sys(err, "cannot create a file in %s", dir);
	if (rc == 0)
		unlink(tmp);
	free(dir);
	free(tmp);
	return rc;
}

/* The first call of a request: its route, its body's limit, and for a streamed body the caller's
 * rights before any of it is read. */
static int on_first(struct srv_req *r)
{
	struct srv *s = r->srv;
	r->route = find_route(r);
	unsigned flags = r->route ? r->route->flags : 0;
	r->body_max = flags & ROUTE_STREAM ? s->max_blob : flags & ROUTE_BIG ? SRV_RUN_BODY_MAX : SRV_BODY_MAX;
	const char *len = s->mhd->lookup_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	if (len && strtoull(len, NULL, 10) > r->body_max)
		return srv_reply_error(r, 413, "the request is over %llu bytes", r->body_max);
	if (!(flags & ROUTE_STREAM))
		return MHD_YES;
	int rc = dispatch(r, false);
	if (r->answered)
		return rc;
	r->checked = true;
	struct rp_err err = {0};
	if (spool_open(r, &err) < 0)
		return srv_reply_internal(r, &err);
	return MHD_YES;
}

/* Take one piece of the body: into the spool file or the buffer, up to the limit. */
static void take_body(struct srv_req *r, const char *data, size_t n)
{
	if (r->too_big || (unsigned long long)r->body_len + r->spooled + n > r->body_max) {
		r->too_big = true;
		return;
	}
	if (r->spool_fd >= 0) {
		if (write_all(r->spool_fd, data, n) < 0)
			r->too_big = true; /* answered as refused: the disk is full */
		r->spooled += n;
		return;
	}
	if (r->body_len + n + 1 > r->body_cap) {
		r->body_cap = (r->body_len + n + 1) * 2;
		r->body = xrealloc(r->body, r->body_cap);
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

/* ---- the daemon ---- */

static void client_address(struct srv_req *r)
{
	const union MHD_ConnectionInfo *ci = r->srv->mhd->get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(r->address, sizeof r->address, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->address, sizeof r->address);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->address, sizeof r->address);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **state)
{
	struct srv *s = cls;
	struct srv_req *r = *state;
	if (!r) {
		r = xcalloc(1, sizeof *r);
		*state = r;
		r->srv = s;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->spool_fd = -1;
		client_address(r);
		pthread_mutex_lock(&s->lock);
		s->inflight++;
		pthread_mutex_unlock(&s->lock);
		return on_first(r);
	}
	if (r->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		take_body(r, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return srv_reply_error(r, 413, "the request is over %llu bytes", r->body_max);
	if (r->checked)
		return r->route->fn(r);
	return dispatch(r, true);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode toe)
{
	struct srv *s = cls;
	struct srv_req *r = *state;
	if (!r)
		return;
	free(r->body);
	if (r->spool_fd >= 0)
		close(r->spool_fd);
	for (int i = 0; i < SRV_CAPS; i++)
		free(r->cap[i]);
	free(r->who.name);
	free(r->who.session_hash);
	free(r);
	*state = NULL;
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	pthread_mutex_unlock(&s->lock);
}

/* "ADDR", "ADDR:PORT" or "[ADDR6]:PORT" into a bound, listening socket. */
static int open_listener(struct srv *s, const char *listen_on, struct rp_err *err)
{
	char addr[80];
	int port = PORT_DEFAULT;
	const char *colon = NULL;
	if (listen_on[0] == '[') {
		const char *end = strchr(listen_on, ']');
		if (!end || (end[1] && end[1] != ':'))
			goto bad;
		snprintf(addr, sizeof addr, "%.*s", (int)(end - listen_on - 1), listen_on + 1);
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strrchr(listen_on, ':');
		snprintf(addr, sizeof addr, "%.*s", colon ? (int)(colon - listen_on) : (int)strlen(listen_on), listen_on);
	}
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || p < 0 || p > 65535)
			goto bad;
		port = (int)p;
	}
	struct sockaddr_storage sa = {0};
	socklen_t salen;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		salen = sizeof *v4;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		salen = sizeof *v6;
	} else {
		goto bad;
	}
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rp_err_sys(err, "socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 256) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		if (e == EADDRINUSE)
			return rp_err_set(err, RP_ERR_USAGE, "port %d on %s is taken: pick another with --listen", port, addr);
		return rp_err_sys(err, "cannot listen on %s", listen_on);
	}
	port = ntohs(sa.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
	bool is6 = sa.ss_family == AF_INET6;
	s->listen_fd = fd;
	s->url = xasprintf("%s://%s%s%s:%d", s->tls ? "https" : "http", is6 ? "[" : "", addr, is6 ? "]" : "", port);
	return 0;
bad:
	return rp_err_set(err, RP_ERR_USAGE, "--listen '%s': give ADDR:PORT or [ADDR6]:PORT (e.g. 127.0.0.1:7100)",
			  listen_on);
}

static int migrate_at_start(const char *url, struct rp_err *err)
{
	struct pg_db *db = pg_connect(url, err);
	if (!db)
		return -1;
	int from, to;
	int rc = server_migrate(db, &from, &to, err);
	pg_close(db);
	return rc;
}

int srv_start(const struct srv_options *o, struct srv **out, struct rp_err *err)
{
	if (!o->tls_cert != !o->tls_key)
		return rp_err_set(err, RP_ERR_USAGE, "TLS needs both --tls-cert and --tls-key");
	if (o->data_dir && mkdir_p(o->data_dir, 0700, err) < 0)
		return -1;
	char *cert = NULL, *key = NULL;
	size_t n;
	if (o->tls_cert && (read_file(o->tls_cert, &cert, &n, err) < 0 || read_file(o->tls_key, &key, &n, err) < 0)) {
		free(cert);
		return -1;
	}
	const struct rp_mhd_api *mhd = rp_mhd(err);
	if (!mhd || migrate_at_start(o->db_url, err) < 0) {
		free(cert);
		free(key);
		return -1;
	}
	struct srv *s = xcalloc(1, sizeof *s);
	s->mhd = mhd;
	s->db_url = xstrdup(o->db_url);
	s->tls = cert != NULL;
	s->listen_fd = -1;
	s->throttle = throttle_new();
	s->data_dir = xstrdup(o->data_dir ? o->data_dir : ".");
	s->max_blob = o->max_blob ? o->max_blob : SRV_BLOB_MAX_DEFAULT;
	pthread_mutex_init(&s->lock, NULL);
	unsigned swept = 0;
	if (blob_sweep_tmp(s->data_dir, 0, &swept, err) < 0)
		goto fail;
	if (open_listener(s, o->listen ? o->listen : "127.0.0.1", err) < 0)
		goto fail;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | (s->tls ? MHD_USE_TLS : 0);
	if (s->tls)
		s->daemon = mhd->start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
					      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_SIZE,
					      MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
					      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
					      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
					      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_HTTPS_MEM_CERT, cert,
					      MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
	else
		s->daemon = mhd->start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
					      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_SIZE,
					      MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
					      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
					      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
					      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->daemon) {
		rp_err_set(err, RP_ERR_RUNTIME, "libmicrohttpd could not start serving on %s%s", s->url,
			   s->tls ? " (is the TLS certificate and key a matching PEM pair?)" : "");
		goto fail;
	}
	if (key)
		OPENSSL_cleanse(key, strlen(key));
	free(cert);
	free(key);
	*out = s;
	return 0;
fail:
	free(cert);
	free(key);
	srv_stop(s);
	return -1;
}

const char *srv_url(const struct srv *s)
{
	return s->url;
}

static int inflight(struct srv *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->inflight;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void srv_stop(struct srv *s)
{
	if (!s)
		return;
	if (s->daemon) {
		MHD_socket fd = s->mhd->quiesce_daemon(s->daemon);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		struct timespec tick = {0, 20 * 1000000L};
		for (int i = 0; i < DRAIN_S * 50 && inflight(s) > 0; i++)
			nanosleep(&tick, NULL);
		s->mhd->stop_daemon(s->daemon);
	} else if (s->listen_fd >= 0) {
		close(s->listen_fd);
	}
	for (size_t i = 0; i < s->ndbs; i++)
		pg_close(s->dbs[i]);
	free(s->dbs);
	throttle_free(s->throttle);
	pthread_mutex_destroy(&s->lock);
	free(s->db_url);
	free(s->data_dir);
	free(s->url);
	free(s);
}
