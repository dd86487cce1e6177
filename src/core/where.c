/* --where: a hand-written recursive-descent parser that emits SQL while it parses (where.h).
 *
 *   expr       := and_expr { "or" and_expr }
 *   and_expr   := unary { "and" unary }
 *   unary      := "not" unary | primary
 *   primary    := "(" expr ")" | comparison
 *   comparison := FIELD OP VALUE          OP: = != < <= > >= ~ contains
 *
 * SQL's own precedence (NOT > AND > OR) is the language's, so and/or chains are emitted flat and
 * only the user's parentheses and each comparison are parenthesised. Every comparison is
 * two-valued (a missing value gives false, never NULL), so `not` of it is exactly its opposite. */
#include "where.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "record.h"
#include "util.h"

/* ---- tokens ---- */

enum tok_kind { T_END, T_WORD, T_STRING, T_OP, T_LPAREN, T_RPAREN };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_GLOB, OP_CONTAINS };

struct token {
	enum tok_kind kind;
	const char *start; /* its text in the expression */
	size_t len;
	int line, col;
	char *str;         /* T_STRING: the value, escapes resolved (owned) */
	enum op op;        /* T_OP */
};

struct parser {
	const char *p;     /* the lexer's position */
	int line, col;     /* of p */
	struct token tok;  /* the current token */
	double now;
	enum where_dialect dialect;
	int next_param;    /* WHERE_POSTGRES: the number of the next $N */
	size_t nplaceholders;
	int bad_line, bad_col; /* WHERE_POSTGRES: the first value that is not UTF-8 (line 0: none) */
	int nesting;       /* see WHERE_MAX_NESTING */
	int terms;
	char *sql;
	size_t len, cap;
	struct where_arg *args;
	size_t nargs, argcap;
	struct rp_err *err;
};

/* "--where: LINE:COL: message", a usage error. */
static int fail_at(struct parser *P, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *P, int line, int col, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rp_err_set(P->err, RP_ERR_USAGE, "--where: %d:%d: %s", line, col, msg);
}

/* Text of the input for a message: control characters as '?', at most 40 bytes (cut at a UTF-8
 * character's start) and "...", so the message stays one readable line. */
static void excerpt(const char *s, size_t n, char *out, size_t outsz)
{
	size_t max = outsz - 4, i;
	bool cut = n > max;
	if (cut) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(out + i, cut ? "..." : "");
}

/* The current token for a message: 'text' or "the end of the expression". */
static const char *describe(const struct token *t, char *out, size_t outsz)
{
	if (t->kind == T_END)
		return "the end of the expression";
	char text[44];
	excerpt(t->start, t->len, text, sizeof text);
	snprintf(out, outsz, "'%s'", text);
	return out;
}

static void advance(struct parser *P)
{
	if (*P->p == '\n') {
		P->line++;
		P->col = 1;
	} else if (((unsigned char)*P->p & 0xC0) != 0x80) {
		P->col++; /* columns count characters, not the bytes of UTF-8 */
	}
	P->p++;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word_char(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x20 && u != 0x7f && !is_space(c) && !strchr("()=!<>~\"'", c);
}

static int lex_string(struct parser *P)
{
	struct token *t = &P->tok;
	char quote = *P->p;
	char *buf = xmalloc(strlen(P->p) + 1);
	size_t n = 0;
	advance(P);
	while (*P->p != quote) {
		if (!*P->p) {
			free(buf);
			return fail_at(P, t->line, t->col, "unterminated string (no closing %c)", quote);
		}
		char c = *P->p;
		if (c == '\\') {
			int line = P->line, col = P->col;
			advance(P);
			switch (*P->p) {
			case '\\': case '"': case '\'': c = *P->p; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			default:
				free(buf);
				if (!*P->p)
					return fail_at(P, t->line, t->col, "unterminated string (no closing %c)", quote);
				return fail_at(P, line, col, "unknown escape '\\%c' in a string (known: \\\\ \\\" \\' \\n \\t)",
					       (unsigned char)*P->p < 0x20 || (unsigned char)*P->p >= 0x7f ? '?' : *P->p);
			}
		}
		buf[n++] = c;
		advance(P);
	}
	advance(P);
	buf[n] = '\0';
	t->kind = T_STRING;
	t->str = buf;
	return 0;
}

/* An operator at P->p, or -1. */
static int lex_op(struct parser *P)
{
	static const struct { const char *text; enum op op; } ops[] = {
		{"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"=", OP_EQ}, {"<", OP_LT}, {">", OP_GT}, {"~", OP_GLOB},
	};
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		size_t n = strlen(ops[i].text);
		if (!strncmp(P->p, ops[i].text, n)) {
			P->tok.kind = T_OP;
			P->tok.op = ops[i].op;
			for (size_t k = 0; k < n; k++)
				advance(P);
			return 0;
		}
	}
	return -1;
}

/* Read the next token into P->tok. */
static int next(struct parser *P)
{
	struct token *t = &P->tok;
	free(t->str);
	memset(t, 0, sizeof *t);
	while (is_space(*P->p))
		advance(P);
	t->start = P->p;
	t->line = P->line;
	t->col = P->col;
	char c = *P->p;
	int rc = 0;
	if (!c) {
		t->kind = T_END;
	} else if (c == '(' || c == ')') {
		t->kind = c == '(' ? T_LPAREN : T_RPAREN;
		advance(P);
	} else if (c == '"' || c == '\'') {
		rc = lex_string(P);
	} else if (lex_op(P) == 0) {
		/* done */
	} else if (c == '!') {
		return fail_at(P, t->line, t->col, "unexpected '!' (did you mean '!='?)");
	} else if (is_word_char(c)) {
		t->kind = T_WORD;
		while (is_word_char(*P->p))
			advance(P);
	} else {
		return fail_at(P, t->line, t->col, "unexpected character 0x%02x", (unsigned char)c);
	}
	t->len = (size_t)(P->p - t->start);
	return rc;
}

static bool is_keyword(const struct token *t, const char *kw)
{
	return t->kind == T_WORD && t->len == strlen(kw) && !strncasecmp(t->start, kw, t->len);
}

static bool is_any_keyword(const struct token *t)
{
	return is_keyword(t, "and") || is_keyword(t, "or") || is_keyword(t, "not") || is_keyword(t, "contains");
}

/* ---- output ---- */

static void emit(struct parser *P, const char *s)
{
	size_t n = strlen(s);
	if (P->len + n + 1 > P->cap) {
		P->cap = (P->len + n + 1) * 2;
		P->sql = xrealloc(P->sql, P->cap);
	}
	memcpy(P->sql + P->len, s, n + 1);
	P->len += n;
}

static struct where_arg *new_arg(struct parser *P, enum where_arg_type type)
{
	if (P->nargs == P->argcap) {
		P->argcap = P->argcap ? P->argcap * 2 : 8;
		P->args = xrealloc(P->args, P->argcap * sizeof *P->args);
	}
	struct where_arg *a = &P->args[P->nargs++];
	memset(a, 0, sizeof *a);
	a->type = type;
	return a;
}

static void arg_text(struct parser *P, const char *s, size_t n)
{
	new_arg(P, WHERE_ARG_TEXT)->text = xstrndup(s, n);
}

static void arg_real(struct parser *P, double v)
{
	new_arg(P, WHERE_ARG_REAL)->real = v;
}

static void arg_int(struct parser *P, long long v)
{
	new_arg(P, WHERE_ARG_INT)->integer = v;
}

/* ---- globs as PostgreSQL regular expressions ---- */

/* The code point of the UTF-8 character at s (of at most n bytes) and its length, or 0 when it is
 * not one (PostgreSQL takes valid UTF-8 only). */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned *cp)
{
	static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (!len || len > n)
		return 0;
	unsigned v = len == 1 ? s[0] : s[0] & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

static bool valid_utf8(const char *s, size_t n)
{
	unsigned cp;
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = utf8_char((const unsigned char *)s + i, n - i, &cp)))
			return false;
	return true;
}

/* Append one character of a glob to a regex: letters, digits and non-ASCII as they are, any other
 * ASCII as a \u escape, which stays an ordinary character also inside a bracket expression. */
static void regex_char(char *re, size_t *len, const char *s, size_t n, unsigned cp)
{
	if (cp >= 0x80 || isalnum((int)cp)) {
		memcpy(re + *len, s, n);
		*len += n;
	} else {
		*len += (size_t)sprintf(re + *len, "\\u%04X", cp);
	}
}

/* A regex that matches nothing: no character of PostgreSQL's text (which holds no NUL) is outside
 * this range. */
#define REGEX_NOTHING "^[^\\u0001-\\U0010FFFF]$"

/* One character of a glob: its length and code point; a byte that starts no UTF-8 character is
 * one of its own (the expression is then refused: compile_comparison). */
static size_t glob_char(const char *s, size_t n, unsigned *cp)
{
	size_t k = utf8_char((const unsigned char *)s, n, cp);
	if (!k)
		*cp = (unsigned char)s[0] | 0x100;
	return k ? k : 1;
}

/* The glob s as an anchored PostgreSQL regular expression that matches exactly the
 * strings SQLite's GLOB does: * any run, ? one character, [...] a set with a-z ranges, ^ first to
 * invert, ] first as a member, - first or last as a member; an unclosed [ matches nothing. */
