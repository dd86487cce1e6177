/* libFuzzer target for the metric parser (mk/fuzz.mk: make fuzz). Each input is a pattern line
 * and then output: the first line, when mx_pattern_check accepts it (as a bare regex with groups
 * key and value, else as a {fz: regex} one), is the config's pattern next to the defaults;
 * mx_parser_new must agree with mx_pattern_check. The rest is fed three ways, which must find
 * the same points (names, values, texts, steps, in order):
 * - whole, then mx_feed_end;
 * - in chunks cut where the input's own bytes say (a line split across reads);
 * - line by line through mx_parse_line (what the prefilter skips must hold no metric).
 * The JSON-only parser (a job's own file) reads it too. Every point is checked: a name of
 * 1..64 bytes, a text (when there is one) that is a number as printed.
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

/* What one way of feeding found: a count and a hash of every point in order. */
struct seen {
	size_t n;
	uint64_t h;
	const char *line; /* for messages */
};

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_metrics: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static void on_point(void *ctx, const struct mx_found *f)
{
	struct seen *s = ctx;
	if (f->name_len == 0 || f->name_len > 64 || memchr(f->name, '\n', f->name_len))
		die("a point with a bad name", s->line);
	if (f->text && (f->text_len == 0 || memchr(f->text, '\n', f->text_len)))
		die("a point with a bad text", s->line);
	s->n++;
	s->h = mix(s->h, f->name, f->name_len);
	s->h = mix(s->h, "\0", 1);
	if (!isnan(f->value))
		s->h = mix(s->h, &f->value, sizeof f->value);
	if (f->text)
		s->h = mix(s->h, f->text, f->text_len);
	s->h = mix(s->h, &f->step, sizeof f->step);
}

/* The pattern the first line gives, if any: 1 bare, 2 named, 0 none. */
static int pattern_kind(const char *regex)
{
	char msg[256];
	size_t off;
	if (mx_pattern_check(regex, false, msg, sizeof msg, &off) == 0)
		return 1;
	if (!msg[0] || strchr(msg, '\n'))
		die("a refused pattern without a one-line message", regex);
	if (mx_pattern_check(regex, true, msg, sizeof msg, &off) == 0)
		return 2;
	if (off > strlen(regex))
		die("an error offset past the pattern", regex);
	return 0;
}

static struct mx_parser *new_parser(const struct rp_metrics_cfg *cfg, int kind, const char *regex)
{
	struct mx_parser *p;
	struct rp_err e = {0};
	int rc = mx_parser_new(cfg, &p, &e);
	if (kind && rc < 0)
		die("mx_parser_new refuses a pattern mx_pattern_check accepts", e.msg);
	if (rc < 0)
		die("mx_parser_new fails", e.msg);
	return p;
}

static void feed_whole(struct mx_parser *p, const char *out, size_t n, struct seen *s)
{
	mx_feed(p, out, n, on_point, s);
	mx_feed_end(p, on_point, s);
}

/* Chunks whose sizes come from the bytes themselves (1..16). */
static void feed_chunks(struct mx_parser *p, const char *out, size_t n, struct seen *s)
{
	size_t pos = 0;
	while (pos < n) {
		size_t k = 1 + ((unsigned char)out[pos] % 16);
		if (k > n - pos)
			k = n - pos;
		mx_feed(p, out + pos, k, on_point, s);
		pos += k;
	}
	mx_feed_end(p, on_point, s);
}

static void feed_lines(struct mx_parser *p, const char *out, size_t n, struct seen *s)
{
	const char *q = out, *end = out + n;
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t len = nl ? (size_t)(nl - q) : (size_t)(end - q);
		mx_parse_line(p, q, len, on_point, s);
		q += len + 1;
	}
}

static void same(const struct seen *a, const struct seen *b, const char *how, const char *input)
{
	if (a->n != b->n || a->h != b->h) {
		fprintf(stderr, "fuzz_metrics: fed whole: %zu points, %s: %zu points\n", a->n, how, b->n);
		die("the points depend on how the output is fed", input);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *input = xstrndup((const char *)data, size); /* for messages */
	const char *nl = memchr(data, '\n', size);
	size_t first = nl ? (size_t)(nl - (const char *)data) : size;
	char *regex = xstrndup((const char *)data, first);
	const char *out = nl ? (const char *)data + first + 1 : (const char *)data + size;
	size_t n = (size_t)((const char *)data + size - out);

	int kind = strlen(regex) == first ? pattern_kind(regex) : 0; /* a NUL cuts the pattern */
	struct rp_metric_pattern pat = {.name = kind == 2 ? "fz" : NULL, .regex = regex};
	struct rp_metrics_cfg cfg = {.patterns = &pat, .npatterns = kind ? 1 : 0, .defaults = true};

	struct seen whole = {.line = input}, chunks = {.line = input}, lines = {.line = input};
	struct mx_parser *p = new_parser(&cfg, kind, regex);
	feed_whole(p, out, n, &whole);
	mx_parser_free(p);
	p = new_parser(&cfg, kind, regex);
	feed_chunks(p, out, n, &chunks);
	mx_parser_free(p);
	p = new_parser(&cfg, kind, regex);
	feed_lines(p, out, n, &lines);
	mx_parser_free(p);
	same(&whole, &chunks, "fed in chunks", input);
	same(&whole, &lines, "parsed line by line", input);

	struct seen json = {.line = input};
	p = mx_parser_new_json_only();
	feed_whole(p, out, n, &json);
	mx_parser_free(p);

	free(regex);
	free(input);
	return 0;
}
