/* Face-layer formatting helpers shared by the subcommands. */
#ifndef RP_PRINT_H
#define RP_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rp_run;

/* "0.42s", "12.3s", "4m05s", "2h03m" */
void fmt_duration(double s, char *out, size_t n);
/* "512 B", "50.0 MiB", "2.00 GiB" */
void fmt_bytes(double b, char *out, size_t n);
/* Local time "2026-11-28 18:30:01", "-" for 0. */
void fmt_local_time(double epoch, char *out, size_t n);
/* "success", "failed (oom)", "failed (exit 3)", "failed (SIGSEGV)", "lost" */
void fmt_status(const struct rp_run *r, char *out, size_t n);

/* A param's value as text: a string as it is, other values as JSON; NULL when the run has no
 * such param. Owned by the caller. */
char *param_text(const struct rp_run *r, const char *key);

/* Colour (ANSI SGR) for a person at a terminal: on when f is a terminal (TERM not "dumb"), off
 * under NO_COLOR (any non-empty value, no-color.org) or after color_disable() (--no-color);
 * RUNPILOT_COLOR=always or never overrides the terminal check. */
bool color_enabled(FILE *f);
void color_disable(void);
/* A status text ("success", "failed (exit 3)", ...) coloured by its first word when colour is
 * on for f: success green, failed and unreadable red, lost and cancelled yellow, running cyan. */
void fmt_colored_status(FILE *f, const char *status, char *out, size_t n);
/* text in bold when colour is on for f. */
void fmt_bold(FILE *f, const char *text, char *out, size_t n);
/* The columns s takes on a terminal: escape sequences take none, a UTF-8 character one. */
size_t text_width(const char *s);

/* s as a JSON string, quoted and escaped. */
void print_json_string(FILE *f, const char *s);
/* s as one CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
void print_csv_field(FILE *f, const char *s);

/* Ask on the terminal "VERB 3 runs (rp_0001 rp_0002 rp_0003)? [y/N]"; true for yes. */
struct strvec;
bool confirm_runs(const char *verb, const struct strvec *ids);

/* A simple left-aligned text table; the header row is bold when colour is on for the file it is
 * printed to, and cells may hold colour (alignment counts what shows). */
struct table {
	size_t ncols, nrows;
	char **cells; /* nrows * ncols, row-major; row 0 is the header */
};
void table_init(struct table *t, size_t ncols, const char *const *header);
void table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif
