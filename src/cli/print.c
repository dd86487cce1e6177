#include "print.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "record.h"
#include "util.h"

void fmt_duration(double s, char *out, size_t n)
{
	if (s < 0) {
		snprintf(out, n, "-");
	} else if (s < 60) {
		snprintf(out, n, s < 10 ? "%.2fs" : "%.1fs", s);
	} else if (s < 3600) {
		long t = (long)(s + 0.5);
		snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
	} else {
		long t = (long)(s + 0.5);
		snprintf(out, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
	}
}

void fmt_bytes(double b, char *out, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%.0f B", b);
	else
		snprintf(out, n, "%.1f %s", b, units[u]);
}

void fmt_local_time(double epoch, char *out, size_t n)
{
	if (epoch <= 0) {
		snprintf(out, n, "-");
		return;
	}
	time_t t = (time_t)epoch;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void fmt_status(const struct rp_run *r, char *out, size_t n)
{
	const char *s = status_name(r->status);
	if (r->status == RP_FAILED) {
		if (r->reason && strcmp(r->reason, "signal") != 0)
			snprintf(out, n, "%s (%s)", s, r->reason);
		else if (r->signal)
			snprintf(out, n, "%s (SIG%s)", s, sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?");
		else if (r->has_exit_code)
			snprintf(out, n, "%s (exit %d)", s, r->exit_code);
		else
			snprintf(out, n, "%s", s);
	} else {
		snprintf(out, n, "%s", s);
	}
}

char *param_text(const struct rp_run *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->params, key);
	if (!v)
		return NULL;
	return cJSON_IsString(v) ? xstrdup(v->valuestring) : cJSON_PrintUnformatted(v);
}

static bool color_off;

void color_disable(void)
{
	color_off = true;
}

bool color_enabled(FILE *f)
{
	const char *no = getenv("NO_COLOR"), *force = getenv("RUNPILOT_COLOR"), *term = getenv("TERM");
	if (color_off || (no && *no))
		return false;
	if (force && !strcmp(force, "always"))
		return true;
	if ((force && !strcmp(force, "never")) || (term && !strcmp(term, "dumb")))
		return false;
	return isatty(fileno(f)) == 1;
}

static void fmt_sgr(FILE *f, const char *sgr, const char *text, char *out, size_t n)
{
	if (sgr && color_enabled(f))
		snprintf(out, n, "\033[%sm%s\033[0m", sgr, text);
	else
		snprintf(out, n, "%s", text);
}

void fmt_colored_status(FILE *f, const char *status, char *out, size_t n)
{
	static const struct {
		const char *word, *sgr;
	} colors[] = {
		{"success", "32"}, {"failed", "31"}, {"unreadable", "31"},
		{"lost", "33"},    {"cancelled", "33"}, {"running", "36"}, {"queued", "36"},
	};
	const char *sgr = NULL;
	size_t len = strcspn(status, " ");
	for (size_t i = 0; i < sizeof colors / sizeof *colors; i++)
		if (strlen(colors[i].word) == len && !strncmp(status, colors[i].word, len))
			sgr = colors[i].sgr;
	fmt_sgr(f, sgr, status, out, n);
}

void fmt_bold(FILE *f, const char *text, char *out, size_t n)
{
	fmt_sgr(f, "1", text, out, n);
}

size_t text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] == 0x1b && p[1] == '[') {
			/* CSI: parameters up to a final byte in @..~ */
			for (p += 2; *p && (*p < 0x40 || *p > 0x7e); p++)
				;
			if (!*p)
				break;
		} else if ((*p & 0xc0) != 0x80) {
			w++;
		}
	}
	return w;
}

void print_json_string(FILE *f, const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *text = cJSON_PrintUnformatted(j);
	fputs(text, f);
	free(text);
	cJSON_Delete(j);
}

void print_csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void table_init(struct table *t, size_t ncols, const char *const *header)
{
	t->ncols = ncols;
	t->nrows = 0;
	t->cells = NULL;
	table_add(t, header);
}

void table_add(struct table *t, const char *const *row)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = xstrdup(row[c] ? row[c] : "");
	t->nrows++;
}

void table_print(const struct table *t, FILE *f)
{
	size_t *w = xcalloc(t->ncols, sizeof *w);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = text_width(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	bool bold = color_enabled(f);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			fprintf(f, r == 0 && bold ? "\033[1m%s\033[0m" : "%s", cell);
			if (c + 1 < t->ncols)
				fprintf(f, "%*s", (int)(w[c] - text_width(cell) + 2), "");
		}
		fputc('\n', f);
	}
	free(w);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

bool confirm_runs(const char *verb, const struct strvec *ids)
{
	fprintf(stderr, "%s %zu run%s (", verb, ids->n, ids->n == 1 ? "" : "s");
	for (size_t i = 0; i < ids->n && i < 10; i++)
		fprintf(stderr, "%s%s", i ? " " : "", ids->v[i]);
	fprintf(stderr, "%s)? [y/N] ", ids->n > 10 ? " ..." : "");
	char answer[16] = "";
	if (!fgets(answer, sizeof answer, stdin))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}
