/* The packages component: for a Python entrypoint, the installed distributions of its
 * interpreter (name==version from every *.dist-info/METADATA and *.egg-info in its site dirs,
 * read as files, never through pip), plus the hash of every lock/requirements file at the top
 * of the workdir. Other languages: lock files only. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "components.h"
#include "util.h"

/* Lock and requirements files recognised at the top of the workdir. */
static const char *const lock_patterns[] = {
	"requirements*.txt", "poetry.lock", "uv.lock", "environment.yml", "environment.yaml", "Pipfile.lock",
	"pdm.lock", "conda-lock.yml", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "go.sum",
	"renv.lock", "Manifest.toml",
};

/* Name and Version from a METADATA / PKG-INFO header (stops at the first blank line). */
static char *read_dist(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *line = NULL, *name = NULL, *version = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0 && !(name && version)) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			break;
		if (!name && !strncmp(line, "Name:", 5))
			name = xstrdup(line + 5 + strspn(line + 5, " \t"));
		else if (!version && !strncmp(line, "Version:", 8))
			version = xstrdup(line + 8 + strspn(line + 8, " \t"));
	}
	free(line);
	fclose(f);
	char *r = name && version && *name ? xasprintf("%s==%s", name, version) : NULL;
	free(name);
	free(version);
	return r;
}

/* "numpy-1.24.2.dist-info" -> "numpy==1.24.2" when the metadata file cannot be read. */
static char *dist_from_dirname(const char *entry, size_t suffix_len)
{
	char *s = xstrndup(entry, strlen(entry) - suffix_len);
	char *dash = strchr(s, '-');
	char *r = dash ? (*dash = '\0', xasprintf("%s==%s", s, dash + 1)) : xasprintf("%s==unknown", s);
	free(s);
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void scan_dir(const char *dir, struct strvec *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *e = de->d_name;
		char *meta = NULL, *dist = NULL;
		size_t sl = 0;
		if (ends_with(e, ".dist-info")) {
			meta = xasprintf("%s/%s/METADATA", dir, e);
			sl = strlen(".dist-info");
		} else if (ends_with(e, ".egg-info")) {
			char *p = xasprintf("%s/%s", dir, e);
			meta = path_is_dir(p) ? xasprintf("%s/PKG-INFO", p) : xstrdup(p);
			free(p);
			sl = strlen(".egg-info");
		} else {
			continue;
		}
		dist = read_dist(meta);
		if (!dist)
			dist = dist_from_dirname(e, sl);
		strvec_push(out, dist);
		free(dist);
		free(meta);
	}
	closedir(d);
}

/* Sort by the normalised name (case, '-', '_', '.' do not matter), then the text. */
static void norm_name(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 1 < cap && strncmp(s, "==", 2); s++)
		out[n++] = (*s == '_' || *s == '.') ? '-' : (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
	out[n] = '\0';
}

static int cmp_dist(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	char nx[256], ny[256];
	norm_name(x, nx, sizeof nx);
	norm_name(y, ny, sizeof ny);
	int c = strcmp(nx, ny);
	return c ? c : strcmp(x, y);
}

cJSON *fp_scan_distributions(char *const *dirs)
{
	struct strvec all = { 0 };
	for (char *const *d = dirs; d && *d; d++) {
		bool seen = false; /* the same dir twice on sys.path */
		for (char *const *e = dirs; e < d; e++)
			seen |= !strcmp(*e, *d);
		if (!seen)
			scan_dir(*d, &all);
	}
	if (all.n > 1)
		qsort(all.v, all.n, sizeof *all.v, cmp_dist);
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < all.n; i++)
		if (i == 0 || strcmp(all.v[i], all.v[i - 1]))
			cJSON_AddItemToArray(arr, cJSON_CreateString(all.v[i]));
	strvec_free(&all);
	return arr;
}

/* Site dirs of the Python installations inside a rootfs (nothing can be run there). */
static void rootfs_site_dirs(const char *rootfs, struct strvec *out)
{
	const char *pats[] = { "/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
			       "/usr/lib/python3/dist-packages", "/usr/local/lib/python3*/site-packages",
			       "/usr/local/lib/python3*/dist-packages" };
	for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
		char *p = xasprintf("%s%s", rootfs, pats[i]);
		glob_t g;
		if (glob(p, GLOB_ONLYDIR, NULL, &g) == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++)
				strvec_push(out, g.gl_pathv[k]);
			globfree(&g);
		}
		free(p);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lock_files(const char *workdir, cJSON *obj, struct fp_hasher *h)
{
	struct strvec names = { 0 };
	DIR *d = opendir(workdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			for (size_t i = 0; i < sizeof lock_patterns / sizeof *lock_patterns; i++)
				if (fnmatch(lock_patterns[i], de->d_name, 0) == 0) {
					strvec_push(&names, de->d_name);
					break;
				}
		closedir(d);
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof *names.v, cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		char *p = path_join(workdir, names.v[i]);
		unsigned char fh[FP_HASH_LEN];
		if (path_is_dir(p) || fp_hash_path(p, fh, NULL) < 0) {
			free(p);
			continue;
		}
		free(p);
		char *hs = fp_hash_str(fh);
		cJSON_AddStringToObject(obj, names.v[i], hs);
		fp_hasher_str(h, names.v[i]);
		fp_hasher_str(h, hs);
		free(hs);
	}
	strvec_free(&names);
}

int fp_packages_component(const struct fp_input *in, const struct fp_interp *ip, cJSON **comp, struct rp_err *err)
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "packages-v1");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "hash", ""); /* filled at the end, kept first */
	struct strvec dirs = { 0 };
	bool python = ip->is_python && !in->image_id;

	if (python && in->rootfs) {
		rootfs_site_dirs(in->rootfs, &dirs);
	} else if (python) {
		for (char **p = ip->sys_path; p && *p; p++)
			if (path_is_dir(*p))
				strvec_push(&dirs, *p);
	}
	if (python && (in->rootfs || ip->sys_path)) {
		cJSON_AddStringToObject(c, "python", ip->path);
		cJSON *sd = cJSON_AddArrayToObject(c, "site_dirs");
		for (size_t i = 0; i < dirs.n; i++)
			cJSON_AddItemToArray(sd, cJSON_CreateString(dirs.v[i]));
		cJSON *dists = fp_scan_distributions(strvec_items(&dirs));
		fp_hasher_str(&h, "python");
		for (const cJSON *e = dists->child; e; e = e->next)
			fp_hasher_str(&h, e->valuestring);
		cJSON_AddNumberToObject(c, "count", cJSON_GetArraySize(dists));
		cJSON_AddItemToObject(c, "distributions", dists);
	} else {
		cJSON_AddNullToObject(c, "python");
		cJSON_AddStringToObject(c, "note", in->image_id ? "packages inside an image are not listed: lock files only" :
					python ? "the Python interpreter could not be asked for its site dirs: lock files only" :
						 "the entrypoint is not a Python interpreter: lock files only");
	}
	fp_hasher_str(&h, "lock_files");
	lock_files(in->workdir, cJSON_AddObjectToObject(c, "lock_files"), &h);
	strvec_free(&dirs);

	unsigned char out[FP_HASH_LEN];
	fp_hasher_final(&h, out);
	char *hs = fp_hash_str(out);
	cJSON_ReplaceItemInObjectCaseSensitive(c, "hash", cJSON_CreateString(hs));
	free(hs);
	*comp = c;
	(void)err;
	return 0;
}
