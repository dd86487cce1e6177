/* cgroup v2 (unified hierarchy): one leaf "runpilot-<run id>" under runpilot's own cgroup, with
 * cpu.max / memory.max / memory.swap.max / pids.max, metered from cpu.stat, memory.peak,
 * memory.events and pids.peak, emptied with cgroup.kill.
 *
 * The "no internal processes" rule: a non-root cgroup that distributes controllers to its children
 * (subtree_control) may not hold processes itself. When runpilot's own cgroup has no controllers
 * enabled and runpilot is its only process, runpilot moves itself into a sibling leaf first (as
 * nsjail does) and undoes that at the end. When other processes share the cgroup, the leaf is still
 * created (exact CPU time, cgroup.kill) but the limits its controllers would need are reported as
 * not enforced. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "util.h"

static const char *const wanted_ctrls[] = { "cpu", "memory", "pids" };

enum procs_state { PROCS_NONE, PROCS_ONLY_SELF, PROCS_OTHERS };

/* Who is in dir: nobody, runpilot alone, or other processes too. */
static enum procs_state procs_in(const char *dir)
{
	char *s = cgfs_read(dir, "cgroup.procs");
	if (!s)
		return PROCS_OTHERS; /* unreadable: assume the worst */
	char self[32];
	snprintf(self, sizeof self, "%d\n", (int)getpid());
	enum procs_state st = s[0] == '\0' ? PROCS_NONE : strcmp(s, self) == 0 ? PROCS_ONLY_SELF : PROCS_OTHERS;
	free(s);
	return st;
}

/* Enable controller c for the parent's children (the leaf). */
static int enable_one(struct rp_cgroup *cg, const char *c)
{
	char op[16];
	snprintf(op, sizeof op, "+%s", c);
	return cgfs_write(cg->v2_parent, "cgroup.subtree_control", op);
}

/* Move runpilot into the sibling leaf <name>-self so the parent may enable controllers. */
static int move_self_aside(struct rp_cgroup *cg)
{
	char *self_leaf = xasprintf("%s/%s-self", cg->v2_parent, cg->name);
	if (mkdir(self_leaf, 0755) < 0 && errno != EEXIST) {
		free(self_leaf);
		return -1;
	}
	if (cgfs_write(self_leaf, "cgroup.procs", "0") < 0) {
		int e = errno;
		rmdir(self_leaf);
		free(self_leaf);
		errno = e;
		return -1;
	}
	cg->v2_self_leaf = self_leaf;
	return 0;
}

/* Give the controllers back and return runpilot to its own cgroup (undoes move_self_aside). */
static void move_self_back(struct rp_cgroup *cg)
{
	if (!cg->v2_self_leaf)
		return;
	char *save = NULL, *list = xstrdup(cg->v2_enabled);
	for (char *w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		w[0] = '-';
		(void)cgfs_write(cg->v2_parent, "cgroup.subtree_control", w);
	}
	free(list);
	cg->v2_enabled[0] = '\0';
	if (cgfs_write(cg->v2_parent, "cgroup.procs", "0") == 0)
		(void)cgfs_rmdir(cg->v2_self_leaf);
	free(cg->v2_self_leaf);
	cg->v2_self_leaf = NULL;
}

/* Enable cpu, memory and pids for the parent's children. In a non-root cgroup that holds
 * processes this must not be attempted piecemeal: the threaded controllers (cpu, pids) would be
 * accepted and turn the parent into a thread root, where memory can never be enabled and the
 * leaf cannot take processes (EOPNOTSUPP). So: move runpilot aside first when it is alone,
 * enable nothing when other processes share its cgroup. */
