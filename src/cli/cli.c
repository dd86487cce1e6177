#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cli_parse(int argc, char **argv, const struct cli_flag *flags, int nargs, const char *usage,
	      struct rp_err *err)
{
	size_t n = 0;
	while (flags[n].name)
		n++;
	struct option *longopts = xcalloc(n + 1, sizeof *longopts);
	char shortopts[64] = "";
	for (size_t i = 0; i < n; i++) {
		/* getopt_long returns val: the flag's index + 1 (0 means "set a pointer") */
		longopts[i] = (struct option){flags[i].name, no_argument, NULL, (int)i + 1};
		if (flags[i].short_name && strlen(shortopts) + 2 < sizeof shortopts)
			strncat(shortopts, &flags[i].short_name, 1);
	}
	optind = 1;
	opterr = 0;
	int c, rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		size_t i;
		for (i = 0; i < n; i++)
			if (c == (int)i + 1 || (flags[i].short_name && c == flags[i].short_name))
				break;
		if (i < n)
			*flags[i].set = true;
		else
			rc = rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (usage: %s)", argv[optind - 1], usage);
	}
	free(longopts);
	if (rc < 0)
		return -1;
	int have = argc - optind;
	if (have < nargs && nargs == 1)
		return rp_err_set(err, RP_ERR_USAGE, "missing RUN (usage: %s)", usage);
	if (have < nargs)
		return rp_err_set(err, RP_ERR_USAGE, "expected %d runs (usage: %s)", nargs, usage);
	if (have > nargs)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (usage: %s)", argv[optind + nargs], usage);
	return optind;
}
