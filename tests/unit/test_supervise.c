/* supervise.c: how a run's status and reason follow from the way the job ended, and the
 * supervisor loop itself (timeout, Ctrl-C, second Ctrl-C, output drained) with a fake runner. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "runner.h"
#include "supervise.h"
#include "util.h"

/* ---- supervise_classify ---- */

static struct supervise_outcome classify(int exit_code, int sig, bool oom, bool cancelled, bool timed_out)
{
	struct rp_result res = {.exit_code = exit_code, .signal = sig, .oom = oom};
	struct supervise_outcome out;
	memset(&out, 0xff, sizeof out); /* every field it sets must be set */
	out.res = res;
	supervise_classify(&res, cancelled, timed_out, &out);
	return out;
}

static void expect_outcome(struct supervise_outcome o, enum rp_status st, const char *reason)
{
	assert_int_equal(o.status, st);
	if (!reason)
		assert_null(o.reason);
	else
		assert_string_equal(o.reason, reason);
}

static void test_classify_exit_codes(void **state)
{
	expect_outcome(classify(0, 0, false, false, false), RP_SUCCESS, NULL);
	expect_outcome(classify(1, 0, false, false, false), RP_FAILED, NULL);
	expect_outcome(classify(3, 0, false, false, false), RP_FAILED, NULL);
	expect_outcome(classify(255, 0, false, false, false), RP_FAILED, NULL);
}

static void test_classify_signal(void **state)
{
	expect_outcome(classify(-1, SIGSEGV, false, false, false), RP_FAILED, "signal");
	expect_outcome(classify(-1, SIGKILL, false, false, false), RP_FAILED, "signal");
	expect_outcome(classify(-1, SIGTERM, false, false, false), RP_FAILED, "signal");
}

static void test_classify_oom_beats_signal(void **state)
{
	/* the memory limit's kill arrives as SIGKILL: the reason is oom, not signal */
	expect_outcome(classify(-1, SIGKILL, true, false, false), RP_FAILED, "oom");
	expect_outcome(classify(137, 0, true, false, false), RP_FAILED, "oom");
}

static void test_classify_timeout_beats_oom_and_signal(void **state)
{
	/* the supervisor stopped it for the timeout: whatever signal ended it, the reason is timeout */
	expect_outcome(classify(-1, SIGTERM, false, false, true), RP_FAILED, "timeout");
	expect_outcome(classify(-1, SIGKILL, true, false, true), RP_FAILED, "timeout");
	/* even a job that exited 0 on SIGTERM did not finish in time */
	expect_outcome(classify(0, 0, false, false, true), RP_FAILED, "timeout");
}

static void test_classify_cancelled_beats_everything(void **state)
{
	expect_outcome(classify(-1, SIGTERM, false, true, false), RP_CANCELLED, NULL);
	expect_outcome(classify(0, 0, false, true, false), RP_CANCELLED, NULL);
	expect_outcome(classify(2, 0, true, true, true), RP_CANCELLED, NULL);
}

/* ---- supervise_run with a fake runner ---- */

enum job_kind { JOB_EXIT3, JOB_SLEEP, JOB_IGNORE_TERM };

struct fake {
	enum job_kind kind;
	int soft_stops, hard_stops;
	int wait_calls;
};

static void run_job(enum job_kind kind, int out_fd, int ready_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that died */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (kind == JOB_IGNORE_TERM)
		signal(SIGTERM, SIG_IGN);
	const char hello[] = "hello from the job\n";
	(void)!write(out_fd, hello, sizeof hello - 1);
	(void)!write(ready_fd, "r", 1);
	if (kind == JOB_EXIT3)
		_exit(3);
	for (;;)
		pause();
}

static int fake_start(struct runner *r, struct rp_err *err)
{
	struct fake *f = r->priv;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return rp_err_sys(err, "fork");
	if (pid == 0) {
		close(ready[0]);
		run_job(f->kind, r->job->out_fd, ready[1]);
	}
	close(ready[1]);
	char c;
	ssize_t n;
	do
		n = read(ready[0], &c, 1); /* the job has set up its signal handling */
	while (n < 0 && errno == EINTR);
	close(ready[0]);
	r->pid = pid;
	r->wait_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->wait_fd < 0)
		return rp_err_sys(err, "pidfd_open");
	return 0;
}

static int fake_stop(struct runner *r, bool hard)
{
	struct fake *f = r->priv;
	if (hard)
		f->hard_stops++;
	else
		f->soft_stops++;
	return kill(r->pid, hard ? SIGKILL : SIGTERM);
}

static int fake_wait(struct runner *r, struct rp_result *res, struct rp_err *err)
{
	struct fake *f = r->priv;
	f->wait_calls++;
	int st;
	if (waitpid(r->pid, &st, 0) < 0)
		return rp_err_sys(err, "waitpid");
	res->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	res->oom = false;
	return 0;
}

