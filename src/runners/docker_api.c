/* docker_api.c: the Docker Engine API over its unix socket with libcurl (docker_api.h).
 *
 * libcurl is loaded (dlopen) only when a docker run or check needs it: loading it and what it
 * links (TLS, HTTP/2, ...) would cost every runpilot start milliseconds. */
#include "docker_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "util.h"

#ifndef LIBCURL_SONAME
#define LIBCURL_SONAME ""
#endif
/* The name the build found, else the one Debian and Fedora install. */
#define CURL_LIB (LIBCURL_SONAME[0] ? LIBCURL_SONAME : "libcurl.so.4")

#define DEFAULT_SOCKET "/var/run/docker.sock"

/* The libcurl calls we make, found by name in the loaded library. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode c);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

static struct curl_api api;
static int api_state; /* 0 not tried, 1 ready, -1 unavailable */
static char api_error[256];

static int load_api(struct rp_err *err)
{
	if (api_state == 0) {
		api_state = -1;
		const struct dl_sym syms[] = {
			{ (void **)&api.global_init, "curl_global_init" },
			{ (void **)&api.easy_init, "curl_easy_init" },
			{ (void **)&api.easy_setopt, "curl_easy_setopt" },
			{ (void **)&api.easy_perform, "curl_easy_perform" },
			{ (void **)&api.easy_getinfo, "curl_easy_getinfo" },
			{ (void **)&api.easy_cleanup, "curl_easy_cleanup" },
			{ (void **)&api.easy_strerror, "curl_easy_strerror" },
			{ (void **)&api.slist_append, "curl_slist_append" },
			{ (void **)&api.slist_free_all, "curl_slist_free_all" },
		};
		if (dl_load(CURL_LIB, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) == 0) {
			if (api.global_init(CURL_GLOBAL_NOTHING) == CURLE_OK)
				api_state = 1;
			else
				snprintf(api_error, sizeof api_error, "libcurl did not start");
		}
	}
	if (api_state < 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: %s", api_error);
	return 0;
}

/* ---- the endpoint ---- */

static int set_host(struct dk_engine *e, const char *host, const char *source, struct rp_err *err)
{
	if (strncmp(host, "unix://", 7) != 0 || host[7] != '/')
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: %s=%s: only unix:// endpoints are supported", source,
				  host);
	if (strlen(host + 7) >= sizeof((struct sockaddr_un *)0)->sun_path || strchr(host, ' '))
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: socket path not usable: %s", host + 7);
	e->host = xstrdup(host);
	e->socket = xstrdup(host + 7);
	e->source = xstrdup(source);
	return 0;
}

/* The docker CLI's config directory: $DOCKER_CONFIG, else ~/.docker. */
static char *docker_config_dir(void)
{
	const char *d = getenv("DOCKER_CONFIG");
	if (d && *d)
		return xstrdup(d);
	const char *home = getenv("HOME");
	struct passwd *pw = home && *home ? NULL : getpwuid(getuid());
	if (!home || !*home)
		home = pw ? pw->pw_dir : NULL;
	return home ? path_join(home, ".docker") : NULL;
}

static cJSON *read_json(const char *path)
{
	char *text;
	if (read_file(path, &text, NULL, NULL) < 0)
		return NULL;
	cJSON *j = cJSON_Parse(text);
	free(text);
	return j;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The current context's name: $DOCKER_CONTEXT, else config.json's currentContext; NULL for the
 * default one. */
static char *current_context(const char *cfg_dir)
{
	const char *env = getenv("DOCKER_CONTEXT");
	char *name = NULL;
	if (env && *env) {
		name = xstrdup(env);
	} else {
		char *p = path_join(cfg_dir, "config.json");
		cJSON *cfg = read_json(p);
		const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "currentContext"));
		name = cur && *cur ? xstrdup(cur) : NULL;
		cJSON_Delete(cfg);
		free(p);
	}
	if (name && !strcmp(name, "default")) {
		free(name);
		name = NULL;
	}
	return name;
}

