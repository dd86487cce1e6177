/* cgroup v1 (legacy and hybrid hosts): one leaf "runpilot-<run id>" under runpilot's own cgroup in
 * each of the memory, cpu, cpuacct and pids hierarchies (cpu and cpuacct may be co-mounted: then
 * one leaf serves both). Limits: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes: no swap
 * past the limit), cpu.cfs_period_us/cfs_quota_us, pids.max. Metering: cpuacct.usage*,
 * cpu.stat throttled_time, memory.max_usage_in_bytes, memory.oom_control oom_kill, pids.peak.
 * v1 has no cgroup.kill: processes are SIGKILLed from cgroup.procs until it is empty. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "util.h"

static const char *const ctrl_names[CG1_NCTRL] = { "memory", "cpu", "cpuacct", "pids" };


static const char *leaf_of(const struct rp_cgroup *cg, enum cg_v1_ctrl c)
{
	return cg->v1_idx[c] >= 0 ? cg->v1_leaf[cg->v1_idx[c]] : NULL;
}

static void remove_leaves(struct rp_cgroup *cg)
{
	for (int i = 0; i < cg->nv1; i++) {
		(void)cgfs_rmdir(cg->v1_leaf[i]);
		free(cg->v1_leaf[i]);
		cg->v1_leaf[i] = NULL;
	}
	cg->nv1 = 0;
	for (int c = 0; c < CG1_NCTRL; c++)
		cg->v1_idx[c] = -1;
}

/* One attempt at creating the leaves with cg->name. Returns 0 when at least one exists, 1 when a
 * leaf of that name already exists (caller retries with another name), -1 when none could be
 * created. */
static int make_leaves(struct rp_cgroup *cg)
{
	char *parents[CG1_NCTRL] = { 0 }, *dirs[CG1_NCTRL];
	int rc = 0;
	cgfs_own_dirs(ctrl_names, CG1_NCTRL, dirs);
	for (int c = 0; c < CG1_NCTRL; c++) {
		cg->v1_idx[c] = -1;
		char *parent = dirs[c];
		if (!parent)
			continue; /* controller not mounted here */
		for (int i = 0; i < cg->nv1; i++)
			if (parents[i] && strcmp(parents[i], parent) == 0)
				cg->v1_idx[c] = i; /* co-mounted with an earlier controller */
		if (cg->v1_idx[c] >= 0) {
			free(parent);
			continue;
		}
		char *leaf = xasprintf("%s/%s", parent, cg->name);
		if (mkdir(leaf, 0755) < 0) {
			int e = errno;
			if (e == EEXIST)
				rc = 1;
			else
				cg_note(cg, "cannot create", leaf, e);
			free(leaf);
			free(parent);
			if (rc == 1) {
				for (int k = c + 1; k < CG1_NCTRL; k++)
					free(dirs[k]);
				break;
			}
			continue;
		}
		parents[cg->nv1] = parent;
		cg->v1_idx[c] = cg->nv1;
		cg->v1_leaf[cg->nv1++] = leaf;
	}
	for (int i = 0; i < CG1_NCTRL; i++)
		free(parents[i]);
	if (rc == 1) {
		remove_leaves(cg);
		return 1;
	}
	return cg->nv1 > 0 ? 0 : -1;
}

static void write_limits(struct rp_cgroup *cg)
{
	const struct cg_limits *l = &cg->limits;
	const char *d;
	if (l->cpus > 0) {
		long long quota = (long long)(l->cpus * 100000.0 + 0.5);
		if (quota < 1000)
			quota = 1000; /* the kernel's minimum quota is 1 ms */
		if (!(d = leaf_of(cg, CG1_CPU)))
			cg_note(cg, "no writable cpu hierarchy for", cg->name, ENOENT);
		else if (cgfs_write(d, "cpu.cfs_period_us", "100000") < 0 ||
			 cgfs_writef(d, "cpu.cfs_quota_us", "%lld", quota) < 0)
			cg_note(cg, "cannot set the CPU quota in", d, errno);
		else
			cg->by_cpus = "cgroup1";
	}
	if (l->memory_bytes > 0) {
		if (!(d = leaf_of(cg, CG1_MEMORY)))
			cg_note(cg, "no writable memory hierarchy for", cg->name, ENOENT);
		else if (cgfs_writef(d, "memory.limit_in_bytes", "%lld", l->memory_bytes) < 0)
			cg_note(cg, "cannot write memory.limit_in_bytes in", d, errno);
		else {
			cg->by_memory = "cgroup1";
			/* memory+swap at the same value: no swapping past the limit. Absent without swap
			 * accounting, where nothing more is needed. */
			if (cgfs_has(d, "memory.memsw.limit_in_bytes"))
				(void)cgfs_writef(d, "memory.memsw.limit_in_bytes", "%lld", l->memory_bytes);
		}
	}
	if (l->pids > 0) {
		if (!(d = leaf_of(cg, CG1_PIDS)))
			cg_note(cg, "no writable pids hierarchy for", cg->name, ENOENT);
		else if (cgfs_writef(d, "pids.max", "%lld", l->pids) < 0)
			cg_note(cg, "cannot write pids.max in", d, errno);
		else
			cg->by_pids = "cgroup1";
	}
}

