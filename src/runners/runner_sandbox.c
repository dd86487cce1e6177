/* runner_sandbox.c: run the job in the built-in sandbox (sandbox/, include/sandbox.h): new
 * namespaces, a read-only view of the host (or a rootfs), the workdir through overlayfs, no
 * capabilities, a seccomp filter; metered and limited through the run's cgroup like local. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cgroup.h"
#include "sandbox.h"
#include "sb_init.h"
#include "util.h"

/* The overflow id (nobody/nogroup), when /proc does not say. */
#define RP_NOBODY_ID 65534

struct sandbox_state {
	struct sb_plan plan;
	struct sb_started started;
	struct rp_cgroup *cg;
	struct sb_mask *masks;
	size_t nmasks;
	struct sb_bind *binds;
	size_t nbinds;
	char *changes_dir, *overlay_work, *rootfs;
	char *workdir_real, *output_real; /* symlinks resolved: mount targets must not contain any */
	struct sb_setup setup;   /* between start and release */
	struct sb_seccomp filter;/* compiled at start, sent with the release */
	bool started_ok;
	int lifeline_w;    /* kept open for the job's life; the init watches for EOF */
	char *seccomp_log; /* <run_dir>/seccomp.log when sandbox.seccomp.log: refused calls */
	pid_t listener;    /* writes it, outside the job's pid namespace; -1: none */
	const char *network;       /* what the job gets: "outbound", "none" or "host" */
	char *network_reason;      /* why not what the config asked for, or NULL */
	struct sb_net net;         /* outbound: pasta */
	char *resolv_conf_path;
	cJSON *denied;     /* {"syscall": count} read back at the end, or NULL */
	int status_r;      /* the init writes the job's wait status here */
	double start_mono;
};

/* Resolve a host path's symlinks so mounts land where the user meant; NULL if it does not exist. */
static char *resolve(const char *p)
{
	char buf[PATH_MAX];
	return realpath(p, buf) ? xstrdup(buf) : NULL;
}

static void add_mask(struct sandbox_state *st, const char *path)
{
	char *real = resolve(path);
	struct stat sb;
	if (!real || stat(real, &sb) < 0 || strcmp(real, "/") == 0) {
		free(real);
		return;
	}
	for (size_t i = 0; i < st->nmasks; i++)
		if (strcmp(st->masks[i].path, real) == 0) {
			free(real);
			return;
		}
	st->masks = xrealloc(st->masks, (st->nmasks + 1) * sizeof *st->masks);
	st->masks[st->nmasks++] = (struct sb_mask){ .path = real, .is_dir = S_ISDIR(sb.st_mode) };
}

/* Credentials of whoever runs runpilot, the system's password hashes, root's home, the host's
 * daemon and agent sockets (sb_default_mask_paths), and sandbox.mask. */
static void plan_masks(struct sandbox_state *st, const struct rp_sandbox_cfg *sc)
{
	struct strvec paths = { 0 };
	const struct passwd *pw = getpwuid(getuid());
	const char *env_home = getenv("HOME");
	sb_default_mask_paths(pw ? pw->pw_dir : NULL, &paths);
	if (env_home && (!pw || strcmp(env_home, pw->pw_dir) != 0))
		sb_default_mask_paths(env_home, &paths);
	for (size_t i = 0; i < sc->nmask; i++)
		strvec_push(&paths, sc->mask[i]);
	for (size_t i = 0; i < paths.n; i++)
		add_mask(st, paths.v[i]);
	strvec_free(&paths);
}

static int plan_binds(struct sandbox_state *st, const struct rp_sandbox_cfg *sc, struct rp_err *err)
{
	st->binds = xcalloc(sc->nmounts + 1, sizeof *st->binds);
	for (size_t i = 0; i < sc->nmounts; i++) {
		char *src = resolve(sc->mounts[i].src);
		if (!src) {
			rp_err_sys(err, "sandbox.mounts: %s", sc->mounts[i].src);
			if (err && err->sys_errno == ENOENT) /* the user names the source: a config error */
				err->kind = RP_ERR_USAGE;
			return -1;
		}
		st->binds[i] = (struct sb_bind){ .src = src, .dst = xstrdup(sc->mounts[i].dst),
						       .readonly = sc->mounts[i].readonly };
		st->nbinds = i + 1;
	}
	return 0;
}

