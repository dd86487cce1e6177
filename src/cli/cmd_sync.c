/* runpilot sync status: the queue of runs waiting for a push (sync_client.h), and the target
 * resolution push, pull and list --remote share: flags, else the project's sync:. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "server.h"
#include "store.h"
#include "sync.h"
#include "sync_client.h"
#include "util.h"

const char usage_sync[] =
	"usage: runpilot sync status\n"
	"\n"
	"The runs queued for a push to the team server (sync: {auto: true} in runpilot.yaml queues each\n"
	"finished run; `runpilot push` with no runs drains the queue): each queued run with its server,\n"
	"project, attempts, next try and last error, then the last error and the last success.\n";

int sync_resolve(const char *server, const char *project, bool want_token, const char *home, struct sync_target *t,
		 char **owned_server, char **owned_project, char **token, struct rp_err *err)
{
	*owned_server = *owned_project = *token = NULL;
	if (!server || !project) {
		struct rp_sync_cfg cfg;
		int found = config_sync_find(".", &cfg, err);
		if (found < 0)
			return -1;
		if (found == 1) {
			if (!server)
				server = *owned_server = xstrdup(cfg.server);
			if (!project)
				project = *owned_project = xstrdup(cfg.project);
			config_sync_free(&cfg);
		}
	}
	if (!server || !project)
		return rp_err_set(err, RP_ERR_USAGE, "no server or project: give --server URL and --project NAME, or "
				  "sync: {server: URL, project: NAME} in runpilot.yaml");
	if (strncmp(server, "http://", 7) && strncmp(server, "https://", 8))
		return rp_err_set(err, RP_ERR_USAGE, "'%s' is not a server URL: give http(s)://HOST:PORT", server);
	*t = (struct sync_target){server, project, NULL};
	if (want_token && !(t->token = *token = srv_cred_token(home, server, err)))
		return -1;
	return 0;
}

void sync_resolve_free(char *owned_server, char *owned_project, char *token)
{
	free(owned_server);
	free(owned_project);
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
}

static void when(double t, char *out, size_t n)
{
	if (t <= 0) {
		snprintf(out, n, "now");
		return;
	}
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* home/sync/NAME's line, "-" when none. */
static void print_note(const char *home, const char *label, const char *name)
{
	char *path = xasprintf("%s/sync/%s", home, name), *text = NULL;
	size_t n = 0;
	struct rp_err ignored = {0};
	if (path_exists(path) && read_file(path, &text, &n, &ignored) == 0) {
		char *end = strchr(text, '\n');
		if (end)
			*end = '\0';
		char *rest = NULL;
		double t = strtod(text, &rest);
		char at[32];
		when(t, at, sizeof at);
		printf("%s: %s%s\n", label, at, rest ? rest : "");
	} else {
		printf("%s: -\n", label);
	}
	free(text);
	free(path);
}

int cmd_sync(int argc, char **argv, struct rp_err *err)
{
	if (argc != 2 || strcmp(argv[1], "status"))
		return rp_err_set(err, RP_ERR_USAGE, "usage: runpilot sync status");
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	struct sync_queued *v;
	size_t n;
	if (sync_queue_list(st.home, &v, &n, err) < 0) {
		store_close(&st);
		return -1;
	}
	printf("queued: %zu run%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		char next[32];
		when(v[i].next_try, next, sizeof next);
		printf("  %s  %s  %s/%s  attempts %d  next try %s%s%s\n", v[i].uid, v[i].run_dir, v[i].server,
		       v[i].project, v[i].attempts, next, v[i].last_error ? "  error: " : "",
		       v[i].last_error ? v[i].last_error : "");
	}
	print_note(st.home, "last error", "last-error");
	print_note(st.home, "last success", "last-success");
	sync_queue_free(v, n);
	free(v);
	store_close(&st);
	return 0;
}
