/* Reading a command's usage text (cmds.h) back as data, so that completion and the man page
 * follow the texts `runpilot help CMD` prints and need no list of their own.
 *
 * The texts' shape: "usage: runpilot CMD ..." and further forms on lines starting with
 * "       runpilot CMD"; prose; option lines indented 2 or 4 columns, whose spec ("-o, --output
 * FILE", "--status S, --tag T") ends at the first two spaces, the description after them and on
 * deeper indented lines. */
#ifndef RP_USAGE_H
#define RP_USAGE_H

#include <stdbool.h>
#include <stddef.h>

#define USAGE_WORD_MAX 64

/* One option: "--output" and its metavar "FILE" ("" for a flag without a value). */
struct usage_flag {
	char name[USAGE_WORD_MAX];
	char metavar[USAGE_WORD_MAX];
};

/* Whether line (len bytes, no newline) is an option line; *spec_end: where its spec ends. */
bool usage_option_line(const char *line, size_t len, size_t *spec_end);

/* The options of a usage text, in order, at most max (the count found is returned). */
size_t usage_flags(const char *usage, struct usage_flag *out, size_t max);

/* The synopsis lines: the n-th form of the command ("CMD ARGS..." after "runpilot "), NULL
 * past the last; the text up to the end of that line is copied into buf. */
const char *usage_form(const char *usage, size_t n, char *buf, size_t size);

#endif