/* The kernel's own "nobody", the id it shows for any id a namespace does not map
 * (/proc/sys/kernel/overflowuid and overflowgid): no lookup in the user database, which would
 * cost the start a millisecond or two. */
static unsigned overflow_id(const char *file)
{
	char *line = read_first_line(file);
	char *end = NULL;
	unsigned long v = line ? strtoul(line, &end, 10) : 0;
	bool ok = line && end != line && v > 0 && v < 4294967295UL;
	free(line);
	return ok ? (unsigned)v : RP_NOBODY_ID;
}

/* The job's ids: the caller's inside its user namespace; on the host the caller's own, except
 * for root, whose job runs as nobody (a root daemon's socket or file answers it as nobody). */
static void plan_ids(struct sb_plan *p)
{
	p->uid = getuid();
	p->gid = getgid();
	p->host_uid = p->uid;
	p->host_gid = p->gid;
	if (p->uid != 0)
		return;
	p->host_uid = overflow_id("/proc/sys/kernel/overflowuid");
	p->host_gid = overflow_id("/proc/sys/kernel/overflowgid");
}

/* The image's User is who the job is inside its user namespace, mapped to the job's host ids
 * (the caller's, or for root nobody): what it writes is still stored as the caller's. */
static int plan_image_user(struct runner *r, struct sb_plan *p, struct rp_err *err)
{
	return runner_image_user_ids(&r->image, &p->uid, &p->gid, err);
}

static int plan_security(struct sb_plan *p, const struct rp_sandbox_cfg *sc, struct rp_err *err)
{
	if (sb_caps_parse(sc->capabilities, sc->ncapabilities, &p->keep_caps, err) < 0)
		return -1;
	if (sb_seccomp_profile_parse(sc->seccomp_profile, &p->seccomp) < 0)
		return rp_err_set(err, RP_ERR_USAGE,
				  "sandbox.seccomp: unknown profile '%s' (known: default, strict, unconfined)",
				  sc->seccomp_profile);
	if (sb_seccomp_check_names(sc->seccomp_deny, sc->nseccomp_deny, err) < 0)
		return -1;
	p->seccomp_deny = sc->seccomp_deny;
	p->nseccomp_deny = sc->nseccomp_deny;
	p->seccomp_log = sc->seccomp_log;
	return 0;
}

/* The overlay's upper dir (kept: it is what the job wrote) and work dir (removed at cleanup). */
static int plan_workdir(struct runner *r, struct sandbox_state *st, const struct rp_job *job, struct rp_err *err)
{
	/* Real paths: inside the sandbox the host is reached through /oldroot, where an absolute
	 * symlink in the store's path (a home on /nfs, say) would point at nothing. */
	char *run_dir = resolve(job->run_dir);
	if (!run_dir)
		return rp_err_sys(err, "cannot resolve %s", job->run_dir);
	st->changes_dir = path_join(run_dir, "changes");
	st->overlay_work = path_join(run_dir, ".overlay-work");
	free(run_dir);
	if (mkdir(st->changes_dir, 0755) < 0 && errno != EEXIST)
		return rp_err_sys(err, "cannot create %s", st->changes_dir);
	runner_add_leftover(r, "empty-dir", st->changes_dir);
	if (mkdir(st->overlay_work, 0700) < 0 && errno != EEXIST)
		return rp_err_sys(err, "cannot create %s", st->overlay_work);
	runner_add_leftover(r, "overlay-work", st->overlay_work);
	return 0;
}

/* Network host: the host's resolv.conf may lie under a masked directory (/run, with
 * systemd-resolved): it stays visible there, read-only. */
static void keep_host_resolv_conf(struct sandbox_state *st)
{
	char *real = resolve("/etc/resolv.conf");
	if (!real || st->rootfs || strcmp(real, "/etc/resolv.conf") == 0) {
		free(real);
		return;
	}
	st->binds = xrealloc(st->binds, (st->nbinds + 1) * sizeof *st->binds);
	st->binds[st->nbinds++] = (struct sb_bind){ .src = real, .dst = xstrdup(real), .readonly = true };
}

/* The parts of the plan every sandbox of a config shares (the job's, and a probe's): who runs
 * it, the security settings, the root, binds and masks. */
