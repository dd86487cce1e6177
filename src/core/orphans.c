/* orphans.h: finishing off the runs of dead supervisors. */
#include "orphans.h"
#include "run_int.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "runner.h"
#include "sections.h"

const char *orphan_reason(const char *supervisor_boot_id)
{
	char *boot = current_boot_id();
	bool rebooted = supervisor_boot_id && boot && strcmp(supervisor_boot_id, boot) != 0;
	free(boot);
	return rebooted ? "host rebooted" : "supervisor died";
}

void orphan_record(const struct claim_info *info, const char *run_dir, struct rp_run *r)
{
	memset(r, 0, sizeof *r);
	r->schema_version = RP_SCHEMA_VERSION;
	r->id = xstrdup(info->id);
	r->uid = xstrdup(info->uid);
	r->name = xstrdup(info->name ? info->name : "-");
	r->status = RP_LOST;
	r->reason = xstrdup(orphan_reason(info->boot_id));
	r->created_at = info->created;
	r->duration_s = -1;
	r->supervisor_pid = (int)info->pid;
	r->supervisor_start_ticks = info->start_ticks;
	r->supervisor_boot_id = info->boot_id ? xstrdup(info->boot_id) : NULL;
	r->paths = paths_section(run_dir);
	record_set_section(r, "error", cJSON_CreateString("runpilot died while setting the run up"));
}

bool orphan_on_node(const char *run_dir)
{
	struct rp_run r;
	if (record_read(run_dir, &r, NULL) < 0)
		return false;
	bool on_node = slurm_run(&r) && status_live(r.status);
	record_free(&r);
	return on_node;
}

bool orphan_mark_lost(const struct claim_info *info, const char *run_dir, bool dry_run, char **why)
{
	struct rp_run r;
	struct rp_err e = { 0 };
	bool changed = false;
	*why = NULL;
	if (record_read(run_dir, &r, &e) == 0) {
		if (status_live(r.status) && r.uid && !strcmp(r.uid, info->uid)) {
			r.status = RP_LOST;
			free(r.reason);
			r.reason = xstrdup(orphan_reason(r.supervisor_boot_id));
			*why = xstrdup(r.reason);
			changed = dry_run || record_write(run_dir, &r, NULL) == 0;
		}
		record_free(&r);
	} else if (e.sys_errno == ENOENT && path_is_dir(run_dir)) {
		orphan_record(info, run_dir, &r);
		*why = xstrdup(r.reason);
		changed = dry_run || record_write(run_dir, &r, NULL) == 0;
		record_free(&r);
	}
	if (!changed) {
		free(*why);
		*why = NULL;
	}
	return changed;
}

pid_t orphan_temp_file_pid(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1) || strlen(dot + 1) > 9)
		return 0;
	size_t stem = (size_t)(dot - name);
	bool tmp = stem > 4 && !strncmp(dot - 4, ".tmp", 4);
	bool lock = stem == 8 && !strncmp(name, "run.lock", 8);
	return tmp || lock ? (pid_t)atol(dot + 1) : 0;
}

void orphan_temp_files(const char *run_dir, pid_t pid, struct strvec *names)
{
	DIR *d = opendir(run_dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		/* The dead supervisor's (its temp files and the room it kept for its last run.json),
		 * and those of any other writer that died mid-write (a runpilot finishing this run
		 * off, killed in turn): a live writer's stay. */
		pid_t owner = orphan_temp_file_pid(de->d_name);
		if ((owner > 0 && (owner == pid || !process_alive(owner))) || !strcmp(de->d_name, RP_RECORD_RESERVE_NAME))
			strvec_push(names, de->d_name);
	}
	closedir(d);
}

/* The temp files of the dead supervisor's atomic writes in its run directory. */
static void remove_temp_files(const char *run_dir, pid_t pid)
{
	struct strvec names = { 0 };
	orphan_temp_files(run_dir, pid, &names);
	for (size_t i = 0; i < names.n; i++) {
		char *p = path_join(run_dir, names.v[i]);
		unlink(p);
		free(p);
	}
	strvec_free(&names);
}

/* Everything a dead supervisor's claim lists; true when nothing is left. */
static bool remove_leftovers(const struct claim_info *info)
{
	bool all_gone = true;
	for (size_t i = 0; i < info->leftovers.n; i++)
		if (runner_remove_leftover(info->leftovers.v[i], info->cgroup_name, NULL) < 0)
			all_gone = false;
	/* Made but maybe not noted (killed in between): by name, in our own cgroup. */
	runner_remove_cgroups_named(info->cgroup_name);
	return all_gone;
}

/* One entry of active/: nothing when its supervisor lives; else clean up and, when all is
 * gone, drop the entry. Returns 1 when the run was finished off. */
static int collect_one(const struct rp_store *st, const char *active_path)
{
	int fd;
	if (claim_try(active_path, true, &fd) != CLAIM_FREE)
		return 0;
	struct claim_info info;
	int done = 0;
	if (claim_read(fd, &info, NULL) == 0) {
		char *run_dir = store_run_dir(st, info.id);
		if (orphan_on_node(run_dir)) {
			free(run_dir);
			claim_info_free(&info);
			close(fd);
			return 0;
		}
		bool all_gone = remove_leftovers(&info);
		remove_temp_files(run_dir, info.pid);
		char *why;
		orphan_mark_lost(&info, run_dir, false, &why);
		free(why);
		if (all_gone && unlink(active_path) == 0)
			done = 1;
		free(run_dir);
		claim_info_free(&info);
	}
	close(fd);
	return done;
}

int orphans_collect(const struct rp_store *st)
{
	char *dir = path_join(st->home, "active");
	DIR *d = opendir(dir);
	int done = 0;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char *p = path_join(dir, de->d_name);
			done += collect_one(st, p);
			free(p);
		}
		closedir(d);
	}
	free(dir);
	return done;
}
