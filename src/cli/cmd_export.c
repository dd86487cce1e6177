/* runpilot export: runs into one archive (tar, .tar.gz or .tar.zst) for `runpilot import`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "export.h"
#include "print.h"
#include "progress.h"
#include "select.h"
#include "util.h"

const char usage_export[] =
	"usage: runpilot export RUN... | SELECTION -o FILE [--no-outputs] [--compress gzip|zstd|none]\n"
	"\n"
	"Write runs into one archive that `runpilot import` reads back on another machine: each run's\n"
	"directory (run.json, logs, metrics, outputs/, ...) under runs/<uid>/, then MANIFEST.json with\n"
	"every file's size and SHA-256. Symbolic links that leave the run, and files that are not\n"
	"regular files, directories or links, are skipped with a warning. A running run is refused.\n"
	"FILE is written under a temporary name next to it and renamed once complete, so a failed or\n"
	"interrupted export leaves no FILE.\n"
	"\n"
	"  -o, --output FILE the archive; its name picks the compression: .tar (none), .tar.gz or\n"
	"                    .tgz (gzip, level 6), .tar.zst (zstd, level 3). `-o -` writes a plain\n"
	"                    tar to stdout (never to a terminal)\n"
	"  --compress C      gzip, zstd or none, overriding what FILE's name says\n"
	"  --no-outputs      leave out each run's outputs/ (the directory stays, empty)\n"
	SELECTION_USAGE;

struct export_opts {
	struct run_selection sel;
	const char *output;
	const char *compress;
	bool no_outputs;
};

enum { OPT_COMPRESS = 1100, OPT_NO_OUTPUTS };

static int parse_export_args(int argc, char **argv, struct export_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {SELECTION_LONGOPTS, {"output", required_argument, NULL, 'o'},
						 {"compress", required_argument, NULL, OPT_COMPRESS},
						 {"no-outputs", no_argument, NULL, OPT_NO_OUTPUTS}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c, taken;
	while ((c = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
		if ((taken = selection_option(&o->sel, c, optarg, err)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'o': o->output = optarg; break;
		case OPT_COMPRESS: o->compress = optarg; break;
		case OPT_NO_OUTPUTS: o->no_outputs = true; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot export --help`)",
					  argv[optind - 1]);
		}
	}
	if (optind >= argc && !o->sel.given)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot export RUN... | SELECTION -o FILE)");
	if (!o->output || !*o->output)
		return rp_err_set(err, RP_ERR_USAGE, "missing -o FILE: the archive to write (runs.tar.zst, or - for stdout)");
	return optind;
}

/* The compression: --compress, else FILE's name (stdout: none). */
static int pick_compression(const struct export_opts *o, enum export_compress *c, struct rp_err *err)
{
	if (path_is_dir(o->output))
		return rp_err_set(err, RP_ERR_USAGE, "-o %s is a directory: name the archive file (-o %s/runs.tar.zst)",
				  o->output, o->output);
	if (o->compress)
		return export_compress_parse(o->compress, c, err);
	*c = EXPORT_NONE;
	if (!strcmp(o->output, "-") || export_compress_for_name(o->output, c))
		return 0;
	return rp_err_set(err, RP_ERR_USAGE, "-o %s: name the archive .tar, .tar.gz, .tgz or .tar.zst, or say --compress",
			  o->output);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Ctrl-C and SIGTERM stop the export between chunks, so its temporary file is removed. A
 * signal ignored when we started (a background job's SIGINT) stays ignored. */
static void catch_stop(struct sigaction old[2])
{
	static const int sigs[2] = {SIGINT, SIGTERM};
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 2; i++) {
		sigaction(sigs[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

static void restore_stop(const struct sigaction old[2])
{
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
}

static void print_summary(const struct export_result *res, const char *output)
{
	int w = 0;
	for (size_t i = 0; i < res->nruns; i++) {
		int len = (int)strlen(res->runs[i].name);
		w = len > w ? len : w;
	}
	char size[32], total[32], archive[32];
	for (size_t i = 0; i < res->nruns; i++) {
		fmt_bytes((double)res->runs[i].bytes, size, sizeof size);
		fprintf(stderr, "%s  %-*s  %s\n", res->runs[i].id, w, res->runs[i].name, size);
	}
	fmt_bytes((double)res->total_bytes, total, sizeof total);
	fmt_bytes((double)res->archive_bytes, archive, sizeof archive);
	fprintf(stderr, "exported %zu run%s, %s (archive %s) to %s\n", res->nruns, res->nruns == 1 ? "" : "s", total,
		archive, strcmp(output, "-") ? output : "stdout");
}

int cmd_export(int argc, char **argv, struct rp_err *err)
{
	struct export_opts o = {0};
	struct strvec refs = {0};
	enum export_compress comp;
	int rc = -1, first = parse_export_args(argc, argv, &o, err);
	if (first < 0 || pick_compression(&o, &comp, err) < 0)
		goto out;
	bool to_stdout = !strcmp(o.output, "-");
	if (to_stdout && isatty(STDOUT_FILENO)) {
		rp_err_set(err, RP_ERR_USAGE, "not writing an archive to a terminal: redirect stdout, or use -o FILE");
		goto out;
	}
	for (int i = first; i < argc; i++)
		strvec_push(&refs, argv[i]);
	if (o.sel.given && select_runs(&o.sel, &refs, err) < 0)
		goto out;
	if (!refs.n) {
		rp_err_set(err, RP_ERR_USAGE, "no run matches the selection: nothing exported");
		goto out;
	}
	struct progress bar;
	progress_begin(&bar, "export", 0, false);
	struct export_request req = {.refs = refs.v, .nrefs = refs.n, .path = to_stdout ? NULL : o.output,
				     .fd = STDOUT_FILENO, .compress = comp, .no_outputs = o.no_outputs,
				     .progress = bar.on ? progress_callback : NULL, .progress_ctx = &bar,
				     .stop = &stop_requested};
	struct export_result res;
	struct sigaction old[2];
	catch_stop(old);
	if (to_stdout)
		fflush(stdout);
	rc = export_runs(&req, &res, err);
	restore_stop(old);
	progress_end(&bar);
	if (rc == 0) {
		print_summary(&res, o.output);
		export_result_free(&res);
	}
out:
	strvec_free(&refs);
	selection_free(&o.sel);
	return rc;
}
