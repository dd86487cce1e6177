/* Finding runpilot's cgroup directories anywhere on the host, for gc (cgroup.h): a run's leaves
 * sit under whatever cgroup its runpilot was in, and a Docker run's cgroup parent beside the
 * engine's, so no one place holds them all. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "util.h"

/* Deep enough for systemd's user@.service/app.slice/x.scope nesting and an engine's own
 * cgroup; a cgroup tree is a few hundred directories at most. */
#define SCAN_DEPTH 10

struct scan {
	const char *prefix;
	struct strvec *out;
	dev_t *seen_dev;
	ino_t *seen_ino;
	size_t nseen, capseen;
};

/* Whether (dev, ino) was met before; notes it when not. */
static bool seen_before(struct scan *s, const struct stat *st)
{
	for (size_t i = 0; i < s->nseen; i++)
		if (s->seen_dev[i] == st->st_dev && s->seen_ino[i] == st->st_ino)
			return true;
	if (s->nseen == s->capseen) {
		s->capseen = s->capseen ? s->capseen * 2 : 16;
		s->seen_dev = xrealloc(s->seen_dev, s->capseen * sizeof *s->seen_dev);
		s->seen_ino = xrealloc(s->seen_ino, s->capseen * sizeof *s->seen_ino);
	}
	s->seen_dev[s->nseen] = st->st_dev;
	s->seen_ino[s->nseen++] = st->st_ino;
	return false;
}

static void walk(struct scan *s, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	size_t pl = strlen(s->prefix);
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char *p = path_join(dir, de->d_name);
		struct stat st;
		if (strncmp(de->d_name, s->prefix, pl) == 0) {
			if (lstat(p, &st) == 0 && !seen_before(s, &st))
				strvec_push(s->out, p);
		} else if (depth < SCAN_DEPTH) {
			walk(s, p, depth + 1);
		}
		free(p);
	}
	closedir(d);
}

/* Mount points of the cgroup and cgroup2 file systems, from /proc/self/mountinfo. */
static void cgroup_mounts(struct strvec *out)
{
	char *text;
	if (read_file("/proc/self/mountinfo", &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sep = strstr(line, " - ");
		char fstype[32], mnt[4096];
		if (!sep || sscanf(sep + 3, "%31s", fstype) != 1 || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if ((!strcmp(fstype, "cgroup") || !strcmp(fstype, "cgroup2")) && !strchr(mnt, '\\'))
			strvec_push(out, mnt);
	}
	free(text);
}

void cg_find_named(const char *prefix, struct strvec *out)
{
	struct strvec mounts = { 0 };
	cgroup_mounts(&mounts);
	struct scan s = { .prefix = prefix, .out = out };
	for (size_t i = 0; i < mounts.n; i++)
		walk(&s, mounts.v[i], 1);
	free(s.seen_dev);
	free(s.seen_ino);
	strvec_free(&mounts);
}

bool cg_dir_unused(const char *dir)
{
	char *procs = cgfs_read(dir, "cgroup.procs");
	bool unused = procs && procs[0] == '\0';
	free(procs);
	DIR *d = unused ? opendir(dir) : NULL;
	if (unused && !d)
		unused = false;
	struct dirent *de;
	while (d && unused && (de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unused = false;
	if (d)
		closedir(d);
	return unused;
}