static char *glob_to_regex(const char *s, size_t n)
{
	char *re = xmalloc(n * 6 + 4); /* a byte becomes at most a \uXXXX; then ^ $ and the NUL */
	size_t len = 0, i = 0, k;
	unsigned cp;
	re[len++] = '^';
	while (i < n) {
		k = glob_char(s + i, n - i, &cp);
		if (cp == '*') {
			len += (size_t)sprintf(re + len, ".*");
		} else if (cp == '?') {
			re[len++] = '.';
		} else if (cp == '[') {
			/* SQLite's patternCompare: prior is the last single member, 0 after a range */
			unsigned prior = 0, hi;
			i += k;
			re[len++] = '[';
			if (i < n && s[i] == '^') {
				re[len++] = '^';
				i++;
			}
			if (i < n && s[i] == ']') {
				len += (size_t)sprintf(re + len, "\\u005D");
				i++;
			}
			while (i < n && s[i] != ']') {
				k = glob_char(s + i, n - i, &cp);
				if (cp == '-' && prior && i + 1 < n && s[i + 1] != ']') {
					size_t hk = glob_char(s + i + 1, n - i - 1, &hi);
					if (prior <= hi) { /* prior is already a member; add the rest of the range */
						re[len++] = '-';
						regex_char(re, &len, s + i + 1, hk, hi);
					}
					i += 1 + hk;
					prior = 0;
					continue;
				}
				regex_char(re, &len, s + i, k, cp);
				prior = cp;
				i += k;
			}
			if (i >= n) { /* unclosed: SQLite matches nothing */
				free(re);
				return xstrdup(REGEX_NOTHING);
			}
			/* never empty: a range follows a single member, and a z-a range adds nothing to it */
			re[len++] = ']';
			i++;
			continue;
		} else {
			regex_char(re, &len, s + i, k, cp);
		}
		i += k;
	}
	re[len++] = '$';
	re[len] = '\0';
	return re;
}

/* The text a value is compared with: for PostgreSQL, a glob as its regular expression. */
static void arg_compared(struct parser *P, enum op op, const char *s, size_t n)
{
	if (P->dialect == WHERE_POSTGRES && op == OP_GLOB)
		new_arg(P, WHERE_ARG_TEXT)->text = glob_to_regex(s, n);
	else
		arg_text(P, s, n);
}

static const char *op_text(enum op op)
{
	static const char *const names[] = {"=", "!=", "<", "<=", ">", ">=", "~", "contains"};
	return names[op];
}

/* The next parameter: `?` for SQLite; `$N::type` for PostgreSQL, typed because it cannot always
 * infer one (a value compared with an expression, a bigint with a float). */
static void emit_placeholder(struct parser *P, enum where_arg_type type)
{
	P->nplaceholders++;
	if (P->dialect == WHERE_SQLITE) {
		emit(P, "?");
		return;
	}
	static const char *const casts[] = {[WHERE_ARG_TEXT] = "text", [WHERE_ARG_REAL] = "float8",
					    [WHERE_ARG_INT] = "bigint"};
	char buf[32];
	snprintf(buf, sizeof buf, "$%d::%s", P->next_param++, casts[type]);
	emit(P, buf);
}

/* "col OP ?": the comparison of one column with the next bound value, of that type. */
static void emit_compare(struct parser *P, const char *col, enum op op, enum where_arg_type type)
{
	bool pg = P->dialect == WHERE_POSTGRES;
	if (op == OP_CONTAINS) {
		emit(P, pg ? "strpos(" : "instr(");
		emit(P, col);
		emit(P, ", ");
		emit_placeholder(P, type);
		emit(P, ") > 0");
		return;
	}
	emit(P, col);
	emit(P, " ");
	/* PostgreSQL: ~ is a regular expression, the glob translated to one (glob_to_regex) */
	emit(P, op == OP_GLOB ? (pg ? "~" : "GLOB") : op_text(op));
	emit(P, " ");
	emit_placeholder(P, type);
	/* SQLite orders text by its bytes; PostgreSQL by the database's collation unless told */
	if (pg && type == WHERE_ARG_TEXT && op >= OP_LT && op <= OP_GE)
		emit(P, " COLLATE \"C\"");
}

/* ---- fields ---- */

enum field_kind { F_TEXT, F_ID, F_STATUS, F_TIME, F_DURATION, F_PARAM, F_METRIC, F_TAGS };

struct field {
	enum field_kind kind;
	const char *column;   /* runs.x, p.x or m.x; NULL for tags */
	const char *key;      /* F_PARAM, F_METRIC: the key or metric name, in the expression */
	size_t keylen;
	char label[48];       /* the field as written, for messages */
};

static const struct { const char *name; enum field_kind kind; const char *column; } run_fields[] = {
	{"id", F_ID, "runs.id"},
	{"name", F_TEXT, "runs.name"},
	{"status", F_STATUS, "runs.status"},
	{"reason", F_TEXT, "runs.reason"},
	{"started", F_TIME, "runs.started"},
	{"ended", F_TIME, "runs.ended"},
	{"duration", F_DURATION, "runs.duration"},
	{"runner", F_TEXT, "runs.runner"},
	{"image", F_TEXT, "runs.image"},
	{"fingerprint", F_TEXT, "runs.fingerprint"},
	{"note", F_TEXT, "runs.note"},
	{"sweep", F_TEXT, "runs.sweep"},
	{"tags", F_TAGS, NULL},
};
#define NRUN_FIELDS (sizeof run_fields / sizeof *run_fields)

