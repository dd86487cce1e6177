#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

int capture_init(struct capture *c, int in_fd, const char *log_path, int term_fd, struct rp_err *err)
{
	c->metrics = NULL;
	c->in_fd = in_fd;
	c->term_fd = term_fd;
	c->term_broken = false;
	c->eof = false;
	c->bytes = 0;
	c->log_errno = 0;
	c->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (c->log_fd < 0)
		return rp_err_sys(err, "cannot create %s", log_path);
	int fl = fcntl(in_fd, F_GETFL);
	if (fl < 0 || fcntl(in_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(c->log_fd);
		return rp_err_sys(err, "fcntl(O_NONBLOCK) on the output pipe");
	}
	return 0;
}

int capture_pump(struct capture *c)
{
	char buf[65536];
	int rc = 0;
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
		c->bytes += (unsigned long long)n;
		/* The log is the record: write it first, and keep going if the terminal breaks. */
		if (!c->log_errno && write_all(c->log_fd, buf, (size_t)n) < 0)
			c->log_errno = errno;
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
	if (c->log_fd >= 0) {
		/* Nothing written: nothing to flush (an fsync would still cost a device flush). */
		if (c->bytes > 0 && fsync(c->log_fd) < 0 && !c->log_errno && errno != EINVAL)
			c->log_errno = errno;
		close(c->log_fd);
		c->log_fd = -1;
	}
	if (c->in_fd >= 0) {
		close(c->in_fd);
		c->in_fd = -1;
	}
}
