#include "print.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
			size_t l = strlen(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(f, "%s", cell);
			else
				fprintf(f, "%-*s  ", (int)w[c], cell);
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
