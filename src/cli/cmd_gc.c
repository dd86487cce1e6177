/* runpilot gc: remove what runs left behind (gc.h), and runs a policy no longer keeps. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "gc.h"
#include "print.h"
#include "progress.h"
#include "record.h"
#include "util.h"

const char usage_gc[] =
	"usage: runpilot gc [--dry-run] [--trash-age DUR] [--keep-last N] [--older-than DUR]\n"
	"                   [--status S]... [--yes]\n"
	"\n"
	"Remove what runs left behind, only RunPilot's own and only what is provably unused: empty\n"
	"cgroups named runpilot-* of runs whose runpilot is gone (v1 and v2; those of runs this store\n"
	"does not know once untouched for an hour), Docker containers of this store's runs that no\n"
	"longer run, overlay work dirs, temp dirs ($RUNPILOT_HOME/tmp/, images/tmp/) nobody holds,\n"
	"temp files of dead processes, index rows whose run directory is gone, and trash entries\n"
	"older than the trash age. Runs whose runpilot died are marked lost. One line per thing,\n"
	"then a summary.\n"
	"\n"
	"With a policy, runs are also moved to the trash, as rm does (runpilot restore brings them\n"
	"back); the conditions given must all hold, and a running run is never moved. On a terminal\n"
	"gc asks first; elsewhere a policy needs --yes.\n"
	"\n"
	"  -n, --dry-run      print what would be done; change nothing\n"
	"  --trash-age DUR    remove trash entries moved there longer ago than DUR (default 30d)\n"
	"  --keep-last N      policy: keep the newest N runs (of the statuses given), move the rest\n"
	"  --older-than DUR   policy: move runs that ended longer ago than DUR (30d, 12h)\n"
	"  --status S         policy: only runs of status S (success, failed, cancelled, lost,\n"
	"                     unreadable; repeat for any); with --keep-last or --older-than\n"
	"  -y, --yes          do not ask before moving runs\n";

enum { OPT_TRASH_AGE = 1000, OPT_KEEP_LAST, OPT_OLDER_THAN, OPT_STATUS };

struct gc_cli {
	struct gc_opts o;
	struct strvec statuses;
	bool yes;
};

static int parse_duration_opt(const char *flag, const char *arg, double *out, struct rp_err *err)
{
	if (parse_duration(arg, out) < 0)
		return rp_err_set(err, RP_ERR_USAGE, "%s '%s': use a duration (30d, 12h, 90m)", flag, arg);
	return 0;
}

static int parse_gc_args(int argc, char **argv, struct gc_cli *c, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},          {"yes", no_argument, NULL, 'y'},
		{"trash-age", required_argument, NULL, OPT_TRASH_AGE}, {"keep-last", required_argument, NULL, OPT_KEEP_LAST},
		{"older-than", required_argument, NULL, OPT_OLDER_THAN}, {"status", required_argument, NULL, OPT_STATUS},
		{NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int ch;
	char *end;
	enum rp_status st;
	while ((ch = getopt_long(argc, argv, ":ny", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': c->o.dry_run = true; break;
		case 'y': c->yes = true; break;
		case OPT_TRASH_AGE:
			if (parse_duration_opt("--trash-age", optarg, &c->o.trash_age_s, err) < 0)
				return -1;
			break;
		case OPT_OLDER_THAN:
			if (parse_duration_opt("--older-than", optarg, &c->o.policy.older_than_s, err) < 0)
				return -1;
			break;
		case OPT_KEEP_LAST:
			c->o.policy.keep_last = strtol(optarg, &end, 10);
			if (!*optarg || *end || c->o.policy.keep_last < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--keep-last '%s': use a number of runs (0 or more)", optarg);
			break;
		case OPT_STATUS:
			if ((status_parse(optarg, &st) < 0 || status_live(st)) && strcmp(optarg, "unreadable") != 0)
				return rp_err_set(err, RP_ERR_USAGE,
						  "--status '%s': use success, failed, cancelled, lost or unreadable", optarg);
			strvec_push(&c->statuses, optarg);
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot gc --help`)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return rp_err_set(err, RP_ERR_USAGE, "gc takes no runs ('%s'): select them with --keep-last, --older-than, --status",
				  argv[optind]);
	c->o.policy.statuses = c->statuses.v;
	c->o.policy.nstatuses = c->statuses.n;
	c->o.policy_given = c->o.policy.keep_last >= 0 || c->o.policy.older_than_s > 0;
	if (c->statuses.n && !c->o.policy_given)
		return rp_err_set(err, RP_ERR_USAGE, "--status restricts --keep-last or --older-than: give one of them too");
	return 0;
}

/* What the face counts and shows as it goes. */
struct gc_face {
	bool dry_run;
	size_t count[GC_NKINDS];
	uint64_t trash_bytes;
	size_t failed;
	struct progress bar;
};

static const char *const kind_words[GC_NKINDS] = {
	[GC_CGROUP] = "cgroup",
	[GC_CONTAINER] = "container",
	[GC_OVERLAY_WORK] = "overlay work dir",
	[GC_TEMP_DIR] = "temp dir",
	[GC_TEMP_FILE] = "temp file",
	[GC_INDEX_ROW] = "index row",
	[GC_EMPTY_RUN_DIR] = "empty run dir",
	[GC_TRASH] = "trash entry",
};

