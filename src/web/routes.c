/* routes.c: the one route table of docs/ui.md (method, pattern, handler), and the handlers, each
 * a call of the ui_source with the request's arguments checked. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ui_source.h"
#include "util.h"
#include "web_int.h"

#define LOG_MAX_DEFAULT 65536
#define LOG_MAX_LIMIT (1024 * 1024)
#define COLUMNS_MAX 200

typedef int (*route_fn)(struct web_req *r);

struct route {
	const char *method;
	const char *pattern; /* '*': one segment; '**': the rest (one or more segments) */
	route_fn fn;
};

static const char *arg(struct web_req *r, const char *name)
{
	return r->srv->mhd->lookup_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static struct ui_source *src(struct web_req *r)
{
	return r->srv->src;
}

/* A comma-separated list's non-empty items. */
static void split_list(const char *s, struct strvec *out)
{
	if (!s)
		return;
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			char *item = xstrndup(p, n);
			strvec_push(out, item);
			free(item);
		}
		p += n + (e ? 1 : 0);
	}
}

static bool parse_long(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* ---- pages and assets ---- */

static int page(struct web_req *r)
{
	return web_serve_asset(r, "index.html");
}

static int asset(struct web_req *r)
{
	return web_serve_asset(r, r->cap[0]);
}

/* ---- the API ---- */

static int api_runs(struct web_req *r)
{
	struct ui_runs_query q = {.where = arg(r, "where"), .sort = arg(r, "sort"), .after = arg(r, "after")};
	const char *limit = arg(r, "limit");
	long long n = 0;
	if (limit && (!parse_long(limit, &n) || n < 1 || n > UI_PAGE_MAX))
		return web_reply_error(r, 400, "limit: give a number from 1 to %d", UI_PAGE_MAX);
	q.limit = (long)n;
	struct strvec cols = {0};
	split_list(arg(r, "columns"), &cols);
	if (cols.n > COLUMNS_MAX) {
		strvec_free(&cols);
		return web_reply_error(r, 400, "columns: at most %d", COLUMNS_MAX);
	}
	q.columns = strvec_items(&cols);
	q.ncolumns = cols.n;
	cJSON *out = NULL;
	struct rp_err err = {0};
	int rc = src(r)->ops->runs(src(r), &q, &out, &err);
	strvec_free(&cols);
	return rc < 0 ? web_reply_err(r, &err) : web_reply_json(r, 200, out);
}

static int api_run(struct web_req *r)
{
	cJSON *out = NULL;
	struct rp_err err = {0};
	if (src(r)->ops->run(src(r), r->cap[0], &out, &err) < 0)
		return web_reply_err(r, &err);
	return web_reply_json(r, 200, out);
}

static int api_metric(struct web_req *r)
{
	double from = NAN, to = NAN;
	const char *s;
	if ((s = arg(r, "from")) && *s && !parse_double(s, &from))
		return web_reply_error(r, 400, "from: '%s' is not a number", s);
	if ((s = arg(r, "to")) && *s && !parse_double(s, &to))
		return web_reply_error(r, 400, "to: '%s' is not a number", s);
	long long points = UI_POINTS_MAX;
	if ((s = arg(r, "points")) && (!parse_long(s, &points) || points < 2 || points > UI_POINTS_MAX))
		return web_reply_error(r, 400, "points: give a number from 2 to %d", UI_POINTS_MAX);
	cJSON *out = NULL;
	struct rp_err err = {0};
	if (src(r)->ops->metric(src(r), r->cap[0], r->cap[1], from, to, (int)points, &out, &err) < 0)
		return web_reply_err(r, &err);
	return web_reply_json(r, 200, out);
}

static int log_args(struct web_req *r, long long *offset, long long *max)
{
	const char *s;
	*offset = 0;
	*max = LOG_MAX_DEFAULT;
	if ((s = arg(r, "offset")) && !parse_long(s, offset))
		return web_reply_error(r, 400, "offset: '%s' is not a whole number", s);
	if ((s = arg(r, "max")) && (!parse_long(s, max) || *max < 1 || *max > LOG_MAX_LIMIT))
		return web_reply_error(r, 400, "max: give a number of bytes from 1 to %d", LOG_MAX_LIMIT);
	return -1;
}

static int api_log(struct web_req *r)
{
	long long offset, max;
	int rc = log_args(r, &offset, &max);
	if (rc >= 0)
		return rc;
	cJSON *out = NULL;
	struct rp_err err = {0};
	if (src(r)->ops->log(src(r), r->cap[0], offset, (size_t)max, &out, &err) < 0)
		return web_reply_err(r, &err);
	return web_reply_json(r, 200, out);
}

static int api_log_stream(struct web_req *r)
{
	long long offset, max;
	int rc = log_args(r, &offset, &max);
	if (rc >= 0)
		return rc;
	return web_sse_start(r, r->cap[0], offset);
}

/* The quoted filename of Content-Disposition: what is not printable ASCII, '"' and '\\' become
 * '_'; with RFC 5987's filename* besides when the name is not all ASCII. */
static char *disposition(const char *name)
{
	char *v = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&v, &n);
	if (!f)
		return NULL;
	bool ascii = true;
	fputs("attachment; filename=\"", f);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80)
			ascii = false;
		fputc(*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' ? '_' : *p, f);
	}
	fputc('"', f);
	if (!ascii) {
		fputs("; filename*=UTF-8''", f);
		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			    strchr("!#$&+-.^_`|~", *p))
				fputc(*p, f);
			else
				fprintf(f, "%%%02X", *p);
		}
	}
	if (fclose(f)) {
		free(v);
		return NULL;
	}
	return v;
}

