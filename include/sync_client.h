/* The client's side of sync (src/server/sync_client.c, docs/server.md "Sync"): push local runs
 * to a team server over HTTP, pull a project's runs into $RUNPILOT_HOME/remote/, and the queue of
 * finished runs that `sync: {auto: true}` leaves for a push (its files are sync.h's). */
#ifndef RP_SYNC_CLIENT_H
#define RP_SYNC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct sync_target {
	const char *server;  /* http(s)://HOST:PORT */
	const char *project;
	const char *token;
};

enum sync_result { SYNC_NEW, SYNC_UPDATED, SYNC_UNCHANGED, SYNC_CONFLICT, SYNC_FORCED, SYNC_FAILED, SYNC_NRESULTS };
const char *sync_result_name(enum sync_result r); /* "new", "updated", "unchanged", ... */

struct sync_event {
	const char *label;    /* the run as the caller named it (rp_0001) */
	const char *uid;      /* NULL when unknown */
	enum sync_result result;
	const char *message;  /* the conflict's or failure's one line, else NULL */
};

struct sync_push_opts {
	const char *home;     /* $RUNPILOT_HOME: the content hash cache is home/sync/hashes.json */
	bool force;
	int jobs;             /* runs pushed at once (uploads in parallel); 0: 4 */
	/* each run's outcome, called from one thread at a time */
	void (*on_run)(void *ctx, const struct sync_event *ev);
	void *ctx;
};

/* Push n runs (labels[i] the name shown, dirs[i] its directory): ask the server which it lacks
 * (batches of at most 1,000), upload their missing blobs, push each run. counts[result] counts
 * them. A run's own failure is its event (SYNC_FAILED); -1 with err only when the server cannot
 * be asked at all (unreachable, refused). */
int sync_push(const struct sync_target *t, const char *const *labels, const char *const *dirs, size_t n,
	      const struct sync_push_opts *o, unsigned counts[SYNC_NRESULTS], struct rp_err *err);

/* ---- pull ---- */

/* The folder of a project's pulled runs: home/remote/<host[:port]>/<project>, malloc'd. */
char *sync_remote_dir(const char *home, const char *server, const char *project);

/* Fetch the project's runs (those uids, else all that where holds for, NULL: all) into
 * sync_remote_dir()/<uid>/: run.json (the record), metrics.json (the series), manifest.json and
 * content_hash; a run whose content hash did not change is not written again. The manifest's
 * files stay on the server. *fetched counts the runs fetched. */
int sync_pull(const char *home, const struct sync_target *t, const char *const *uids, size_t nuids,
	      const char *where, void (*on_run)(void *ctx, const char *uid, const char *dir), void *ctx,
	      unsigned *fetched, struct rp_err *err);

/* The pulled run uid's folder under home/remote/ (any server, any project; the first found), or
 * NULL when none was pulled. */
char *sync_remote_find(const char *home, const char *uid);

/* ---- the queue (home/sync/queue/<uid>) ---- */

/* Push the queued runs (all, or with due_only those whose backoff has passed), grouped by their
 * server and project; a pushed run leaves the queue, a failed one stays with its attempts, error
 * and next try (30 s doubling to 1 h). home/sync/last-error and last-success record the outcome. */
int sync_queue_drain(const char *home, bool due_only, const struct sync_push_opts *o, unsigned counts[SYNC_NRESULTS],
		     struct rp_err *err);

#endif
