/* The cgroup handle the runners use (cgroup.h): picks cgroup v2, v1 or the rusage fallback, and
 * records which mechanism enforces each requested limit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "util.h"

/* crun's test: /sys/fs/cgroup itself is cgroup2 on unified hosts; tmpfs on v1 and hybrid ones. */
static enum cg_mode host_mode(void)
{
	return cgfs_is_unified("/sys/fs/cgroup") ? CG_MODE_V2 : CG_MODE_V1;
}

static bool cgroups_disabled(void)
{
	const char *e = getenv("RUNPILOT_CGROUP");
	return e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0);
}

/* "memory 64 MiB, pids 32" for each requested limit no mechanism enforces. */
static char *unenforced_list(const struct rp_cgroup *cg)
{
	char buf[256] = "";
	size_t n = 0;
	const struct cg_limits *l = &cg->limits;
	if (l->cpus > 0 && !cg->by_cpus)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%scpus %g", n ? ", " : "", l->cpus);
	if (l->memory_bytes > 0 && !cg->by_memory && n < sizeof buf)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%smemory %.1f MiB", n ? ", " : "",
				      (double)l->memory_bytes / (1024.0 * 1024.0));
	if (l->pids > 0 && !cg->by_pids && n < sizeof buf)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%spids %lld", n ? ", " : "", l->pids);
	return n ? xstrdup(buf) : NULL;
}

static void build_warning(struct rp_cgroup *cg)
{
	char *list = unenforced_list(cg);
	if (!list)
		return;
	const char *why = cg->why_not ? cg->why_not : "no cgroup controller for it";
	if (cg->mode == CG_MODE_RUSAGE)
		cg->warning = xasprintf("limits not enforced: %s (%s); usage is metered by rusage", list, why);
	else
		cg->warning = xasprintf("limits not enforced: %s (%s)", list, why);
	free(list);
}

void cg_note(struct rp_cgroup *cg, const char *what, const char *path, int e)
{
	if (!cg->why_not)
		cg->why_not = xasprintf("%s %s: %s", what, path, strerror(e));
}

void cg_note_text(struct rp_cgroup *cg, const char *text)
{
	if (!cg->why_not)
		cg->why_not = xstrdup(text);
}

struct rp_cgroup *cg_create(const char *name, const struct cg_limits *limits)
{
	struct rp_cgroup *cg = xcalloc(1, sizeof *cg);
	for (int c = 0; c < CG1_NCTRL; c++)
		cg->v1_idx[c] = -1;
	cg->limits = *limits;
	cg->name = xasprintf("runpilot-%s", name);
	if (cgroups_disabled()) {
		cg_note_text(cg, "cgroups disabled by RUNPILOT_CGROUP=off");
	} else if (host_mode() == CG_MODE_V2) {
		if (cg2_create(cg) == 0)
			cg->mode = CG_MODE_V2;
		else
			cg2_destroy(cg);
	} else if (cg1_create(cg) == 0) {
		cg->mode = CG_MODE_V1;
	}
	if (cg->mode == CG_MODE_V2)
		cg->enter_files[cg->nenter++] = xasprintf("%s/cgroup.procs", cg->v2_leaf);
	for (int i = 0; cg->mode == CG_MODE_V1 && i < cg->nv1; i++)
		cg->enter_files[cg->nenter++] = xasprintf("%s/tasks", cg->v1_leaf[i]);
	build_warning(cg);
	return cg;
}

/* The hierarchies of pid, as controller names for cgfs_pid_dirs (NULL: the v2 one), from its
 * /proc/PID/cgroup: the first controller of each v1 line ("name=systemd" for a named one). */
static size_t hierarchies_of(pid_t pid, char **keys, size_t max)
{
	char path[64], *text;
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	if (read_file(path, &text, NULL, NULL) < 0)
		return 0;
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		keys[n++] = c2 == c1 + 1 ? NULL : xstrndup(c1 + 1, strcspn(c1 + 1, ",:"));
	}
	free(text);
	return n;
}

/* Whether dir is one of cg's metered leaves already. */
static bool is_metered_leaf(const struct rp_cgroup *cg, const char *dir)
{
	if (cg->v2_leaf && !strcmp(cg->v2_leaf, dir))
		return true;
	for (int i = 0; i < cg->nv1; i++)
		if (!strcmp(cg->v1_leaf[i], dir))
			return true;
	return false;
}

