/* Internals shared by sandbox/cgroup.c (dispatch), cgroup2.c, cgroup1.c and cgroup_fs.c.
 * Nothing outside those files includes this header: the public interface is cgroup.h. */
#ifndef RP_CGROUP_INT_H
#define RP_CGROUP_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"

enum cg_mode { CG_MODE_RUSAGE = 0, CG_MODE_V2, CG_MODE_V1 };

/* The v1 controllers we use; one leaf per hierarchy (cpu and cpuacct may share one). */
enum cg_v1_ctrl { CG1_MEMORY, CG1_CPU, CG1_CPUACCT, CG1_PIDS, CG1_NCTRL };
#define CG_V1_MAX_LEAVES CG1_NCTRL

struct rp_cgroup {
	enum cg_mode mode;
	struct cg_limits limits;
	char *name;                    /* leaf name: runpilot-<run_id>[-<pid>] */
	/* cgroup v2 */
	char *v2_parent;               /* runpilot's own cgroup directory */
	char *v2_leaf;                 /* <parent>/<name> */
	char *v2_self_leaf;            /* sibling leaf runpilot moved itself into, or NULL */
	char v2_enabled[64];           /* controllers we enabled in the parent ("+cpu +pids"), undone at the end */
	/* cgroup v1: leaf directories, and which leaf serves each controller (-1: none) */
	char *v1_leaf[CG_V1_MAX_LEAVES];
	int nv1;
	int v1_idx[CG1_NCTRL];
	/* Which mechanism enforces each requested limit ("cgroup2", "cgroup1"), or NULL. */
	const char *by_cpus, *by_memory, *by_pids;
	/* Files a child writes "0" into to enter the run's cgroups itself (cg_enter): v1 leaves' "tasks"
	 * (moving the calling thread skips the kernel's global threadgroup lock and its RCU grace
	 * period), the v2 leaf's cgroup.procs. Built at create: cg_enter only
	 * opens and writes, so it is safe between fork and exec. */
	char *enter_files[CG_V1_MAX_LEAVES];
	int nenter;
	/* cg_beside: directories of the other hierarchies (cpuset, devices, ...) to remove too */
	char *other_dirs[16];
	int nother;
	char *why_not;                 /* why a requested limit is not enforced (one phrase), or NULL */
	char *warning;                 /* cg_warning()'s line, or NULL */
};

/* cgroup.c: keep the first reason a requested limit is not enforced, "<what> <path>: <strerror(e)>"
 * or in words of its own; cg_warning and cg_enforced report it. */
void cg_note(struct rp_cgroup *cg, const char *what, const char *path, int e);
void cg_note_text(struct rp_cgroup *cg, const char *text);

/* cgroup_fs.c: small file and process helpers over control files. Thin wrappers of one or two
 * system calls: they return -1 with errno set, like the calls they wrap (err.h). */
/* The mount point of the hierarchy holding `controller` (fstype "cgroup"), or of the cgroup2 mount
 * when controller is NULL, joined with runpilot's own cgroup path in it. NULL if none. */
char *cgfs_own_dir(const char *controller);
/* The same for n controllers at once (one read of each /proc file); out[i] NULL where none. */
void cgfs_own_dirs(const char *const *controllers, size_t n, char **out);
/* The same for another process (pid 0: this one). */
void cgfs_pid_dirs(pid_t pid, const char *const *controllers, size_t n, char **out);
bool cgfs_is_unified(const char *mountpoint);
bool cgfs_has(const char *dir, const char *file);
int cgfs_write(const char *dir, const char *file, const char *value);
int cgfs_writef(const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
char *cgfs_read(const char *dir, const char *file);
/* The first number of the file; -1 and errno when missing or not a number. */
int cgfs_read_ll(const char *dir, const char *file, long long *v);
/* The value of a "key value" line (cpu.stat, memory.events, memory.oom_control). */
int cgfs_read_key(const char *dir, const char *file, const char *key, long long *v);
/* True when the space-separated word list in dir/file contains word. */
bool cgfs_file_has_word(const char *dir, const char *file, const char *word);
/* Send sig to every process in dir/cgroup.procs; the number signalled, or -1. */
int cgfs_signal_procs(const char *dir, int sig);
/* Until dir/cgroup.procs is empty (at most timeout_s): SIGKILL what is listed (kill_file: write
 * cgroup.kill instead). Returns the number of processes signalled, -1 when it never emptied. */
int cgfs_kill_until_empty(const char *dir, bool kill_file, double timeout_s);
/* rmdir, retrying briefly on EBUSY (a killed process may take a moment to leave). */
int cgfs_rmdir(const char *dir);

/* cgroup2.c and cgroup1.c: create the leaf (leaves) and write the limits; 0, or -1 when no leaf
 * could be made (then metering falls back to rusage). Either way a limit that is not enforced
 * is noted with cg_note. */
int cg2_create(struct rp_cgroup *cg);
int cg2_signal_all(struct rp_cgroup *cg, int sig);
void cg2_read_usage(struct rp_cgroup *cg, const struct rusage *ru, struct rp_usage *u);
void cg2_destroy(struct rp_cgroup *cg);

int cg1_create(struct rp_cgroup *cg);
int cg1_signal_all(struct rp_cgroup *cg, int sig);
void cg1_read_usage(struct rp_cgroup *cg, const struct rusage *ru, struct rp_usage *u);
void cg1_destroy(struct rp_cgroup *cg);

#endif