static int plan_view(struct sandbox_state *st, const struct rp_sandbox_cfg *sc, const char *image_rootfs,
		     struct rp_err *err)
{
	struct sb_plan *p = &st->plan;
	p->seccomp_notify_sock = -1;
	st->listener = -1;
	plan_ids(p);
	if (plan_security(p, sc, err) < 0)
		return -1;
	if (image_rootfs) {
		st->rootfs = resolve(image_rootfs);
		if (!st->rootfs || !path_is_dir(st->rootfs))
			return rp_err_set(err, RP_ERR_RUNTIME, "the image's tree %s is gone: `runpilot image rm` the "
					  "image and import or pull it again", image_rootfs);
	} else if (sc->rootfs) {
		st->rootfs = resolve(sc->rootfs);
		if (!st->rootfs || !path_is_dir(st->rootfs))
			return rp_err_set(err, RP_ERR_USAGE, "sandbox.rootfs: %s is not a directory", sc->rootfs);
	}
	p->rootfs = st->rootfs;
	if (plan_binds(st, sc, err) < 0)
		return -1;
	plan_masks(st, sc);
	return 0;
}

/* The target of /etc/resolv.conf as the job sees it (the host's view: its real path; a rootfs's
 * own /etc/resolv.conf). */
static char *resolv_conf_inside(const struct sandbox_state *st)
{
	if (st->rootfs)
		return xstrdup("/etc/resolv.conf");
	char *real = resolve("/etc/resolv.conf");
	return real ? real : xstrdup("/etc/resolv.conf");
}

/* sandbox.network: outbound (the default: a namespace of its own wired by pasta), none (only
 * lo), host (the host's, with a warning). Outbound on a host with no network at all is none. */
static int plan_network(struct runner *r, struct sandbox_state *st, const struct rp_sandbox_cfg *sc,
			struct rp_err *err)
{
	struct sb_plan *p = &st->plan;
	st->net = (struct sb_net){ .pid = -1, .err_fd = -1 };
	st->network = sc->network && !strcmp(sc->network, "none") ? "none"
		      : sc->network && !strcmp(sc->network, "host") ? "host"
								     : "outbound";
	if (!strcmp(st->network, "outbound") && !sb_net_helper())
		return rp_err_set(err, RP_ERR_RUNTIME, "%s", SB_NET_NO_HELPER);
	if (!strcmp(st->network, "outbound") && !sb_net_host_has_route()) {
		st->network = "none";
		st->network_reason = xstrdup("outbound asked, but this host has no default route");
		runner_add_warning(r, "network: outbound: this host has no network (no default route); the job "
				      "runs with network: none");
	}
	p->netns = strcmp(st->network, "host") != 0;
	p->net_wait_route = !strcmp(st->network, "outbound");
	if (p->net_wait_route) {
		st->resolv_conf_path = resolv_conf_inside(st);
		p->resolv_conf = "nameserver " SB_NET_DNS "\n";
		p->resolv_conf_path = st->resolv_conf_path;
	}
	if (!strcmp(st->network, "host")) {
		runner_add_warning(r, "network: host: the job shares this host's network, its loopback services "
				      "and abstract unix sockets included");
		keep_host_resolv_conf(st);
	}
	return 0;
}

static int sandbox_prepare(struct runner *r, struct rp_err *err)
{
	const struct rp_job *job = r->job;
	const struct rp_sandbox_cfg *sc = &job->spec->sandbox;
	struct sandbox_state *st = xcalloc(1, sizeof *st);
	st->lifeline_w = st->status_r = -1;
	st->setup = (struct sb_setup){ .pid = -1, .helper = -1, .gate_fd = -1, .msg_fd = -1, .userns_fd = -1, .netns_fd = -1 };
	st->net = (struct sb_net){ .pid = -1, .err_fd = -1 };
	r->priv = st;
	if (job->spec->image &&
	    runner_image_resolve("sandbox", job->spec, job->store_home, true, &r->image, err) < 0)
		return -1;
	if (plan_view(st, sc, r->image.rootfs, err) < 0)
		return -1;
	if (r->image.user && plan_image_user(r, &st->plan, err) < 0)
		return -1;
	if (plan_network(r, st, sc, err) < 0)
		return -1;
	if (plan_workdir(r, st, job, err) < 0)
		return -1;
	st->workdir_real = resolve(job->cwd);
	st->output_real = resolve(job->output_dir);
	if (!st->output_real)
		return rp_err_sys(err, "output dir %s", job->output_dir);
	if (sc->gpus) {
		char **devs = NULL;
		size_t n = sb_gpu_devices(&devs);
		for (size_t i = 0; i < n; i++)
			free(devs[i]);
		free(devs);
		if (n == 0)
			runner_add_warning(r, "sandbox.gpus: no GPU devices (/dev/nvidia*) on this host; running without");
	}
	struct cg_limits lim = runner_cg_limits(&job->limits);
	st->cg = cg_create(job->cgroup_name, &lim);
	runner_add_cgroup_leftovers(r, st->cg);
	const char *warn = cg_warning(st->cg);
	if (warn)
		runner_add_warning(r, "%s", warn);
	return 0;
}

