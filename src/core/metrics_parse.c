/* metrics_parse.c: lines of output → metric points (metrics.h).
 *
 * The defaults, compatible with Guild's output scalars: `key: value` (a space after the colon,
 * so `12:30:01`, `host:8080` and `C:\x` are not metrics) and `key=value` pairs, several on a
 * line; a JSON object per line with numeric fields; `step N` and `epoch N[/M]` set the step.
 * A key starts with a letter or '_' after the line's start, a space or one of ",;|([{", and uses
 * letters, digits and "_.-/"; a value is a whole number token (int, float, nan, inf) ended by
 * the line's end, a space or one of ",;|)]}". A line without a mark (": " or '=' with a number
 * after it, or a JSON '":') is skipped before it is looked at: output is scanned with memchr
 * from mark to mark, and lines are only found around the marks.
 *
 * Custom patterns are PCRE2 regexes (JIT-compiled where possible) matched on every line that
 * holds the literal byte PCRE2 says each match needs. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <pcre2.h>

#include "util.h"

/* Lines longer than this are passed through and produce no metric. */
#define MX_MAX_LINE (1024 * 1024)
/* Points kept from one line; more are dropped. */
#define MX_MAX_PER_LINE 256
#define MX_MAX_NAME 64
/* Distinct names remembered for the implied step; a step with more starts a new one. */
#define MX_MAX_SEEN 1024
/* Backtracking budget per match: a pathological pattern gives up on a line, never stalls capture. */
#define MX_MATCH_LIMIT 1000000

struct mx_regex {
	pcre2_code *code;
	pcre2_match_data *md;
	char *name;               /* {name: regex} → the metric's name; NULL: group "key" */
	int g_key, g_value, g_step;
	int needed;               /* a byte every match holds (PCRE2's first or last code unit), or -1 */
	bool jit;
};

struct mx_parser {
	bool defaults, json_only;
	struct mx_regex *rx;
	size_t nrx;
	pcre2_match_context *mctx;
	/* the last line of the previous chunk, not complete yet */
	char *carry;
	size_t carry_len, carry_cap;
	bool overlong;            /* that line passed MX_MAX_LINE: skip to its end */
	/* steps */
	bool explicit_step;
	long long step;
	uint64_t seen[MX_MAX_SEEN];   /* hashes of the names reported at the implied step */
	size_t nseen;
	/* one line's points, emitted once its step is known */
	struct mx_found found[MX_MAX_PER_LINE];
	size_t nfound;
	bool line_step;           /* this line set the step */
	cJSON *json_line;         /* a JSON line's tree: its points' names live in it until emitted */
};

/* ---- tokens ---- */

