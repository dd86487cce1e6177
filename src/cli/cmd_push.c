/* runpilot push: send runs to the team server (src/server/sync_client.c); with no runs, the
 * queue that sync: {auto: true} fills. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "runs.h"
#include "select.h"
#include "server.h"
#include "store.h"
#include "sync_client.h"
#include "util.h"

#define QUEUED_TIME_LIMIT_S 10

const char usage_push[] =
	"usage: runpilot push [RUN...] [--where EXPR ...] [--server URL] [--project P] [--force] [--jobs N]\n"
	"\n"
	"Send runs to the team server (docs/server.md, \"Sync\"): the server is asked which it lacks or\n"
	"has stale (by uid, revision and content hash), their files it lacks are uploaded, then each\n"
	"run is stored in one transaction. One line per run: new, updated, unchanged, conflict (with\n"
	"the server's revision; nothing is overwritten) or failed; then a summary. Exit 1 when a run\n"
	"had a conflict or failed. With no runs and no selection: push the queued runs (sync status).\n"
	"The token is RUNPILOT_TOKEN's, else the one `runpilot login URL` kept.\n"
	"\n"
	"  RUN...            runs (id, number, name, last)\n"
	SELECTION_USAGE
	"  --server URL      the server (default: sync.server in runpilot.yaml)\n"
	"  --project P       its project (default: sync.project in runpilot.yaml)\n"
	"  --force           overwrite a conflicting run on the server (the project's admins only;\n"
	"                    audited)\n"
	"  --jobs N          runs sent at once (default 4)\n"
	"  --queued          (what sync.auto starts) push the queued runs whose next try is due,\n"
	"                    within 10 s, printing nothing\n";

struct printer {
	bool quiet;
};

static void print_run(void *ctx, const struct sync_event *ev)
{
	struct printer *p = ctx;
	if (p->quiet)
		return;
	if (ev->message)
		printf("%s %s: %s\n", ev->label, sync_result_name(ev->result), ev->message);
	else
		printf("%s %s\n", ev->label, sync_result_name(ev->result));
	fflush(stdout);
}

static void print_summary(const unsigned c[SYNC_NRESULTS])
{
	printf("pushed: %u new, %u updated, %u unchanged, %u forced, %u conflict%s, %u failed\n", c[SYNC_NEW],
	       c[SYNC_UPDATED], c[SYNC_UNCHANGED], c[SYNC_FORCED], c[SYNC_CONFLICT], c[SYNC_CONFLICT] == 1 ? "" : "s",
	       c[SYNC_FAILED]);
}

int cmd_push(int argc, char **argv, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'}, {"project", required_argument, NULL, 'p'},
		{"force", no_argument, NULL, 'f'},        {"jobs", required_argument, NULL, 'j'},
		{"queued", no_argument, NULL, 'q'},       SELECTION_LONGOPTS,
		{NULL, 0, NULL, 0}};
	struct run_selection sel = {0};
	const char *server = NULL, *project = NULL;
	bool force = false, queued = false;
	int jobs = 4;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		int taken = selection_option(&sel, c, optarg, err);
		if (taken < 0)
			goto fail;
		if (taken)
			continue;
		switch (c) {
		case 's': server = optarg; break;
		case 'p': project = optarg; break;
		case 'f': force = true; break;
		case 'q': queued = true; break;
		case 'j':
			jobs = atoi(optarg);
			if (jobs < 1 || jobs > 16) {
				rp_err_set(err, RP_ERR_USAGE, "--jobs '%s': 1 to 16", optarg);
				goto fail;
			}
			break;
		case ':': rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]); goto fail;
		default: rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot push --help`)", argv[optind - 1]); goto fail;
		}
	}
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		goto fail;
	struct printer pr = {.quiet = queued};
	struct sync_push_opts o = {.home = st.home, .force = force, .jobs = jobs, .on_run = print_run, .ctx = &pr};
	unsigned counts[SYNC_NRESULTS] = {0};
	int rc = 0;
	if (queued || (optind == argc && !sel.given)) {
		if (queued) {
			/* a request that hangs fails (and is recorded) before the alarm ends it all */
			srv_client_set_timeout((QUEUED_TIME_LIMIT_S - 2) * 1000L);
			alarm(QUEUED_TIME_LIMIT_S);
		}
		rc = sync_queue_drain(st.home, queued, &o, counts, err);
	} else {
		struct strvec ids = {0}, dirs = {0};
		for (int i = optind; i < argc && rc == 0; i++) {
			char id[RP_ID_MAX];
			if ((rc = runs_resolve(&st, argv[i], id, err)) == 0)
				strvec_push(&ids, id);
		}
		if (rc == 0 && sel.given)
			rc = select_runs(&sel, &ids, err);
		for (size_t i = 0; i < ids.n; i++) {
			char *d = store_run_dir(&st, ids.v[i]);
			strvec_push(&dirs, d);
			free(d);
		}
		struct sync_target t;
		char *os = NULL, *op = NULL, *token = NULL;
		if (rc == 0)
			rc = sync_resolve(server, project, true, st.home, &t, &os, &op, &token, err);
		if (rc == 0)
			rc = sync_push(&t, (const char *const *)ids.v, (const char *const *)dirs.v, ids.n, &o, counts, err);
		sync_resolve_free(os, op, token);
		strvec_free(&ids);
		strvec_free(&dirs);
	}
	store_close(&st);
	selection_free(&sel);
	if (rc < 0)
		return -1;
	if (!queued)
		print_summary(counts);
	return counts[SYNC_CONFLICT] || counts[SYNC_FAILED] ? 1 : 0;
fail:
	selection_free(&sel);
	return -1;
}
