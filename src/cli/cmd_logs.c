/* runpilot logs: print a run's logs.txt; -f follows a running run until it ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "runs.h"
#include "util.h"

const char usage_logs[] =
	"usage: runpilot logs RUN [-f]\n"
	"\n"
	"Print the output of a run (its logs.txt).\n"
	"\n"
	"  -f, --follow   keep printing new output until the run ends\n";

/* Copy what is new in fd to stdout. Returns -1 on a read error. */
static int copy_new(int fd)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
			return -1;
	}
}

static bool run_still_running(const char *run_dir)
{
	struct rp_run r;
	if (record_read(run_dir, &r, NULL) < 0)
		return false;
	runs_status_now(run_dir, &r);
	bool running = status_live(r.status);
	record_free(&r);
	return running;
}

int cmd_logs(int argc, char **argv, struct rp_err *err)
{
	bool follow = false;
	const struct cli_flag flags[] = {{"follow", 'f', &follow}, {NULL, 0, NULL}};
	int first = cli_parse(argc, argv, flags, 1, "runpilot logs RUN [-f]", err);
	if (first < 0)
		return -1;
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(argv[first], &st, &r, &dir, err) < 0)
		return -1;
	record_free(&r);
	char *path = path_join(dir, "logs.txt");
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = rp_err_sys(err, "cannot open %s", path);
		goto out;
	}
	if (copy_new(fd) < 0) {
		rc = rp_err_sys(err, "cannot print %s", path);
		goto out;
	}
	while (follow && run_still_running(dir)) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (copy_new(fd) < 0) {
			rc = rp_err_sys(err, "cannot print %s", path);
			goto out;
		}
	}
	/* The run ended: print what was written between the last read and the end. */
	if (follow && copy_new(fd) < 0)
		rc = rp_err_sys(err, "cannot print %s", path);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
	store_close(&st);
	return rc;
}
