/* Shared helpers for the fingerprint unit tests (included by tests/unit/test_fingerprint*.c). */
#ifndef FP_TEST_UTIL_H
#define FP_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fingerprint.h"
#include "components.h"
#include "proc.h"
#include "util.h"

static inline char *fpt_tmpdir(void)
{
	char tmpl[] = "/tmp/rp_fp_test.XXXXXX";
	char *d = mkdtemp(tmpl);
	if (!d)
		abort();
	return xstrdup(d);
}

/* Write a file (creating parent dirs) under dir. */
static inline void fpt_write(const char *dir, const char *rel, const char *content)
{
	char *p = path_join(dir, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	if (mkdir_p(p, 0755, NULL) < 0)
		abort();
	*slash = '/';
	FILE *f = fopen(p, "we");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
	free(p);
}

static inline int fpt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int fpt_sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	int st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void fpt_rm(char *dir)
{
	rm_rf(dir, NULL);
	free(dir);
}

/* A minimal fp_input over workdir with home as the cache home. */
static inline struct fp_input fpt_input(const char *home, const char *workdir, const cJSON *config, char **argv, char **envp)
{
	struct fp_input in = { .home = home, .workdir = workdir, .config = config, .argv = argv, .envp = envp,
			       .no_context = true };
	return in;
}

static inline const char *fpt_comp_str(const cJSON *env, const char *comp, const char *field)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(env, "components"), comp);
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, field));
}

static inline const char *fpt_fingerprint(const cJSON *env)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "fingerprint"));
}

/* True when the JSON array holds the string s. */
static inline bool fpt_has(const cJSON *arr, const char *s)
{
	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next)
		if (cJSON_IsString(e) && !strcmp(e->valuestring, s))
			return true;
	return false;
}

static inline const cJSON *fpt_path(const cJSON *j, const char *a, const char *b, const char *c)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	if (c)
		x = cJSON_GetObjectItemCaseSensitive(x, c);
	return x;
}

#endif
