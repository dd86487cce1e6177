/* client.c: the CLI's side of the server (include/server.h): one HTTP request through libcurl
 * (loaded at first use, as the docker runner loads it), and the API tokens kept in
 * $RUNPILOT_HOME/credentials. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "util.h"

#ifndef LIBCURL_SONAME
#define LIBCURL_SONAME ""
#endif
#define CURL_LIB (LIBCURL_SONAME[0] ? LIBCURL_SONAME : "libcurl.so.4")
#define TIMEOUT_MS 30000L
#define ANSWER_MAX (64 * 1024 * 1024) /* a pulled run's payload */

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
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static int api_state; /* 1 ready, -1 unavailable */
static char api_error[256];

static void load_api(void)
{
	const struct dl_sym syms[] = {
		{(void **)&api.global_init, "curl_global_init"},   {(void **)&api.easy_init, "curl_easy_init"},
		{(void **)&api.easy_setopt, "curl_easy_setopt"},   {(void **)&api.easy_perform, "curl_easy_perform"},
		{(void **)&api.easy_getinfo, "curl_easy_getinfo"}, {(void **)&api.easy_cleanup, "curl_easy_cleanup"},
		{(void **)&api.easy_strerror, "curl_easy_strerror"}, {(void **)&api.slist_append, "curl_slist_append"},
		{(void **)&api.slist_free_all, "curl_slist_free_all"},
	};
	api_state = -1;
	if (dl_load(CURL_LIB, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) == 0) {
		if (api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
			api_state = 1;
		else
			snprintf(api_error, sizeof api_error, "libcurl did not start");
	}
}

struct answer {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t add = size * n;
	if (a->len + add > ANSWER_MAX)
		return 0;
	a->data = xrealloc(a->data, a->len + add + 1);
	memcpy(a->data + a->len, p, add);
	a->len += add;
	a->data[a->len] = '\0';
	return add;
}

/* Read an upload from an fd. */
static size_t feed(char *p, size_t size, size_t n, void *ctx)
{
	int fd = *(int *)ctx;
	ssize_t got;
	do
		got = read(fd, p, size * n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

/* Write a download to an fd. */
static size_t spill(char *p, size_t size, size_t n, void *ctx)
{
	int fd = *(int *)ctx;
	return write_all(fd, p, size * n) < 0 ? 0 : size * n;
}

static long timeout_override_ms; /* 0: TIMEOUT_MS for calls, none for files */

void srv_client_set_timeout(long ms)
{
	timeout_override_ms = ms;
}

struct call {
	const char *method, *base, *path, *token, *body;
	int in_fd;          /* an upload's file (PUT), -1 when none */
	uint64_t in_size;
	int out_fd;         /* the answer's file, -1: into *answer */
};

static int perform(const struct call *c, long *status, char **answer, struct rp_err *err)
{
	pthread_once(&api_once, load_api);
	if (api_state < 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "%s (install libcurl: apt-get install libcurl4)", api_error);
	CURL *h = api.easy_init();
	if (!h)
		return rp_err_set(err, RP_ERR_RUNTIME, "libcurl: cannot make a request");
	size_t bl = strlen(c->base);
	while (bl && c->base[bl - 1] == '/')
		bl--;
	char *url = xasprintf("%.*s%s", (int)bl, c->base, c->path);
	char *auth = c->token ? xasprintf("Authorization: Bearer %s", c->token) : NULL;
	struct curl_slist *hdr = api.slist_append(NULL, c->in_fd >= 0 ? "Content-Type: application/octet-stream"
								       : "Content-Type: application/json");
	hdr = api.slist_append(hdr, "Expect:");
	if (auth)
		hdr = api.slist_append(hdr, auth);
	struct answer a = {xstrdup(""), 0};
	int in_fd = c->in_fd, out_fd = c->out_fd;
	api.easy_setopt(h, CURLOPT_URL, url);
	api.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	api.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	api.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_override_ms ? timeout_override_ms
					       : c->in_fd >= 0 || c->out_fd >= 0 ? 0L : TIMEOUT_MS);
	api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (out_fd >= 0) {
		api.easy_setopt(h, CURLOPT_WRITEFUNCTION, spill);
		api.easy_setopt(h, CURLOPT_WRITEDATA, &out_fd);
	} else {
		api.easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
		api.easy_setopt(h, CURLOPT_WRITEDATA, &a);
	}
	if (in_fd >= 0) {
		api.easy_setopt(h, CURLOPT_UPLOAD, 1L);
		api.easy_setopt(h, CURLOPT_READFUNCTION, feed);
		api.easy_setopt(h, CURLOPT_READDATA, &in_fd);
		api.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->in_size);
	} else {
		api.easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
		if (c->body) {
			api.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
			api.easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		}
	}
	CURLcode rc = api.easy_perform(h);
	if (rc == CURLE_OK)
		api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	api.easy_cleanup(h);
	api.slist_free_all(hdr);
	if (auth) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	if (rc != CURLE_OK) {
		rp_err_set(err, RP_ERR_RUNTIME, "cannot reach %s: %s", url, api.easy_strerror(rc));
		free(url);
		free(a.data);
		return -1;
	}
	free(url);
	if (answer)
		*answer = a.data;
	else
		free(a.data);
	return 0;
}

int srv_client_call(const char *method, const char *base, const char *path, const char *token, const char *body,
		    long *status, char **answer, struct rp_err *err)
{
	struct call c = {method, base, path, token, body, -1, 0, -1};
	return perform(&c, status, answer, err);
}

int srv_client_put_file(const char *base, const char *path, const char *token, int fd, uint64_t size, long *status,
			char **answer, struct rp_err *err)
{
	struct call c = {"PUT", base, path, token, NULL, fd, size, -1};
	return perform(&c, status, answer, err);
}

int srv_client_get_file(const char *base, const char *path, const char *token, int fd, long *status,
			struct rp_err *err)
{
	struct call c = {"GET", base, path, token, NULL, -1, 0, fd};
	return perform(&c, status, NULL, err);
}

/* ---- $RUNPILOT_HOME/credentials: {"servers": {URL: {"account": ..., "token": ...}}} ---- */

static cJSON *cred_load(const char *home, char **path, struct rp_err *err)
{
	*path = path_join(home, "credentials");
	char *text = NULL;
	size_t n = 0;
	if (!path_exists(*path))
		return cJSON_Parse("{\"servers\":{}}");
	if (read_file(*path, &text, &n, err) < 0)
		return NULL;
	cJSON *j = cJSON_ParseWithLength(text, n);
	free(text);
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "servers"))) {
		cJSON_Delete(j);
		rp_err_set(err, RP_ERR_USAGE, "%s is not a credentials file (remove it and log in again)", *path);
		return NULL;
	}
	return j;
}

