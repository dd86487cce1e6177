/* annotations.json beside run.json: what users add to a run after it ran (`runpilot tag`,
 * `runpilot note`), kept apart so the record itself is never rewritten.
 *   {"tags_added": ["best"], "tags_removed": ["draft"], "note": "the one to ship", "revision": 3}
 * revision counts the changes made through annotate_run (a file without it counts as one), so
 * the team server can tell a newer copy of the run from an older one (docs/server.md).
 * A run's tags are then its record's, plus tags_added, minus tags_removed. */
#ifndef RP_ANNOTATIONS_H
#define RP_ANNOTATIONS_H

#include <stdbool.h>

#include "err.h"
#include "util.h"

struct cJSON;

#define RP_ANNOTATIONS_FILE "annotations.json"

struct rp_annotations {
	struct strvec added, removed;
	char *note;               /* NULL: none */
	long long revision;       /* changes so far: 0 without a file, 1 for a file without the field */
};

/* Read run_dir's annotations; none (a missing file) is an empty set. */
int annotations_read(const char *run_dir, struct rp_annotations *a, struct rp_err *err);
/* Write them atomically (the file is removed when nothing is left in it and no change was ever
 * counted). */
int annotations_write(const char *run_dir, const struct rp_annotations *a, struct rp_err *err);
void annotations_free(struct rp_annotations *a);

/* "+t" / "t" adds a tag, "-t" removes one (undoing the other list's entry). */
void annotations_tag(struct rp_annotations *a, const char *change);

/* The run's tags as annotated: record_tags (NULL-terminated, may be NULL), then the added ones,
 * without the removed ones. */
void annotations_tags(const struct rp_annotations *a, char **record_tags, struct strvec *out);

/* A tag change as `runpilot tag` takes it ("t", "+t", "-t"): t is letters, digits and '._-:/',
 * at most 64 bytes; else an RP_ERR_USAGE error saying so. */
int annotations_check_tag(const char *change, struct rp_err *err);
/* A note: one line of at most RP_NOTE_MAX bytes; else an RP_ERR_USAGE error. */
#define RP_NOTE_MAX 4096
int annotations_check_note(const char *note, struct rp_err *err);

/* Read the annotations of the run ref names ($RUNPILOT_HOME's store: an id, a number, a name,
 * last), change them, count the change in revision, write them back and update the run's row in the index: what `runpilot tag`,
 * `runpilot note` and the UI do. */
int annotate_run(const char *ref, void (*change)(struct rp_annotations *a, void *ctx), void *ctx, struct rp_err *err);

/* Apply to a run.json as JSON: its "tags" become the annotated ones, "note" is set. */
void annotations_apply_json(const struct rp_annotations *a, struct cJSON *record);

#endif