/* metrics.NAME.SUFFIX selects a summary column other than last. */
static const struct { const char *suffix; const char *column; } metric_columns[] = {
	{"last", "m.last"}, {"min", "m.min"}, {"max", "m.max"}, {"count", "m.count"}, {"last_step", "m.last_step"},
};

static bool is_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '/';
}

static bool close_to(const char *w, size_t n, const char *name)
{
	size_t len = strlen(name);
	return edit_distance(w, n, name, len) <= (len <= 4 ? 1 : 2);
}

/* The field a misspelt one probably meant ("param.lr" -> "params.lr"), or false. */
static bool suggest_field(const char *w, size_t n, char *out, size_t outsz)
{
	const char *dot = memchr(w, '.', n);
	if (dot) {
		static const char *const prefixes[] = {"params", "metrics"};
		size_t plen = (size_t)(dot - w);
		for (size_t i = 0; i < 2; i++)
			if (close_to(w, plen, prefixes[i])) {
				char rest[44];
				excerpt(dot, n - plen, rest, sizeof rest);
				snprintf(out, outsz, "%s%s", prefixes[i], rest);
				return true;
			}
		return false;
	}
	for (size_t i = 0; i < NRUN_FIELDS; i++)
		if (close_to(w, n, run_fields[i].name)) {
			snprintf(out, outsz, "%s", run_fields[i].name);
			return true;
		}
	return false;
}

static int unknown_field(struct parser *P, const struct token *t)
{
	char text[44], hint[64];
	excerpt(t->start, t->len, text, sizeof text);
	if (t->len == 6 && !strncasecmp(t->start, "params", 6))
		return fail_at(P, t->line, t->col, "'params' needs a key: params.KEY (e.g. params.lr)");
	if (t->len == 7 && !strncasecmp(t->start, "metrics", 7))
		return fail_at(P, t->line, t->col, "'metrics' needs a name: metrics.NAME (e.g. metrics.loss)");
	if (suggest_field(t->start, t->len, hint, sizeof hint))
		return fail_at(P, t->line, t->col, "unknown field '%s' (did you mean '%s'?)", text, hint);
	return fail_at(P, t->line, t->col,
		       "unknown field '%s' (fields: id name status reason started ended duration runner image "
		       "fingerprint note tags params.KEY metrics.NAME)", text);
}

/* The key of params.KEY or metrics.NAME: letters, digits and _ . - / only. */
static int check_key(struct parser *P, const struct token *t, size_t prefix, const char *what)
{
	char text[44];
	excerpt(t->start + prefix, t->len - prefix, text, sizeof text);
	for (size_t i = prefix; i < t->len; i++)
		if (!is_key_char(t->start[i]))
			return fail_at(P, t->line, t->col, "%s '%s' may hold letters, digits and _ . - / only", what, text);
	return 0;
}

static void metric_column(struct field *f)
{
	f->column = "m.last";
	const char *dot = NULL;
	for (size_t i = 0; i < f->keylen; i++)
		if (f->key[i] == '.')
			dot = f->key + i;
	if (!dot || dot == f->key)
		return;
	size_t slen = f->keylen - (size_t)(dot + 1 - f->key);
	for (size_t i = 0; i < sizeof metric_columns / sizeof *metric_columns; i++)
		if (slen == strlen(metric_columns[i].suffix) && !strncmp(dot + 1, metric_columns[i].suffix, slen)) {
			f->column = metric_columns[i].column;
			f->keylen = (size_t)(dot - f->key);
			return;
		}
}

static bool has_prefix(const struct token *t, const char *prefix)
{
	size_t n = strlen(prefix);
	return t->len > n && !strncasecmp(t->start, prefix, n);
}

static int resolve_field(struct parser *P, const struct token *t, struct field *f)
{
	memset(f, 0, sizeof *f);
	excerpt(t->start, t->len, f->label, sizeof f->label);
	if (has_prefix(t, "params.") || has_prefix(t, "metrics.")) {
		bool param = has_prefix(t, "params.");
		size_t prefix = param ? 7 : 8;
		if (check_key(P, t, prefix, param ? "param key" : "metric name") < 0)
			return -1;
		f->kind = param ? F_PARAM : F_METRIC;
		f->key = t->start + prefix;
		f->keylen = t->len - prefix;
		if (param)
			f->column = NULL;
		else
			metric_column(f);
		return 0;
	}
	for (size_t i = 0; i < NRUN_FIELDS; i++)
		if (t->len == strlen(run_fields[i].name) && !strncasecmp(t->start, run_fields[i].name, t->len)) {
			f->kind = run_fields[i].kind;
			f->column = run_fields[i].column;
			return 0;
		}
	return unknown_field(P, t);
}

