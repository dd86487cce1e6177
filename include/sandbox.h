/* The built-in sandbox: one plan in, one child pid out.
 *
 * sb_begin() clones a child into new namespaces (user, pid, mount, uts, ipc, net unless the
 * network is the host's). That child is pid 1 of the new pid namespace: it builds the filesystem
 * view (mounts.c) while the caller works, and waits. sb_release_send() lets it go with the
 * seccomp filter the caller compiled meanwhile: it enters the run's cgroup and a cgroup
 * namespace, and becomes the tiny init (sb_init.h) whose one child drops capabilities (caps.c),
 * sets no_new_privs, installs the filter (seccomp.c) and execs the job. Setup errors travel back
 * on a close-on-exec pipe and become one-line errors; sb_release_wait() returns once the job has
 * exec'd (or the setup failed and the child is gone).
 *
 * Knows nothing of run.json or the core: the runner fills the plan. */
#ifndef RP_SANDBOX_H
#define RP_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "err.h"
#include "util.h"

enum sb_seccomp_profile {
	SB_SECCOMP_DEFAULT = 0,
	SB_SECCOMP_STRICT,
	SB_SECCOMP_UNCONFINED,
};

/* A host path bound into the sandbox. */
struct sb_bind {
	char *src;               /* absolute host path, symlinks resolved */
	char *dst;               /* absolute path inside the sandbox */
	bool readonly;
};

/* A path to hide and how: an empty read-only tmpfs over a directory, /dev/null over a file. */
struct sb_mask {
	char *path;              /* absolute host path, symlinks resolved */
	bool is_dir;
};

struct sb_plan {
	/* What to run. */
	char **argv;             /* argv[0] is looked up in envp's PATH inside the sandbox */
	char **envp;
	const char *cwd;         /* the job's working directory (same path inside) */
	int out_fd;              /* the job's stdout and stderr; stdin is /dev/null */
	const char *hostname;    /* uts hostname inside (the run id) */

	/* Who the job is. It always runs in a new user namespace where uid/gid (the caller's ids,
	 * or an image's user) map to host_uid/host_gid, one id each. When the host ids are not
	 * the caller's (a root caller's job runs as an unprivileged host id), the host paths the
	 * setup mounts (rootfs, workdir, run dir, output dir, binds) come as idmapped mounts
	 * (trees.c): the caller's files appear as the job's, and what the job writes there is
	 * stored as the caller's. */
	uid_t uid;
	gid_t gid;
	uid_t host_uid;
	gid_t host_gid;

	/* Namespaces. */
	bool netns;              /* a network namespace of its own (network none or outbound); /sys
				  * is then a fresh sysfs showing it */
	bool net_wait_route;     /* outbound: a helper wires it (sb_net_start); the job starts once
				  * the default route the helper installs is there */
	const char *resolv_conf; /* shown read-only at resolv_conf_path (NULL: the host's file) */
	const char *resolv_conf_path; /* as the job sees it (the target of /etc/resolv.conf) */

	/* Filesystem view. */
	const char *rootfs;      /* NULL: the host's / read-only; else a root filesystem to pivot into */
	bool rootfs_writable;    /* the rootfs (an image's) writable through a throw-away layer */
	const char *workdir;     /* host dir shown writable through overlayfs (NULL: none) */
	const char *changes_dir; /* overlay upper dir: what the job wrote, kept (<run_dir>/changes) */
	const char *overlay_work;/* overlay work dir, same filesystem as changes_dir; removed after */
	const char *output_dir;  /* bound writable at the same path */
	const struct sb_bind *binds;
	size_t nbinds;
	const struct sb_mask *masks;
	size_t nmasks;
	bool gpus;               /* bind /dev/nvidia* into /dev */

	/* Security. */
	uint64_t keep_caps;      /* bit n set: keep capability n */
	enum sb_seccomp_profile seccomp;
	char **seccomp_deny;     /* extra syscall names answered with EPERM */
	size_t nseccomp_deny;
	bool seccomp_log;        /* record refused calls (sb_seccomp_listener_start) */
	int seccomp_notify_sock; /* the listener's socket: the job sends it the filter's notification
				  * fd (-1: no listener; refused calls go to the kernel's audit log) */

