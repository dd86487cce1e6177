/* orphans.c: the next runpilot finishes off the runs of dead supervisors: it removes what their
 * claims list, their temp files, records them lost under their lock, and drops their entry from
 * active/; what cannot be removed yet stays listed and is tried again. Live claims, finished
 * records and other runs are never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "skip_util.h"

#include "record_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "claim.h"
#include "orphans.h"
#include "store.h"

struct fixture {
	char *home;
	struct rp_store st;
};

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-orphans-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	struct fixture *f = xcalloc(1, sizeof *f);
	f->home = xstrdup(tmpl);
	f->st.home = xstrdup(tmpl);
	f->st.runs_dir = path_join(tmpl, "runs");
	if (mkdir_p(f->st.runs_dir, 0755, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = rm_rf(f->home, NULL);
	free(f->home);
	store_close(&f->st);
	free(f);
	return rc;
}

/* A run directory whose supervisor took its claim, noted leftovers, and died (a child that
 * exits). Returns the run dir (owned). */
static char *dead_run(struct fixture *f, const char *id, char *const *leftovers, size_t n, pid_t *pid_out)
{
	char *dir = store_run_dir(&f->st, id);
	assert_int_equal(mkdir(dir, 0755), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct claim c;
		struct claim_info info = {.pid = getpid(), .id = (char *)id, .uid = "0f8e2a4c-0000-4000-8000-000000000001",
					  .name = "orphaned", .cgroup_name = "unit-orphan-none", .created = 100.25};
		if (claim_take(f->home, dir, &info, &c, NULL) < 0 || claim_note(&c, leftovers, n, NULL) < 0)
			_exit(1);
		_exit(0); /* dies holding it: the kernel drops the lock */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (pid_out)
		*pid_out = pid;
	return dir;
}

static char *active_entry(struct fixture *f, const char *id)
{
	return xasprintf("%s/active/%s", f->home, id);
}

static void touch(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	free(p);
}

/* An overlay work dir as the sandbox leaves it: an inner "work" of mode 000 with a file in it. */
static char *overlay_work(const char *run_dir)
{
	char *ow = path_join(run_dir, ".overlay-work");
	char *inner = path_join(ow, "work");
	assert_int_equal(mkdir(ow, 0700), 0);
	assert_int_equal(mkdir(inner, 0700), 0);
	touch(inner, "copy-up");
	assert_int_equal(chmod(inner, 0), 0);
	free(inner);
	return ow;
}

static void test_dead_running_run_is_finished_off(void **state)
{
	struct fixture *f = *state;
	char *dir = store_run_dir(&f->st, "rp_0001");
	assert_int_equal(mkdir(dir, 0755), 0);
	char *ow = overlay_work(dir);
	char *changes = path_join(dir, "changes");
	assert_int_equal(mkdir(changes, 0755), 0);
	char *l1 = xasprintf("overlay-work %s", ow), *l2 = xasprintf("empty-dir %s", changes);
	char *notes[] = {l1, l2};
	/* the run dir holds its leftovers already: dead_run would make it, so the claim is taken
	 * by hand */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct claim c;
		struct claim_info info = {.pid = getpid(), .id = "rp_0001", .uid = "0f8e2a4c-0000-4000-8000-000000000001",
					  .name = "orphaned", .cgroup_name = "unit-orphan-none"};
		if (claim_take(f->home, dir, &info, &c, NULL) < 0 || claim_note(&c, notes, 2, NULL) < 0)
			_exit(1);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* its running record, and temp files of its atomic writes (and one of another process) */
	struct rp_run r;
	full_run(&r);
	r.status = RP_RUNNING;
	free(r.uid);
	r.uid = xstrdup("0f8e2a4c-0000-4000-8000-000000000001");
	free(r.supervisor_boot_id);
	r.supervisor_boot_id = current_boot_id();
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	char tmp_dead[64], tmp_other[64], tmp_gone[64];
	snprintf(tmp_dead, sizeof tmp_dead, "run.json.tmp.%d", (int)pid);
	/* a live writer's (this test's parent: the test itself writes run.json.tmp.<its pid>), and
	 * one of another writer that died mid-write */
	snprintf(tmp_other, sizeof tmp_other, "run.json.tmp.%d", (int)getppid());
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	assert_true(gone > 0);
	waitpid(gone, NULL, 0);
	snprintf(tmp_gone, sizeof tmp_gone, "run.json.tmp.%d", (int)gone);
	touch(dir, tmp_dead);
	touch(dir, tmp_other);
	touch(dir, tmp_gone);

	assert_int_equal(orphans_collect(&f->st), 1);
	struct rp_run back;
	assert_int_equal(record_read(dir, &back, NULL), 0);
	assert_int_equal(back.status, RP_LOST);
	assert_string_equal(back.reason, "supervisor died");
	assert_string_equal(back.name, "mnist-cnn-baseline"); /* the record kept, only the status */
	record_free(&back);
	assert_false(path_exists(ow));
	assert_false(path_exists(changes));
	char *p = path_join(dir, tmp_dead);
	assert_false(path_exists(p));
	free(p);
	p = path_join(dir, tmp_other);
	assert_true(path_exists(p)); /* a live process's */
	free(p);
	p = path_join(dir, tmp_gone);
	assert_false(path_exists(p));
	free(p);
	p = active_entry(f, "rp_0001");
	assert_false(path_exists(p));
	free(p);
	/* nothing left to do */
	assert_int_equal(orphans_collect(&f->st), 0);
	free(l1);
	free(l2);
	free(ow);
	free(changes);
	free(dir);
}

/* Dead before any run.json: one is written, lost, from what the claim says. */
static void test_dead_in_setup_gets_a_lost_record(void **state)
{
	struct fixture *f = *state;
	char *dir = dead_run(f, "rp_0002", NULL, 0, NULL);
	assert_int_equal(orphans_collect(&f->st), 1);
	struct rp_run r;
	assert_int_equal(record_read(dir, &r, NULL), 0);
	assert_int_equal(r.status, RP_LOST);
	assert_string_equal(r.id, "rp_0002");
	assert_string_equal(r.uid, "0f8e2a4c-0000-4000-8000-000000000001");
	assert_string_equal(r.name, "orphaned");
	assert_true(r.created_at > 100.2 && r.created_at < 100.3);
	assert_true(cJSON_IsString(record_section(&r, "error")));
	record_free(&r);
	free(dir);
}

/* A finished record is history: leftovers go, the record stays as it was. */
static void test_finished_record_left_alone(void **state)
{
	struct fixture *f = *state;
	char *dir = dead_run(f, "rp_0003", NULL, 0, NULL);
	struct rp_run r;
	full_run(&r);
	r.status = RP_SUCCESS;
	assert_int_equal(record_write(dir, &r, NULL), 0);
	record_free(&r);
	char *before = NULL, *after = NULL, *path = path_join(dir, "run.json");
	assert_int_equal(read_file(path, &before, NULL, NULL), 0);
	assert_int_equal(orphans_collect(&f->st), 1);
	assert_int_equal(read_file(path, &after, NULL, NULL), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(path);
	free(dir);
}

/* A live supervisor's claim (held here) is not touched. */
static void test_live_claim_untouched(void **state)
{
	struct fixture *f = *state;
	char *dir = store_run_dir(&f->st, "rp_0004");
	assert_int_equal(mkdir(dir, 0755), 0);
	struct claim c;
	struct claim_info info = {.pid = getpid(), .id = "rp_0004", .uid = "u", .name = "live", .cgroup_name = "x"};
	assert_int_equal(claim_take(f->home, dir, &info, &c, NULL), 0);
	assert_int_equal(orphans_collect(&f->st), 0);
	char *p = active_entry(f, "rp_0004");
	assert_true(path_exists(p));
	char *json = path_join(dir, "run.json");
	assert_false(path_exists(json)); /* no lost record for a live run */
	claim_release(&c, false);
	assert_false(path_exists(p));
	free(json);
	free(p);
	free(dir);
}

/* A leftover that cannot be removed yet keeps the entry, and the next collection retries. */
static void test_busy_leftover_retried(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0) {
		skip_because("needs root to set the immutable flag that keeps a leftover busy");
	}
	char *dir = store_run_dir(&f->st, "rp_0005");
	char *stuck_parent = path_join(f->home, "stuck");
	assert_int_equal(mkdir(stuck_parent, 0755), 0);
	char *ow = path_join(stuck_parent, ".overlay-work");
	assert_int_equal(mkdir(ow, 0700), 0);
	touch(ow, "pinned");
	char *pinned = path_join(ow, "pinned");
	int fd = open(pinned, O_RDONLY | O_CLOEXEC);
	int flags = 0;
	bool immutable = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
			 (flags |= FS_IMMUTABLE_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0);
	if (!immutable) {
		if (fd >= 0)
			close(fd);
		skip_because("this filesystem has no immutable flag");
	}
	char *l = xasprintf("overlay-work %s", ow);
	char *notes[] = {l};
	free(dead_run(f, "rp_0005", notes, 1, NULL));
	char *entry = active_entry(f, "rp_0005");
	assert_int_equal(orphans_collect(&f->st), 0);
	bool kept = path_exists(entry), ow_left = path_exists(ow);
	flags &= ~FS_IMMUTABLE_FL;
	int cleared = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	close(fd);
	assert_int_equal(cleared, 0);
	assert_true(kept);
	assert_true(ow_left);
	struct rp_run r;
	assert_int_equal(record_read(dir, &r, NULL), 0); /* recorded lost already */
	assert_int_equal(r.status, RP_LOST);
	record_free(&r);
	assert_int_equal(orphans_collect(&f->st), 1);
	assert_false(path_exists(entry));
	assert_false(path_exists(ow));
	free(entry);
	free(l);
	free(pinned);
	free(ow);
	free(stuck_parent);
	free(dir);
}

/* A claim that names another run's cgroup (or a path outside the cgroup filesystems) is not
 * acted on. */
static void test_foreign_cgroup_left_alone(void **state)
{
	struct fixture *f = *state;
	char *victim = path_join(f->home, "not-a-cgroup");
	assert_int_equal(mkdir(victim, 0755), 0);
	char *l1 = xasprintf("cgroup %s", victim);
	char *notes[] = {l1, "cgroup /sys/fs/cgroup/memory/runpilot-someone-else"};
	free(dead_run(f, "rp_0006", notes, 2, NULL));
	orphans_collect(&f->st);
	assert_true(path_exists(victim));
	char *entry = active_entry(f, "rp_0006");
	assert_true(path_exists(entry)); /* not done: kept for a look by hand */
	free(entry);
	free(l1);
	free(victim);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dead_running_run_is_finished_off),
		T(test_dead_in_setup_gets_a_lost_record),
		T(test_finished_record_left_alone),
		T(test_live_claim_untouched),
		T(test_busy_leftover_retried),
		T(test_foreign_cgroup_left_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