struct rp_cgroup *cg_beside(pid_t pid, const char *name)
{
	static const char *const v1_ctrls[CG1_NCTRL] = { "memory", "cpu", "cpuacct", "pids" };
	struct rp_cgroup *cg = xcalloc(1, sizeof *cg);
	for (int c = 0; c < CG1_NCTRL; c++)
		cg->v1_idx[c] = -1;
	cg->name = xasprintf("runpilot-%s", name);
	char *dirs[CG1_NCTRL];
	if (host_mode() == CG_MODE_V2) {
		char *d = NULL;
		cgfs_pid_dirs(pid, (const char *const[]){ NULL }, 1, &d);
		if (d) {
			cg->v2_leaf = xasprintf("%s/%s", d, cg->name);
			cg->mode = CG_MODE_V2;
		}
		free(d);
	} else {
		cgfs_pid_dirs(pid, v1_ctrls, CG1_NCTRL, dirs);
		for (int c = 0; c < CG1_NCTRL; c++) {
			if (!dirs[c])
				continue;
			char *leaf = xasprintf("%s/%s", dirs[c], cg->name);
			free(dirs[c]);
			for (int i = 0; i < cg->nv1 && cg->v1_idx[c] < 0; i++)
				if (!strcmp(cg->v1_leaf[i], leaf))
					cg->v1_idx[c] = i; /* co-mounted with an earlier controller */
			if (cg->v1_idx[c] >= 0) {
				free(leaf);
				continue;
			}
			cg->v1_idx[c] = cg->nv1;
			cg->v1_leaf[cg->nv1++] = leaf;
		}
		if (cg->nv1)
			cg->mode = CG_MODE_V1;
	}
	char *keys[16];
	size_t nk = hierarchies_of(pid, keys, 16);
	char *all[16];
	cgfs_pid_dirs(pid, (const char *const *)keys, nk, all);
	for (size_t i = 0; i < nk; i++) {
		char *leaf = all[i] ? xasprintf("%s/%s", all[i], cg->name) : NULL;
		if (leaf && !is_metered_leaf(cg, leaf) && cg->nother < 16)
			cg->other_dirs[cg->nother++] = leaf;
		else
			free(leaf);
		free(all[i]);
		free(keys[i]);
	}
	return cg;
}

bool cg_exists(const struct rp_cgroup *cg)
{
	const char *p = cg_path(cg);
	return p && path_is_dir(p);
}

const char *cg_source(const struct rp_cgroup *cg)
{
	switch (cg ? cg->mode : CG_MODE_RUSAGE) {
	case CG_MODE_V2:
		return "cgroup2";
	case CG_MODE_V1:
		return "cgroup1";
	default:
		return "rusage";
	}
}

const char *cg_warning(const struct rp_cgroup *cg)
{
	return cg ? cg->warning : NULL;
}

const char *cg_path(const struct rp_cgroup *cg)
{
	if (!cg)
		return NULL;
	if (cg->mode == CG_MODE_V2)
		return cg->v2_leaf;
	if (cg->mode == CG_MODE_V1 && cg->nv1 > 0)
		return cg->v1_leaf[cg->v1_idx[CG1_MEMORY] >= 0 ? cg->v1_idx[CG1_MEMORY] : 0];
	return NULL;
}

int cg_enter(const struct rp_cgroup *cg, struct rp_err *err)
{
	for (int i = 0; cg && i < cg->nenter; i++) {
		int fd = open(cg->enter_files[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return rp_err_sys(err, "cannot open %s", cg->enter_files[i]);
		ssize_t w = write(fd, "0", 1);
		int e = errno;
		close(fd);
		if (w != 1) {
			errno = w < 0 ? e : EIO;
			return rp_err_sys(err, "cannot enter the run's cgroup through %s", cg->enter_files[i]);
		}
	}
	return 0;
}

const char *const *cg_enter_files(const struct rp_cgroup *cg, int *n)
{
	*n = cg ? cg->nenter : 0;
	return cg ? (const char *const *)cg->enter_files : NULL;
}

int cg_signal_all(struct rp_cgroup *cg, int sig)
{
	if (cg && cg->mode == CG_MODE_V2)
		return cg2_signal_all(cg, sig);
	if (cg && cg->mode == CG_MODE_V1)
		return cg1_signal_all(cg, sig);
	return -1;
}

int cg_kill_all(struct rp_cgroup *cg)
{
	return cg_signal_all(cg, SIGKILL);
}

void cg_read_usage(struct rp_cgroup *cg, const struct rusage *ru, double wall_s, struct rp_usage *u)
{
	/* rusage first: it fills what a cgroup cannot (max_rss) and stands in for what is missing. */
	meter_from_rusage(u, ru, wall_s);
	if (!cg || cg->mode == CG_MODE_RUSAGE)
		return;
	if (cg->mode == CG_MODE_V2)
		cg2_read_usage(cg, ru, u);
	else
		cg1_read_usage(cg, ru, u);
	snprintf(u->source, sizeof u->source, "%s", cg_source(cg));
	u->cpu_avg_cores = wall_s > 0 ? u->cpu_total_s / wall_s : 0;
}

void cg_enforced(const struct rp_cgroup *cg, struct cg_enforced *out)
{
	*out = (struct cg_enforced){ 0 };
	if (!cg)
		return;
	out->cpus = cg->by_cpus;
	out->memory = cg->by_memory;
	out->pids = cg->by_pids;
	out->why_not = cg->why_not;
	out->why_not_pids = cg->mode == CG_MODE_RUSAGE ? "RLIMIT_NPROC is per user, not per job" : cg->why_not;
}

/* rmdir parent/runpilot-<name> and parent/runpilot-<name>-<suffix> (the names cg_create may
 * have used); rmdir never removes a cgroup that still holds processes. */
static int remove_named(const char *parent, const char *run_id)
{
	DIR *d = opendir(parent);
	if (!d)
		return 0;
	char *name = xasprintf("runpilot-%s", run_id);
	size_t nl = strlen(name);
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strncmp(e->d_name, name, nl) != 0 ||
		    (e->d_name[nl] != '\0' && e->d_name[nl] != '-'))
			continue;
		char *p = xasprintf("%s/%s", parent, e->d_name);
		if (rmdir(p) == 0)
			removed++;
		free(p);
	}
	closedir(d);
	free(name);
	return removed;
}