	/* Wiring with the supervisor (sb_init.h). */
	int lifeline_fd;         /* read end: EOF means the supervisor died */
	int status_fd;           /* write end: the init reports the job's wait status here */
	/* The run's cgroup, joined by the child itself (see cg_enter): files it
	 * writes "0" to (cg_enter_files). Opened before the mounts, while the host's cgroupfs is
	 * reachable; written at release, so the setup's allocations are not charged to the run. */
	const char *const *cgroup_files;
	int ncgroup_files;       /* at most SB_MAX_CGROUP_FILES */
};
#define SB_MAX_CGROUP_FILES 8

/* What the setup reports back (sb_release_wait). */
struct sb_started {
	pid_t pid;               /* the sandbox's init (pid 1 inside) */
	bool workdir_overlay;    /* false: the workdir is read-only, and workdir_error says why */
	struct rp_err workdir_error;
	int ngpu_devices;        /* device files bound for gpus: all (0: none found) */
};

/* A sandbox between sb_begin and sb_release: its setup process builds the filesystem view while
 * the caller does other work (such as compiling the seccomp filter); the job has not started. */
struct sb_setup {
	pid_t pid;               /* the setup process, later the init; -1: none */
	pid_t helper;            /* the process making its idmapped mounts (trees.c); -1: none */
	int userns_fd, netns_fd; /* its namespaces, opened before it takes the job's ids (-1: not
				  * needed): for the helpers that attach to them */
	int gate_fd;             /* write end: one byte releases the job */
	int msg_fd;              /* read end of the setup reports */
};
/* Create the namespaces and let the setup process build the sandbox, without waiting for it.
 * -1 with err filled and nothing left behind. */
int sb_begin(const struct sb_plan *plan, struct sb_setup *s, struct rp_err *err);
struct sb_seccomp;
/* Let the job run once the setup is done, under filter (sb_seccomp_build, from the plan's
 * settings), in two halves so the caller can work while the job is being started: send lets it
 * go (cannot fail: a setup that did reports so to wait); wait returns 0 once the job has exec'd
 * (out filled), or -1 with the setup's error (nothing left behind). When cancel_fd (-1: none)
 * becomes readable before the setup has finished (a signalfd: Ctrl-C on a setup stuck on a dead
 * mount), wait gives the sandbox up as sb_abort does and fails. The caller must ignore SIGPIPE. */
void sb_release_send(struct sb_setup *s, const struct sb_seccomp *filter);
int sb_release_wait(struct sb_setup *s, int cancel_fd, struct sb_started *out, struct rp_err *err);
/* Give up a begun sandbox: kill and reap its process (namespaces and mounts go with it). Also
 * the end of a released one: it then reaps what is left of the setup's helpers. */
void sb_abort(struct sb_setup *s);

/* Fast check that a sandbox can be built here by this user with or without a user namespace
 * (a child in new namespaces mounts a tmpfs): 0, or -1 with err saying why in one line, with
 * the fix when one is known. */
int sb_probe(bool userns, struct rp_err *err);

/* One line explaining why user namespaces are unavailable here, with the fix; NULL if no known
 * restriction is set (caller frees). */
char *sb_userns_hint(void);
/* doctor: overlayfs mountable (in a user namespace when userns); unprivileged user namespaces
 * with a mount and an overlay inside (run as uid 65534 when root); one namespace type by its
 * CLONE_NEW* flag. Each 0, or -1 with err. */
int sb_probe_overlay(bool userns, struct rp_err *err);
int sb_probe_unprivileged_userns(struct rp_err *err);
int sb_probe_ns(int clone_flag, struct rp_err *err);

/* Names of the namespaces a plan creates, in order ("user", "pid", ...). Returns the count. */
size_t sb_namespace_names(const struct sb_plan *plan, const char *names[8]);

/* Capabilities: "CAP_NET_BIND_SERVICE" or "net_bind_service" -> bit set. -1 + err for unknown. */
int sb_caps_parse(char **names, size_t n, uint64_t *mask, struct rp_err *err);
/* Run in the job before exec: keep only mask in every set, no ambient unless kept, no_new_privs. */
int sb_caps_drop(uint64_t keep, struct rp_err *err);

