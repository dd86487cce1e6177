/* runs.c: what readers show. A running run whose supervisor is gone is shown lost, decided by
 * its claim's lock when it has one (claim.c), else by pid, start time and boot id; finished
 * runs never change; and nothing is ever written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include "dir_test_util.h"
#include "record_test_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "claim.h"
#include "runs.h"

/* A running record whose supervisor is this test process (alive, real start time, this boot). */
static void running_run(struct rp_run *r)
{
	full_run(r);
	r->status = RP_RUNNING;
	free(r->reason);
	r->reason = NULL;
	r->ended_at = 0;
	r->duration_s = -1;
	r->has_exit_code = false;
	r->signal = 0;
	r->supervisor_pid = getpid();
	r->supervisor_start_ticks = process_start_ticks(getpid());
	free(r->supervisor_boot_id);
	r->supervisor_boot_id = current_boot_id();
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static char *run_json_text(const char *dir)
{
	char *path = path_join(dir, "run.json"), *text = NULL;
	assert_int_equal(read_file(path, &text, NULL, NULL), 0);
	free(path);
	return text;
}

/* Written to dir, r is shown lost with reason, twice over, and the file never changes. */
static void expect_shown_lost(const char *dir, struct rp_run *r, const char *reason)
{
	struct rp_err e = {0};
	assert_int_equal(record_write(dir, r, &e), 0);
	char *before = run_json_text(dir);
	assert_true(runs_status_now(dir, r));
	assert_int_equal(r->status, RP_LOST);
	assert_string_equal(r->reason, reason);
	/* a second look changes nothing more */
	assert_false(runs_status_now(dir, r));
	/* readers never write */
	char *after = run_json_text(dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_lost_when_supervisor_dead(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = dead_pid();
	expect_shown_lost(*state, &r, "supervisor died");
	record_free(&r);
}

static void test_lost_when_supervisor_zombie(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* wait until it is a zombie, without reaping it */
	for (int i = 0; i < 2000 && process_alive(pid); i++)
		usleep(1000);
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = pid;
	r.supervisor_start_ticks = process_start_ticks(pid);
	bool shown = runs_status_now(*state, &r);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_true(shown);
	assert_int_equal(r.status, RP_LOST);
	record_free(&r);
}

static void test_lost_when_pid_reused(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_start_ticks += 1; /* same pid, a different process */
	expect_shown_lost(*state, &r, "supervisor died");
	record_free(&r);
}

static void test_lost_when_host_rebooted(void **state)
{
	struct rp_run r;
	running_run(&r);
	if (!r.supervisor_boot_id) {
		record_free(&r);
		skip_because("this kernel has no /proc/sys/kernel/random/boot_id");
	}
	assert_false(runs_status_now(*state, &r));
	free(r.supervisor_boot_id);
	/* even though the pid and start time match a live process */
	r.supervisor_boot_id = xstrdup("00000000-0000-4000-8000-000000000000");
	expect_shown_lost(*state, &r, "host rebooted");
	record_free(&r);
}

static void test_lost_when_no_supervisor_pid(void **state)
{
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = 0;
	expect_shown_lost(*state, &r, "supervisor unknown");
	record_free(&r);
}

static void test_alive_supervisor_stays_running(void **state)
{
	const char *dir = *state;
	struct rp_run r;
	running_run(&r);
	assert_true(r.supervisor_start_ticks > 0);
	assert_int_equal(record_write(dir, &r, NULL), 0);
	assert_false(runs_status_now(dir, &r));
	assert_int_equal(r.status, RP_RUNNING);
	assert_null(r.reason);

	/* a live child process as supervisor, too */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	r.supervisor_pid = pid;
	r.supervisor_start_ticks = process_start_ticks(pid);
	bool shown = runs_status_now(dir, &r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_false(shown);
	assert_int_equal(r.status, RP_RUNNING);
	/* and once it is gone, the same record is lost */
	assert_true(runs_status_now(dir, &r));
	assert_int_equal(r.status, RP_LOST);
	record_free(&r);
}

/* Finished runs are history: a dead supervisor does not touch them. */
static void test_finished_runs_never_change(void **state)
{
	enum rp_status st[] = {RP_SUCCESS, RP_FAILED, RP_CANCELLED, RP_LOST};
	pid_t dead = dead_pid();
	for (int i = 0; i < 4; i++) {
		struct rp_run r;
		running_run(&r);
		r.status = st[i];
		r.supervisor_pid = dead;
		free(r.supervisor_boot_id);
		r.supervisor_boot_id = xstrdup("00000000-0000-4000-8000-000000000000");
		r.reason = xstrdup("kept");
		assert_false(runs_status_now(*state, &r));
		assert_int_equal(r.status, st[i]);
		assert_string_equal(r.reason, "kept");
		record_free(&r);
	}
}

/* A claim for dir, taken in this process. */
static void take(const char *dir, struct claim *c)
{
	char *home = path_join(dir, "home");
	assert_int_equal(mkdir_p(home, 0755, NULL), 0);
	struct claim_info info = {.pid = getpid(), .id = "rp_0042", .uid = "0f8e2a4c-1b7d-4c3e-9a5f-6d2e8b1c0a97",
				  .name = "claimed", .cgroup_name = "rp_0042-0f8e2a4c", .created = 1.5};
	struct rp_err e = {0};
	if (claim_take(home, dir, &info, c, &e) < 0)
		fail_msg("claim_take: %s", e.msg);
	free(home);
}

/* The supervisor's claim decides when it exists: held means alive, whatever the pid says. */
static void test_claim_held_means_alive(void **state)
{
	const char *dir = *state;
	/* One pipe per direction, unused ends closed: if either side dies, the other reads EOF
	 * instead of waiting for ever (and nobody can read back their own byte). */
	int locked[2], release[2];
	assert_int_equal(pipe(locked), 0);
	assert_int_equal(pipe(release), 0);
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		char c;
		close(locked[0]);
		close(release[1]);
		struct claim cl;
		struct claim_info info = {.pid = getpid(), .id = "rp_0042", .uid = "u", .name = "n",
					  .cgroup_name = "rp_0042-u"};
		char *home = path_join(dir, "home");
		if (mkdir_p(home, 0755, NULL) < 0 || claim_take(home, dir, &info, &cl, NULL) < 0)
			_exit(1);
		(void)!write(locked[1], "l", 1);
		(void)!read(release[0], &c, 1); /* hold the claim until the parent says so, or dies */
		_exit(0);
	}
	close(locked[1]);
	close(release[0]);
	char c;
	ssize_t got = read(locked[0], &c, 1);
	close(locked[0]);
	if (got != 1) {
		close(release[1]);
		waitpid(holder, NULL, 0);
		fail_msg("the claim holder could not take a claim in %s", dir);
	}
	struct rp_run r;
	running_run(&r);
	r.supervisor_pid = dead_pid(); /* the pid alone would say "dead" */
	assert_int_equal(record_write(dir, &r, NULL), 0);
	bool held_shown = runs_status_now(dir, &r);
	enum rp_status held_status = r.status;
	/* the holder exits: the kernel drops its lock, and the run is lost */
	close(release[1]);
	assert_int_equal(waitpid(holder, NULL, 0), holder);
	assert_false(held_shown);
	assert_int_equal(held_status, RP_RUNNING);
	expect_shown_lost(dir, &r, "supervisor died");
	record_free(&r);
}

/* A reader that loaded "running" just before the supervisor wrote its final record and exited
 * shows that final record, not "lost". */
static void test_stale_reader_shows_final_record(void **state)
{
	const char *dir = *state;
	struct claim cl;
	take(dir, &cl);
	struct rp_run stale, final;
	running_run(&stale);
	stale.supervisor_pid = dead_pid(); /* by the pid alone the reader would say lost */
	running_run(&final);
	final.status = RP_SUCCESS;
	final.has_exit_code = true;
	final.exit_code = 0;
	assert_int_equal(record_write(dir, &final, NULL), 0);
	claim_release(&cl, false); /* the supervisor is gone */
	assert_true(runs_status_now(dir, &stale)); /* replaced by what is on disk */
	assert_int_equal(stale.status, RP_SUCCESS);
	record_free(&stale);
	record_free(&final);
}

/* A claim's file says whose run it is, and lists the leftovers noted after it was taken. */
static void test_claim_round_trip(void **state)
{
	const char *dir = *state;
	struct claim cl;
	take(dir, &cl);
	char *active = path_join(dir, "home/active/rp_0042");
	assert_true(path_exists(active));
	char *notes[] = {"cgroup /sys/fs/cgroup/memory/runpilot-rp_0042-0f8e2a4c", "overlay-work /x y/.overlay-work"};
	assert_int_equal(claim_note(&cl, notes, 2, NULL), 0);
	int fd;
	/* held: neither a reader nor a collector gets it */
	assert_int_equal(claim_try(active, false, &fd), CLAIM_HELD);
	assert_int_equal(claim_try(active, true, &fd), CLAIM_HELD);
	claim_release(&cl, true); /* leftovers remain: the entry stays */
	assert_true(path_exists(active));
	assert_int_equal(claim_try(active, true, &fd), CLAIM_FREE);
	struct claim_info info;
	assert_int_equal(claim_read(fd, &info, NULL), 0);
	close(fd);
	assert_int_equal(info.pid, getpid());
	assert_string_equal(info.id, "rp_0042");
	assert_string_equal(info.name, "claimed");
	assert_string_equal(info.cgroup_name, "rp_0042-0f8e2a4c");
	assert_true(info.created == 1.5);
	assert_int_equal(info.leftovers.n, 2);
	assert_string_equal(info.leftovers.v[1], "overlay-work /x y/.overlay-work");
	claim_info_free(&info);
	char *lock = path_join(dir, "run.lock");
	assert_int_equal(claim_try(lock, false, &fd), CLAIM_FREE); /* the same file */
	close(fd);
	/* a claim released with nothing left takes its entry out of active/ */
	unlink(lock);
	take(dir, &cl);
	claim_release(&cl, false);
	assert_false(path_exists(active));
	char *nowhere = path_join(dir, "nowhere");
	assert_int_equal(claim_try(nowhere, false, &fd), CLAIM_NONE);
	free(nowhere);
	free(lock);
	free(active);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lost_when_supervisor_dead),
		T(test_lost_when_supervisor_zombie),
		T(test_lost_when_pid_reused),
		T(test_lost_when_host_rebooted),
		T(test_lost_when_no_supervisor_pid),
		T(test_alive_supervisor_stays_running),
		T(test_finished_runs_never_change),
		T(test_claim_held_means_alive),
		T(test_stale_reader_shows_final_record),
		T(test_claim_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
