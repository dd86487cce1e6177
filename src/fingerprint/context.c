/* The context: facts about the machine recorded with the run but not part of the fingerprint
 * (the same environment on another host of the same kind fingerprints the same). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "components.h"
#include "proc.h"
#include "util.h"

#ifndef RUNPILOT_VERSION
#define RUNPILOT_VERSION "unknown"
#endif

/* The value after "key<blanks>:" on the first line of text that starts with key. */
static char *field_value(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl))
			continue;
		const char *p = l + kl;
		p += strspn(p, " \t");
		if (*p != ':')
			continue;
		p++;
		p += strspn(p, " \t");
		size_t n = strcspn(p, "\n");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		return xstrndup(p, n);
	}
	return NULL;
}

static char *file_field(const char *path, const char *key)
{
	char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return NULL;
	char *v = field_value(text, key);
	free(text);
	return v;
}

/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 ..." -> "550.54.15" */
static char *nvidia_driver_version(void)
{
	char *line = read_first_line("/proc/driver/nvidia/version");
	if (!line)
		return NULL;
	char *r = NULL, *p = strstr(line, "Kernel Module");
	if (p) {
		p += strlen("Kernel Module");
		p += strspn(p, " \t");
		r = xstrndup(p, strcspn(p, " \t"));
	}
	free(line);
	return r;
}

static cJSON *gpu(const char *model, const char *driver)
{
	cJSON *g = cJSON_CreateObject();
	cJSON_AddStringToObject(g, "model", model);
	if (driver)
		cJSON_AddStringToObject(g, "driver", driver);
	else
		cJSON_AddNullToObject(g, "driver");
	return g;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* From /proc/driver/nvidia (no process to start), else from nvidia-smi when it is installed. */
static cJSON *gpus(void)
{
	cJSON *arr = cJSON_CreateArray();
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	if (d) {
		char *driver = nvidia_driver_version();
		struct strvec ids = { 0 };
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				strvec_push(&ids, de->d_name);
		closedir(d);
		if (ids.n > 1)
			qsort(ids.v, ids.n, sizeof *ids.v, cmp_str);
		for (size_t i = 0; i < ids.n; i++) {
			char *p = xasprintf("/proc/driver/nvidia/gpus/%s/information", ids.v[i]);
			char *model = file_field(p, "Model");
			if (model)
				cJSON_AddItemToArray(arr, gpu(model, driver));
			free(model);
			free(p);
		}
		strvec_free(&ids);
		free(driver);
		return arr;
	}
	/* Without the driver's control device there is no GPU to ask about: spare every run the
	 * PATH search and the process start. */
	if (access("/dev/nvidiactl", F_OK) != 0)
		return arr;
	char *argv[] = { "nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader", NULL };
	char *out = NULL;
	if (fp_run_capture(argv, NULL, "/", 10, &out, NULL) == 0 && out) {
		for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *comma = strrchr(l, ',');
			if (!comma)
				continue;
			*comma = '\0';
			char *drv = comma + 1 + strspn(comma + 1, " ");
			cJSON_AddItemToArray(arr, gpu(l, drv));
		}
	}
	free(out);
	return arr;
}

cJSON *fp_context(const struct fp_input *in, cJSON *env_other)
{
	(void)in;
	cJSON *c = cJSON_CreateObject();
	struct utsname u;
	if (uname(&u) == 0) {
		cJSON_AddStringToObject(c, "hostname", u.nodename);
		char *k = xasprintf("%s %s", u.release, u.version);
		cJSON_AddStringToObject(c, "kernel", k);
		free(k);
		cJSON_AddStringToObject(c, "arch", u.machine);
	}
	char *cpu = file_field("/proc/cpuinfo", "model name");
	if (cpu)
		cJSON_AddStringToObject(c, "cpu_model", cpu);
	else
		cJSON_AddNullToObject(c, "cpu_model");
	free(cpu);
	cJSON_AddNumberToObject(c, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	cJSON_AddNumberToObject(c, "memory_bytes", pages > 0 && psize > 0 ? (double)pages * (double)psize : 0);
	cJSON_AddItemToObject(c, "gpus", gpus());
	cJSON_AddStringToObject(c, "runpilot_version", RUNPILOT_VERSION);
	cJSON_AddItemToObject(c, "env", env_other ? env_other : cJSON_CreateObject());
	return c;
}
