/* Face-layer argument helpers shared by the subcommands that take boolean flags and a fixed
 * number of positional arguments (show, logs, diff). */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdbool.h>

#include "err.h"

struct cli_flag {
	const char *name;   /* long name, without "--" */
	char short_name;    /* 0 for none */
	bool *set;          /* set to true when the flag is given */
};

/* Parse argv (argv[0] is the command name) for the flags in a { NULL }-terminated table and
 * require exactly nargs positional arguments. Returns the index of the first positional
 * argument, or -1 with a usage error naming `usage` ("runpilot show RUN [--json]"). */
int cli_parse(int argc, char **argv, const struct cli_flag *flags, int nargs, const char *usage,
	      struct rp_err *err);

#endif
