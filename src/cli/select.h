/* The selection options every command that takes runs shares with list: --where, --status,
 * --tag, --name, --since, --until (compare, report, rm). */
#ifndef RP_SELECT_H
#define RP_SELECT_H

#include <getopt.h>
#include <stdbool.h>

#include "err.h"
#include "util.h"

struct run_selection {
	struct strvec statuses, tags;
	const char *name_glob, *where;
	double since, until;
	bool given;               /* any of them was */
};

/* getopt_long codes, above any short option's. */
enum { SEL_WHERE = 1000, SEL_STATUS, SEL_TAG, SEL_NAME, SEL_SINCE, SEL_UNTIL };
#define SELECTION_LONGOPTS                                                                            \
	{"where", required_argument, NULL, SEL_WHERE}, {"status", required_argument, NULL, SEL_STATUS}, \
	{"tag", required_argument, NULL, SEL_TAG}, {"name", required_argument, NULL, SEL_NAME},          \
	{"since", required_argument, NULL, SEL_SINCE}, {"until", required_argument, NULL, SEL_UNTIL}

/* Take getopt's option c (with its argument) when it is a selection option: 1 taken, 0 not
 * one, -1 a bad value. */
int selection_option(struct run_selection *s, int c, const char *arg, struct rp_err *err);
void selection_free(struct run_selection *s);

/* WHEN as epoch seconds: a date (2025-11-14), an RFC 3339 time, or an age before now (7d). */
int parse_when(const char *flag, const char *s, double *out, struct rp_err *err);

/* Append the ids of the runs selected (oldest first) to ids. A store whose index cannot be used
 * here is a usage error saying so. */
int select_runs(const struct run_selection *s, struct strvec *ids, struct rp_err *err);

/* The lines for a command's usage. */
#define SELECTION_USAGE                                                                             \
	"  --where EXPR      the runs EXPR holds for (docs/where.md); with RUN..., those too\n"         \
	"  --status S, --tag T, --name GLOB, --since WHEN, --until WHEN\n"                              \
	"                    select runs as list does (repeat --status for any, --tag for all)\n"

#endif