int cg_remove_stale(const char *run_id)
{
	static const char *const v1_ctrls[] = { "memory", "cpu", "cpuacct", "pids" };
	int removed = 0;
	if (cgfs_is_unified("/sys/fs/cgroup")) {
		char *dir = cgfs_own_dir(NULL);
		if (dir)
			removed += remove_named(dir, run_id);
		free(dir);
		return removed;
	}
	for (size_t i = 0; i < sizeof v1_ctrls / sizeof v1_ctrls[0]; i++) {
		char *dir = cgfs_own_dir(v1_ctrls[i]);
		if (dir)
			removed += remove_named(dir, run_id);
		free(dir);
	}
	return removed;
}

void cg_leaf_dirs(const struct rp_cgroup *cg, struct strvec *out)
{
	if (!cg)
		return;
	if (cg->v2_leaf)
		strvec_push(out, cg->v2_leaf);
	if (cg->v2_self_leaf)
		strvec_push(out, cg->v2_self_leaf);
	for (int i = 0; i < cg->nv1; i++)
		strvec_push(out, cg->v1_leaf[i]);
	for (int i = 0; i < cg->nother; i++)
		strvec_push(out, cg->other_dirs[i]);
}

/* A directory of a cgroup filesystem named runpilot-<name> or runpilot-<name>-<suffix>. */
static bool is_run_leaf(const char *dir, const char *name)
{
	const char *base = strrchr(dir, '/');
	char *prefix = xasprintf("runpilot-%s", name);
	size_t pl = strlen(prefix);
	bool ok = base && strncmp(dir, "/sys/fs/cgroup/", 15) == 0 && !strstr(dir, "/../") &&
		  strncmp(base + 1, prefix, pl) == 0 && (base[1 + pl] == '\0' || base[1 + pl] == '-');
	free(prefix);
	return ok;
}

int cg_remove_leftover(const char *dir, const char *name, struct rp_err *err)
{
	if (!is_run_leaf(dir, name))
		return rp_err_set(err, RP_ERR_RUNTIME, "%s is not the cgroup of run %s: left alone", dir, name);
	if (!path_exists(dir))
		return 0;
	if (cgfs_kill_until_empty(dir, cgfs_has(dir, "cgroup.kill"), 1.0) < 0)
		return rp_err_sys(err, "cannot empty %s", dir);
	if (cgfs_rmdir(dir) < 0)
		return rp_err_sys(err, "cannot remove %s", dir);
	return 0;
}

void cg_destroy(struct rp_cgroup *cg)
{
	if (!cg)
		return;
	if (cg->mode == CG_MODE_V2)
		cg2_destroy(cg);
	else if (cg->mode == CG_MODE_V1)
		cg1_destroy(cg);
	for (int i = 0; i < cg->nother; i++) {
		(void)cgfs_rmdir(cg->other_dirs[i]);
		free(cg->other_dirs[i]);
	}
	for (int i = 0; i < cg->nenter; i++)
		free(cg->enter_files[i]);
	free(cg->name);
	free(cg->why_not);
	free(cg->warning);
	free(cg);
}