/* ASCII only, whatever the locale: keys are plain names. */
static bool is_key_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_key_char(unsigned char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '/';
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* What may stand before a key. */
static bool is_key_left(unsigned char c)
{
	return is_space(c) || (c && strchr(",;|([{", c) != NULL);
}

/* What may end a value. */
static bool is_value_end(const char *p, const char *end)
{
	if (p < end && *p == ',' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
		return false; /* "1,234": a thousands separator, not the end */
	return p == end || is_space((unsigned char)*p) || (*p && strchr(",;|)]}", *p) != NULL);
}

static bool valid_metric_name(const char *s, size_t n)
{
	if (n == 0 || n > MX_MAX_NAME || !is_key_start((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_key_char((unsigned char)s[i]))
			return false;
	return true;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

static bool is_step_key(const char *s, size_t n)
{
	return word_is(s, n, "step") || word_is(s, n, "epoch");
}

/* A number token at p: [+-] digits [. digits] [e [+-] digits], or nan / inf / infinity (any
 * case). Returns its length (0: none) and whether it is already a JSON number. */
static size_t scan_number(const char *p, const char *end, bool *json_ok)
{
	const char *s = p;
	bool sign_plus = false;
	if (s < end && (*s == '+' || *s == '-')) {
		sign_plus = *s == '+';
		s++;
	}
	static const char *const words[] = {"infinity", "inf", "nan"};
	bool word = s < end && (*s == 'i' || *s == 'I' || *s == 'n' || *s == 'N');
	for (size_t i = 0; word && i < 3; i++) {
		size_t wl = strlen(words[i]);
		if ((size_t)(end - s) >= wl && !strncasecmp(s, words[i], wl)) {
			*json_ok = false;
			return (size_t)(s + wl - p);
		}
	}
	const char *int_start = s;
	while (s < end && isdigit((unsigned char)*s))
		s++;
	size_t int_digits = (size_t)(s - int_start);
	size_t frac_digits = 0;
	bool dot = false;
	if (s < end && *s == '.') {
		dot = true;
		s++;
		const char *f = s;
		while (s < end && isdigit((unsigned char)*s))
			s++;
		frac_digits = (size_t)(s - f);
	}
	if (int_digits == 0 && frac_digits == 0)
		return 0;
	if (s < end && (*s == 'e' || *s == 'E')) {
		const char *e = s + 1;
		if (e < end && (*e == '+' || *e == '-'))
			e++;
		const char *d = e;
		while (e < end && isdigit((unsigned char)*e))
			e++;
		if (e == d)
			return 0;
		s = e;
	}
	bool leading_zero = int_digits > 1 && *int_start == '0';
	*json_ok = !sign_plus && int_digits > 0 && (!dot || frac_digits > 0) && !leading_zero;
	return (size_t)(s - p);
}

/* Plain decimals ([-]digits[.digits], at most 15 digits: the common case) without strtod:
 * digits and the power of ten are both exact doubles then, so the one division rounds
 * correctly, as strtod would. False for anything else. */
static bool fast_decimal(const char *p, size_t n, double *out)
{
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
				       1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	const char *s = p, *end = p + n;
	bool neg = s < end && *s == '-';
	if (neg)
		s++;
	unsigned long long mant = 0;
	int digits = 0, frac = -1;
	for (; s < end; s++) {
		if (*s == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || ++digits > 15)
			return false;
		mant = mant * 10 + (unsigned long long)(*s - '0');
		if (frac >= 0)
			frac++;
	}
	if (digits == 0)
		return false;
	double v = frac > 0 ? (double)mant / pow10[frac] : (double)mant;
	*out = neg ? -v : v;
	return true;
}

/* The value of a number token already scanned. */
static double number_value(const char *p, size_t n)
{
	double fast;
	if (fast_decimal(p, n, &fast))
		return fast;
	char buf[128];
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	const char *s = buf;
	double sign = 1;
	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (tolower((unsigned char)*s) == 'n')
		return NAN;
	if (tolower((unsigned char)*s) == 'i')
		return sign * INFINITY;
	return strtod(buf, NULL);
}

/* A whole token as a step: a non-negative integer. */
static bool parse_step(const char *p, size_t n, long long *out)
{
	if (n == 0 || n > 18)
		return false;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* ---- one line's points ---- */

static void add_found(struct mx_parser *p, const char *name, size_t nlen, double v, const char *text, size_t tlen)
{
	if (p->nfound >= MX_MAX_PER_LINE)
		return;
	p->found[p->nfound++] = (struct mx_found){.name = name, .name_len = nlen, .value = v, .text = text,
						  .text_len = tlen};
}

static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* Without an explicit step, a name seen again at this step starts the next one. */
static long long implied_step(struct mx_parser *p, const char *name, size_t n)
{
	uint64_t h = name_hash(name, n);
	bool again = p->nseen >= MX_MAX_SEEN;
	for (size_t i = 0; i < p->nseen && !again; i++)
		again = p->seen[i] == h;
	if (again) {
		p->step++;
		p->nseen = 0;
	}
	p->seen[p->nseen++] = h;
	return p->step;
}

static void set_explicit_step(struct mx_parser *p, long long step)
{
	p->line_step = true;
	p->explicit_step = true;
	p->step = step;
}

static void emit_found(struct mx_parser *p, mx_emit_fn emit, void *ctx)
{
	for (size_t i = 0; i < p->nfound; i++) {
		struct mx_found *f = &p->found[i];
		f->step = p->explicit_step ? p->step : implied_step(p, f->name, f->name_len);
		emit(ctx, f);
	}
	p->nfound = 0;
}

/* ---- the default forms ---- */

/* `step N` / `epoch N` / `Epoch N/M` written with a space: the step, if the line has one. */
static void find_spaced_step(struct mx_parser *p, const char *line, const char *end)
{
	for (const char *s = line; s < end; s++) {
		if (!is_key_start((unsigned char)*s) || (s > line && !is_key_left((unsigned char)s[-1])))
			continue;
		const char *k = s;
		while (s < end && is_key_char((unsigned char)*s))
			s++;
		if (!is_step_key(k, (size_t)(s - k)) || s == end || !is_space((unsigned char)*s))
			continue;
		const char *v = s;
		while (v < end && is_space((unsigned char)*v))
			v++;
		const char *d = v;
		while (d < end && isdigit((unsigned char)*d))
			d++;
		long long step;
		if (d == v || !parse_step(v, (size_t)(d - v), &step))
			continue;
		if (d < end && *d == '/') {   /* "3/10" */
			const char *t = d + 1;
			while (t < end && isdigit((unsigned char)*t))
				t++;
			if (t == d + 1)
				continue;
			d = t;
		}
		/* "Epoch 3/10: ..." and "step 5: ..." */
		if (!is_value_end(d, end) && *d != ':')
			continue;
		set_explicit_step(p, step);
		return;
	}
}

/* One `key: value` or `key=value` around the mark at m ('=' or ':'); true when it held one. */
static bool pair_at(struct mx_parser *p, const char *line, const char *end, const char *m)
{
	/* the key, left of the mark ('=' may have spaces around it) */
	const char *ke = m;
	if (*m == '=')
		while (ke > line && is_space((unsigned char)ke[-1]))
			ke--;
	const char *ks = ke;
	while (ks > line && is_key_char((unsigned char)ks[-1]))
		ks--;
	if (ks > line && !is_key_left((unsigned char)ks[-1]))
		return false;
	if (!valid_metric_name(ks, (size_t)(ke - ks)))
		return false;
	/* the value, right of it */
	const char *v = m + 1;
	if (*m == ':' && (v == end || !is_space((unsigned char)*v)))
		return false;
	while (v < end && is_space((unsigned char)*v))
		v++;
	bool json_ok;
	size_t n = scan_number(v, end, &json_ok);
	if (n == 0)
		return false;
	const char *ve = v + n;
	long long step;
	if (is_step_key(ks, (size_t)(ke - ks)) && parse_step(v, n, &step)) {
		if (ve < end && *ve == '/') {
			const char *t = ve + 1;
			while (t < end && isdigit((unsigned char)*t))
				t++;
			if (t > ve + 1)
				ve = t;
		}
		if (!is_value_end(ve, end))
			return false;
		set_explicit_step(p, step);
		return true;
	}
	if (!is_value_end(ve, end))
		return false;
	add_found(p, ks, (size_t)(ke - ks), number_value(v, n), json_ok ? v : NULL, json_ok ? n : 0);
	return true;
}

static void parse_pairs(struct mx_parser *p, const char *line, const char *end)
{
	for (const char *s = line; s < end; s++)
		if (*s == ':' || *s == '=')
			pair_at(p, line, end, s);
	if (!p->line_step && p->nfound)
		find_spaced_step(p, line, end);
}

/* ---- JSON lines ---- */

/* Python's json module writes NaN, Infinity and -Infinity bare, which JSON does not allow: a
 * copy of the line with them quoted, for a second try. NULL when the line has none. */
static char *quote_bare_specials(const char *s, size_t n)
{
	if (!memmem(s, n, "NaN", 3) && !memmem(s, n, "Infinity", 8))
		return NULL;
	struct strbuf {
		char *p;
		size_t len;
	} out = {xmalloc(n * 2 + 1), 0};
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			out.p[out.len++] = c;
			if (c == '\\' && i + 1 < n)
				out.p[out.len++] = s[++i];
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		const char *w = NULL;
		if (n - i >= 3 && !memcmp(s + i, "NaN", 3))
			w = "NaN";
		else if (n - i >= 8 && !memcmp(s + i, "Infinity", 8))
			w = "Infinity";
		else if (n - i >= 9 && !memcmp(s + i, "-Infinity", 9))
			w = "-Infinity";
		if (!in_str && w) {
			out.p[out.len++] = '"';
			memcpy(out.p + out.len, w, strlen(w));
			out.len += strlen(w);
			out.p[out.len++] = '"';
			i += strlen(w) - 1;
			continue;
		}
		out.p[out.len++] = c;
	}
	out.p[out.len] = '\0';
	return out.p;
}

/* A JSON value as a metric value: a number, or the strings nan / inf / -inf (any case, also
 * Python's NaN / Infinity / -Infinity). */
static bool json_metric_value(const cJSON *it, double *v)
{
	if (cJSON_IsNumber(it)) {
		*v = it->valuedouble;
		return true;
	}
	if (!cJSON_IsString(it))
		return false;
	const char *s = it->valuestring;
	bool json_ok;
	size_t n = scan_number(s, s + strlen(s), &json_ok);
	if (n == 0 || n != strlen(s) || json_ok || isdigit((unsigned char)s[n - 1]))
		return false;
	*v = number_value(s, n);
	return true;
}

static void parse_json_object(struct mx_parser *p, const char *line, size_t n)
{
	/* the whole line must be the one object: "{..}{..}" or "{..} text" is not a JSON line */
	const char *stop = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(line, n, &stop, false);
	if (j && stop != line + n) {
		cJSON_Delete(j);
		j = NULL;
	} else if (!j) {
		char *fixed = quote_bare_specials(line, n);
		if (fixed) {
			j = cJSON_ParseWithOpts(fixed, &stop, true);
			free(fixed);
		}
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	const cJSON *step = NULL;
	for (const cJSON *it = j->child; it; it = it->next)
		if (it->string && cJSON_IsNumber(it) && is_step_key(it->string, strlen(it->string)) &&
		    it->valuedouble >= 0 && it->valuedouble < 1e18 && it->valuedouble == (double)(long long)it->valuedouble &&
		    (!step || !strcasecmp(it->string, "step")))
			step = it;
	if (step)
		set_explicit_step(p, (long long)step->valuedouble);
	/* The names and numbers live in the cJSON tree: emit before it is freed. */
	for (const cJSON *it = j->child; it; it = it->next) {
		double v;
		/* step and epoch are never metrics, even when they are not a valid step */
		if (it == step || !it->string || is_step_key(it->string, strlen(it->string)) ||
		    !valid_metric_name(it->string, strlen(it->string)) || !json_metric_value(it, &v))
			continue;
		add_found(p, it->string, strlen(it->string), v, NULL, 0);
	}
	p->json_line = j;
}

/* ---- custom patterns ---- */

static void match_regex(struct mx_parser *p, struct mx_regex *r, const char *line, size_t n)
{
	if (r->needed >= 0 && !memchr(line, r->needed, n))
		return;
	PCRE2_SIZE off = 0;
	while (off <= n) {
		int rc = r->jit ? pcre2_jit_match(r->code, (PCRE2_SPTR)line, n, off, 0, r->md, p->mctx)
				: pcre2_match(r->code, (PCRE2_SPTR)line, n, off, 0, r->md, p->mctx);
		if (rc < 0)
			return;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
		uint32_t pairs = pcre2_get_ovector_count(r->md);
		const char *name = r->name;
		size_t nlen = name ? strlen(name) : 0;
		if (!name && (uint32_t)r->g_key < pairs && ov[2 * r->g_key] != PCRE2_UNSET) {
			name = line + ov[2 * r->g_key];
			nlen = ov[2 * r->g_key + 1] - ov[2 * r->g_key];
		}
		if (r->g_step >= 0 && (uint32_t)r->g_step < pairs && ov[2 * r->g_step] != PCRE2_UNSET) {
			long long step;
			if (parse_step(line + ov[2 * r->g_step], ov[2 * r->g_step + 1] - ov[2 * r->g_step], &step))
				set_explicit_step(p, step);
		}
		if (name && valid_metric_name(name, nlen) && (uint32_t)r->g_value < pairs &&
		    ov[2 * r->g_value] != PCRE2_UNSET) {
			const char *v = line + ov[2 * r->g_value];
			size_t vl = ov[2 * r->g_value + 1] - ov[2 * r->g_value];
			bool json_ok;
			if (vl && scan_number(v, v + vl, &json_ok) == vl)
				add_found(p, name, nlen, number_value(v, vl), json_ok ? v : NULL, json_ok ? vl : 0);
		}
		off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
	}
}

/* ---- lines ---- */

static bool looks_like_json(const char *line, size_t n, size_t *start, size_t *len)
{
	size_t a = 0, b = n;
	while (a < b && is_space((unsigned char)line[a]))
		a++;
	while (b > a && is_space((unsigned char)line[b - 1]))
		b--;
	*start = a;
	*len = b - a;
	return b - a >= 2 && line[a] == '{' && line[b - 1] == '}';
}

void mx_parse_line(struct mx_parser *p, const char *line, size_t n, mx_emit_fn emit, void *ctx)
{
	if (n > MX_MAX_LINE)
		return;
	p->line_step = false;
	size_t js, jl;
	if (p->json_only || p->defaults) {
		if (looks_like_json(line, n, &js, &jl))
			parse_json_object(p, line + js, jl);
		else if (!p->json_only)
			parse_pairs(p, line, line + n);
	}
	for (size_t i = 0; i < p->nrx; i++)
		match_regex(p, &p->rx[i], line, n);
	emit_found(p, emit, ctx);
	if (p->json_line) {
		cJSON_Delete(p->json_line);
		p->json_line = NULL;
	}
}

/* Could a number start here (after spaces)? What the prefilter asks of a mark's right side. */
static bool number_follows(const char *p, const char *end)
{
	while (p < end && is_space((unsigned char)*p))
		p++;
	if (p == end)
		return false;
	char c = *p;
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'n' || c == 'N' || c == 'i' ||
	       c == 'I';
}

/* A mark the default forms need at c, with a number after it: ": ", ':' after a quote (JSON) or
 * '='. A log line like "INFO trainer: batch 7 done" has none and is never parsed. */
static bool is_mark(const char *c, const char *start, const char *end)
{
	if (*c == '=')
		return number_follows(c + 1, end);
	/* JSON: whitespace as cJSON skips it (any byte up to ' ') around the colon */
	const char *k = c;
	while (k > start && (unsigned char)k[-1] <= ' ')
		k--;
	if (k > start && k[-1] == '"') {
		/* a number, or a string ("nan", "inf") */
		const char *v = c + 1;
		while (v < end && (unsigned char)*v <= ' ')
			v++;
		return number_follows(v, end) || (v < end && *v == '"');
	}
	return c + 1 < end && is_space((unsigned char)c[1]) && number_follows(c + 1, end);
}

/* The first c in [s, end), or end. */
static const char *find_from(const char *s, const char *end, char c)
{
	const char *p = memchr(s, c, (size_t)(end - s));
	return p ? p : end;
}

/* Where the next ':' and '=' of a region are, once searched: each byte is scanned once per kind. */
struct marks {
	const char *colon, *eq;   /* NULL: not searched yet; end: none */
};

/* The next mark at or after s, or end: the earlier of the next ':' and the next '=' that are marks. */
static const char *next_mark(struct marks *mk, const char *s, const char *start, const char *end)
{
	if (!mk->eq || mk->eq < s)
		mk->eq = find_from(s, end, '=');
	while (mk->eq < end && !is_mark(mk->eq, start, end))
		mk->eq = find_from(mk->eq + 1, end, '=');
	if (!mk->colon || mk->colon < s)
		mk->colon = find_from(s, end, ':');
	while (mk->colon < end && !is_mark(mk->colon, start, end))
		mk->colon = find_from(mk->colon + 1, end, ':');
	return mk->colon < mk->eq ? mk->colon : mk->eq;
}

/* Complete lines (the region ends with a newline): with the defaults only, lines are found
 * around the marks; with patterns, every line is. */
static void scan_lines(struct mx_parser *p, const char *buf, size_t n, mx_emit_fn emit, void *ctx)
{
	const char *s = buf, *end = buf + n;
	if (p->nrx == 0 && !p->json_only) {
		struct marks mk = {NULL, NULL};
		while (s < end) {
			const char *m = next_mark(&mk, s, buf, end);
			if (m == end)
				return;
			const char *ls = memrchr(s, '\n', (size_t)(m - s));
			ls = ls ? ls + 1 : s;
			const char *le = memchr(m, '\n', (size_t)(end - m));
			if (!le)
				le = end;
			mx_parse_line(p, ls, (size_t)(le - ls), emit, ctx);
			s = le + 1;
		}
		return;
	}
	while (s < end) {
		const char *le = memchr(s, '\n', (size_t)(end - s));
		if (!le)
			le = end;
		mx_parse_line(p, s, (size_t)(le - s), emit, ctx);
		s = le + 1;
	}
}

static void carry_append(struct mx_parser *p, const char *s, size_t n)
{
	if (p->overlong)
		return;
	if (p->carry_len + n > MX_MAX_LINE) {
		p->overlong = true;
		p->carry_len = 0;
		return;
	}
	if (p->carry_len + n > p->carry_cap) {
		p->carry_cap = (p->carry_len + n) * 2 < 4096 ? 4096 : (p->carry_len + n) * 2;
		p->carry = xrealloc(p->carry, p->carry_cap);
	}
	memcpy(p->carry + p->carry_len, s, n);
	p->carry_len += n;
}

void mx_feed(struct mx_parser *p, const char *buf, size_t n, mx_emit_fn emit, void *ctx)
{
	size_t pos = 0;
	if (p->carry_len || p->overlong) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		carry_append(p, buf, take);
		if (!nl)
			return;
		if (!p->overlong)
			scan_lines(p, p->carry, p->carry_len, emit, ctx);
		p->carry_len = 0;
		p->overlong = false;
		pos = take + 1;
	}
	const char *last = pos < n ? memrchr(buf + pos, '\n', n - pos) : NULL;
	size_t complete = last ? (size_t)(last - buf) + 1 : pos;
	if (complete > pos)
		scan_lines(p, buf + pos, complete - pos, emit, ctx);
	if (complete < n)
		carry_append(p, buf + complete, n - complete);
}

void mx_feed_end(struct mx_parser *p, mx_emit_fn emit, void *ctx)
{
	if (p->carry_len && !p->overlong)
		scan_lines(p, p->carry, p->carry_len, emit, ctx);
	p->carry_len = 0;
	p->overlong = false;
}

/* ---- patterns ---- */

static pcre2_code *compile_regex(const char *regex, char *msg, size_t msg_size, size_t *offset)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR text[200];
		pcre2_get_error_message(code, text, sizeof text);
		snprintf(msg, msg_size, "invalid regex: %s", (const char *)text);
		*offset = off;
	}
	return re;
}

static int group(const pcre2_code *re, const char *name)
{
	int n = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
	return n > 0 ? n : -1;
}

/* The groups a pattern needs: a bare regex key and value, a named one value or a first group. */
static int check_groups(const pcre2_code *re, bool named, struct mx_regex *out, char *msg, size_t msg_size)
{
	uint32_t captures = 0;
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &captures);
	int key = group(re, "key"), value = group(re, "value"), step = group(re, "step");
	if (named && value < 0)
		value = captures >= 1 ? 1 : -1;
	if (value < 0 || (!named && key < 0)) {
		snprintf(msg, msg_size, named ? "the regex needs a group for the value: (?<value>...) or (...)"
					      : "the regex needs named groups (?<key>...) and (?<value>...) "
						"(or use {NAME: regex})");
		return -1;
	}
	if (out)
		*out = (struct mx_regex){.g_key = key, .g_value = value, .g_step = step};
	return 0;
}

int mx_pattern_check(const char *regex, bool named, char *msg, size_t msg_size, size_t *offset)
{
	*offset = 0;
	pcre2_code *re = compile_regex(regex, msg, msg_size, offset);
	if (!re)
		return -1;
	int rc = check_groups(re, named, NULL, msg, msg_size);
	pcre2_code_free(re);
	return rc;
}

/* A byte every match holds, if PCRE2 knows one (first or last literal code unit). */
static int needed_byte(const pcre2_code *re)
{
	uint32_t type = 0, unit = 0;
	if (pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 && type == 1 &&
	    pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0)
		return (int)unit;
	if (pcre2_pattern_info(re, PCRE2_INFO_LASTCODETYPE, &type) == 0 && type == 1 &&
	    pcre2_pattern_info(re, PCRE2_INFO_LASTCODEUNIT, &unit) == 0)
		return (int)unit;
	return -1;
}

static struct mx_parser *parser_alloc(void)
{
	struct mx_parser *p = xcalloc(1, sizeof *p);
	p->defaults = true;
	return p;
}

int mx_parser_new(const struct rp_metrics_cfg *cfg, struct mx_parser **out, struct rp_err *err)
{
	struct mx_parser *p = parser_alloc();
	*out = NULL;
	if (cfg) {
		p->defaults = cfg->defaults;
		if (cfg->npatterns) {
			p->rx = xcalloc(cfg->npatterns, sizeof *p->rx);
			p->mctx = pcre2_match_context_create(NULL);
			pcre2_set_match_limit(p->mctx, MX_MATCH_LIMIT);
		}
		for (size_t i = 0; i < cfg->npatterns; i++) {
			char msg[256];
			size_t off;
			pcre2_code *re = compile_regex(cfg->patterns[i].regex, msg, sizeof msg, &off);
			struct mx_regex r;
			if (!re || check_groups(re, cfg->patterns[i].name != NULL, &r, msg, sizeof msg) < 0) {
				pcre2_code_free(re);
				mx_parser_free(p);
				return rp_err_set(err, RP_ERR_USAGE, "metrics.patterns[%zu]: %s", i, msg);
			}
			r.code = re;
			r.name = cfg->patterns[i].name ? xstrdup(cfg->patterns[i].name) : NULL;
			r.needed = needed_byte(re);
			r.jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
			r.md = pcre2_match_data_create_from_pattern(re, NULL);
			p->rx[p->nrx++] = r;
		}
	}
	*out = p;
	return 0;
}

struct mx_parser *mx_parser_new_json_only(void)
{
	struct mx_parser *p = parser_alloc();
	p->json_only = true;
	return p;
}

void mx_parser_free(struct mx_parser *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrx; i++) {
		pcre2_match_data_free(p->rx[i].md);
		pcre2_code_free(p->rx[i].code);
		free(p->rx[i].name);
	}
	free(p->rx);
	pcre2_match_context_free(p->mctx);
	cJSON_Delete(p->json_line);
	free(p->carry);
	free(p);
}
