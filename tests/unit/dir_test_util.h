/* Shared directory helper for unit tests (include after <cmocka.h>). */
#ifndef DIR_TEST_UTIL_H
#define DIR_TEST_UTIL_H

#include <dirent.h>
#include <string.h>

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

#endif