/* ---- values ---- */

struct value {
	const char *text;  /* the value: a string's content or a word as written */
	size_t len;
	bool quoted;
	int line, col;
};

/* A plain decimal number: [+-] digits [. digits] [e [+-] digits] (or .5); no inf, nan or hex. */
static bool parse_number(const char *s, size_t n, double *out)
{
	size_t i = 0, digits = 0;
	char buf[64];
	if (n == 0 || n >= sizeof buf)
		return false;
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (i < n && isdigit((unsigned char)s[i]))
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)s[i]))
			i++, digits++;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t exp = 0;
		while (i < n && isdigit((unsigned char)s[i]))
			i++, exp++;
		if (!exp)
			return false;
	}
	if (i != n)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	double v = strtod(buf, NULL);
	if (!isfinite(v))
		return false;
	*out = v;
	return true;
}

/* NUMBER UNIT with UNIT one of s m h d, the number unsigned: seconds. */
static bool parse_span(const char *s, size_t n, double *seconds)
{
	static const struct { char unit; double mult; } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	if (n < 2 || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return false;
	char u = (char)tolower((unsigned char)s[n - 1]);
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		double v;
		if (u == units[i].unit && parse_number(s, n - 1, &v) && !memchr(s, 'e', n - 1) && !memchr(s, 'E', n - 1)) {
			*seconds = v * units[i].mult;
			return true;
		}
	}
	return false;
}

/* Exactly n digits at s, as a number. */
static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD at s (10 bytes), as epoch seconds of its midnight UTC. */
static bool parse_date(const char *s, size_t n, double *t)
{
	int y, m, d;
	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*t = (double)days_from_civil(y, m, d) * 86400;
	return true;
}

/* The part after the date: THH:MM[:SS[.frac]] then Z or +HH:MM / -HH:MM. */
static bool parse_clock(const char *s, size_t n, double *secs)
{
	int h, mi, sec = 0, oh, om;
	size_t i = 6;
	if (n < 6 || !strchr("Tt ", s[0]) || !digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &mi) ||
	    h > 23 || mi > 59)
		return false;
	double frac = 0;
	if (i < n && s[i] == ':') {
		if (i + 3 > n || !digits(s + i + 1, 2, &sec) || sec > 60)
			return false;
		i += 3;
		if (i < n && s[i] == '.') {
			double scale = 0.1;
			size_t start = ++i;
			for (; i < n && isdigit((unsigned char)s[i]); i++, scale /= 10)
				frac += (s[i] - '0') * scale;
			if (i == start)
				return false;
		}
	}
	double offset = 0;
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		offset = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) && s[i + 3] == ':' &&
		   digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
		offset = (s[i] == '-' ? -1 : 1) * (oh * 3600.0 + om * 60.0);
	} else {
		return false;
	}
	*secs = h * 3600.0 + mi * 60.0 + sec + frac - offset;
	return true;
}

enum time_form { TIME_DAY, TIME_INSTANT };

/* A date (a whole day), an RFC 3339 time, or an age (7d: now minus 7 days). */
static bool parse_time(const struct value *v, double now, double *t, enum time_form *form)
{
	double span, clock;
	if (parse_span(v->text, v->len, &span)) {
		*t = now - span;
		*form = TIME_INSTANT;
		return true;
	}
	if (!parse_date(v->text, v->len, t))
		return false;
	if (v->len == 10) {
		*form = TIME_DAY;
		return true;
	}
	if (!parse_clock(v->text + 10, v->len - 10, &clock))
		return false;
	*t += clock;
	*form = TIME_INSTANT;
	return true;
}

/* ---- comparisons ---- */

static bool is_text_op(enum op op)
{
	return op == OP_GLOB || op == OP_CONTAINS;
}

static int not_for_numbers(struct parser *P, const struct field *f, enum op op, int line, int col, const char *what)
{
	return fail_at(P, line, col, "'%s' does not apply to %s (%s); use = != < <= > >=", op_text(op), f->label, what);
}

static int value_error(struct parser *P, const struct field *f, const struct value *v, const char *expected)
{
	char text[44];
	excerpt(v->text, v->len, text, sizeof text);
	return fail_at(P, v->line, v->col, "%s: '%s' is not %s", f->label, text, expected);
}

/* `status = sucess` would match nothing: a status compared for equality must be one. */
static int check_status(struct parser *P, const struct value *v)
{
	static const enum rp_status all[] = {RP_RUNNING, RP_SUCCESS, RP_FAILED, RP_CANCELLED, RP_LOST, RP_QUEUED};
	char text[44];
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (strlen(status_name(all[i])) == v->len && !memcmp(status_name(all[i]), v->text, v->len))
			return 0;
	excerpt(v->text, v->len, text, sizeof text);
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (close_to(v->text, v->len, status_name(all[i])))
			return fail_at(P, v->line, v->col, "unknown status '%s' (did you mean '%s'?)", text,
				       status_name(all[i]));
	return fail_at(P, v->line, v->col, "unknown status '%s' (statuses: queued running success failed cancelled lost)", text);
}

