#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "metrics.h"
#include "util.h"

int capture_init(struct capture *c, int in_fd, const char *log_path, int term_fd, struct rp_err *err)
{
	*c = (struct capture){.in_fd = in_fd, .term_fd = term_fd};
	int fl = fcntl(in_fd, F_GETFL);
	if (fl < 0 || fcntl(in_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return rp_err_sys(err, "fcntl(O_NONBLOCK) on the output pipe");
	/* The job runs already: a log that cannot be opened is a log cut from its first byte. */
	c->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (c->log_fd < 0)
		c->log_errno = errno;
	return 0;
}

/* Write to logs.txt unless an earlier write failed; returns the bytes written. After a failure
 * (a full disk, an I/O error) the log stays cut there: later bytes are counted as lost. */
static size_t log_raw(struct capture *c, const char *buf, size_t n)
{
	size_t done = 0;
	while (!c->log_errno && done < n) {
		ssize_t w = write(c->log_fd, buf + done, n - done);
		if (w < 0) {
			if (errno != EINTR)
				c->log_errno = errno;
			continue;
		}
		done += (size_t)w;
	}
	if (done)
		c->last_logged = buf[done - 1];
	return done;
}

/* The job's bytes into logs.txt, counted. */
static void log_job_bytes(struct capture *c, const char *buf, size_t n)
{
	size_t done = log_raw(c, buf, n);
	c->log_written += done;
	c->log_lost += n - done;
}

static size_t tail_capacity(const struct capture *c)
{
	unsigned long long half = c->log_cap / 2;
	return (size_t)(half < CAPTURE_TAIL_MAX ? half : CAPTURE_TAIL_MAX);
}

/* Keep the last tail_cap bytes offered. */
static void tail_push(struct capture *c, const char *p, size_t n)
{
	c->tail_seen += n;
	if (!c->tail_cap)
		return;
	if (!c->tail)
		c->tail = xmalloc(c->tail_cap);
	if (n > c->tail_cap) {
		p += n - c->tail_cap;
		n = c->tail_cap;
	}
	size_t first = c->tail_cap - c->tail_end < n ? c->tail_cap - c->tail_end : n;
	memcpy(c->tail + c->tail_end, p, first);
	memcpy(c->tail, p + first, n - first);
	c->tail_end = (c->tail_end + n) % c->tail_cap;
	c->tail_len = c->tail_len + n < c->tail_cap ? c->tail_len + n : c->tail_cap;
}

/* One chunk of output: to logs.txt while under the head's share of the cap, else to the tail. */
static void log_chunk(struct capture *c, const char *buf, size_t n, unsigned long long offset)
{
	if (!c->log_cap) {
		log_job_bytes(c, buf, n);
		return;
	}
	unsigned long long head_cap = c->log_cap - c->tail_cap;
	size_t head = offset >= head_cap ? 0 : head_cap - offset < n ? (size_t)(head_cap - offset) : n;
	if (head)
		log_job_bytes(c, buf, head);
	if (n > head)
		tail_push(c, buf + head, n - head);
}

/* Under a cap: the marker line for what was cut, then the tail kept. */
static void log_finish_tail(struct capture *c)
{
	if (!c->tail_seen)
		return;
	unsigned long long cut = c->tail_seen - c->tail_len;
	if (cut) {
		char marker[96];
		int len = snprintf(marker, sizeof marker, "%s[runpilot: %llu bytes cut here]\n",
				   c->last_logged && c->last_logged != '\n' ? "\n" : "", cut);
		log_raw(c, marker, (size_t)len);
		c->log_lost += cut;
	}
	if (!c->tail_len)
		return;
	size_t start = (c->tail_end + c->tail_cap - c->tail_len) % c->tail_cap;
	size_t first = c->tail_cap - start < c->tail_len ? c->tail_cap - start : c->tail_len;
	log_job_bytes(c, c->tail + start, first);
	log_job_bytes(c, c->tail, c->tail_len - first);
	free(c->tail);
	c->tail = NULL;
	c->tail_len = 0;
}

int capture_pump(struct capture *c)
{
	char buf[65536];
	int rc = 0;
	if (c->log_cap && !c->tail_cap)
		c->tail_cap = tail_capacity(c);
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(c->in_fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: nothing more right now */
		}
		if (n == 0) {
			c->eof = true;
			rc = 1;
			break;
		}
		unsigned long long offset = c->bytes;
		c->bytes += (unsigned long long)n;
		/* The log is the record: write it first, and keep going if the terminal breaks. */
		log_chunk(c, buf, (size_t)n, offset);
		if (c->term_fd >= 0 && !c->term_broken && write_all(c->term_fd, buf, (size_t)n) < 0)
			c->term_broken = true;
		/* Metrics last: they never delay the log or the terminal. */
		if (c->metrics)
			mx_recorder_feed(c->metrics, buf, (size_t)n);
		if ((size_t)n < sizeof buf)
			break;
	}
	if (c->metrics)
		mx_recorder_flush(c->metrics);
	return rc;
}

void capture_tick(struct capture *c)
{
	if (c->metrics)
		mx_recorder_poll_job_file(c->metrics);
}

void capture_close(struct capture *c)
{
	log_finish_tail(c);
	if (c->log_fd >= 0) {
		/* Nothing written: nothing to flush (an fsync would still cost a device flush). */
		if (c->bytes > 0 && fsync(c->log_fd) < 0 && !c->log_errno && errno != EINVAL)
			c->log_errno = errno;
		close(c->log_fd);
		c->log_fd = -1;
	}
	free(c->tail);
	c->tail = NULL;
	if (c->in_fd >= 0) {
		close(c->in_fd);
		c->in_fd = -1;
	}
}

cJSON *capture_logs_section(const struct capture *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "truncated", c->log_lost > 0);
	cJSON_AddNumberToObject(o, "bytes_written", (double)c->log_written);
	cJSON_AddNumberToObject(o, "bytes_lost", (double)c->log_lost);
	if (c->log_cap)
		cJSON_AddNumberToObject(o, "cap", (double)c->log_cap);
	if (c->log_errno)
		cJSON_AddStringToObject(o, "error", strerror(c->log_errno));
	return o;
}
