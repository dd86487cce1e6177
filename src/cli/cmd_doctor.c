/* runpilot doctor: what this host can give a run (namespaces, user namespaces, overlayfs,
 * seccomp, cgroups, Docker) and which runner `auto` picks. Every probe runs in a throwaway child. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <cjson/cJSON.h>

#include "cgroup.h"
#include "cmds.h"
#include "runner.h"
#include "sandbox.h"
#include "util.h"

const char usage_doctor[] =
	"usage: runpilot doctor [--json]\n"
	"\n"
	"Check what this host offers runs: each namespace type, unprivileged user namespaces,\n"
	"overlayfs in a user namespace, seccomp, the cgroup version and which limits it can\n"
	"enforce, whether a Docker engine answers, and which runner `auto` picks.\n"
	"\n"
	"  --json  print the checks as a JSON object\n";

struct check {
	const char *name;
	bool ok;
	char *detail;    /* owned; why not, or a useful fact */
};

struct report {
	struct check checks[24];
	size_t n;
	cJSON *extra;    /* cgroup and auto-runner facts for --json */
};

static void add_check(struct report *r, const char *name, bool ok, char *detail)
{
	if (r->n < sizeof r->checks / sizeof *r->checks)
		r->checks[r->n++] = (struct check){ .name = name, .ok = ok, .detail = detail };
	else
		free(detail);
}

static void check_namespaces(struct report *r)
{
	static const struct { const char *name; int flag; } ns[] = {
		{ "namespace user", CLONE_NEWUSER }, { "namespace pid", CLONE_NEWPID },
		{ "namespace mount", CLONE_NEWNS },  { "namespace uts", CLONE_NEWUTS },
		{ "namespace ipc", CLONE_NEWIPC },   { "namespace net", CLONE_NEWNET },
		{ "namespace cgroup", CLONE_NEWCGROUP },
	};
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
		struct rp_err e = { 0 };
		bool ok = sb_probe_ns(ns[i].flag, &e) == 0;
		add_check(r, ns[i].name, ok, ok ? NULL : xstrdup(e.msg));
	}
}

static void check_userns(struct report *r)
{
	struct rp_err why = { 0 };
	char *max = read_first_line("/proc/sys/user/max_user_namespaces");
	bool ok = sb_probe_unprivileged_userns(&why) == 0;
	add_check(r, "unprivileged user namespaces", ok,
		  ok ? xasprintf("user.max_user_namespaces = %s", max ? max : "?") : xstrdup(why.msg));
	free(max);
	ok = sb_probe_overlay(true, &why) == 0;
	add_check(r, "overlayfs in a user namespace", ok, ok ? NULL : xstrdup(why.msg));
}

/* The sandbox's default network: pasta, and somewhere for it to go. */
static void check_network(struct report *r)
{
	const char *pasta = sb_net_helper();
	bool route = sb_net_host_has_route();
	add_check(r, "network outbound (pasta)", pasta && route,
		  !pasta  ? xstrdup(SB_NET_NO_HELPER)
		  : route ? xasprintf("%s", pasta)
			  : xstrdup("this host has no default route: jobs run with network none"));
}

static void check_seccomp(struct report *r)
{
	char *actions = read_first_line("/proc/sys/kernel/seccomp/actions_avail");
	bool ok = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 && actions != NULL;
	add_check(r, "seccomp filters", ok,
		  ok ? xasprintf("actions: %s", actions) : xasprintf("not available: %s", strerror(errno)));
	free(actions);
}

static const char *cgroup_version(void)
{
	struct statfs fs;
	if (statfs("/sys/fs/cgroup", &fs) < 0)
		return "none";
	if (fs.f_type == CGROUP2_SUPER_MAGIC)
		return "v2";
	if (fs.f_type == TMPFS_MAGIC)
		return path_exists("/sys/fs/cgroup/unified") ? "v1 (hybrid)" : "v1";
	return "unknown";
}

/* Which limits a run's cgroup can enforce: create a throwaway one with every limit set. */
static void check_cgroups(struct report *r)
{
	const char *ver = cgroup_version();
	struct cg_limits lim = { .cpus = 1, .memory_bytes = 64LL << 20, .pids = 64 };
	char id[32];
	snprintf(id, sizeof id, "doctor-%d", (int)getpid());
	cJSON *cgj = cJSON_CreateObject();
	cJSON_AddStringToObject(cgj, "version", ver);
	cJSON *writable = cJSON_AddArrayToObject(cgj, "writable_controllers");
	struct strvec names = { 0 };
	struct rp_cgroup *cg = cg_create(id, &lim);
	struct cg_enforced by;
	cg_enforced(cg, &by);
	const char *const enforced[][2] = { { by.cpus, "cpu" }, { by.memory, "memory" }, { by.pids, "pids" } };
	for (size_t i = 0; i < 3; i++)
		if (enforced[i][0]) {
			cJSON_AddItemToArray(writable, cJSON_CreateString(enforced[i][1]));
			strvec_push(&names, enforced[i][1]);
		}
	cJSON_AddStringToObject(cgj, "source", cg_source(cg));
	const char *why = by.why_not ? by.why_not : "";
	cJSON_AddItemToObject(r->extra, "cgroup", cgj);
	char *joined = xstrdup("");
	for (size_t i = 0; i < names.n; i++) {
		char *j = xasprintf("%s%s%s", joined, i ? " " : "", names.v[i]);
		free(joined);
		joined = j;
	}
	add_check(r, "cgroups", names.n > 0,
		  names.n ? xasprintf("%s; writable controllers: %s", ver, joined)
			  : xasprintf("%s; no writable controller for runpilot's cgroup%s%s", ver,
				      why[0] ? ": " : "", why));
	cg_destroy(cg);
	free(joined);
	strvec_free(&names);
}