/* A column of runs: "(col IS NOT NULL AND col OP ?)", so a run without it matches no comparison. */
static void emit_run_column(struct parser *P, const char *col, enum op op, enum where_arg_type type)
{
	emit(P, "(");
	emit(P, col);
	emit(P, " IS NOT NULL AND ");
	emit_compare(P, col, op, type);
	emit(P, ")");
}

/* PostgreSQL's runs.id is the server's key: the run's id as its store showed it (rp_0007, store.c's
 * rp_%04ld) is made from num. */
#define PG_RUN_ID "(" "'rp_' || CASE WHEN runs.num BETWEEN 0 AND 999 THEN lpad(runs.num::text, 4, '0') " \
	"ELSE runs.num::text END" ")"


static int compile_text(struct parser *P, const struct field *f, enum op op, const struct value *v)
{
	if (f->kind == F_STATUS && (op == OP_EQ || op == OP_NE) && check_status(P, v) < 0)
		return -1;
	double num;
	/* id = 7 is run rp_0007: the store's number, compared as an integer */
	if (f->kind == F_ID && !v->quoted && !is_text_op(op) && parse_number(v->text, v->len, &num) &&
	    num > -9.0e15 && num < 9.0e15 && num == (double)(long long)num) {
		emit(P, "(");
		emit_compare(P, "runs.num", op, WHERE_ARG_INT);
		emit(P, ")");
		arg_int(P, (long long)num);
		return 0;
	}
	bool pg_id = f->kind == F_ID && P->dialect == WHERE_POSTGRES;
	emit_run_column(P, pg_id ? PG_RUN_ID : f->column, op, WHERE_ARG_TEXT);
	arg_compared(P, op, v->text, v->len);
	return 0;
}

static int compile_time(struct parser *P, const struct field *f, enum op op, const struct value *v, int opline,
			int opcol)
{
	double t;
	enum time_form form;
	if (is_text_op(op))
		return not_for_numbers(P, f, op, opline, opcol, "a time");
	if (!parse_time(v, P->now, &t, &form))
		return value_error(P, f, v, "a time (2025-11-14, 2025-11-14T09:30:00Z, or an age: 7d, 12h, 30m)");
	const char *c = f->column;
	if (form == TIME_DAY && (op == OP_EQ || op == OP_NE)) {
		/* a date is the whole day: [midnight, next midnight) */
		emit(P, "(");
		emit(P, c);
		emit(P, " IS NOT NULL AND ");
		emit(P, op == OP_EQ ? "" : "(");
		emit_compare(P, c, op == OP_EQ ? OP_GE : OP_LT, WHERE_ARG_REAL);
		emit(P, op == OP_EQ ? " AND " : " OR ");
		emit_compare(P, c, op == OP_EQ ? OP_LT : OP_GE, WHERE_ARG_REAL);
		emit(P, op == OP_EQ ? ")" : "))");
		arg_real(P, t);
		arg_real(P, t + 86400);
		return 0;
	}
	if (form == TIME_DAY && (op == OP_LE || op == OP_GT)) {
		/* <= 2025-11-14 includes that day; > 2025-11-14 starts after it */
		t += 86400;
		op = op == OP_LE ? OP_LT : OP_GE;
	}
	emit_run_column(P, c, op, WHERE_ARG_REAL);
	arg_real(P, t);
	return 0;
}

static int compile_duration(struct parser *P, const struct field *f, enum op op, const struct value *v,
			    int opline, int opcol)
{
	double s;
	if (is_text_op(op))
		return not_for_numbers(P, f, op, opline, opcol, "a number of seconds");
	if (!parse_number(v->text, v->len, &s) && !parse_span(v->text, v->len, &s))
		return value_error(P, f, v, "a duration (seconds, or 90s, 5m, 2h, 1d)");
	emit_run_column(P, f->column, op, WHERE_ARG_REAL);
	arg_real(P, s);
	return 0;
}

/* params: numerically (p.num) when the value is an unquoted number, else as text (p.text). */
static int compile_param(struct parser *P, const struct field *f, enum op op, const struct value *v)
{
	double num;
	bool numeric = !v->quoted && !is_text_op(op) && parse_number(v->text, v->len, &num);
	emit(P, "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = ");
	emit_placeholder(P, WHERE_ARG_TEXT);
	emit(P, " AND ");
	emit_compare(P, numeric ? "p.num" : "p.text", op, numeric ? WHERE_ARG_REAL : WHERE_ARG_TEXT);
	emit(P, ")");
	arg_text(P, f->key, f->keylen);
	if (numeric)
		arg_real(P, num);
	else
		arg_compared(P, op, v->text, v->len);
	return 0;
}