static void fill_plan_for_start(struct sandbox_state *st, const struct rp_job *job, int life_r, int status_w)
{
	const struct rp_sandbox_cfg *sc = &job->spec->sandbox;
	struct sb_plan *p = &st->plan;
	p->argv = job->argv;
	p->envp = job->envp;
	p->cwd = job->cwd;
	p->out_fd = job->out_fd;
	p->hostname = job->run_id;
	p->rootfs = st->rootfs;
	p->rootfs_writable = st->rootfs && job->spec->image;
	p->workdir = st->workdir_real; /* NULL (missing workdir): the job reports it as local does */
	p->changes_dir = st->changes_dir;
	p->overlay_work = st->overlay_work;
	p->output_dir = st->output_real;
	p->binds = st->binds;
	p->nbinds = st->nbinds;
	p->masks = st->masks;
	p->nmasks = st->nmasks;
	p->gpus = sc->gpus;
	p->lifeline_fd = life_r;
	p->status_fd = status_w;
	p->seccomp_notify_sock = -1;
	p->cgroup_files = cg_enter_files(st->cg, &p->ncgroup_files);
}

/* A setup failure that looks like missing user namespace support gets the fix appended. */
static void explain_failure(const struct sb_plan *p, struct rp_err *err)
{
	if ((err->sys_errno != EPERM && err->sys_errno != EACCES &&
			   err->sys_errno != ENOSPC && err->sys_errno != EINVAL && err->sys_errno != EUSERS))
		return;
	char *hint = sb_userns_hint();
	if (hint) {
		char *old = xstrdup(err->msg);
		rp_err_set(err, RP_ERR_RUNTIME, "%s; %s", old, hint);
		free(old);
		free(hint);
	}
}

/* sandbox.seccomp.log: the listener that records refused calls in <run_dir>/seccomp.log. Without
 * it (a failure is a warning) refused calls go to the kernel's audit log. */
