/* Shared directory helper for unit tests (include after <cmocka.h>). */
#ifndef DIR_TEST_UTIL_H
#define DIR_TEST_UTIL_H

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Number of directory entries other than . and .. */
static inline int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A cmocka fixture: *state is a fresh directory under /tmp, removed afterwards. */
static inline int tmpdir_setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	*state = xstrdup(tmpl);
	return 0;
}

static inline int tmpdir_teardown(void **state)
{
	int rc = rm_rf(*state, NULL);
	free(*state);
	return rc;
}

#endif