static void enable_controllers(struct rp_cgroup *cg)
{
	const char *p = cg->v2_parent;
	const char *need[sizeof wanted_ctrls / sizeof wanted_ctrls[0]];
	size_t n = 0;
	for (size_t i = 0; i < sizeof wanted_ctrls / sizeof wanted_ctrls[0]; i++)
		if (cgfs_file_has_word(p, "cgroup.controllers", wanted_ctrls[i]) &&
		    !cgfs_file_has_word(p, "cgroup.subtree_control", wanted_ctrls[i]))
			need[n++] = wanted_ctrls[i];
	if (n == 0)
		return;
	bool is_root = !cgfs_has(p, "cgroup.type"); /* the root cgroup may hold processes */
	if (is_root) {
		/* Enabling a controller in the root's subtree_control changes every top-level cgroup
		 * of the machine, for good: not ours to do. Use what is enabled, report the rest. */
		cg_note_text(cg, "runpilot runs in the root cgroup, where enabling controllers would "
			     "change the whole machine: start it in a delegated cgroup");
		return;
	}
	enum procs_state st = procs_in(p);
	if (st == PROCS_OTHERS) {
		cg_note(cg, "cannot enable controllers (other processes share runpilot's cgroup)", p, EBUSY);
		return;
	}
	if (st == PROCS_ONLY_SELF && move_self_aside(cg) < 0) {
		cg_note(cg, "cannot move runpilot into a leaf of", p, errno);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (enable_one(cg, need[i]) < 0) {
			cg_note(cg, "cannot enable the controller", need[i], errno);
			continue;
		}
		if (cg->v2_self_leaf) {
			/* remember what to give back: only needed when we moved ourselves */
			size_t l = strlen(cg->v2_enabled);
			snprintf(cg->v2_enabled + l, sizeof cg->v2_enabled - l, "%s+%s", l ? " " : "", need[i]);
		}
	}
	if (cg->v2_self_leaf && !cg->v2_enabled[0])
		move_self_back(cg); /* moving gained nothing */
}

static void write_limits(struct rp_cgroup *cg)
{
	const char *leaf = cg->v2_leaf;
	const struct cg_limits *l = &cg->limits;
	if (l->cpus > 0) {
		long long quota = (long long)(l->cpus * 100000.0 + 0.5);
		if (quota < 1000)
			quota = 1000; /* the kernel's minimum quota is 1 ms */
		if (!cgfs_has(leaf, "cpu.max"))
			cg_note(cg, "no cpu controller in", cg->v2_parent, ENOENT);
		else if (cgfs_writef(leaf, "cpu.max", "%lld 100000", quota) < 0)
			cg_note(cg, "cannot write cpu.max in", leaf, errno);
		else
			cg->by_cpus = "cgroup2";
	}
	if (l->memory_bytes > 0) {
		if (!cgfs_has(leaf, "memory.max"))
			cg_note(cg, "no memory controller in", cg->v2_parent, ENOENT);
		else if (cgfs_writef(leaf, "memory.max", "%lld", l->memory_bytes) < 0)
			cg_note(cg, "cannot write memory.max in", leaf, errno);
		else
			cg->by_memory = "cgroup2";
	}
	if (cg->by_memory) {
		/* No swapping past the limit (absent when the kernel has no swap accounting), and an
		 * OOM kills the whole job rather than one of its processes: a half-killed training run
		 * is worse than a failed one. */
		if (cgfs_has(leaf, "memory.swap.max"))
			(void)cgfs_write(leaf, "memory.swap.max", "0");
		if (cgfs_has(leaf, "memory.oom.group"))
			(void)cgfs_write(leaf, "memory.oom.group", "1");
	}
	if (l->pids > 0) {
		if (!cgfs_has(leaf, "pids.max"))
			cg_note(cg, "no pids controller in", cg->v2_parent, ENOENT);
		else if (cgfs_writef(leaf, "pids.max", "%lld", l->pids) < 0)
			cg_note(cg, "cannot write pids.max in", leaf, errno);
		else
			cg->by_pids = "cgroup2";
	}
}