/* The host of context name: contexts/meta/<sha256 of name>/meta.json, Endpoints.docker.Host. */
static char *context_host(const char *cfg_dir, const char *name)
{
	char hex[65];
	sha256_hex(name, hex);
	char *p = xasprintf("%s/contexts/meta/%s/meta.json", cfg_dir, hex);
	cJSON *meta = read_json(p);
	free(p);
	cJSON *ep = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(meta, "Endpoints"), "docker");
	const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ep, "Host"));
	char *r = host ? xstrdup(host) : NULL;
	cJSON_Delete(meta);
	return r;
}

int dk_engine_find(struct dk_engine *e, struct rp_err *err)
{
	memset(e, 0, sizeof *e);
	const char *env = getenv("DOCKER_HOST");
	if (env && *env)
		return set_host(e, env, "DOCKER_HOST", err);
	char *cfg = docker_config_dir();
	char *ctx = cfg ? current_context(cfg) : NULL;
	int rc;
	if (ctx) {
		char *host = context_host(cfg, ctx);
		char *source = xasprintf("context %s", ctx);
		rc = host ? set_host(e, host, source, err)
			  : rp_err_set(err, RP_ERR_RUNTIME, "docker: context '%s' has no docker endpoint", ctx);
		free(source);
		free(host);
	} else {
		rc = set_host(e, "unix://" DEFAULT_SOCKET, "default", err);
	}
	free(ctx);
	free(cfg);
	return rc;
}

void dk_engine_at(struct dk_engine *e, const char *socket)
{
	e->host = xasprintf("unix://%s", socket);
	e->socket = xstrdup(socket);
	e->source = xstrdup("leftover");
}

void dk_engine_free(struct dk_engine *e)
{
	free(e->host);
	free(e->socket);
	free(e->source);
	memset(e, 0, sizeof *e);
}

pid_t dk_engine_pid(const struct dk_engine *e)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", e->socket);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ucred cred;
	socklen_t len = sizeof cred;
	pid_t pid = -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0)
		pid = cred.pid;
	close(fd);
	return pid;
}

/* ---- requests ---- */