static int cred_save(cJSON *j, const char *path, struct rp_err *err)
{
	char *text = cJSON_Print(j);
	int rc = write_file_atomic(path, text, strlen(text), 0600, err);
	memset(text, 0, strlen(text));
	free(text);
	return rc;
}

char *srv_cred_token(const char *home, const char *url, struct rp_err *err)
{
	const char *env = getenv("RUNPILOT_TOKEN");
	if (env && *env)
		return xstrdup(env);
	char *path;
	cJSON *j = cred_load(home, &path, err);
	free(path);
	if (!j)
		return NULL;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "servers"), url);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "token");
	char *token = cJSON_IsString(t) ? xstrdup(t->valuestring) : NULL;
	cJSON_Delete(j);
	if (!token)
		rp_err_set(err, RP_ERR_USAGE, "not logged in to %s: run `runpilot login %s`", url, url);
	return token;
}

int srv_cred_set(const char *home, const char *url, const char *account, const char *token, struct rp_err *err)
{
	char *path;
	cJSON *j = cred_load(home, &path, err);
	if (!j) {
		free(path);
		return -1;
	}
	cJSON *servers = cJSON_GetObjectItemCaseSensitive(j, "servers");
	cJSON_DeleteItemFromObjectCaseSensitive(servers, url);
	if (token) {
		cJSON *s = cJSON_AddObjectToObject(servers, url);
		cJSON_AddStringToObject(s, "account", account);
		cJSON_AddStringToObject(s, "token", token);
	}
	int rc = cred_save(j, path, err);
	cJSON_Delete(j);
	free(path);
	return rc;
}