/* mkdir parent/runpilot-<id>; a leftover or a same-named run from another RUNPILOT_HOME gets
 * the pid appended. */
static int make_leaf(struct rp_cgroup *cg)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		char *leaf = xasprintf("%s/%s", cg->v2_parent, cg->name);
		if (mkdir(leaf, 0755) == 0) {
			cg->v2_leaf = leaf;
			return 0;
		}
		int e = errno;
		if (e != EEXIST || attempt == 1) {
			cg_note(cg, "cannot create", leaf, e);
			free(leaf);
			errno = e;
			return -1;
		}
		free(leaf);
		char *n = xasprintf("%s-%d", cg->name, (int)getpid());
		free(cg->name);
		cg->name = n;
	}
	return -1;
}

int cg2_create(struct rp_cgroup *cg)
{
	cg->v2_parent = cgfs_own_dir(NULL);
	if (!cg->v2_parent) {
		cg_note(cg, "cannot find runpilot's cgroup in", "/proc/self/cgroup", errno);
		return -1;
	}
	if (make_leaf(cg) < 0)
		return -1;
	enable_controllers(cg);
	write_limits(cg);
	return 0;
}

int cg2_signal_all(struct rp_cgroup *cg, int sig)
{
	if (sig == SIGKILL)
		return cgfs_kill_until_empty(cg->v2_leaf, cgfs_has(cg->v2_leaf, "cgroup.kill"), 2.0);
	return cgfs_signal_procs(cg->v2_leaf, sig);
}

static double usec_to_s(long long us)
{
	return (double)us / 1e6;
}

void cg2_read_usage(struct rp_cgroup *cg, const struct rusage *ru, struct rp_usage *u)
{
	const char *leaf = cg->v2_leaf;
	long long v;
	/* cpu.stat's usage/user/system exist without the cpu controller; throttled_usec needs it. */
	if (cgfs_read_key(leaf, "cpu.stat", "usage_usec", &v) == 0) {
		u->cpu_total_s = usec_to_s(v);
		if (cgfs_read_key(leaf, "cpu.stat", "user_usec", &v) == 0)
			u->cpu_user_s = usec_to_s(v);
		if (cgfs_read_key(leaf, "cpu.stat", "system_usec", &v) == 0)
			u->cpu_system_s = usec_to_s(v);
	}
	u->throttled_s = cgfs_read_key(leaf, "cpu.stat", "throttled_usec", &v) == 0 ? usec_to_s(v) : -1;

	long long rss = u->max_rss_bytes;
	if (cgfs_read_ll(leaf, "memory.peak", &v) == 0) {
		u->memory_peak_bytes = v;
		snprintf(u->memory_peak_source, sizeof u->memory_peak_source, "cgroup2 memory.peak");
	} else if (cgfs_read_ll(leaf, "memory.current", &v) == 0) {
		/* kernel < 5.19: no peak counter; what is left at exit, or the largest process */
		bool cur = v > rss;
		u->memory_peak_bytes = cur ? v : rss;
		snprintf(u->memory_peak_source, sizeof u->memory_peak_source, "%s",
			 cur ? "cgroup2 memory.current at exit" : "rusage max_rss (no memory.peak)");
	}
	if (cgfs_read_key(leaf, "memory.events", "oom_kill", &v) == 0)
		u->oom_kills = v;
	if (cgfs_read_ll(leaf, "pids.peak", &v) == 0)
		u->pids_peak = v;
	(void)ru;
}

void cg2_destroy(struct rp_cgroup *cg)
{
	if (cg->v2_leaf) {
		(void)cgfs_kill_until_empty(cg->v2_leaf, cgfs_has(cg->v2_leaf, "cgroup.kill"), 2.0);
		(void)cgfs_rmdir(cg->v2_leaf);
	}
	move_self_back(cg);
	free(cg->v2_leaf);
	free(cg->v2_parent);
	cg->v2_leaf = cg->v2_parent = NULL;
}