static const struct runner_ops fake_ops = {
	.type = "fake", .start = fake_start, .stop = fake_stop, .wait = fake_wait,
};

struct sv {
	char *dir;
	char *log;
	struct fake fake;
	struct rp_job job;
	struct runner runner;
	struct capture cap;
	int notices;
	char last_notice[256];
	int running_calls;
	double running_at; /* seconds after supervision began */
	double t0;
};

static void on_running(void *ctx)
{
	struct sv *s = ctx;
	s->running_calls++;
	s->running_at = now_monotonic() - s->t0;
}

static void on_notice(void *ctx, const char *msg)
{
	struct sv *s = ctx;
	s->notices++;
	snprintf(s->last_notice, sizeof s->last_notice, "%s", msg);
}

static int sv_setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-supervise-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	struct sv *s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(tmpl);
	/* a supervisor loop that never ends must fail the suite, not hang it */
	alarm(30);
	s->log = path_join(s->dir, "logs.txt");
	*state = s;
	return 0;
}

static int sv_teardown(void **state)
{
	struct sv *s = *state;
	alarm(0);
	/* a failed test may leave its job running: end it (only if it is still our unreaped child) */
	if (s->runner.pid > 0 && waitpid(s->runner.pid, NULL, WNOHANG) == 0) {
		kill(s->runner.pid, SIGKILL);
		waitpid(s->runner.pid, NULL, 0);
	}
	int rc = rm_rf(s->dir, NULL);
	free(s->log);
	free(s->dir);
	free(s);
	return rc;
}

/* Start a fake job of the given kind with its output going into logs.txt. */
static void sv_start(struct sv *s, enum job_kind kind)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	s->fake.kind = kind;
	s->job.out_fd = p[1];
	s->runner.ops = &fake_ops;
	s->runner.job = &s->job;
	s->runner.priv = &s->fake;
	s->runner.wait_fd = -1;
	struct rp_err e = {0};
	assert_int_equal(capture_init(&s->cap, p[0], s->log, -1, &e), 0);
	if (fake_start(&s->runner, &e) < 0)
		fail_msg("start: %s", e.msg);
	close(p[1]); /* only the job holds the write end now */
}

static void sv_finish(struct sv *s)
{
	close(s->runner.wait_fd);
	capture_close(&s->cap);
}

static void expect_log(struct sv *s, const char *want)
{
	char *text;
	assert_int_equal(read_file(s->log, &text, NULL, NULL), 0);
	assert_string_equal(text, want);
	free(text);
}

static void test_run_exit_code_and_output(void **state)
{
	struct sv *s = *state;
	sv_start(s, JOB_EXIT3);
	struct supervise_opts o = {.grace_s = 5, .notice = on_notice, .ctx = s};
	struct supervise_outcome out;
	struct rp_err e = {0};
	assert_int_equal(supervise_run(&s->runner, &s->cap, &o, &out, &e), 0);
	sv_finish(s);
	assert_int_equal(out.status, RP_FAILED);
	assert_null(out.reason);
	assert_int_equal(out.res.exit_code, 3);
	assert_int_equal(out.res.signal, 0);
	assert_int_equal(out.stop_signal, 0);
	assert_int_equal(s->fake.soft_stops + s->fake.hard_stops, 0);
	assert_int_equal(s->fake.wait_calls, 1);
	assert_int_equal(s->notices, 0);
	assert_true(s->cap.eof);
	expect_log(s, "hello from the job\n");
}

/* The "running" record is written once a job has run running_after_s, never for one that
 * ended before (its outcome is written at once anyway). */
static void test_run_running_callback_once_for_a_long_job(void **state)
{
	struct sv *s = *state;
	sv_start(s, JOB_SLEEP);
	struct supervise_opts o = {.timeout_s = 0.6, .grace_s = 5, .notice = on_notice, .ctx = s,
				   .on_running = on_running, .running_after_s = 0.15};
	struct supervise_outcome out;
	s->t0 = now_monotonic();
	assert_int_equal(supervise_run(&s->runner, &s->cap, &o, &out, NULL), 0);
	sv_finish(s);
	assert_int_equal(s->running_calls, 1);
	assert_true(s->running_at >= 0.14 && s->running_at < 0.55);
	assert_string_equal(out.reason, "timeout");
}

static void test_run_no_running_callback_for_a_quick_job(void **state)
{
	struct sv *s = *state;
	sv_start(s, JOB_EXIT3);
	struct supervise_opts o = {.grace_s = 5, .notice = on_notice, .ctx = s,
				   .on_running = on_running, .running_after_s = 2};
	struct supervise_outcome out;
	assert_int_equal(supervise_run(&s->runner, &s->cap, &o, &out, NULL), 0);
	sv_finish(s);
	assert_int_equal(s->running_calls, 0);
	assert_int_equal(out.res.exit_code, 3);
}