/* Docker: the engine the docker runner would use (DOCKER_HOST, the CLI's context, the default
 * socket), its versions and cgroup driver, and which limits it can enforce. */
static void check_docker(struct report *r)
{
	struct runner_docker_facts f;
	struct rp_err e = { 0 };
	cJSON *d = cJSON_AddObjectToObject(r->extra, "docker");
	if (runner_docker_facts(&f, &e) < 0) {
		cJSON_AddBoolToObject(d, "reachable", false);
		cJSON_AddStringToObject(d, "reason", e.msg);
		add_check(r, "docker engine", false, xstrdup(e.msg));
		return;
	}
	cJSON_AddBoolToObject(d, "reachable", true);
	cJSON_AddStringToObject(d, "endpoint", f.endpoint);
	cJSON_AddStringToObject(d, "version", f.version ? f.version : "?");
	cJSON_AddStringToObject(d, "api_version", f.api_version ? f.api_version : "?");
	cJSON_AddStringToObject(d, "cgroup_driver", f.cgroup_driver ? f.cgroup_driver : "?");
	cJSON_AddStringToObject(d, "cgroup_version", f.cgroup_version ? f.cgroup_version : "?");
	cJSON *lim = cJSON_AddObjectToObject(d, "limits");
	cJSON_AddBoolToObject(lim, "memory", f.memory_limit);
	cJSON_AddBoolToObject(lim, "cpus", f.cpu_cfs);
	cJSON_AddBoolToObject(lim, "pids", f.pids_limit);
	add_check(r, "docker engine", true,
		  xasprintf("%s: Docker %s, API %s", f.endpoint, f.version ? f.version : "?",
			    f.api_version ? f.api_version : "?"));
	add_check(r, "docker cgroups", true,
		  xasprintf("driver %s, cgroup v%s", f.cgroup_driver ? f.cgroup_driver : "?",
			    f.cgroup_version ? f.cgroup_version : "?"));
	bool all = f.memory_limit && f.cpu_cfs && f.pids_limit;
	add_check(r, "docker limits", all,
		  xasprintf("memory %s, cpus %s, pids %s", f.memory_limit ? "yes" : "no", f.cpu_cfs ? "yes" : "no",
			    f.pids_limit ? "yes" : "no"));
	runner_docker_facts_free(&f);
}

static void check_auto(struct report *r)
{
	struct runner rn;
	struct rp_err e = { 0 };
	const char *picked = "?";
	char *reason = NULL;
	if (runner_pick("auto", NULL, &rn, &e) == 0) {
		picked = rn.ops->type;
		reason = rn.fallback_reason ? xstrdup(rn.fallback_reason) : NULL;
		runner_free(&rn);
	}
	cJSON_AddStringToObject(r->extra, "auto_runner", picked);
	if (reason)
		cJSON_AddStringToObject(r->extra, "auto_reason", reason);
	else
		cJSON_AddNullToObject(r->extra, "auto_reason");
	add_check(r, "auto runner", true, reason ? xasprintf("%s (%s)", picked, reason) : xstrdup(picked));
	free(reason);
}

static void print_text(const struct report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct check *c = &r->checks[i];
		if (!strcmp(c->name, "auto runner"))
			printf("%-32s %s\n", c->name, c->detail);
		else
			printf("%-32s %-7s %s\n", c->name, c->ok ? "OK" : "missing", c->detail ? c->detail : "");
	}
}

static void print_json(struct report *r)
{
	cJSON *o = r->extra;
	cJSON *a = cJSON_AddArrayToObject(o, "checks");
	for (size_t i = 0; i < r->n; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", r->checks[i].name);
		cJSON_AddBoolToObject(c, "ok", r->checks[i].ok);
		if (r->checks[i].detail)
			cJSON_AddStringToObject(c, "detail", r->checks[i].detail);
		else
			cJSON_AddNullToObject(c, "detail");
		cJSON_AddItemToArray(a, c);
	}
	char *s = cJSON_Print(o);
	printf("%s\n", s);
	free(s);
}

int cmd_doctor(int argc, char **argv, struct rp_err *err)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot doctor --help`)",
					  argv[i]);
	}
	struct report r = { .extra = cJSON_CreateObject() };
	check_namespaces(&r);
	check_userns(&r);
	check_network(&r);
	check_seccomp(&r);
	check_cgroups(&r);
	check_docker(&r);
	check_auto(&r);
	if (json)
		print_json(&r);
	else
		print_text(&r);
	for (size_t i = 0; i < r.n; i++)
		free(r.checks[i].detail);
	cJSON_Delete(r.extra);
	return 0;
}