static int compile_metric(struct parser *P, const struct field *f, enum op op, const struct value *v, int opline,
			  int opcol)
{
	double num;
	if (is_text_op(op))
		return not_for_numbers(P, f, op, opline, opcol, "a number");
	if (!parse_number(v->text, v->len, &num))
		return value_error(P, f, v, "a number");
	emit(P, "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND m.name = ");
	emit_placeholder(P, WHERE_ARG_TEXT);
	emit(P, " AND ");
	emit_compare(P, f->column, op, WHERE_ARG_REAL);
	emit(P, ")");
	arg_text(P, f->key, f->keylen);
	arg_real(P, num);
	return 0;
}

static int compile_tags(struct parser *P, const struct field *f, enum op op, const struct value *v, int opline,
			int opcol)
{
	if (op != OP_CONTAINS && op != OP_EQ && op != OP_GLOB)
		return fail_at(P, opline, opcol,
			       "'%s' does not apply to tags; use contains, = or ~ (and not to exclude a tag)", op_text(op));
	emit(P, "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.id AND ");
	emit_compare(P, "t.tag", op == OP_GLOB ? OP_GLOB : OP_EQ, WHERE_ARG_TEXT);
	emit(P, ")");
	arg_compared(P, op, v->text, v->len);
	return 0;
}

static int compile_field(struct parser *P, const struct field *f, enum op op, const struct value *v, int opline,
			 int opcol)
{
	switch (f->kind) {
	case F_TEXT:
	case F_ID:
	case F_STATUS: return compile_text(P, f, op, v);
	case F_TIME: return compile_time(P, f, op, v, opline, opcol);
	case F_DURATION: return compile_duration(P, f, op, v, opline, opcol);
	case F_PARAM: return compile_param(P, f, op, v);
	case F_METRIC: return compile_metric(P, f, op, v, opline, opcol);
	case F_TAGS: return compile_tags(P, f, op, v, opline, opcol);
	}
	return -1;
}

static int compile_comparison(struct parser *P, const struct field *f, enum op op, const struct value *v,
			      int opline, int opcol)
{
	if (compile_field(P, f, op, v, opline, opcol) < 0)
		return -1;
	/* PostgreSQL's text is UTF-8: an error once the whole expression parsed (so that both dialects
	 * refuse any other error alike), rather than when the query runs */
	if (P->dialect == WHERE_POSTGRES && !P->bad_line && !valid_utf8(v->text, v->len)) {
		P->bad_line = v->line;
		P->bad_col = v->col;
	}
	return 0;
}

/* ---- the grammar ---- */

static int parse_or(struct parser *P);

/* Enter a construct that costs SQLite's parser `cost` stack entries (see WHERE_MAX_NESTING). */
static int nest(struct parser *P, int cost, const struct token *at)
{
	P->nesting += cost;
	if (P->nesting > WHERE_MAX_NESTING)
		return fail_at(P, at->line, at->col, "expression nested too deeply (at most %d levels)", WHERE_MAX_NESTING);
	return 0;
}

static int parse_comparison(struct parser *P)
{
	char what[64];
	struct field f;
	struct token *t = &P->tok;
	if (t->kind != T_WORD || is_any_keyword(t))
		return fail_at(P, t->line, t->col, "expected a field (e.g. status, params.lr), got %s",
			       describe(t, what, sizeof what));
	if (++P->terms > WHERE_MAX_TERMS)
		return fail_at(P, t->line, t->col, "too many comparisons (at most %d)", WHERE_MAX_TERMS);
	if (resolve_field(P, t, &f) < 0 || next(P) < 0)
		return -1;
	enum op op;
	int opline = t->line, opcol = t->col;
	if (t->kind == T_OP)
		op = t->op;
	else if (is_keyword(t, "contains"))
		op = OP_CONTAINS;
	else
		return fail_at(P, t->line, t->col, "expected an operator (= != < <= > >= ~ contains) after '%s', got %s",
			       f.label, describe(t, what, sizeof what));
	if (next(P) < 0)
		return -1;
	if ((t->kind != T_WORD && t->kind != T_STRING) || is_any_keyword(t)) {
		if (is_any_keyword(t))
			return fail_at(P, t->line, t->col, "expected a value after '%s', got %s (quote it to mean the word)",
				       op_text(op), describe(t, what, sizeof what));
		return fail_at(P, t->line, t->col, "expected a value after '%s'", op_text(op));
	}
	struct value v = {
		.text = t->kind == T_STRING ? t->str : t->start,
		.len = t->kind == T_STRING ? strlen(t->str) : t->len,
		.quoted = t->kind == T_STRING,
		.line = t->line,
		.col = t->col,
	};
	if (compile_comparison(P, &f, op, &v, opline, opcol) < 0)
		return -1;
	return next(P);
}

