/* GPU device files for sandbox.gpus: all. The driver's libraries are already visible through the
 * read-only host root; only the device nodes need binding into the private /dev. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sandbox.h"
#include "util.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t sb_gpu_devices_under(const char *root, char ***out)
{
	struct strvec sv = { 0 };
	char *dev = xasprintf("%s/dev", root);
	DIR *d = opendir(dev);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strncmp(e->d_name, "nvidia", 6) != 0)
				continue;
			char *p = xasprintf("%s/%s", dev, e->d_name);
			struct stat st;
			if (stat(p, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISDIR(st.st_mode)))
				strvec_pushf(&sv, "/dev/%s", e->d_name);
			free(p);
		}
		closedir(d);
	}
	char *dri = xasprintf("%s/dri", dev);
	if (path_exists(dri))
		strvec_push(&sv, "/dev/dri");
	free(dri);
	free(dev);
	if (sv.n)
		qsort(sv.v, sv.n, sizeof *sv.v, cmp_str);
	*out = sv.v; /* caller frees each entry and the array */
	return sv.n;
}

size_t sb_gpu_devices(char ***out)
{
	return sb_gpu_devices_under("", out);
}