struct body_buf {
	char *p;
	size_t len, cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct body_buf *b = arg;
	size_t l = size * n;
	if (b->len + l + 1 > b->cap) {
		b->cap = (b->len + l + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, l);
	b->len += l;
	b->p[b->len] = '\0';
	return l;
}

/* A handle for METHOD path on the engine's socket; headers (to free) in *hdrs. */
static CURL *new_handle(const struct dk_engine *e, const char *method, const char *path, const char *body,
			long timeout_ms, struct curl_slist **hdrs, char errbuf[CURL_ERROR_SIZE])
{
	CURL *h = api.easy_init();
	if (!h)
		return NULL;
	char *url = xasprintf("http://docker/v" DK_API_VERSION "%s", path);
	api.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->socket);
	api.easy_setopt(h, CURLOPT_URL, url);
	api.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	if (timeout_ms > 0)
		api.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	*hdrs = NULL;
	if (body) {
		*hdrs = api.slist_append(NULL, "Content-Type: application/json");
		api.easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
		api.easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else if (!strcmp(method, "POST")) {
		api.easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	free(url);
	errbuf[0] = '\0';
	return h;
}

/* A transport failure in the user's words. */
static int transport_error(const struct dk_engine *e, CURL *h, CURLcode c, const char *errbuf, struct rp_err *err)
{
	long os_errno = 0;
	api.easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	if (os_errno == EACCES)
		return rp_err_set(err, RP_ERR_RUNTIME,
				  "docker: permission denied on the socket %s: add yourself to the docker group", e->socket);
	if (c == CURLE_OPERATION_TIMEDOUT)
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: the daemon at %s did not answer in time", e->host);
	if (os_errno) {
		rp_err_set(err, RP_ERR_RUNTIME, "docker: daemon not reachable at %s (%s)", e->host, strerror((int)os_errno));
		if (err)
			err->sys_errno = (int)os_errno;
		return -1;
	}
	return rp_err_set(err, RP_ERR_RUNTIME, "docker: daemon not reachable at %s (%s)", e->host,
			  errbuf[0] ? errbuf : api.easy_strerror(c));
}

int dk_call(const struct dk_engine *e, const char *method, const char *path, const char *body, long timeout_ms,
	    struct dk_response *r, struct rp_err *err)
{
	memset(r, 0, sizeof *r);
	if (load_api(err) < 0)
		return -1;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	CURL *h = new_handle(e, method, path, body, timeout_ms, &hdrs, errbuf);
	if (!h)
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: cannot make an HTTP request (libcurl)");
	struct body_buf b = { 0 };
	api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	api.easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode c = api.easy_perform(h);
	int rc = 0;
	if (c != CURLE_OK) {
		rc = transport_error(e, h, c, errbuf, err);
		free(b.p);
	} else {
		api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		r->body = b.p ? b.p : xstrdup("");
		r->len = b.len;
	}
	api.slist_free_all(hdrs);
	api.easy_cleanup(h);
	return rc;
}

void dk_response_free(struct dk_response *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

const char *dk_message(struct dk_response *r)
{
	cJSON *j = cJSON_Parse(r->body ? r->body : "");
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
	char *msg = m ? xstrdup(m) : xasprintf("HTTP %ld", r->status);
	cJSON_Delete(j);
	/* Kept in the body's place: the caller frees the response, not the message. */
	free(r->body);
	r->body = msg;
	r->len = strlen(msg);
	return msg;
}

/* ---- the attach stream ---- */

/* The stream of a container without a tty: frames of an 8-byte header (stream, 0, 0, 0, size as
 * 32-bit big endian) and size bytes of output. */
struct demux {
	int out_fd, ready_fd;
	unsigned char hdr[8];
	size_t hdr_have;
	size_t left;       /* payload bytes of the current frame still to come */
	int write_errno;
};

static size_t on_stream(char *data, size_t size, size_t n, void *arg)
{
	struct demux *d = arg;
	size_t l = size * n, i = 0;
	while (i < l) {
		if (d->left == 0) {
			size_t take = 8 - d->hdr_have < l - i ? 8 - d->hdr_have : l - i;
			memcpy(d->hdr + d->hdr_have, data + i, take);
			d->hdr_have += take;
			i += take;
			if (d->hdr_have == 8) {
				d->left = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 | (size_t)d->hdr[6] << 8 | d->hdr[7];
				d->hdr_have = 0;
			}
			continue;
		}
		size_t take = d->left < l - i ? d->left : l - i;
		/* A reader that went away (the supervisor died) does not stop the stream: the
		 * container's end is still what ends this. */
		if (!d->write_errno && write_all(d->out_fd, data + i, take) < 0)
			d->write_errno = errno;
		d->left -= take;
		i += take;
	}
	return l;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct demux *d = arg;
	size_t l = size * n;
	/* The blank line ends the headers: the engine is attached. */
	if (d->ready_fd >= 0 && l <= 2 && (l == 0 || data[0] == '\r' || data[0] == '\n')) {
		if (write(d->ready_fd, "a", 1) < 0) {
			/* the waiting side is gone: nothing to tell */
		}
		d->ready_fd = -1;
	}
	return l;
}

int dk_attach(const struct dk_engine *e, const char *container, int out_fd, int ready_fd, struct rp_err *err)
{
	if (load_api(err) < 0)
		return -1;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	char *path = xasprintf("/containers/%s/attach?stream=1&stdout=1&stderr=1", container);
	CURL *h = new_handle(e, "POST", path, NULL, 0, &hdrs, errbuf);
	free(path);
	if (!h)
		return rp_err_set(err, RP_ERR_RUNTIME, "docker: cannot make an HTTP request (libcurl)");
	struct demux d = { .out_fd = out_fd, .ready_fd = ready_fd };
	api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
	api.easy_setopt(h, CURLOPT_WRITEDATA, &d);
	api.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	api.easy_setopt(h, CURLOPT_HEADERDATA, &d);
	CURLcode c = api.easy_perform(h);
	int rc = 0;
	long status = 0;
	api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (c != CURLE_OK && c != CURLE_PARTIAL_FILE && c != CURLE_RECV_ERROR)
		rc = transport_error(e, h, c, errbuf, err);
	else if (status != 200 && status != 101)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "docker: attach: HTTP %ld", status);
	api.slist_free_all(hdrs);
	api.easy_cleanup(h);
	return rc;
}
