/* metrics_record.c: a run's metrics while it runs (metrics.h). Points found in the output (and
 * in the job's own file) are appended to metrics.jsonl as they come, so readers see a running
 * run's metrics and a lost run keeps them; the summary (last, min, max, count, last_step per
 * name) is kept in memory, so the end never needs the series for run.json. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "metrics_int.h"
#include "util.h"

/* Distinct metric names a run may report; points of further names are dropped (a log full of
 * look-alikes must not grow the supervisor without bound). */
#define MX_MAX_NAMES 1000
#define MX_TABLE 2048         /* open addressing, a power of two above MX_MAX_NAMES */
/* The job's file is read at most this much per poll, so it never holds up the log. */
#define MX_FILE_CHUNK (4 * 1024 * 1024)
/* ... and at most this much in all: a huge or sparse file must not hold up the run's end. */
#define MX_FILE_MAX (1024LL * 1024 * 1024)
#define MX_OUT_FLUSH (64 * 1024)

/* A growing text buffer. */
struct tbuf {
	char *p;
	size_t len, cap;
};

/* One metric's arrays for metrics.json, as text copied from metrics.jsonl. */
struct mx_columns {
	struct tbuf steps, values, times, sources;
};

struct mx_name {
	char *name;
	uint64_t hash;
	struct mx_summary sum;
	struct mx_columns *cols;  /* only while metrics.json is written */
};

