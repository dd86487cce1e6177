/* sse.c: GET /api/runs/ID/log/stream, the log's new text as server-sent events. A stream with
 * nothing to send is suspended (MHD_suspend_connection), so it holds no worker thread; a ticker
 * resumes the waiting streams a few times a second to look again. `event: end` once the run has
 * ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ui_source.h"
#include "util.h"
#include "web_int.h"

#define TICK_MS 250
#define CHUNK_MAX 16384            /* log bytes asked for at once */
#define KEEPALIVE_S 15.0           /* a comment line when nothing was sent for this long */

struct sse_stream {
	struct web_server *srv;
	struct MHD_Connection *conn;
	char *id;
	long long offset;
	char *pending;     /* an event not yet all sent */
	size_t pending_len, pending_off;
	bool ended;        /* `event: end` queued: the stream ends once it is sent */
	double last_sent;
	struct sse_stream *next_waiting;
};

/* Ask the source for the log from s->offset; queue what it gives as an event. 1: an event is
 * pending, 0: nothing new (running), -1: error. */
static int poll_log(struct sse_stream *s, long long offset, struct rp_err *err)
{
	struct ui_source *src = s->srv->src;
	cJSON *out = NULL;
	if (src->ops->log(src, s->id, offset, CHUNK_MAX, &out, err) < 0)
		return -1;
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(out, "text");
	const cJSON *next = cJSON_GetObjectItemCaseSensitive(out, "next");
	bool running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "running"));
	int rc = 0;
	if (cJSON_IsString(text) && text->valuestring[0]) {
		char *data = cJSON_PrintUnformatted(text);
		if (data) {
			s->pending = xasprintf("event: log\ndata: %s\n\n", data);
			free(data);
			rc = 1;
		}
		if (cJSON_IsNumber(next))
			s->offset = (long long)next->valuedouble;
	} else if (!running) {
		s->pending = xstrdup("event: end\ndata: {}\n\n");
		s->ended = true;
		rc = 1;
	} else if (cJSON_IsNumber(next)) {
		s->offset = (long long)next->valuedouble;
	}
	if (rc == 1) {
		s->pending_len = strlen(s->pending);
		s->pending_off = 0;
	}
	cJSON_Delete(out);
	return rc;
}

static ssize_t take_pending(struct sse_stream *s, char *buf, size_t max)
{
	size_t n = s->pending_len - s->pending_off;
	if (n > max)
		n = max;
	memcpy(buf, s->pending + s->pending_off, n);
	s->pending_off += n;
	if (s->pending_off == s->pending_len) {
		free(s->pending);
		s->pending = NULL;
	}
	s->last_sent = now_monotonic();
	return (ssize_t)n;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_stream *s = cls;
	struct web_server *srv = s->srv;
	if (s->pending)
		return take_pending(s, buf, max);
	if (s->ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_lock(&srv->lock);
	bool stopping = srv->stopping;
	pthread_mutex_unlock(&srv->lock);
	if (stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	struct rp_err err = {0};
	int rc = poll_log(s, s->offset, &err);
	if (rc < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (rc > 0)
		return take_pending(s, buf, max);
	if (now_monotonic() - s->last_sent >= KEEPALIVE_S) {
		s->pending = xstrdup(": keepalive\n\n");
		s->pending_len = strlen(s->pending);
		s->pending_off = 0;
		return take_pending(s, buf, max);
	}
	/* Nothing new: wait, suspended, for the ticker. */
	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	s->next_waiting = srv->waiting;
	srv->waiting = s;
	srv->mhd->suspend_connection(s->conn);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

static void free_stream(void *cls)
{
	struct sse_stream *s = cls;
	struct web_server *srv = s->srv;
	pthread_mutex_lock(&srv->lock);
	for (struct sse_stream **p = &srv->waiting; *p; p = &(*p)->next_waiting)
		if (*p == s) {
			*p = s->next_waiting;
			break;
		}
	srv->nstreams--;
	pthread_mutex_unlock(&srv->lock);
	free(s->pending);
	free(s->id);
	free(s);
}

int web_sse_start(struct web_req *r, const char *id, long long offset)
{
	struct web_server *srv = r->srv;
	struct sse_stream *s = xcalloc(1, sizeof *s);
	s->srv = srv;
	s->conn = r->conn;
	s->id = xstrdup(id);
	s->offset = offset;
	s->last_sent = now_monotonic();
	/* The first look answers errors (no such run) as JSON before the stream begins. */
	struct rp_err err = {0};
	if (poll_log(s, offset, &err) < 0) {
		free(s->id);
		free(s);
		return web_reply_err(r, &err);
	}
	pthread_mutex_lock(&srv->lock);
	bool full = srv->nstreams >= WEB_STREAMS_MAX;
	if (!full)
		srv->nstreams++;
	pthread_mutex_unlock(&srv->lock);
	if (full) {
		free(s->pending);
		free(s->id);
		free(s);
		return web_reply_error(r, 503, "too many log streams open (%d): close some pages", WEB_STREAMS_MAX);
	}
	struct MHD_Response *resp = srv->mhd->response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, s,
								     free_stream);
	if (!resp) {
		free_stream(s);
		return MHD_NO;
	}
	srv->mhd->add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
	srv->mhd->add_response_header(resp, "X-Accel-Buffering", "no");
	return web_queue(r, 200, resp);
}

/* Resume every waiting stream (under srv->lock). */
static void resume_waiting(struct web_server *srv)
{
	while (srv->waiting) {
		struct sse_stream *s = srv->waiting;
		srv->waiting = s->next_waiting;
		s->next_waiting = NULL;
		srv->mhd->resume_connection(s->conn);
	}
}

static void *ticker(void *arg)
{
	struct web_server *srv = arg;
	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->tick_cond, &srv->lock, &until);
		resume_waiting(srv);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

int web_sse_ticker_start(struct web_server *srv, struct rp_err *err)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&srv->tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		return rp_err_set(err, RP_ERR_RUNTIME, "pthread_cond_init: %s", strerror(rc));
	if ((rc = pthread_create(&srv->ticker, NULL, ticker, srv))) {
		pthread_cond_destroy(&srv->tick_cond);
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot start a thread: %s", strerror(rc));
	}
	srv->ticker_running = true;
	return 0;
}

void web_sse_stop(struct web_server *srv)
{
	if (!srv->ticker_running)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	resume_waiting(srv);
	pthread_cond_signal(&srv->tick_cond);
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->ticker, NULL);
	pthread_cond_destroy(&srv->tick_cond);
	srv->ticker_running = false;
}
