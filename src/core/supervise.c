#include "supervise.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util.h"

static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

int supervise_block_signals(sigset_t *old, struct rp_err *err)
{
	sigset_t set;
	handled_signals(&set);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return rp_err_sys(err, "sigprocmask");
	return 0;
}

int supervise_signal_fd(void)
{
	sigset_t set;
	handled_signals(&set);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int supervise_pending_signal(void)
{
	sigset_t pending, handled;
	handled_signals(&handled);
	if (sigpending(&pending) < 0)
		return 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&handled, sig) == 1 && sigismember(&pending, sig) == 1)
			return sig;
	return 0;
}

void supervise_classify(const struct rp_result *res, bool cancelled, bool timed_out,
			struct supervise_outcome *out)
{
	out->reason = NULL;
	if (cancelled) {
		out->status = RP_CANCELLED;
	} else if (timed_out) {
		out->status = RP_FAILED;
		out->reason = "timeout";
	} else if (res->oom) {
		out->status = RP_FAILED;
		out->reason = "oom";
	} else if (res->signal) {
		out->status = RP_FAILED;
		out->reason = "signal";
	} else {
		out->status = res->exit_code == 0 ? RP_SUCCESS : RP_FAILED;
	}
}

static void notify(const struct supervise_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(const struct supervise_opts *o, const char *fmt, ...)
{
	if (!o->notice)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	o->notice(o->ctx, msg);
}

/* Milliseconds until the earliest of the deadlines (0 = unset), -1 for none. */
static int poll_timeout_ms(double now, double a, double b, double c, double e)
{
	double next = 0;
	const double d[] = { a, b, c, e };
	for (int i = 0; i < 4; i++)
		if (d[i] > 0 && (next == 0 || d[i] < next))
			next = d[i];
	if (next == 0)
		return -1;
	double ms = ceil((next - now) * 1000.0);
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

int supervise_run(struct runner *r, struct capture *cap, const struct supervise_opts *o,
		  struct supervise_outcome *out, struct rp_err *err)
{
	int sfd = supervise_signal_fd();
	if (sfd < 0)
		return rp_err_sys(err, "signalfd");
	double start = now_monotonic();
	double timeout_at = o->timeout_s > 0 ? start + o->timeout_s : 0;
	double kill_at = 0;        /* when SIGTERM's grace period ends */
	double drain_until = 0;    /* after the job ended: stop waiting for EOF then */
	double running_at = o->on_running ? start + o->running_after_s : 0;
	double tick_at = cap->metrics ? start + CAPTURE_TICK_S : 0;
	bool cancelled = false, timed_out = false, job_done = false, hard_sent = false;
	memset(out, 0, sizeof *out);
	int rc = 0;

	while (!(job_done && (cap->eof || now_monotonic() >= drain_until))) {
		double now = now_monotonic();
		struct pollfd fds[3] = {
			{.fd = cap->eof ? -1 : cap->in_fd, .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
			{.fd = job_done ? -1 : r->wait_fd, .events = POLLIN},
		};
		int tmo = job_done ? poll_timeout_ms(now, drain_until, 0, 0, 0)
				   : poll_timeout_ms(now, timeout_at, hard_sent ? 0 : kill_at, running_at, tick_at);
		int n = poll(fds, 3, tmo);
		if (n < 0 && errno != EINTR) {
			rc = rp_err_sys(err, "poll");
			break;
		}
		now = now_monotonic();
		if (fds[0].revents)
			capture_pump(cap);
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si && !job_done) {
				if (!cancelled) {
					cancelled = true;
					out->stop_signal = (int)si.ssi_signo;
					kill_at = now + o->grace_s;
					notify(o, "stopping (SIGTERM to the job; SIGKILL in %.0f s, Ctrl-C again to kill now)",
					       o->grace_s);
					r->ops->stop(r, false);
				} else if (!hard_sent) {
					notify(o, "killing the job");
					hard_sent = true;
					r->ops->stop(r, true);
				}
			}
		}
		if (!job_done && timeout_at > 0 && now >= timeout_at && !timed_out && !cancelled) {
			timed_out = true;
			kill_at = now + o->grace_s;
			notify(o, "timeout after %.0f s: stopping the job (SIGKILL in %.0f s)", o->timeout_s, o->grace_s);
			r->ops->stop(r, false);
		}
		if (!job_done && kill_at > 0 && now >= kill_at && !hard_sent) {
			hard_sent = true;
			r->ops->stop(r, true);
		}
		if (!job_done && running_at > 0 && now >= running_at && !(fds[2].revents & (POLLIN | POLLHUP))) {
			running_at = 0;
			o->on_running(o->ctx);
		}
		if (tick_at > 0 && now >= tick_at) {
			capture_tick(cap);
			tick_at = now + CAPTURE_TICK_S;
		}
		if (!job_done && (fds[2].revents & (POLLIN | POLLHUP))) {
			if (r->ops->wait(r, &out->res, err) < 0) {
				rc = -1;
				break;
			}
			job_done = true;
			/* Everything the job started is dead by now; a few seconds covers the last bytes
			 * in flight even if some stray process kept the pipe open. */
			drain_until = now + 5.0;
		}
	}
	if (!cap->eof)
		capture_pump(cap);
	close(sfd);
	if (rc == 0)
		supervise_classify(&out->res, cancelled, timed_out, out);
	return rc;
}
