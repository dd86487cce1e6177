/* runpilot import: runs from an archive that `runpilot export` wrote (the work: src/core/import.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "import.h"
#include "progress.h"
#include "util.h"

const char usage_import[] =
	"usage: runpilot import FILE [--dry-run] [--max-size SIZE]\n"
	"\n"
	"Add the runs of an archive written by `runpilot export` (FILE, or - for standard input; plain\n"
	"tar, gzip or zstd) to this store. The archive is checked whole before any run lands: every\n"
	"file against its manifest's size and SHA-256, and nothing outside the runs it carries (no\n"
	"absolute paths, no '..', no links leaving a run, no devices). Anything wrong refuses the\n"
	"whole archive and changes nothing. A run already here (the same uid, in runs/ or the trash)\n"
	"is skipped; the others keep their id when it is free here, else get the next free one, and\n"
	"their run.json gains \"imported_from\".\n"
	"\n"
	"  --dry-run         check everything and show what would be imported; change nothing\n"
	"  --max-size SIZE   refuse an archive whose files add up to more than SIZE (e.g. 500m,\n"
	"                    2g; default 64g, or $RUNPILOT_IMPORT_MAX_SIZE)\n";

struct import_args {
	const char *file;
	bool dry_run;
	uint64_t max_size;
};

static int parse_size(const char *what, const char *s, uint64_t *out, struct rp_err *err)
{
	long long b;
	if (parse_memory(s, &b) < 0)
		return rp_err_set(err, RP_ERR_USAGE, "%s: '%s' is not a size (e.g. 500m, 2g)", what, s);
	*out = (uint64_t)b;
	return 0;
}

static int parse_import_args(int argc, char **argv, struct import_args *a, struct rp_err *err)
{
	static const struct option longopts[] = {{"dry-run", no_argument, NULL, 'n'},
						 {"max-size", required_argument, NULL, 's'},
						 {NULL, 0, NULL, 0}};
	const char *env = getenv("RUNPILOT_IMPORT_MAX_SIZE");
	a->max_size = IMPORT_DEFAULT_MAX_SIZE;
	if (env && *env && parse_size("RUNPILOT_IMPORT_MAX_SIZE", env, &a->max_size, err) < 0)
		return -1;
	optind = 1;
	opterr = 0;
	int c;
	/* "-" leading the optstring: FILE may come anywhere, and "-" alone is a FILE */
	while ((c = getopt_long(argc, argv, "-:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': a->dry_run = true; break;
		case 's':
			if (parse_size("--max-size", optarg, &a->max_size, err) < 0)
				return -1;
			break;
		case 1:
			if (a->file)
				return rp_err_set(err, RP_ERR_USAGE, "one FILE only (usage: runpilot import FILE [--dry-run] [--max-size SIZE])");
			a->file = optarg;
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot import --help`)", argv[optind - 1]);
		}
	}
	if (!a->file)
		return rp_err_set(err, RP_ERR_USAGE, "missing FILE (usage: runpilot import FILE [--dry-run] [--max-size SIZE])");
	return 0;
}

static void print_result(const struct import_result *res, bool dry_run)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct import_run *r = &res->runs[i];
		if (r->present)
			printf("%s  already present\n", r->orig_id);
		else
			printf("%s%s -> %s  %s\n", dry_run ? "would import " : "", r->orig_id, r->id, r->name ? r->name : "");
	}
	printf("%s %zu run%s (%zu already present)%s\n", dry_run ? "would import" : "imported", res->imported,
	       res->imported == 1 ? "" : "s", res->present, dry_run ? "; nothing written (--dry-run)" : "");
}

int cmd_import(int argc, char **argv, struct rp_err *err)
{
	struct import_args a = {0};
	if (parse_import_args(argc, argv, &a, err) < 0)
		return -1;
	bool is_stdin = !strcmp(a.file, "-");
	int fd = is_stdin ? STDIN_FILENO : open(a.file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? rp_err_set(err, RP_ERR_USAGE, "no file '%s'", a.file)
				       : rp_err_sys(err, "cannot open %s", a.file);
	struct rp_store st;
	if (store_open(&st, !a.dry_run, err) < 0) {
		if (!is_stdin)
			close(fd);
		return -1;
	}
	struct progress bar;
	progress_begin(&bar, "import", 0, false);
	struct import_opts o = {.max_size = a.max_size, .dry_run = a.dry_run,
				.progress = bar.on ? progress_callback : NULL, .progress_ctx = &bar};
	struct import_result res;
	int rc = import_archive(&st, fd, &o, &res, err);
	progress_end(&bar);
	if (rc == 0)
		print_result(&res, a.dry_run);
	import_result_free(&res);
	store_close(&st);
	if (!is_stdin)
		close(fd);
	return rc < 0 ? -1 : 0;
}
