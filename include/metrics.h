/* Metrics: numbers a run reports, captured from its output (and from a file of the job's own)
 * without changing its code, stored next to its record, and read back by the face.
 *
 *   parsing    (src/core/metrics_parse.c)  a line of output → points (name, value, step): the
 *              defaults (`key: value`, `key=value`, a JSON object per line) and the config's
 *              PCRE2 patterns, behind a cheap prefilter;
 *   recording  (src/core/metrics_record.c) while the job runs: metrics.jsonl, one point per line,
 *              appended as points come (a lost run keeps what it printed); at the end
 *              metrics.json (per metric: steps, values, timestamps, sources) and a summary in
 *              run.json's "metrics" section;
 *   reading    (src/core/metrics_read.c)   series and summaries for `metrics`, `compare`, `report`.
 *
 * The files, in the run directory (docs/metrics.md):
 *   metrics.jsonl   {"name":"loss","step":3,"value":0.41,"time":1764745200.123,"source":"log"}
 *   metrics.json    {"schema_version":1,"metrics":{"loss":{"steps":[..],"values":[..],
 *                    "timestamps":[..],"sources":[..]}}}
 *   run.json        "metrics": {"loss": {"last","min","max","count","last_step"}}
 * Values that are not finite are written as the strings "nan", "inf" and "-inf" (JSON has no
 * such numbers); min and max ignore NaN and are null when a metric has no other value. */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "record.h"
#include "runner.h"   /* RP_METRICS_JOB_FILE */

struct cJSON;

#define RP_METRICS_JSONL "metrics.jsonl"
#define RP_METRICS_JSON "metrics.json"
#define RP_METRICS_SCHEMA_VERSION 1

enum mx_source { MX_SRC_LOG, MX_SRC_FILE };
const char *mx_source_name(enum mx_source s);   /* "log", "file" */

/* ---- parsing ---- */

struct mx_parser;

/* One point found. name and text point into the line (or the config) and are not
 * NUL-terminated; text is the value as a JSON number when it was printed as one (copied as is,
 * so nothing is lost to formatting), else NULL. */
struct mx_found {
	const char *name;
	size_t name_len;
	double value;
	const char *text;
	size_t text_len;
	long long step;           /* explicit (step/epoch, a pattern's step group) or implied */
};
typedef void (*mx_emit_fn)(void *ctx, const struct mx_found *f);

/* A parser for the config's metrics section (NULL: the defaults only). Patterns are compiled
 * (JIT where the machine allows); a bad one is an RP_ERR_USAGE error naming it. */
int mx_parser_new(const struct rp_metrics_cfg *cfg, struct mx_parser **out, struct rp_err *err);
/* A parser for the job's own file: JSON objects only. */
struct mx_parser *mx_parser_new_json_only(void);
void mx_parser_free(struct mx_parser *p);
/* Feed output as it comes, in any chunks: complete lines are parsed (lines that cannot hold a
 * metric are skipped by the prefilter), a partial last line is kept for the next call. The
 * bytes are only read. */
void mx_feed(struct mx_parser *p, const char *buf, size_t n, mx_emit_fn emit, void *ctx);
/* The end of the stream: parse a last line that had no newline. */
void mx_feed_end(struct mx_parser *p, mx_emit_fn emit, void *ctx);
/* Parse one complete line (no newline). */
void mx_parse_line(struct mx_parser *p, const char *line, size_t len, mx_emit_fn emit, void *ctx);

/* Check one pattern as the config gives it: named is true for a {name: regex} entry (a group
 * "value", or the first group), false for a bare regex (groups key and value, step optional).
 * On error fills msg and *offset (the byte in the regex) and returns -1. */
int mx_pattern_check(const char *regex, bool named, char *msg, size_t msg_size, size_t *offset);

/* ---- recording (the core's run lifecycle) ---- */

struct mx_recorder;

/* Start recording into run_dir/metrics.jsonl (created with the first point); job_file is the
 * job's own file (may not exist yet). Fails only for a bad pattern. */
int mx_recorder_open(const char *run_dir, const char *job_file, const struct rp_metrics_cfg *cfg,
		     struct mx_recorder **out, struct rp_err *err);
/* The job's output, as captured. */
void mx_recorder_feed(struct mx_recorder *m, const char *buf, size_t n);
/* Read what the job appended to its own file since the last call. */
void mx_recorder_poll_job_file(struct mx_recorder *m);
/* Make what was found so far durable enough for readers (written to metrics.jsonl). */
void mx_recorder_flush(struct mx_recorder *m);
/* The end: the last partial lines, metrics.jsonl flushed and fsync'd, metrics.json written
 * atomically. *summary (owned by the caller) is run.json's "metrics" section, NULL when the run
 * reported no metric. */
int mx_recorder_finish(struct mx_recorder *m, struct cJSON **summary, struct rp_err *err);
/* Points dropped because the run had reported MX_MAX_NAMES distinct names already. */
unsigned long long mx_recorder_dropped(const struct mx_recorder *m);
void mx_recorder_free(struct mx_recorder *m);

/* ---- reading ---- */

struct mx_point {
	long long step;
	double value;
	double time;              /* epoch seconds */
	enum mx_source source;
};

struct mx_summary {
	double last, min, max;    /* min/max: NaN when the metric has no finite value */
	long long count, last_step;
};

struct mx_series {
	char *name;
	struct mx_point *pts;     /* in the order they were reported; NULL when only the summary was read */
	size_t n, cap;
	struct mx_summary sum;
};

struct mx_set {
	struct mx_series *v;      /* sorted by name */
	size_t n, cap;
};

/* fsck: the lines of a metrics.jsonl file that are not points (*bad, the first at line
 * *first_bad), a half-written last line aside. A missing file has none. */
int mx_check_series_file(const char *path, size_t *bad, size_t *first_bad, struct rp_err *err);
/* Every metric of a run, with its points (from metrics.jsonl: works on a running or lost run).
 * A run without metrics gives an empty set. */
int mx_read_series(const char *run_dir, struct mx_set *out, struct rp_err *err);
/* The same from one metrics.jsonl file (a missing file: an empty set). */
int mx_read_series_file(const char *path, struct mx_set *out, struct rp_err *err);
/* Only the summaries: from run.json's "metrics" section when the run has ended (the series are
 * never read), else computed from metrics.jsonl. */
int mx_read_summary(const char *run_dir, const struct rp_run *r, struct mx_set *out, struct rp_err *err);
void mx_set_free(struct mx_set *s);
/* Add one value to a summary (count, last, last_step; min/max skip NaN). */
void mx_summary_add(struct mx_summary *s, double v, long long step);
/* The series named name, or NULL. */
const struct mx_series *mx_set_find(const struct mx_set *s, const char *name);

/* A value as JSON: a number, or "nan" / "inf" / "-inf". */
struct cJSON *mx_value_json(double v);
/* The reverse; false when j is neither. */
bool mx_value_from_json(const struct cJSON *j, double *v);
/* A value as text for tables and CSV: "%g"-like, "nan", "inf", "-inf". */
void mx_format_value(double v, char *out, size_t n);

#endif