static int api_output(struct web_req *r)
{
	const char *path = r->cap[1];
	/* The source resolves within outputs/ only; refuse the obvious escapes before asking it. */
	if (path[0] == '/' || strstr(path, "//"))
		return web_reply_error(r, 404, "not found: output '%s'", path);
	struct ui_output out = {.fd = -1};
	struct rp_err err = {0};
	if (src(r)->ops->output(src(r), r->cap[0], path, &out, &err) < 0)
		return web_reply_err(r, &err);
	char *cd = disposition(out.name ? out.name : "output");
	free(out.name);
	struct MHD_Response *resp = cd ? r->srv->mhd->response_from_fd64((uint64_t)out.size, out.fd) : NULL;
	if (!resp) {
		free(cd);
		close(out.fd);
		return MHD_NO;
	}
	r->srv->mhd->add_response_header(resp, "Content-Type", "application/octet-stream");
	r->srv->mhd->add_response_header(resp, "Content-Disposition", cd);
	free(cd);
	return web_queue(r, 200, resp);
}

static int api_compare(struct web_req *r)
{
	struct strvec ids = {0};
	split_list(arg(r, "ids"), &ids);
	if (!ids.n || ids.n > UI_COMPARE_TABLE_MAX) {
		strvec_free(&ids);
		return web_reply_error(r, 400, "ids: give 1 to %d runs, comma-separated", UI_COMPARE_TABLE_MAX);
	}
	cJSON *out = NULL;
	struct rp_err err = {0};
	int rc = src(r)->ops->compare(src(r), strvec_items(&ids), ids.n, &out, &err);
	strvec_free(&ids);
	return rc < 0 ? web_reply_err(r, &err) : web_reply_json(r, 200, out);
}

static int api_annotate(struct web_req *r)
{
	cJSON *change = r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
	if (!cJSON_IsObject(change)) {
		cJSON_Delete(change);
		return web_reply_error(r, 400, "the body must be a JSON object: {\"tags\": [\"+a\", \"-b\"], \"note\": \"...\"}");
	}
	cJSON *out = NULL;
	struct rp_err err = {0};
	int rc = src(r)->ops->annotate(src(r), r->cap[0], change, &out, &err);
	cJSON_Delete(change);
	return rc < 0 ? web_reply_err(r, &err) : web_reply_json(r, 200, out);
}

static const struct route routes[] = {
	{"GET", "/", page},
	{"GET", "/run/*", page},
	{"GET", "/compare", page},
	{"GET", "/assets/*", asset},
	{"GET", "/api/runs", api_runs},
	{"GET", "/api/runs/*", api_run},
	{"GET", "/api/runs/*/metrics/**", api_metric},
	{"GET", "/api/runs/*/log", api_log},
	{"GET", "/api/runs/*/log/stream", api_log_stream},
	{"GET", "/api/runs/*/outputs/**", api_output},
	{"GET", "/api/compare", api_compare},
	{"POST", "/api/runs/*/annotations", api_annotate},
};

/* Does path match pattern? Fills cap[] with what the wildcards matched (allocated). */
static bool match(const char *pattern, const char *path, char *cap[2])
{
	size_t ncap = 0;
	const char *p = pattern, *s = path;
	cap[0] = cap[1] = NULL;
	while (*p && *s) {
		if (p[0] == '*' && p[1] == '*') {
			if (!*s || ncap == 2)
				break;
			cap[ncap++] = xstrdup(s);
			return true;
		}
		if (*p == '*') {
			size_t n = strcspn(s, "/");
			if (!n || ncap == 2)
				break;
			cap[ncap++] = xstrndup(s, n);
			p++;
			s += n;
			continue;
		}
		if (*p != *s)
			break;
		p++;
		s++;
	}
	if (!*p && !*s)
		return true;
	free(cap[0]);
	free(cap[1]);
	cap[0] = cap[1] = NULL;
	return false;
}

/* A path with a "." or ".." segment names nothing here. */
static bool has_dot_segment(const char *path)
{
	for (const char *s = path; *s;) {
		s += strspn(s, "/");
		size_t n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return true;
		s += n;
	}
	return false;
}

int web_dispatch(struct web_req *r)
{
	if (has_dot_segment(r->path))
		return web_reply_error(r, 404, "not found: %s", r->path);
	const char *method = strcmp(r->method, "HEAD") ? r->method : "GET";
	bool path_known = false;
	const char *allow = NULL;
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
		char *cap[2];
		if (!match(routes[i].pattern, r->path, cap))
			continue;
		if (strcmp(routes[i].method, method)) {
			free(cap[0]);
			free(cap[1]);
			path_known = true;
			allow = routes[i].method;
			continue;
		}
		r->cap[0] = cap[0];
		r->cap[1] = cap[1];
		return routes[i].fn(r);
	}
	if (!path_known)
		return web_reply_error(r, 404, "not found: %s", r->path);
	struct MHD_Response *resp = r->srv->mhd->response_from_buffer(
		strlen("{\"error\":\"method not allowed\"}"), "{\"error\":\"method not allowed\"}", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	r->srv->mhd->add_response_header(resp, "Content-Type", "application/json");
	r->srv->mhd->add_response_header(resp, "Allow", allow);
	return web_queue(r, 405, resp);
}
