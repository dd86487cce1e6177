/* sanitize.c: after the job, setuid/setgid bits are cleared and device nodes removed in its
 * outputs/ and changes/, without following a symbolic link; an overlay whiteout (0/0) stays. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dir_test_util.h"
#include "skip_util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sanitize.h"

static void make_file(const char *dir, const char *name, mode_t mode)
{
	char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	struct stat st;
	int rc = lstat(p, &st);
	free(p);
	return rc == 0 ? st.st_mode : 0;
}

static const char *action_for(const cJSON *changes, const char *path)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, changes)
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(it, "path")->valuestring, path))
			return cJSON_GetObjectItemCaseSensitive(it, "action")->valuestring;
	return NULL;
}

static void test_setuid_bits_cleared_links_not_followed(void **state)
{
	const char *run = *state;
	char *out = path_join(run, "outputs"), *deep = path_join(run, "outputs/a/b");
	char *outside = path_join(run, "outside");
	assert_int_equal(mkdir_p(deep, 0755, NULL), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	make_file(out, "suid", 04755);
	make_file(out, "sgid", 02750);
	make_file(deep, "both", 06711);
	make_file(out, "plain", 0644);
	make_file(outside, "target", 04755);
	char *link = path_join(out, "link"), *target = path_join(outside, "target");
	assert_int_equal(symlink(target, link), 0);
	cJSON *changes = cJSON_CreateArray();
	assert_int_equal(sanitize_tree(run, "outputs", changes, NULL), 0);
	assert_int_equal(mode_of(out, "suid") & 07777, 0755);
	assert_int_equal(mode_of(out, "sgid") & 07777, 0750);
	assert_int_equal(mode_of(deep, "both") & 07777, 0711);
	assert_int_equal(mode_of(out, "plain") & 07777, 0644);
	assert_int_equal(mode_of(outside, "target") & 07777, 04755); /* the link was not followed */
	assert_string_equal(action_for(changes, "outputs/suid"), "cleared setuid");
	assert_string_equal(action_for(changes, "outputs/sgid"), "cleared setgid");
	assert_string_equal(action_for(changes, "outputs/a/b/both"), "cleared setuid and setgid");
	assert_null(action_for(changes, "outputs/plain"));
	assert_null(action_for(changes, "outputs/link"));
	assert_int_equal(cJSON_GetArraySize(changes), 3);
	/* a tree that is not there is nothing to do */
	assert_int_equal(sanitize_tree(run, "changes", changes, NULL), 0);
	assert_int_equal(cJSON_GetArraySize(changes), 3);
	cJSON_Delete(changes);
	free(out);
	free(deep);
	free(outside);
	free(link);
	free(target);
}

static void test_devices_removed_whiteouts_kept(void **state)
{
	if (geteuid() != 0)
		skip_because("needs root to make device nodes");
	const char *run = *state;
	char *changes_dir = path_join(run, "changes");
	assert_int_equal(mkdir(changes_dir, 0755), 0);
	char *dev = path_join(changes_dir, "null2"), *wo = path_join(changes_dir, "deleted-file");
	char *blk = path_join(changes_dir, "disk");
	assert_int_equal(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
	assert_int_equal(mknod(blk, S_IFBLK | 0600, makedev(7, 0)), 0);
	assert_int_equal(mknod(wo, S_IFCHR | 0000, makedev(0, 0)), 0); /* an overlay whiteout */
	cJSON *changes = cJSON_CreateArray();
	assert_int_equal(sanitize_tree(run, "changes", changes, NULL), 0);
	assert_false(path_exists(dev));
	assert_false(path_exists(blk));
	assert_true(S_ISCHR(mode_of(changes_dir, "deleted-file")));
	assert_string_equal(action_for(changes, "changes/null2"), "removed device");
	assert_string_equal(action_for(changes, "changes/disk"), "removed device");
	assert_null(action_for(changes, "changes/deleted-file"));
	cJSON_Delete(changes);
	free(dev);
	free(blk);
	free(wo);
	free(changes_dir);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_setuid_bits_cleared_links_not_followed),
		T(test_devices_removed_whiteouts_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