static void on_item(void *ctx, const struct gc_item *it)
{
	struct gc_face *f = ctx;
	progress_end(&f->bar);
	char size[32] = "";
	if (it->kind == GC_TRASH)
		fmt_bytes((double)it->bytes, size, sizeof size);
	if (it->error) {
		f->failed++;
		if (it->kind == GC_LOST)
			fprintf(stderr, "runpilot: gc: cannot mark %s lost: %s\n", it->what, it->error);
		else if (it->kind == GC_POLICY)
			fprintf(stderr, "runpilot: gc: cannot move %s to the trash: %s\n", it->what, it->error);
		else
			fprintf(stderr, "runpilot: gc: cannot remove %s %s: %s\n", kind_words[it->kind], it->what, it->error);
		return;
	}
	f->count[it->kind]++;
	const char *verb = f->dry_run ? "would remove" : "removed";
	switch (it->kind) {
	case GC_LOST: printf("%s %s lost (%s)\n", f->dry_run ? "would mark" : "marked", it->what, it->detail); break;
	case GC_POLICY: printf("%s %s to the trash\n", f->dry_run ? "would move" : "moved", it->what); break;
	case GC_CONTAINER: printf("%s container %s (%s)\n", verb, it->what, it->detail); break;
	case GC_TRASH:
		f->trash_bytes += it->bytes;
		printf("%s trash entry %s (%s)\n", verb, it->what, size);
		break;
	default: printf("%s %s %s\n", verb, kind_words[it->kind], it->what); break;
	}
	fflush(stdout);
}

static void on_note(void *ctx, const char *msg)
{
	struct gc_face *f = ctx;
	progress_end(&f->bar);
	fprintf(stderr, "runpilot: gc: %s\n", msg);
}

static bool on_confirm(void *ctx, const struct strvec *ids)
{
	struct gc_face *f = ctx;
	progress_end(&f->bar);
	return confirm_runs("Move to the trash", ids);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	progress_callback(&((struct gc_face *)ctx)->bar, done, total);
}

/* "3 cgroups" */
static void add_count(char *out, size_t n, size_t count, const char *one, const char *many)
{
	if (!count)
		return;
	size_t l = strlen(out);
	snprintf(out + l, n - l, "%s%zu %s", l ? ", " : "", count, count == 1 ? one : many);
}

static void print_summary(const struct gc_face *f)
{
	char line[512] = "", size[32];
	const size_t *c = f->count;
	add_count(line, sizeof line, c[GC_CGROUP], "cgroup", "cgroups");
	add_count(line, sizeof line, c[GC_CONTAINER], "container", "containers");
	add_count(line, sizeof line, c[GC_OVERLAY_WORK], "overlay work dir", "overlay work dirs");
	add_count(line, sizeof line, c[GC_TEMP_DIR], "temp dir", "temp dirs");
	add_count(line, sizeof line, c[GC_TEMP_FILE], "temp file", "temp files");
	add_count(line, sizeof line, c[GC_INDEX_ROW], "index row", "index rows");
	add_count(line, sizeof line, c[GC_EMPTY_RUN_DIR], "empty run dir", "empty run dirs");
	if (c[GC_TRASH]) {
		fmt_bytes((double)f->trash_bytes, size, sizeof size);
		size_t l = strlen(line);
		snprintf(line + l, sizeof line - l, "%s%zu trash entr%s (%s)", l ? ", " : "", c[GC_TRASH],
			 c[GC_TRASH] == 1 ? "y" : "ies", size);
	}
	add_count(line, sizeof line, c[GC_LOST], f->dry_run ? "run to mark lost" : "run marked lost",
		  f->dry_run ? "runs to mark lost" : "runs marked lost");
	add_count(line, sizeof line, c[GC_POLICY], f->dry_run ? "run to move to the trash" : "run moved to the trash",
		  f->dry_run ? "runs to move to the trash" : "runs moved to the trash");
	printf("gc%s: %s\n", f->dry_run ? " (dry run, nothing changed)" : "", line[0] ? line : "nothing to remove");
}

int cmd_gc(int argc, char **argv, struct rp_err *err)
{
	struct gc_cli c = {.o = {.trash_age_s = 30 * 86400.0, .policy = {.keep_last = -1}}};
	int rc = -1;
	struct rp_store st;
	if (parse_gc_args(argc, argv, &c, err) < 0)
		goto out_args;
	if (c.o.policy_given && !c.o.dry_run && !c.yes && !isatty(STDIN_FILENO)) {
		rp_err_set(err, RP_ERR_USAGE, "gc asks before moving runs to the trash: add --yes where there is no terminal to ask on");
		goto out_args;
	}
	if (store_open(&st, false, err) < 0)
		goto out_args;
	struct gc_face f = {.dry_run = c.o.dry_run};
	progress_begin(&f.bar, "gc", 0, true);
	struct gc_events ev = {.item = on_item, .note = on_note, .confirm = c.yes ? NULL : on_confirm,
			       .progress = f.bar.on ? on_progress : NULL, .ctx = &f};
	rc = gc_run(&st, &c.o, &ev, err);
	progress_end(&f.bar);
	if (rc == 0) {
		print_summary(&f);
		if (f.failed)
			rc = rp_err_set(err, RP_ERR_RUNTIME, "gc: %zu thing%s could not be removed (see above)", f.failed,
					f.failed == 1 ? "" : "s");
	}
	store_close(&st);
out_args:
	strvec_free(&c.statuses);
	return rc < 0 ? -1 : 0;
}
