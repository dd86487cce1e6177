/* libFuzzer target for import's reader and checks (mk/fuzz.mk: make fuzz). Each input is an
 * archive, read from memory by the same code `runpilot import` runs (import_verify_memory),
 * staged into one directory made once per process and emptied after each input:
 * - rejected: a usage error of one line, nothing staged outside the staging directory's runs/;
 * - accepted: a valid export (the seeds in tests/fuzz/corpus/import include some).
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import.h"
#include "util.h"

#define MAX_SIZE 8192 /* small: the limit's paths are reached */

static char stage[64];
static int stage_fd = -1;

static void cleanup(void)
{
	if (stage_fd >= 0)
		rm_rf(stage, NULL);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_import: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

/* The staging directory holds nothing but runs/ (or nothing), and is emptied. */
static void empty_stage(void)
{
	DIR *d = opendir(stage);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, "runs"))
			die("something staged outside runs/", de->d_name);
	}
	if (d)
		closedir(d);
	char *runs = path_join(stage, "runs");
	struct rp_err e = {0};
	if (rm_rf(runs, &e) < 0)
		die("cannot empty the staging directory", e.msg);
	free(runs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (stage_fd < 0) {
		snprintf(stage, sizeof stage, "/tmp/fuzz_import.XXXXXX");
		if (!mkdtemp(stage) || (stage_fd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			die("cannot make the staging directory", stage);
		atexit(cleanup);
	}
	struct rp_err e = {0};
	if (import_verify_memory(data, size, stage_fd, MAX_SIZE, &e) < 0) {
		if (e.kind != RP_ERR_USAGE || !e.msg[0] || strchr(e.msg, '\n'))
			die("a rejection that is not a one-line usage error", e.msg);
	}
	empty_stage();
	return 0;
}
