/* What `runpilot push` sends for one run, and what `pull` gets back (docs/server.md, "Push"): a
 * JSON object with exactly these members:
 *   uid           the run's uid
 *   revision      1 for the final record plus annotations.json's revision (its changes)
 *   content_hash  sync_content_hash() of the three below, 64 hex digits
 *   record        run.json as annotated (its tags and note as the user sees them)
 *   metrics       {name: {"steps": [...], "values": [...]}} from metrics.jsonl, a value that is
 *                 not finite as null
 *   manifest      [{"path", "size", "sha256"}] sorted by path (bytes): logs.txt, metrics.jsonl,
 *                 metrics.json, config.yaml, params.json and every regular file under outputs/,
 *                 symbolic links never followed
 * Files are hashed in chunks: memory does not grow with an output's size. */
#ifndef RP_SYNC_H
#define RP_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct cJSON;

/* The payload of the run in run_dir; a running or queued run is an RP_ERR_USAGE error naming
 * it. *out is the caller's (cJSON_Delete). */
int sync_payload_build(const char *run_dir, struct cJSON **out, struct rp_err *err);

/* SHA-256, as 64 lowercase hex digits, over the canonical form of payload's record, metrics and
 * manifest: "runpilot-sync-1\n", then each of the three as JSON with every object's members
 * sorted by name (bytes), no white space, strings in UTF-8 with cJSON's escapes, numbers as
 * cJSON prints them (a whole number within 32 bits as %d, else %1.15g when that reads back
 * within one part in 2^52 of the value, else %1.17g), each part followed by "\n". That form
 * reads back to itself, so a stored copy hashes the same. A JSON round trip (PostgreSQL's jsonb reorders members) keeps the hash; any change of
 * a value changes it. -1 when a member is missing. */
int sync_content_hash(const struct cJSON *payload, char out[65]);

/* Whether a manifest path is one a run may hold: relative, no empty, "." or ".." component, no
 * backslash or control character, at most 4096 bytes. */
bool sync_path_ok(const char *path);

/* ---- the queue of runs to push (sync_queue.c): home/sync/queue/<uid>, one JSON file each ---- */

struct sync_queued {
	char *uid, *run_dir, *server, *project;
	double queued_at;
	int attempts;            /* failed pushes so far */
	double next_try;         /* not before (epoch seconds; 0: now) */
	char *last_error;        /* or NULL */
};

/* Queue the run (replacing an entry of the same uid). */
int sync_queue_add(const char *home, const char *uid, const char *run_dir, const char *server, const char *project,
		   struct rp_err *err);
/* Every entry, oldest first; entries that cannot be read are skipped. */
int sync_queue_list(const char *home, struct sync_queued **out, size_t *n, struct rp_err *err);
/* Write e back (its attempts, next try, error). */
int sync_queue_save(const char *home, const struct sync_queued *e, struct rp_err *err);
int sync_queue_remove(const char *home, const char *uid, struct rp_err *err);
void sync_queue_free(struct sync_queued *v, size_t n);
/* home/sync/<name> := text (a line, atomically); a failure is ignored (a status file). */
void sync_note(const char *home, const char *name, const char *text);

/* After a run's final record: when the nearest runpilot.yaml from config_dir has sync: with
 * auto: true, queue the run and start `runpilot push --queued` detached (its own session, stdio
 * on /dev/null, a short time limit), not waiting for it. Never fails and never prints: a problem
 * goes to home/sync/last-error. */
void sync_auto_after_run(const char *home, const char *config_dir, const char *run_dir, const char *uid);

#endif