static void test_run_timeout_sigterm(void **state)
{
	struct sv *s = *state;
	sv_start(s, JOB_SLEEP);
	struct supervise_opts o = {.timeout_s = 0.2, .grace_s = 10, .notice = on_notice, .ctx = s};
	struct supervise_outcome out;
	double t0 = now_monotonic();
	assert_int_equal(supervise_run(&s->runner, &s->cap, &o, &out, NULL), 0);
	double took = now_monotonic() - t0;
	sv_finish(s);
	assert_int_equal(out.status, RP_FAILED);
	assert_string_equal(out.reason, "timeout");
	assert_int_equal(out.res.signal, SIGTERM);
	assert_int_equal(s->fake.soft_stops, 1);
	assert_int_equal(s->fake.hard_stops, 0); /* it obeyed SIGTERM: no SIGKILL needed */
	assert_true(took >= 0.19 && took < 5);
	assert_non_null(strstr(s->last_notice, "timeout"));
	expect_log(s, "hello from the job\n");
}

static void test_run_timeout_then_sigkill_after_grace(void **state)
{
	struct sv *s = *state;
	sv_start(s, JOB_IGNORE_TERM);
	struct supervise_opts o = {.timeout_s = 0.1, .grace_s = 0.2};
	struct supervise_outcome out;
	double t0 = now_monotonic();
	assert_int_equal(supervise_run(&s->runner, &s->cap, &o, &out, NULL), 0);
	double took = now_monotonic() - t0;
	sv_finish(s);
	assert_int_equal(out.status, RP_FAILED);
	assert_string_equal(out.reason, "timeout");
	assert_int_equal(out.res.signal, SIGKILL);
	assert_int_equal(s->fake.soft_stops, 1);
	assert_int_equal(s->fake.hard_stops, 1);
	assert_true(took >= 0.29 && took < 5);
}

/* Consume a pending signal so that unblocking cannot kill the test, then restore the mask. */
static void unblock(const sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, old, NULL);
}

static void test_run_cancel_with_sigterm(void **state)
{
	struct sv *s = *state;
	sigset_t old;
	assert_int_equal(supervise_block_signals(&old, NULL), 0);
	sv_start(s, JOB_SLEEP);
	assert_int_equal(kill(getpid(), SIGTERM), 0); /* stays pending until the loop reads it */
	struct supervise_opts o = {.grace_s = 10, .notice = on_notice, .ctx = s};
	struct supervise_outcome out;
	int rc = supervise_run(&s->runner, &s->cap, &o, &out, NULL);
	unblock(&old);
	sv_finish(s);
	assert_int_equal(rc, 0);
	assert_int_equal(out.status, RP_CANCELLED);
	assert_int_equal(out.stop_signal, SIGTERM);
	assert_int_equal(out.res.signal, SIGTERM);
	assert_int_equal(s->fake.soft_stops, 1);
	assert_int_equal(s->fake.hard_stops, 0);
	assert_non_null(strstr(s->last_notice, "stopping"));
}

/* A second Ctrl-C kills at once, without waiting for the grace period. */
static void test_run_second_interrupt_kills_at_once(void **state)
{
	struct sv *s = *state;
	sigset_t old;
	assert_int_equal(supervise_block_signals(&old, NULL), 0);
	sv_start(s, JOB_IGNORE_TERM);
	assert_int_equal(kill(getpid(), SIGINT), 0);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	struct supervise_opts o = {.grace_s = 30, .notice = on_notice, .ctx = s};
	struct supervise_outcome out;
	double t0 = now_monotonic();
	int rc = supervise_run(&s->runner, &s->cap, &o, &out, NULL);
	double took = now_monotonic() - t0;
	unblock(&old);
	sv_finish(s);
	assert_int_equal(rc, 0);
	assert_int_equal(out.status, RP_CANCELLED);
	assert_int_equal(out.stop_signal, SIGINT);
	assert_int_equal(out.res.signal, SIGKILL);
	assert_int_equal(s->fake.soft_stops, 1);
	assert_int_equal(s->fake.hard_stops, 1);
	assert_true(took < 10); /* far less than the 30 s grace period */
	assert_non_null(strstr(s->last_notice, "killing"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sv_setup, sv_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_exit_codes),
		cmocka_unit_test(test_classify_signal),
		cmocka_unit_test(test_classify_oom_beats_signal),
		cmocka_unit_test(test_classify_timeout_beats_oom_and_signal),
		cmocka_unit_test(test_classify_cancelled_beats_everything),
		T(test_run_exit_code_and_output),
		T(test_run_running_callback_once_for_a_long_job),
		T(test_run_no_running_callback_for_a_quick_job),
		T(test_run_timeout_sigterm),
		T(test_run_timeout_then_sigkill_after_grace),
		T(test_run_cancel_with_sigterm),
		T(test_run_second_interrupt_kills_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