int cg1_create(struct rp_cgroup *cg)
{
	int rc = make_leaves(cg);
	if (rc == 1) {
		char *n = xasprintf("%s-%d", cg->name, (int)getpid());
		free(cg->name);
		cg->name = n;
		rc = make_leaves(cg);
	}
	if (rc != 0) {
		cg_note_text(cg, "no cgroup v1 hierarchy for memory, cpu, cpuacct or pids is mounted");
		remove_leaves(cg);
		return -1;
	}
	write_limits(cg);
	return 0;
}

/* The leaf that sees every process of the job: any does, as all are attached at once; pids first. */
static const char *procs_leaf(const struct rp_cgroup *cg)
{
	const char *d = leaf_of(cg, CG1_PIDS);
	return d ? d : cg->nv1 > 0 ? cg->v1_leaf[0] : NULL;
}

int cg1_signal_all(struct rp_cgroup *cg, int sig)
{
	const char *d = procs_leaf(cg);
	if (!d)
		return -1;
	if (sig == SIGKILL)
		return cgfs_kill_until_empty(d, false, 2.0);
	return cgfs_signal_procs(d, sig);
}

void cg1_read_usage(struct rp_cgroup *cg, const struct rusage *ru, struct rp_usage *u)
{
	const char *d;
	long long v;
	if ((d = leaf_of(cg, CG1_CPUACCT)) && cgfs_read_ll(d, "cpuacct.usage", &v) == 0) {
		u->cpu_total_s = (double)v / 1e9;
		long long us, sy;
		if (cgfs_read_ll(d, "cpuacct.usage_user", &us) == 0 &&
		    cgfs_read_ll(d, "cpuacct.usage_sys", &sy) == 0) {
			u->cpu_user_s = (double)us / 1e9;
			u->cpu_system_s = (double)sy / 1e9;
		} else if (cgfs_read_key(d, "cpuacct.stat", "user", &us) == 0 &&
			   cgfs_read_key(d, "cpuacct.stat", "system", &sy) == 0) {
			double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
			u->cpu_user_s = (double)us * tick;
			u->cpu_system_s = (double)sy * tick;
		}
		/* The user/system split is sampled at ticks, the total is exact: scale the split to it. */
		double split = u->cpu_user_s + u->cpu_system_s;
		if (split > 0) {
			u->cpu_user_s = u->cpu_total_s * u->cpu_user_s / split;
			u->cpu_system_s = u->cpu_total_s - u->cpu_user_s;
		}
	}
	if ((d = leaf_of(cg, CG1_CPU)) && cgfs_read_key(d, "cpu.stat", "throttled_time", &v) == 0)
		u->throttled_s = (double)v / 1e9;
	if ((d = leaf_of(cg, CG1_MEMORY))) {
		if (cgfs_read_ll(d, "memory.max_usage_in_bytes", &v) == 0) {
			u->memory_peak_bytes = v;
			snprintf(u->memory_peak_source, sizeof u->memory_peak_source,
				 "cgroup1 memory.max_usage_in_bytes");
		}
		if (cgfs_read_key(d, "memory.oom_control", "oom_kill", &v) == 0)
			u->oom_kills = v;
		else if (cgfs_has(d, "memory.oom_control"))
			u->oom_kills = 0; /* kernels < 4.13 do not count; under_oom stays the only sign */
	}
	if ((d = leaf_of(cg, CG1_PIDS)) && cgfs_read_ll(d, "pids.peak", &v) == 0)
		u->pids_peak = v;
	(void)ru;
}

void cg1_destroy(struct rp_cgroup *cg)
{
	const char *d = procs_leaf(cg);
	if (d)
		(void)cgfs_kill_until_empty(d, false, 2.0);
	/* Each hierarchy is emptied separately: a process that escaped (or was attached to only
	 * some hierarchies) would keep its leaf busy. */
	for (int i = 0; i < cg->nv1; i++)
		if (cg->v1_leaf[i] != d)
			(void)cgfs_kill_until_empty(cg->v1_leaf[i], false, 0.5);
	remove_leaves(cg);
}
