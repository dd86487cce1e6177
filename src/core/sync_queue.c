/* sync_queue.c: the queue of finished runs waiting for a push to the team server (sync.h), and
 * the start of the background push that `sync: {auto: true}` asks for after each run. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "sync.h"
#include "util.h"

static char *queue_dir(const char *home)
{
	return xasprintf("%s/sync/queue", home);
}

static int write_entry(const char *home, const struct sync_queued *e, struct rp_err *err)
{
	char *dir = queue_dir(home), *path = path_join(dir, e->uid);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "uid", e->uid);
	cJSON_AddStringToObject(o, "run_dir", e->run_dir);
	cJSON_AddStringToObject(o, "server", e->server);
	cJSON_AddStringToObject(o, "project", e->project);
	cJSON_AddNumberToObject(o, "queued_at", e->queued_at);
	cJSON_AddNumberToObject(o, "attempts", e->attempts);
	cJSON_AddNumberToObject(o, "next_try", e->next_try);
	if (e->last_error)
		cJSON_AddStringToObject(o, "last_error", e->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	int rc = mkdir_p(dir, 0700, err);
	if (rc == 0)
		rc = write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	free(path);
	free(dir);
	return rc;
}

static bool uid_ok(const char *uid)
{
	return uid && *uid && strlen(uid) < 80 && !strchr(uid, '/') && strcmp(uid, ".") && strcmp(uid, "..");
}

int sync_queue_add(const char *home, const char *uid, const char *run_dir, const char *server, const char *project,
		   struct rp_err *err)
{
	if (!uid_ok(uid))
		return rp_err_set(err, RP_ERR_USAGE, "'%s' is not a run uid", uid ? uid : "");
	struct sync_queued e = {(char *)uid, (char *)run_dir, (char *)server, (char *)project, now_realtime(), 0, 0, NULL};
	return write_entry(home, &e, err);
}

int sync_queue_save(const char *home, const struct sync_queued *e, struct rp_err *err)
{
	return write_entry(home, e, err);
}

int sync_queue_remove(const char *home, const char *uid, struct rp_err *err)
{
	if (!uid_ok(uid))
		return 0;
	char *dir = queue_dir(home), *path = path_join(dir, uid);
	int rc = unlink(path) < 0 && errno != ENOENT ? rp_err_sys(err, "cannot remove %s", path) : 0;
	free(path);
	free(dir);
	return rc;
}

static char *dup_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? xstrdup(s) : NULL;
}

static int by_queued_at(const void *a, const void *b)
{
	const struct sync_queued *x = a, *y = b;
	return x->queued_at < y->queued_at ? -1 : x->queued_at > y->queued_at ? 1 : strcmp(x->uid, y->uid);
}

int sync_queue_list(const char *home, struct sync_queued **out, size_t *n, struct rp_err *err)
{
	*out = NULL;
	*n = 0;
	char *dir = queue_dir(home);
	DIR *d = opendir(dir);
	if (!d) {
		int rc = errno == ENOENT ? 0 : rp_err_sys(err, "cannot list %s", dir);
		free(dir);
		return rc;
	}
	struct dirent *de;
	size_t cap = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue; /* temporary files of atomic writes */
		char *path = path_join(dir, de->d_name), *text = NULL;
		size_t len = 0;
		struct rp_err ignored = {0};
		cJSON *o = read_file(path, &text, &len, &ignored) == 0 ? cJSON_ParseWithLength(text, len) : NULL;
		free(text);
		free(path);
		struct sync_queued e = {dup_str(o, "uid"), dup_str(o, "run_dir"), dup_str(o, "server"),
					dup_str(o, "project"), 0, 0, 0, dup_str(o, "last_error")};
		e.queued_at = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "queued_at"));
		e.attempts = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "attempts"));
		e.next_try = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "next_try"));
		cJSON_Delete(o);
		if (!e.uid || !e.run_dir || !e.server || !e.project || strcmp(e.uid, de->d_name)) {
			sync_queue_free(&e, 1);
			continue;
		}
		if (*n == cap)
			*out = xrealloc(*out, (cap = cap ? cap * 2 : 16) * sizeof **out);
		(*out)[(*n)++] = e;
	}
	closedir(d);
	free(dir);
	if (*n)
		qsort(*out, *n, sizeof **out, by_queued_at);
	return 0;
}

void sync_queue_free(struct sync_queued *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].uid);
		free(v[i].run_dir);
		free(v[i].server);
		free(v[i].project);
		free(v[i].last_error);
	}
}

void sync_note(const char *home, const char *name, const char *text)
{
	char *dir = xasprintf("%s/sync", home), *path = path_join(dir, name);
	char *line = xasprintf("%s\n", text);
	struct rp_err ignored = {0};
	if (mkdir_p(dir, 0700, &ignored) == 0)
		write_file_atomic(path, line, strlen(line), 0600, &ignored);
	free(line);
	free(path);
	free(dir);
}

/* `runpilot push --queued` in its own session, stdio on /dev/null, not waited for: a child that
 * forks it and exits at once (reaped here), so nothing of it outlives as a zombie of the run. */
static int start_background_push(struct rp_err *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return rp_err_sys(err, "fork");
	if (pid == 0) {
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0)
			_exit(127);
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
		close_range(3, ~0U, 0);
		char *argv[] = {"runpilot", "push", "--queued", NULL};
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

void sync_auto_after_run(const char *home, const char *config_dir, const char *run_dir, const char *uid)
{
	struct rp_sync_cfg cfg;
	struct rp_err err = {0};
	int found = config_dir ? config_sync_find(config_dir, &cfg, &err) : 0;
	if (found == 1 && cfg.auto_push) {
		if (sync_queue_add(home, uid, run_dir, cfg.server, cfg.project, &err) < 0 ||
		    start_background_push(&err) < 0)
			found = -1;
	}
	if (found < 0) {
		char *line = xasprintf("%.0f run %s: %s", now_realtime(), uid, err.msg);
		sync_note(home, "last-error", line);
		free(line);
	}
	if (found == 1)
		config_sync_free(&cfg);
}