static void start_listener(struct runner *r, struct sandbox_state *st)
{
	st->seccomp_log = path_join(r->job->run_dir, "seccomp.log");
	int log_fd = open(st->seccomp_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct rp_err e = { 0 };
	if (log_fd < 0)
		runner_add_warning(r, "sandbox.seccomp.log: cannot create %s: %s", st->seccomp_log, strerror(errno));
	else if (sb_seccomp_listener_start(log_fd, &st->plan.seccomp_notify_sock, &st->listener, &e) < 0)
		runner_add_warning(r, "sandbox.seccomp.log: %s", e.msg);
	if (log_fd >= 0)
		close(log_fd);
}

static int sandbox_start(struct runner *r, struct rp_err *err)
{
	struct sandbox_state *st = r->priv;
	int life_p[2], status_p[2];
	if (pipe2(life_p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "pipe");
	if (pipe2(status_p, O_CLOEXEC) < 0) {
		close(life_p[0]);
		close(life_p[1]);
		return rp_err_sys(err, "pipe");
	}
	fill_plan_for_start(st, r->job, life_p[0], status_p[1]);
	if (st->plan.seccomp_log)
		start_listener(r, st);
	int rc = sb_begin(&st->plan, &st->setup, err);
	/* pasta wires the network while the setup builds the mounts and we record the run. */
	if (rc == 0 && st->plan.net_wait_route && (rc = sb_net_start(&st->setup, &st->net, err)) < 0)
		sb_abort(&st->setup);
	/* The setup process has its copies; ours would keep the job's pipes open. */
	close(life_p[0]);
	close(status_p[1]);
	close_fd(&st->plan.seccomp_notify_sock);
	if (rc < 0) {
		explain_failure(&st->plan, err);
		close(life_p[1]);
		close(status_p[0]);
		return -1;
	}
	st->lifeline_w = life_p[1];
	st->status_r = status_p[0];
	/* Compiled here while the setup process builds the mounts; installed by the job. */
	const struct sb_plan *p = &st->plan;
	return sb_seccomp_build(p->seccomp, p->seccomp_deny, p->nseccomp_deny, p->seccomp_log, &st->filter, err);
}

/* The job goes; the supervisor records the run while the init enters the run's cgroup and the
 * job drops its privileges, installs the filter and execs. */
static int sandbox_release(struct runner *r, struct rp_err *err)
{
	(void)err;
	struct sandbox_state *st = r->priv;
	st->start_mono = now_monotonic();
	sb_release_send(&st->setup, &st->filter);
	sb_seccomp_free(&st->filter);
	return 0;
}

static int sandbox_await_start(struct runner *r, int cancel_fd, struct rp_err *err)
{
	struct sandbox_state *st = r->priv;
	if (sb_release_wait(&st->setup, cancel_fd, &st->started, err) < 0) {
		explain_failure(&st->plan, err);
		char *why = sb_net_failure(&st->net);
		if (why) {
			char *old = xstrdup(err->msg);
			rp_err_set(err, err->kind, "%s (%s)", old, why);
			free(old);
			free(why);
		}
		return -1;
	}
	st->started_ok = true;
	r->pid = st->started.pid;
	/* The init's report on the status pipe marks the job's end (its own exit comes later,
	 * after the namespaces are torn down). */
	r->wait_fd = fcntl(st->status_r, F_DUPFD_CLOEXEC, 3);
	if (r->wait_fd < 0) {
		rp_err_sys(err, "dup");
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
		return -1;
	}
	return 0;
}

static int sandbox_stop(struct runner *r, bool hard)
{
	struct sandbox_state *st = r->priv;
	return runner_stop_init(r->pid, st->cg, hard);
}

/* Count the refused calls the seccomp listener recorded ("NR NAME" lines). */
static void read_denied(struct sandbox_state *st)
{
	char *text = NULL;
	struct rp_err e = { 0 };
	if (!st->seccomp_log || read_file(st->seccomp_log, &text, NULL, &e) < 0)
		return;
	st->denied = cJSON_CreateObject();
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		const char *name = strchr(line, ' ');
		name = name ? name + 1 : line;
		cJSON *n = cJSON_GetObjectItemCaseSensitive(st->denied, name);
		if (n)
			cJSON_SetNumberValue(n, n->valuedouble + 1);
		else
			cJSON_AddNumberToObject(st->denied, name, 1);
	}
	free(text);
}

static int sandbox_wait(struct runner *r, struct rp_result *res, struct rp_err *err)
{
	struct sandbox_state *st = r->priv;
	int rc = runner_reap_init(&r->pid, st->status_r, st->cg, st->start_mono, res, err);
	/* The job is gone: pasta goes now, and its teardown overlaps the final record (reaped at
	 * cleanup). */
	sb_net_kill(&st->net);
	if (rc < 0)
		return -1;
	read_denied(st);
	return 0;
}

static void free_state(struct sandbox_state *st)
{
	for (size_t i = 0; i < st->nmasks; i++)
		free(st->masks[i].path);
	free(st->masks);
	for (size_t i = 0; i < st->nbinds; i++) {
		free(st->binds[i].src);
		free(st->binds[i].dst);
	}
	free(st->binds);
	free(st->changes_dir);
	free(st->overlay_work);
	free(st->rootfs);
	free(st->workdir_real);
	free(st->output_real);
	free(st->seccomp_log);
	free(st->network_reason);
	free(st->resolv_conf_path);
	cJSON_Delete(st->denied);
	free(st);
}

static void sandbox_cleanup(struct runner *r)
{
	struct sandbox_state *st = r->priv;
	if (!st)
		return;
	sb_abort(&st->setup); /* started, never released */
	if (st->listener > 0) {
		kill(st->listener, SIGKILL);
		waitpid(st->listener, NULL, 0);
	}
	sb_seccomp_free(&st->filter);
	sb_net_stop(&st->net);
	/* SIGKILL: pid 1 of the namespace, everything in it dies too */
	runner_end_init(r, SIGKILL, st->cg, &st->lifeline_w, &st->status_r);
	if (st->overlay_work)
		runner_remove_overlay_work(st->overlay_work);
	/* No overlay happened: an empty changes/ would suggest one did. */
	if (st->changes_dir && (!st->started_ok || !st->started.workdir_overlay))
		rmdir(st->changes_dir);
	free_state(st);
	r->priv = NULL;
}

static cJSON *string_array(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *sandbox_describe(struct runner *r)
{
	struct sandbox_state *st = r->priv;
	const struct rp_sandbox_cfg *sc = &r->job->spec->sandbox;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "sandbox");
	if (!st)
		return o;
	const struct sb_plan *p = &st->plan;
	const char *ns[8];
	size_t nns = sb_namespace_names(p, ns);
	cJSON_AddItemToObject(o, "namespaces", string_array(ns, nns));
	cJSON_AddStringToObject(o, "network", st->network ? st->network : p->netns ? "none" : "host");
	if (st->network_reason)
		cJSON_AddStringToObject(o, "network_reason", st->network_reason);
	cJSON_AddStringToObject(o, "seccomp", sb_seccomp_profile_name(p->seccomp));
	if (sc->nseccomp_deny)
		cJSON_AddItemToObject(o, "seccomp_deny",
				      string_array((const char *const *)sc->seccomp_deny, sc->nseccomp_deny));
	if (sc->seccomp_log) {
		cJSON_AddTrueToObject(o, "seccomp_log");
		if (st->denied) /* known once the job ended: {"syscall": times refused} */
			cJSON_AddItemToObject(o, "denied_syscalls", cJSON_Duplicate(st->denied, true));
	}
	cJSON_AddItemToObject(o, "capabilities",
			      string_array((const char *const *)sc->capabilities, sc->ncapabilities));
	cJSON_AddStringToObject(o, "rootfs", st->rootfs ? st->rootfs : "host-readonly");
	if (r->image.id)
		cJSON_AddStringToObject(o, "image_id", r->image.id);
	if (!st->started_ok) {
		cJSON_AddNullToObject(o, "workdir"); /* not started yet: decided by the setup */
	} else {
		cJSON_AddStringToObject(o, "workdir", st->started.workdir_overlay ? "overlay" : "readonly");
		if (st->started.workdir_overlay)
			cJSON_AddStringToObject(o, "changes", "changes");
		else
			cJSON_AddStringToObject(o, "workdir_reason", st->started.workdir_error.msg);
	}
	cJSON *m = cJSON_CreateArray();
	for (size_t i = 0; i < st->nmasks; i++)
		cJSON_AddItemToArray(m, cJSON_CreateString(st->masks[i].path));
	cJSON_AddItemToObject(o, "masked", m);
	if (sc->gpus)
		cJSON_AddNumberToObject(o, "gpu_devices", st->started.ngpu_devices);
	cJSON_AddTrueToObject(o, "userns");
	char map[64];
	snprintf(map, sizeof map, "%u %u 1", (unsigned)p->uid, (unsigned)p->host_uid);
	cJSON_AddStringToObject(o, "uid_map", map);
	snprintf(map, sizeof map, "%u %u 1", (unsigned)p->gid, (unsigned)p->host_gid);
	cJSON_AddStringToObject(o, "gid_map", map);
	return o;
}

static void sandbox_enforcement(struct runner *r, struct cg_enforced *out)
{
	struct sandbox_state *st = r->priv;
	cg_enforced(st ? st->cg : NULL, out);
}

/* The output of a sandboxed program, until it closes its end or the deadline passes. */
static int read_until(int fd, double deadline, char **out, struct rp_err *err)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		int ms = (int)((deadline - now_monotonic()) * 1000);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = ms > 0 ? poll(&pfd, 1, ms) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? rp_err_sys(err, "poll") : rp_err_set(err, RP_ERR_RUNTIME, "did not finish in time");
		}
		if (len + 1 >= cap) {
			if (cap >= (1 << 20)) { /* enough for any probe: the rest is noise */
				buf[len] = '\0';
				*out = buf;
				return 0;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int runner_sandboxed_capture(const struct rp_spec *spec, char *const *argv, char *const *envp, const char *cwd,
			     double timeout_s, char **out, struct rp_err *err)
{
	struct sandbox_state *st = xcalloc(1, sizeof *st);
	int out_p[2] = { -1, -1 }, life_p[2] = { -1, -1 }, status_p[2] = { -1, -1 }, rc = -1;
	struct sb_setup setup = { .pid = -1, .helper = -1, .gate_fd = -1, .msg_fd = -1, .userns_fd = -1, .netns_fd = -1 };
	struct sb_seccomp filter = { 0 };
	struct sb_started started = { .pid = -1 };
	if (plan_view(st, &spec->sandbox, NULL, err) < 0)
		goto out;
	if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(life_p, O_CLOEXEC) < 0 || pipe2(status_p, O_CLOEXEC) < 0) {
		rp_err_sys(err, "pipe");
		goto out;
	}
	/* The workdir as the job sees it, read-only (it may lie under /tmp, private in a sandbox). */
	char *wd = resolve(cwd);
	if (wd && strcmp(wd, "/") != 0) {
		st->binds = xrealloc(st->binds, (st->nbinds + 1) * sizeof *st->binds);
		st->binds[st->nbinds++] = (struct sb_bind){ .src = wd, .dst = xstrdup(cwd), .readonly = true };
	} else {
		free(wd);
	}
	struct sb_plan *p = &st->plan;
	/* The job's view, read-only: no overlay, no outputs, no network, no cgroup of its own. */
	p->argv = (char **)argv;
	p->envp = (char **)envp;
	p->cwd = cwd;
	p->out_fd = out_p[1];
	p->hostname = "runpilot-probe";
	p->netns = true;
	p->binds = st->binds;
	p->nbinds = st->nbinds;
	p->masks = st->masks;
	p->nmasks = st->nmasks;
	p->lifeline_fd = life_p[0];
	p->status_fd = status_p[1];
	p->seccomp_log = false;
	double deadline = now_monotonic() + timeout_s;
	int began = sb_begin(p, &setup, err);
	close_fd(&out_p[1]);
	close_fd(&life_p[0]);
	close_fd(&status_p[1]);
	if (began < 0 || sb_seccomp_build(p->seccomp, p->seccomp_deny, p->nseccomp_deny, false, &filter, err) < 0)
		goto out;
	sb_release_send(&setup, &filter);
	if (sb_release_wait(&setup, -1, &started, err) < 0)
		goto out;
	if (read_until(out_p[0], deadline, out, err) < 0)
		goto out;
	struct sb_init_report rep;
	if (sb_init_read_report(status_p[0], &rep) < 0) {
		free(*out);
		rp_err_set(err, RP_ERR_RUNTIME, "the probe's sandbox ended without a report");
		goto out;
	}
	rc = WIFEXITED(rep.status) ? WEXITSTATUS(rep.status) : 128 + WTERMSIG(rep.status);
out:
	sb_abort(&setup);
	if (started.pid > 0) {
		kill(started.pid, SIGKILL); /* pid 1 of the namespace: everything in it dies too */
		while (waitpid(started.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	sb_seccomp_free(&filter);
	for (int i = 0; i < 2; i++) {
		close_fd(&out_p[i]);
		close_fd(&life_p[i]);
		close_fd(&status_p[i]);
	}
	free_state(st);
	return rc < 0 ? rp_err_wrap(err, "sandboxed %s", argv[0]) : rc;
}

static int sandbox_capture(struct runner *r, char *const *argv, char *const *envp, const char *cwd,
			   double timeout_s, char **out, struct rp_err *err)
{
	return runner_sandboxed_capture(r->job->spec, argv, envp, cwd, timeout_s, out, err);
}

const struct runner_ops runner_sandbox_ops = {
	.type = "sandbox",
	.isolated_env = true,
	.prepare = sandbox_prepare,
	.start = sandbox_start,
	.release = sandbox_release,
	.await_start = sandbox_await_start,
	.capture = sandbox_capture,
	.stop = sandbox_stop,
	.wait = sandbox_wait,
	.cleanup = sandbox_cleanup,
	.describe = sandbox_describe,
	.enforcement = sandbox_enforcement,
};
