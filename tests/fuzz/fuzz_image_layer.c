/* libFuzzer target for an image layer, the tar (plain or compressed) an untrusted registry or
 * archive hands the image store (mk/fuzz.mk: make fuzz). The input is written as a blob and
 * applied to a fresh tree as `runpilot image pull/import` unpacks one (img_layer_apply, then
 * img_tree_finish), inside a scratch directory beside an "outside" directory that must stay empty:
 * - refused: an error of one line;
 * - either way: nothing is created outside the tree (no "../", absolute path, symlink or hard
 *   link escapes), and the tree can be removed again.
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <ftw.h>

#include "img_int.h"

static char top[64];
static char *blob, *tree, *outside;

static void cleanup(void)
{
	if (top[0]) {
		char *cmd = xasprintf("chmod -R u+rwx '%s' 2>/dev/null", top);
		if (system(cmd) != 0) {
			/* removed below as far as it can be */
		}
		free(cmd);
		rm_rf(top, NULL);
	}
	free(blob);
	free(tree);
	free(outside);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_image_layer: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

static void setup(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
		? "/dev/shm" : "/tmp";
	snprintf(top, sizeof top, "%s/fuzz_layer.XXXXXX", base);
	if (!mkdtemp(top))
		die("cannot make the scratch directory", top);
	atexit(cleanup);
	blob = path_join(top, "blob");
	tree = path_join(top, "t/tree");
	outside = path_join(top, "t/outside");
	char *t = path_join(top, "t");
	if (mkdir(t, 0755) < 0 || mkdir(outside, 0755) < 0)
		die("cannot make", t);
	free(t);
}

static bool dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* Only the tree, the outside directory and the blob may be in the scratch directory. */
static void check_nothing_escaped(void)
{
	if (!dir_empty(outside))
		die("a layer wrote outside its tree", outside);
	char *t = path_join(top, "t");
	DIR *d = opendir(t);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "tree") &&
		    strcmp(de->d_name, "outside"))
			die("a layer made something beside its tree", de->d_name);
	if (d)
		closedir(d);
	free(t);
}

static int open_up(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_D || type == FTW_DNR || type == FTW_DP)
		chmod(path, 0755);
	return 0;
}

/* The tree's directories writable again (a layer may make them read-only), then removed. */
static void remove_tree(void)
{
	chmod(tree, 0755);
	nftw(tree, open_up, 16, FTW_PHYS);
	if (rm_rf(tree, NULL) < 0 || access(tree, F_OK) == 0)
		die("the tree cannot be removed", tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!top[0])
		setup();
	FILE *f = fopen(blob, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("cannot write", blob);
	if (mkdir(tree, 0755) < 0)
		die("cannot make", tree);
	struct img_budget b = {.used = 0, .max = 64 << 20, .what = "fuzz"};
	struct img_tree t = {.image = "fuzz", .budget = &b};
	t.root_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.root_fd < 0)
		die("cannot open", tree);
	struct rp_err err = {0};
	int rc = img_layer_apply(&t, blob, &err);
	if (rc == 0)
		rc = img_tree_finish(&t, &err);
	if (rc < 0 && (!err.msg[0] || strchr(err.msg, '\n')))
		die("a refusal is one line", err.msg);
	close(t.root_fd);
	img_tree_free(&t);
	check_nothing_escaped();
	remove_tree();
	return 0;
}
