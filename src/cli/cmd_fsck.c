/* runpilot fsck: check the whole store (fsck.h); --repair repairs what needs no guessing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "fsck.h"
#include "progress.h"
#include "util.h"

const char usage_fsck[] =
	"usage: runpilot fsck [--repair] [--json]\n"
	"\n"
	"Check the whole store: each run directory against its run.json (its id and uid; logs.txt and\n"
	"ended_at for a run that ended; metrics.json and its metric names; metrics.jsonl's lines;\n"
	"annotations.json), the index (index.db) against the run directories, what runs whose runpilot\n"
	"died left behind (their status, cgroups, containers, overlay work dirs, temp dirs and files),\n"
	"and the image store's blobs against their sha256. One line per problem and what --repair does\n"
	"about it, then a summary. Exit 0: no problem; 1: problems found (with --repair: some are\n"
	"left); 2: an error.\n"
	"\n"
	"--repair repairs what needs no guessing: runs whose runpilot died are marked lost, the\n"
	"leftovers removed, the index rebuilt, a damaged blob removed (its images need a pull or import\n"
	"again), and a run whose record files are damaged moved to the trash with a note saying why\n"
	"(" FSCK_NOTE_FILE "; `runpilot restore RUN` brings it back). Nothing is deleted. The rest is\n"
	"reported for a person.\n"
	"\n"
	"  --repair    repair what needs no guessing\n"
	"  --json      print the findings and the summary as one JSON object\n";

struct fsck_face {
	bool repair, json;
	size_t problems, repaired, left;
	cJSON *list;          /* --json: the findings */
	struct progress bar;
};

static const char *const area_names[] = {
	[FSCK_RUN] = "run", [FSCK_INDEX] = "index", [FSCK_LEFTOVER] = "leftover", [FSCK_IMAGE] = "image"};
static const char *const state_names[] = {[FSCK_LEFT] = "left",
					   [FSCK_REPAIRABLE] = "repairable",
					   [FSCK_REPAIRED] = "repaired",
					   [FSCK_REPAIR_FAILED] = "repair_failed"};

static void add_json(struct fsck_face *f, const struct fsck_finding *x)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "area", area_names[x->area]);
	cJSON_AddStringToObject(o, "what", x->what);
	if (x->file)
		cJSON_AddStringToObject(o, "file", x->file);
	cJSON_AddStringToObject(o, "problem", x->problem);
	if (x->fix)
		cJSON_AddStringToObject(o, "repair", x->fix);
	cJSON_AddStringToObject(o, "state", state_names[x->state]);
	if (x->error)
		cJSON_AddStringToObject(o, "error", x->error);
	cJSON_AddItemToArray(f->list, o);
}

/* rp_0007: run.json: not valid JSON (line 3): quarantined to trash/rp_0007 */
static void print_finding(const struct fsck_finding *x)
{
	printf("%s: ", x->what);
	if (x->file)
		printf("%s: ", x->file);
	printf("%s: ", x->problem);
	switch (x->state) {
	case FSCK_LEFT: printf("not repaired (needs a person)\n"); break;
	case FSCK_REPAIRABLE: printf("--repair would %s\n", x->fix); break;
	case FSCK_REPAIRED: printf("%s (--repair)\n", x->fixed); break;
	case FSCK_REPAIR_FAILED: printf("could not %s: %s\n", x->fix, x->error); break;
	}
	fflush(stdout);
}

static void on_finding(void *ctx, const struct fsck_finding *x)
{
	struct fsck_face *f = ctx;
	progress_end(&f->bar);
	f->problems++;
	if (x->state == FSCK_REPAIRED)
		f->repaired++;
	else
		f->left++;
	if (f->json)
		add_json(f, x);
	else
		print_finding(x);
}

static void on_note(void *ctx, const char *msg)
{
	struct fsck_face *f = ctx;
	progress_end(&f->bar);
	fprintf(stderr, "runpilot: fsck: %s\n", msg);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	progress_callback(&((struct fsck_face *)ctx)->bar, done, total);
}

static void print_summary(const struct fsck_face *f, const struct fsck_counts *c, double secs)
{
	char looked[160];
	snprintf(looked, sizeof looked, "%zu run%s, %zu index row%s, %zu image blob%s in %.2f s", c->runs,
		 c->runs == 1 ? "" : "s", c->index_rows, c->index_rows == 1 ? "" : "s", c->blobs, c->blobs == 1 ? "" : "s",
		 secs);
	if (!f->problems)
		printf("fsck: no problems (%s)\n", looked);
	else if (f->repair)
		printf("fsck: %zu problem%s, %zu repaired, %zu left (%s)\n", f->problems, f->problems == 1 ? "" : "s",
		       f->repaired, f->left, looked);
	else
		printf("fsck: %zu problem%s (%s)%s\n", f->problems, f->problems == 1 ? "" : "s", looked,
		       f->left ? "; runpilot fsck --repair repairs what it can" : "");
}

static void print_json(struct fsck_face *f, const struct fsck_counts *c, double secs)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "repair", f->repair);
	cJSON_AddItemToObject(o, "findings", f->list);
	f->list = NULL;
	cJSON_AddNumberToObject(o, "problems", (double)f->problems);
	cJSON_AddNumberToObject(o, "repaired", (double)f->repaired);
	cJSON_AddNumberToObject(o, "left", (double)f->left);
	cJSON *checked = cJSON_AddObjectToObject(o, "checked");
	cJSON_AddNumberToObject(checked, "runs", (double)c->runs);
	cJSON_AddNumberToObject(checked, "index_rows", (double)c->index_rows);
	cJSON_AddNumberToObject(checked, "blobs", (double)c->blobs);
	cJSON_AddNumberToObject(o, "seconds", secs);
	char *s = cJSON_Print(o);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
}

static int parse_fsck_args(int argc, char **argv, struct fsck_face *f, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"repair", no_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': f->repair = true; break;
		case 'j': f->json = true; break;
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot fsck --help`)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return rp_err_set(err, RP_ERR_USAGE, "fsck takes no arguments ('%s'): it checks the whole store", argv[optind]);
	return 0;
}

int cmd_fsck(int argc, char **argv, struct rp_err *err)
{
	struct fsck_face f = {0};
	if (parse_fsck_args(argc, argv, &f, err) < 0)
		return -1;
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	if (f.json)
		f.list = cJSON_CreateArray();
	progress_begin(&f.bar, "fsck", 0, true);
	struct fsck_events ev = {.finding = on_finding, .note = on_note, .progress = f.bar.on ? on_progress : NULL,
				 .ctx = &f};
	struct fsck_counts counts;
	double t0 = now_monotonic();
	int rc = fsck_run(&st, f.repair, &ev, &counts, err);
	progress_end(&f.bar);
	double secs = now_monotonic() - t0;
	if (rc == 0) {
		if (f.json)
			print_json(&f, &counts, secs);
		else
			print_summary(&f, &counts, secs);
		rc = f.left ? 1 : 0;
	}
	cJSON_Delete(f.list);
	store_close(&st);
	return rc;
}
