/* runpilot list: the runs in the store, oldest first (newest last), as a table or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "config.h"
#include "fingerprint.h"
#include "print.h"
#include "runs.h"
#include "util.h"

const char usage_list[] =
	"usage: runpilot list [--status STATUS] [--tag TAG] [--limit N] [--fingerprint] [--json]\n"
	"\n"
	"List runs, newest last.\n"
	"\n"
	"  --status STATUS  only runs with this status (running, success, failed, cancelled, lost,\n"
	"                   or unreadable: run directories whose run.json cannot be read)\n"
	"  --tag TAG        only runs with this tag\n"
	"  --limit N        only the N newest runs\n"
	"  --fingerprint    add a column with each run's environment fingerprint (first 12 hex)\n"
	"  --json           print the runs' run.json records as a JSON array\n";

/* The status shown for a run directory whose record cannot be read. */
#define UNREADABLE "unreadable"

struct list_opts {
	const char *status;
	const char *tag;
	long limit;
	bool json;
	bool fingerprint;
};

static int parse_list_args(int argc, char **argv, struct list_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"status", required_argument, NULL, 's'}, {"tag", required_argument, NULL, 't'},
		{"limit", required_argument, NULL, 'n'},  {"json", no_argument, NULL, 'j'},
		{"fingerprint", no_argument, NULL, 'f'},  {NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		long long n;
		enum rp_status st;
		switch (c) {
		case 's':
			if (status_parse(optarg, &st) < 0 && strcmp(optarg, UNREADABLE) != 0)
				return rp_err_set(err, RP_ERR_USAGE,
						  "--status '%s': use running, success, failed, cancelled, lost or "
						  UNREADABLE, optarg);
			o->status = optarg;
			break;
		case 't': o->tag = optarg; break;
		case 'n':
			if (parse_count(optarg, &n) < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--limit '%s': expected a positive integer", optarg);
			o->limit = (long)n;
			break;
		case 'j': o->json = true; break;
		case 'f': o->fingerprint = true; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot list --help`)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static bool run_matches(const struct run_view *v, const struct list_opts *o)
{
	if (!v->readable)
		return !o->tag && (!o->status || !strcmp(o->status, UNREADABLE));
	const struct rp_run *r = &v->rec;
	if (o->status && strcmp(status_name(r->status), o->status) != 0)
		return false;
	if (o->tag) {
		bool found = false;
		for (size_t i = 0; r->tags && r->tags[i]; i++)
			found |= !strcmp(r->tags[i], o->tag);
		if (!found)
			return false;
	}
	return true;
}

static void print_table(struct run_view **sel, size_t n, bool fingerprint)
{
	static const char *const header[] = {"ID", "NAME", "STATUS", "STARTED", "DURATION", "FINGERPRINT"};
	struct table t;
	table_init(&t, fingerprint ? 6 : 5, header);
	for (size_t i = 0; i < n; i++) {
		if (!sel[i]->readable) {
			const char *row[] = {sel[i]->id, "-", UNREADABLE, "-", "-", "-"};
			table_add(&t, row);
			continue;
		}
		const struct rp_run *r = &sel[i]->rec;
		char status[64], started[32], dur[32];
		fmt_status(r, status, sizeof status);
		fmt_local_time(r->started_at > 0 ? r->started_at : r->created_at, started, sizeof started);
		fmt_duration(r->status == RP_RUNNING ? -1 : r->duration_s, dur, sizeof dur);
		char fp[13];
		fp_short(record_section(r, "environment"), fp);
		const char *row[] = {r->id, r->name, status, started, dur, fp};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_free(&t);
}

static void print_json(struct run_view **sel, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		if (sel[i]->readable) {
			cJSON_AddItemToArray(a, record_to_json(&sel[i]->rec));
			continue;
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", sel[i]->id);
		cJSON_AddStringToObject(o, "status", UNREADABLE);
		cJSON_AddStringToObject(o, "error", sel[i]->problem);
		cJSON_AddItemToArray(a, o);
	}
	char *s = cJSON_Print(a);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(a);
}

int cmd_list(int argc, char **argv, struct rp_err *err)
{
	struct list_opts o = {0};
	if (parse_list_args(argc, argv, &o, err) < 0)
		return -1;
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	struct run_view *runs;
	size_t n;
	if (runs_load_all(&st, &runs, &n, err) < 0) {
		store_close(&st);
		return -1;
	}
	struct run_view **sel = xcalloc(n ? n : 1, sizeof *sel);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!runs[i].readable)
			fprintf(stderr, "runpilot: warning: %s: %s\n", runs[i].id, runs[i].problem);
		if (run_matches(&runs[i], &o))
			sel[k++] = &runs[i];
	}
	size_t first = o.limit > 0 && (size_t)o.limit < k ? k - (size_t)o.limit : 0;
	if (o.json)
		print_json(sel + first, k - first);
	else if (k == 0 && n == 0)
		fprintf(stderr, "runpilot: no runs yet in %s (start one with `runpilot run CONFIG`)\n", st.runs_dir);
	else
		print_table(sel + first, k - first, o.fingerprint);
	free(sel);
	runs_free(runs, n);
	store_close(&st);
	return 0;
}