static int parse_primary(struct parser *P)
{
	char what[64];
	if (P->tok.kind != T_LPAREN)
		return parse_comparison(P);
	struct token open = P->tok;
	if (nest(P, 1, &open) < 0)
		return -1;
	emit(P, "(");
	if (next(P) < 0 || parse_or(P) < 0)
		return -1;
	if (P->tok.kind == T_END)
		return fail_at(P, open.line, open.col, "unclosed '('");
	if (P->tok.kind != T_RPAREN)
		return fail_at(P, P->tok.line, P->tok.col, "expected 'and', 'or' or ')', got %s",
			       describe(&P->tok, what, sizeof what));
	emit(P, ")");
	P->nesting -= 1;
	return next(P);
}

static int parse_unary(struct parser *P)
{
	if (!is_keyword(&P->tok, "not"))
		return parse_primary(P);
	if (nest(P, 1, &P->tok) < 0)
		return -1;
	emit(P, "NOT ");
	if (next(P) < 0 || parse_unary(P) < 0)
		return -1;
	P->nesting -= 1;
	return 0;
}

/* operand { KEYWORD operand }, emitted flat as "a SQLOP b SQLOP c". */
static int parse_chain(struct parser *P, const char *keyword, const char *sqlop, int (*operand)(struct parser *))
{
	if (operand(P) < 0)
		return -1;
	while (is_keyword(&P->tok, keyword)) {
		/* SQLite keeps "a AND" on its stack while it parses the operand after it */
		if (nest(P, 2, &P->tok) < 0)
			return -1;
		emit(P, sqlop);
		if (next(P) < 0 || operand(P) < 0)
			return -1;
		P->nesting -= 2;
	}
	return 0;
}

static int parse_and(struct parser *P)
{
	return parse_chain(P, "and", " AND ", parse_unary);
}

static int parse_or(struct parser *P)
{
	return parse_chain(P, "or", " OR ", parse_and);
}

static int parse_all(struct parser *P)
{
	char what[64];
	if (next(P) < 0)
		return -1;
	if (P->tok.kind == T_END)
		return rp_err_set(P->err, RP_ERR_USAGE, "--where: empty expression");
	if (parse_or(P) < 0)
		return -1;
	if (P->tok.kind == T_RPAREN)
		return fail_at(P, P->tok.line, P->tok.col, "unmatched ')'");
	if (P->tok.kind != T_END)
		return fail_at(P, P->tok.line, P->tok.col, "expected 'and' or 'or' before %s",
			       describe(&P->tok, what, sizeof what));
	if (P->bad_line)
		return fail_at(P, P->bad_line, P->bad_col, "the value is not valid UTF-8");
	return 0;
}

static void free_args(struct where_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(args[i].text);
	free(args);
}

int where_compile(const char *expr, double now, struct where_sql *out, struct rp_err *err)
{
	return where_compile_dialect(expr, now, WHERE_SQLITE, 1, out, err);
}

int where_compile_dialect(const char *expr, double now, enum where_dialect dialect, int first_param,
			  struct where_sql *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (dialect == WHERE_POSTGRES && (first_param < 1 || first_param > 65535 - WHERE_MAX_TERMS * 3))
		return rp_err_set(err, RP_ERR_USAGE, "--where: first parameter %d out of range", first_param);
	size_t len = strlen(expr);
	if (len > WHERE_MAX_LEN)
		return rp_err_set(err, RP_ERR_USAGE, "--where: expression too long (%zu bytes, at most %d)", len,
				  WHERE_MAX_LEN);
	struct parser P = {.p = expr, .line = 1, .col = 1, .now = now, .dialect = dialect, .next_param = first_param,
			   .err = err};
	int rc = parse_all(&P);
	free(P.tok.str);
	if (rc < 0) {
		free(P.sql);
		free_args(P.args, P.nargs);
		return -1;
	}
	if (P.nplaceholders != P.nargs) /* every emit_placeholder has its arg_* */
		abort();
	out->sql = P.sql;
	out->args = P.args;
	out->nargs = P.nargs;
	return 0;
}

void where_sql_free(struct where_sql *w)
{
	if (!w)
		return;
	free(w->sql);
	free_args(w->args, w->nargs);
	memset(w, 0, sizeof *w);
}

int where_bind(struct sqlite3_stmt *stmt, int first, const struct where_sql *w, struct rp_err *err)
{
	for (size_t i = 0; i < w->nargs; i++) {
		const struct where_arg *a = &w->args[i];
		int idx = first + (int)i, rc;
		switch (a->type) {
		case WHERE_ARG_TEXT: rc = sqlite3_bind_text(stmt, idx, a->text, -1, SQLITE_TRANSIENT); break;
		case WHERE_ARG_REAL: rc = sqlite3_bind_double(stmt, idx, a->real); break;
		default: rc = sqlite3_bind_int64(stmt, idx, a->integer); break;
		}
		if (rc != SQLITE_OK)
			return rp_err_set(err, RP_ERR_RUNTIME, "--where: binding parameter %d: %s", idx,
					  sqlite3_errstr(rc));
	}
	return 0;
}
