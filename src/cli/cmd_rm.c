/* runpilot rm: move runs to the trash ($RUNPILOT_HOME/trash), or delete them for good (--purge). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "index.h"
#include "runs.h"
#include "print.h"
#include "select.h"
#include "util.h"

const char usage_rm[] =
	"usage: runpilot rm RUN... | SELECTION [--yes] [--purge]\n"
	"\n"
	"Move runs to the trash ($RUNPILOT_HOME/trash/): they leave list and the other commands, and\n"
	"`runpilot restore RUN` brings them back. A running run is never removed. On a terminal rm asks\n"
	"first; elsewhere it needs --yes.\n"
	"\n"
	SELECTION_USAGE
	"  -y, --yes         do not ask\n"
	"  --purge           delete for good instead (runs in the trash too: rm --purge rp_0007)\n";

struct rm_opts {
	struct run_selection sel;
	bool yes, purge;
};

static int parse_rm_args(int argc, char **argv, struct rm_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {SELECTION_LONGOPTS, {"yes", no_argument, NULL, 'y'},
						 {"purge", no_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c, taken;
	while ((c = getopt_long(argc, argv, ":y", longopts, NULL)) != -1) {
		if ((taken = selection_option(&o->sel, c, optarg, err)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'y': o->yes = true; break;
		case 'p': o->purge = true; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot rm --help`)", argv[optind - 1]);
		}
	}
	if (optind >= argc && !o->sel.given)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: runpilot rm RUN... | SELECTION [--yes] [--purge])");
	return optind;
}

/* A run rm may take: resolved to its id, not running, nothing of it still being cleaned up. */
static int check_removable(const struct rp_store *st, const char *ref, char id[RP_ID_MAX], struct rp_err *err)
{
	struct rp_store own;
	struct rp_run r;
	char *dir;
	if (runs_load(ref, &own, &r, &dir, err) < 0)
		return -1;
	snprintf(id, RP_ID_MAX, "%s", r.id ? r.id : ref);
	bool running = status_live(r.status);
	record_free(&r);
	free(dir);
	store_close(&own);
	if (running)
		return rp_err_set(err, RP_ERR_USAGE, "%s is running: stop it first (Ctrl-C where it runs)", id);
	char *active = path_join(st->home, "active");
	char *entry = path_join(active, id);
	bool busy = path_exists(entry);
	free(entry);
	free(active);
	if (busy)
		return rp_err_set(err, RP_ERR_USAGE, "%s still has leftovers to clean up: the next `runpilot run` does that, "
						     "then rm it", id);
	return 0;
}

/* The refs as ids, all checked before anything moves. With --purge, an id only in the trash
 * is taken as it is. */
static int resolve_all(const struct rp_store *st, const struct strvec *refs, bool purge, struct strvec *ids,
		       struct rp_err *err)
{
	for (size_t i = 0; i < refs->n; i++) {
		char id[RP_ID_MAX];
		if (purge && store_id_number(refs->v[i]) >= 0) {
			char *t = store_trash_dir(st, refs->v[i]), *d = store_run_dir(st, refs->v[i]);
			bool trash_only = path_is_dir(t) && !path_is_dir(d);
			free(t);
			free(d);
			if (trash_only) {
				strvec_push(ids, refs->v[i]);
				continue;
			}
		}
		if (check_removable(st, refs->v[i], id, err) < 0)
			return -1;
		strvec_push(ids, id);
	}
	return 0;
}

static int purge_one(const struct rp_store *st, const char *id, struct rp_err *err)
{
	char *d = store_run_dir(st, id), *t = store_trash_dir(st, id);
	int rc = 0;
	if (path_is_dir(d))
		rc = rm_rf(d, err);
	if (rc == 0 && path_is_dir(t))
		rc = rm_rf(t, err);
	free(d);
	free(t);
	return rc;
}

int cmd_rm(int argc, char **argv, struct rp_err *err)
{
	struct rm_opts o = {0};
	int first = parse_rm_args(argc, argv, &o, err);
	if (first < 0) {
		selection_free(&o.sel);
		return -1;
	}
	struct strvec refs = {0}, ids = {0};
	struct rp_store st;
	int rc = -1;
	for (int i = first; i < argc; i++)
		strvec_push(&refs, argv[i]);
	if (store_open(&st, false, err) < 0)
		goto out_refs;
	if (o.sel.given && select_runs(&o.sel, &refs, err) < 0)
		goto out;
	if (!refs.n) {
		fprintf(stderr, "runpilot: no run matches the selection; nothing removed\n");
		rc = 0;
		goto out;
	}
	if (resolve_all(&st, &refs, o.purge, &ids, err) < 0)
		goto out;
	if (!o.yes && !isatty(STDIN_FILENO)) {
		rp_err_set(err, RP_ERR_USAGE, "rm asks before removing runs: add --yes where there is no terminal to ask on");
		goto out;
	}
	if (!o.yes && !confirm_runs(o.purge ? "Delete for good" : "Move to the trash", &ids)) {
		fprintf(stderr, "runpilot: nothing removed\n");
		rc = 1;
		goto out;
	}
	size_t done = 0;
	rc = 0;
	for (; done < ids.n && rc == 0; done++)
		rc = o.purge ? purge_one(&st, ids.v[done], err) : store_trash_run(&st, ids.v[done], err);
	if (rc < 0)
		done--;
	/* the index forgets what moved (a reader would also notice runs/ changed) */
	index_forget_runs(&st, ids.v, done);
	if (done)
		fprintf(stderr, "runpilot: %s %zu run%s%s\n", o.purge ? "deleted" : "moved", done, done == 1 ? "" : "s",
			o.purge ? "" : " to the trash (runpilot restore RUN... brings them back)");
	rc = rc < 0 ? -1 : 0;
out:
	store_close(&st);
out_refs:
	strvec_free(&refs);
	strvec_free(&ids);
	selection_free(&o.sel);
	return rc;
}