/* seccomp: "default" | "strict" | "unconfined" -> profile; -1 for unknown. */
int sb_seccomp_profile_parse(const char *name, enum sb_seccomp_profile *p);
const char *sb_seccomp_profile_name(enum sb_seccomp_profile p);
/* Check every extra deny name is a syscall this architecture knows. */
int sb_seccomp_check_names(char **names, size_t n, struct rp_err *err);
/* A seccomp filter compiled ahead of time (by libseccomp, in the sandbox's setup process while
 * the supervisor is busy) and installed in the job just before exec, so compiling it is not on
 * the job's start-up path. */
struct sb_seccomp_prog {
	struct sock_filter *insns;   /* NULL: none */
	unsigned short len;
	unsigned flags;              /* SECCOMP_FILTER_FLAG_* */
};
struct sb_seccomp {
	struct sb_seccomp_prog arguments;  /* refusals by argument, of calls the other one allows */
	struct sb_seccomp_prog notify;     /* log: refused calls become notifications (may be absent) */
	struct sb_seccomp_prog errno_prog; /* refused calls fail with EPERM (kernel audit log when log) */
};
/* Compile the filter for a profile plus extra denied names. Nothing to load (unconfined, no
 * extra names) leaves *out empty. */
int sb_seccomp_build(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log, struct sb_seccomp *out,
		     struct rp_err *err);
/* Install it in the calling thread (no_new_privs must be set). With notify_fd and a notify
 * program the kernel accepts, *notify_fd (>= 0) is for a listener (sb_seccomp_listen); else
 * the EPERM program is installed. */
int sb_seccomp_install(const struct sb_seccomp *f, int *notify_fd, struct rp_err *err);
void sb_seccomp_free(struct sb_seccomp *f);
/* The listener for seccomp.log: a process of the caller's (outside the job's pid namespace,
 * where the job can neither see nor signal it; not dumpable from its first instruction), which
 * waits for the job's notification fd on *sock's other end, then answers every refused call with
 * EPERM and appends "NR NAME" lines to log_fd until the job is gone. *sock goes into the plan
 * (seccomp_notify_sock); the caller kills and reaps *pid at the end. */
int sb_seccomp_listener_start(int log_fd, int *sock, pid_t *pid, struct rp_err *err);

/* Append the paths masked by default for a user with home dir `home` (may be NULL): the
 * credentials ~/.ssh ~/.aws ~/.gnupg ~/.config/gcloud ~/.docker ~/.netrc, /etc/shadow
 * /etc/gshadow and /root; and where host daemons and agents keep their sockets: /run, /var/run,
 * $XDG_RUNTIME_DIR and the directories of $SSH_AUTH_SOCK and $GPG_AGENT_INFO. */
void sb_default_mask_paths(const char *home, struct strvec *out);

/* network "outbound" (net.c): pasta, a user-mode network stack on the host, attached to the
 * sandbox's namespaces. The job's DNS server is SB_NET_DNS (pasta forwards it to the host's). */
#define SB_NET_DNS "169.254.1.1"
#define SB_NET_NO_HELPER "network: outbound needs pasta, from Debian's passt package (apt-get install " \
			 "passt); or set sandbox.network: none (no network) or host"
struct sb_net {
	pid_t pid;               /* pasta; -1: none */
	int err_fd;              /* its stderr */
};
/* Where pasta is (absolute PATH entries only), or NULL. */
const char *sb_net_helper(void);
/* Whether this host has a default route (IPv4 or IPv6): without one pasta has nothing to use. */
bool sb_net_host_has_route(void);
/* Attach pasta to the namespaces of a begun sandbox (its userns_fd and netns_fd). */
int sb_net_start(const struct sb_setup *s, struct sb_net *net, struct rp_err *err);
/* If pasta has exited: why, in one line (caller frees); else NULL. */
char *sb_net_failure(struct sb_net *net);
/* Kill pasta (the job is gone, or never ran); stop also reaps it. */
void sb_net_kill(struct sb_net *net);
void sb_net_stop(struct sb_net *net);

/* GPU device files (/dev/nvidia*, /dev/nvidia-caps/...) present on this host. */
size_t sb_gpu_devices(char ***out);
/* The same for a host tree seen under root (e.g. the old root after pivot_root); the paths
 * returned are the host's ("/dev/nvidia0"). */
size_t sb_gpu_devices_under(const char *root, char ***out);


#endif