struct mx_recorder {
	struct mx_parser *log_parser, *file_parser;
	char *jsonl_path, *json_path, *job_file;
	int fd;                   /* metrics.jsonl, append */
	int job_fd;               /* the job's file once it exists; -2: refused (not a regular file) */
	enum mx_source source;    /* of the points being fed */
	char time_text[32];       /* the time of the chunk being fed, formatted once */
	size_t time_len;
	long long time_ms;        /* the millisecond time_text holds */
	bool time_set;
	char *out;                /* lines not written yet */
	size_t out_len, out_cap;
	struct mx_name *names[MX_TABLE];
	size_t nnames;
	unsigned long long points, dropped;
	long long job_read;       /* bytes of the job's file read so far */
	int write_errno;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* The entry for a name; a new one is made when create is set and there is room. */
static struct mx_name *name_entry(struct mx_recorder *m, const char *s, size_t n, bool create)
{
	uint64_t h = hash_bytes(s, n);
	for (size_t i = h & (MX_TABLE - 1);; i = (i + 1) & (MX_TABLE - 1)) {
		struct mx_name *e = m->names[i];
		if (!e) {
			if (!create || m->nnames >= MX_MAX_NAMES)
				return NULL;
			e = xcalloc(1, sizeof *e);
			e->name = xstrndup(s, n);
			e->hash = h;
			e->sum = (struct mx_summary){.min = NAN, .max = NAN};
			m->names[i] = e;
			m->nnames++;
			return e;
		}
		if (e->hash == h && strlen(e->name) == n && !memcmp(e->name, s, n))
			return e;
	}
}

void mx_summary_add(struct mx_summary *s, double v, long long step)
{
	s->last = v;
	s->last_step = step;
	s->count++;
	if (!isnan(v)) {
		if (isnan(s->min) || v < s->min)
			s->min = v;
		if (isnan(s->max) || v > s->max)
			s->max = v;
	}
}

static void out_reserve(struct mx_recorder *m, size_t more)
{
	if (m->out_len + more <= m->out_cap)
		return;
	m->out_cap = (m->out_len + more) * 2;
	m->out = xrealloc(m->out, m->out_cap);
}

static void out_str(struct mx_recorder *m, const char *s, size_t n)
{
	out_reserve(m, n);
	memcpy(m->out + m->out_len, s, n);
	m->out_len += n;
}

static void out_cstr(struct mx_recorder *m, const char *s)
{
	out_str(m, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define OUT_LIT(m, lit) out_str((m), (lit), sizeof(lit) - 1)

/* A step as decimal text into buf (at least 21 bytes); returns the length. */
static size_t step_text(long long v, char *buf)
{
	char tmp[24];
	size_t n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	size_t len = 0;
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

void mx_recorder_flush(struct mx_recorder *m)
{
	if (!m || !m->out_len)
		return;
	/* Created with the first point: a run without metrics has no file (and pays nothing). */
	if (m->fd < 0 && !m->write_errno) {
		m->fd = open(m->jsonl_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (m->fd < 0)
			m->write_errno = errno;
	}
	if (!m->write_errno && write_all(m->fd, m->out, m->out_len) < 0)
		m->write_errno = errno;
	m->out_len = 0;
}

/* One point: a line of metrics.jsonl and the summary. Names are metric names (letters, digits
 * and "_.-/"), so they need no JSON escaping. */
static void record_point(void *ctx, const struct mx_found *f)
{
	struct mx_recorder *m = ctx;
	struct mx_name *e = name_entry(m, f->name, f->name_len, true);
	if (!e) {
		m->dropped++;
		return;
	}
	mx_summary_add(&e->sum, f->value, f->step);
	m->points++;
	if (!m->time_set) {
		/* formatted again only when the millisecond changed */
		long long ms = (long long)(now_realtime() * 1000.0);
		if (ms != m->time_ms) {
			int tl = snprintf(m->time_text, sizeof m->time_text, "%lld.%03lld", ms / 1000, ms % 1000);
			m->time_len = tl > 0 ? (size_t)tl : 0;
			m->time_ms = ms;
		}
		m->time_set = true;
	}
	char num[64];
	/* the text as printed, unless it overflows ("1e999"): then "inf", as everywhere else */
	const char *value = isfinite(f->value) ? f->text : NULL;
	size_t vlen = value ? f->text_len : 0;
	if (!value) {
		mx_format_value(f->value, num + 1, sizeof num - 2);
		if (isfinite(f->value)) {
			value = num + 1;
		} else {
			num[0] = '"';
			strcat(num, "\"");
			value = num;
		}
		vlen = strlen(value);
	}
	char step[24];
	size_t sl = step_text(f->step, step);
	OUT_LIT(m, "{\"name\":\"");
	out_str(m, f->name, f->name_len);
	OUT_LIT(m, "\",\"step\":");
	out_str(m, step, sl);
	OUT_LIT(m, ",\"value\":");
	out_str(m, value, vlen);
	OUT_LIT(m, ",\"time\":");
	out_str(m, m->time_text, m->time_len);
	if (m->source == MX_SRC_LOG)
		OUT_LIT(m, ",\"source\":\"log\"}\n");
	else
		OUT_LIT(m, ",\"source\":\"file\"}\n");
	if (m->out_len >= MX_OUT_FLUSH)
		mx_recorder_flush(m);
}

int mx_recorder_open(const char *run_dir, const char *job_file, const struct rp_metrics_cfg *cfg,
		     struct mx_recorder **out, struct rp_err *err)
{
	*out = NULL;
	struct mx_recorder *m = xcalloc(1, sizeof *m);
	m->fd = m->job_fd = -1;
	if (mx_parser_new(cfg, &m->log_parser, err) < 0) {
		free(m);
		return -1;
	}
	m->file_parser = mx_parser_new_json_only();
	m->jsonl_path = path_join(run_dir, RP_METRICS_JSONL);
	m->json_path = path_join(run_dir, RP_METRICS_JSON);
	m->job_file = job_file ? xstrdup(job_file) : NULL;
	*out = m;
	return 0;
}

void mx_recorder_feed(struct mx_recorder *m, const char *buf, size_t n)
{
	m->source = MX_SRC_LOG;
	m->time_set = false;
	mx_feed(m->log_parser, buf, n, record_point, m);
}

/* The job's file, opened once it exists: a regular file with one link, never followed through a
 * symlink and never a FIFO that could block the supervisor. Anything else is refused for good. */
static bool open_job_file(struct mx_recorder *m)
{
	if (m->job_fd >= 0)
		return true;
	if (m->job_fd == -2 || !m->job_file)
		return false;
	int fd = open(m->job_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			m->job_fd = -2;
		return false;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		m->job_fd = -2;
		return false;
	}
	m->job_fd = fd;
	return true;
}

/* Read up to limit bytes of what the job appended (0: to its end). */
static void read_job_file(struct mx_recorder *m, size_t limit)
{
	if (!open_job_file(m))
		return;
	char buf[65536];
	size_t total = 0;
	m->source = MX_SRC_FILE;
	m->time_set = false;
	while ((limit == 0 || total < limit) && m->job_read < MX_FILE_MAX) {
		ssize_t n = read(m->job_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		mx_feed(m->file_parser, buf, (size_t)n, record_point, m);
		total += (size_t)n;
		m->job_read += n;
	}
	m->source = MX_SRC_LOG;
}

void mx_recorder_poll_job_file(struct mx_recorder *m)
{
	read_job_file(m, MX_FILE_CHUNK);
	mx_recorder_flush(m);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct mx_name *const *)a)->name, (*(struct mx_name *const *)b)->name);
}

static void tb_add(struct tbuf *b, const char *s, size_t n, bool comma)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 < 256 ? 256 : (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	if (comma && b->len)
		b->p[b->len++] = ',';
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Each point of metrics.jsonl into its metric's columns, as the text it was written as: no
 * number is converted or formatted again. */
static int gather_columns(struct mx_recorder *m, struct rp_err *err)
{
	FILE *f = fopen(m->jsonl_path, "re");
	if (!f)
		return rp_err_sys(err, "cannot read %s", m->jsonl_path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		struct mx_point_text pt;
		if (!mx_split_point(line, (size_t)len, &pt))
			continue;
		struct mx_name *e = name_entry(m, pt.name, pt.name_len, false);
		if (!e)
			continue;
		if (!e->cols)
			e->cols = xcalloc(1, sizeof *e->cols);
		tb_add(&e->cols->steps, pt.step, pt.step_len, true);
		tb_add(&e->cols->values, pt.value, pt.value_len, true);
		tb_add(&e->cols->times, pt.time, pt.time_len, true);
		tb_add(&e->cols->sources, pt.source - 1, pt.source_len + 2, true);
	}
	bool failed = ferror(f);
	free(line);
	fclose(f);
	if (failed)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot read %s", m->jsonl_path);
	return 0;
}

static void free_columns(struct mx_name *e)
{
	if (!e->cols)
		return;
	free(e->cols->steps.p);
	free(e->cols->values.p);
	free(e->cols->times.p);
	free(e->cols->sources.p);
	free(e->cols);
	e->cols = NULL;
}

static void out_column(struct mx_recorder *m, const char *key, const struct tbuf *b, bool last)
{
	out_cstr(m, "\"");
	out_cstr(m, key);
	out_cstr(m, "\":[");
	out_str(m, b->p ? b->p : "", b->len);
	out_cstr(m, last ? "]" : "],");
}

/* The names, sorted. */
static struct mx_name **sorted_names(struct mx_recorder *m)
{
	struct mx_name **v = xcalloc(m->nnames + 1, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < MX_TABLE; i++)
		if (m->names[i])
			v[n++] = m->names[i];
	qsort(v, n, sizeof *v, name_cmp);
	return v;
}

/* metrics.json from the series just recorded, written atomically. */
static int write_metrics_json(struct mx_recorder *m, struct rp_err *err)
{
	if (gather_columns(m, err) < 0)
		return -1;
	struct mx_name **v = sorted_names(m);
	m->out_len = 0;
	out_cstr(m, "{\"schema_version\":1,\"metrics\":{");
	bool first = true;
	for (size_t i = 0; v[i]; i++) {
		if (!v[i]->cols)
			continue;
		out_cstr(m, first ? "\n\"" : ",\n\"");
		first = false;
		out_cstr(m, v[i]->name);
		out_cstr(m, "\":{");
		out_column(m, "steps", &v[i]->cols->steps, false);
		out_column(m, "values", &v[i]->cols->values, false);
		out_column(m, "timestamps", &v[i]->cols->times, false);
		out_column(m, "sources", &v[i]->cols->sources, true);
		out_cstr(m, "}");
		free_columns(v[i]);
	}
	out_cstr(m, "\n}}\n");
	free(v);
	int rc = write_file_atomic_flags(m->json_path, m->out, m->out_len, 0644, 0, err);
	m->out_len = 0;
	return rc;
}

static cJSON *summary_json(struct mx_recorder *m)
{
	if (!m->nnames)
		return NULL;
	struct mx_name **v = sorted_names(m);
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; v[i]; i++) {
		cJSON *e = cJSON_AddObjectToObject(o, v[i]->name);
		cJSON_AddItemToObject(e, "last", mx_value_json(v[i]->sum.last));
		cJSON_AddItemToObject(e, "min", isnan(v[i]->sum.min) ? cJSON_CreateNull() : mx_value_json(v[i]->sum.min));
		cJSON_AddItemToObject(e, "max", isnan(v[i]->sum.max) ? cJSON_CreateNull() : mx_value_json(v[i]->sum.max));
		cJSON_AddNumberToObject(e, "count", (double)v[i]->sum.count);
		cJSON_AddNumberToObject(e, "last_step", (double)v[i]->sum.last_step);
	}
	free(v);
	return o;
}

int mx_recorder_finish(struct mx_recorder *m, cJSON **summary, struct rp_err *err)
{
	*summary = NULL;
	m->time_set = false;
	mx_feed_end(m->log_parser, record_point, m);
	read_job_file(m, 0);
	m->source = MX_SRC_FILE;
	m->time_set = false;
	mx_feed_end(m->file_parser, record_point, m);
	mx_recorder_flush(m);
	if (m->write_errno) {
		errno = m->write_errno;
		return rp_err_sys(err, "writing %s failed", m->jsonl_path);
	}
	if (!m->points)
		return 0;
	if (fsync(m->fd) < 0 && errno != EINVAL)
		return rp_err_sys(err, "fsync %s", m->jsonl_path);
	if (write_metrics_json(m, err) < 0)
		return -1;
	*summary = summary_json(m);
	return 0;
}

unsigned long long mx_recorder_dropped(const struct mx_recorder *m)
{
	return m->dropped;
}

void mx_recorder_free(struct mx_recorder *m)
{
	if (!m)
		return;
	mx_parser_free(m->log_parser);
	mx_parser_free(m->file_parser);
	if (m->fd >= 0)
		close(m->fd);
	if (m->job_fd >= 0)
		close(m->job_fd);
	for (size_t i = 0; i < MX_TABLE; i++) {
		if (m->names[i]) {
			free_columns(m->names[i]);
			free(m->names[i]->name);
			free(m->names[i]);
		}
	}
	free(m->out);
	free(m->jsonl_path);
	free(m->json_path);
	free(m->job_file);
	free(m);
}
