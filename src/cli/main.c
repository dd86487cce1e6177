/* runpilot: one dispatch table of subcommands (like git's), and the only place that prints
 * errors and picks the exit code. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "err.h"
#include "log.h"
#include "print.h"
#include "util.h"

static int cmd_help(int argc, char **argv, struct rp_err *err);

static const char usage_help[] = "usage: runpilot help [COMMAND]\n";

static const struct rp_cmd commands[] = {
	{.name = "run", .fn = cmd_run, .summary = "run a job from a YAML config and record it", .usage = usage_run},
	{.name = "rerun", .fn = cmd_rerun, .summary = "run a run again from its own config, saying what changed since",
	 .usage = usage_rerun},
	{.name = "sweep", .fn = cmd_sweep, .summary = "a sweep's progress and runs (status), or every sweep (ls)",
	 .usage = usage_sweep},
	{.name = "list", .fn = cmd_list, .summary = "list runs", .usage = usage_list},
	{.name = "show", .fn = cmd_show, .summary = "show one run", .usage = usage_show},
	{.name = "logs", .fn = cmd_logs, .summary = "print a run's output", .usage = usage_logs},
	{.name = "cancel", .fn = cmd_cancel, .summary = "cancel running or queued runs, as Ctrl-C would", .usage = usage_cancel},
	{.name = "wait", .fn = cmd_wait, .summary = "wait until runs end; exit with their job's exit code", .usage = usage_wait},
	{.name = "verify", .fn = cmd_verify,
	 .summary = "check whether a run's environment is still the same, and what changed",
	 .usage = usage_verify, .exit_1_answers = true},
	{.name = "metrics", .fn = cmd_metrics, .summary = "a run's metrics: last, min, max and trend, or every point",
	 .usage = usage_metrics},
	{.name = "compare", .fn = cmd_compare, .summary = "runs side by side: the params that differ, the metrics' last values",
	 .usage = usage_compare},
	{.name = "diff", .fn = cmd_diff, .summary = "compare two runs: params, config, resources, environment",
	 .usage = usage_diff},
	{.name = "report", .fn = cmd_report,
	 .summary = "write one self-contained HTML file comparing runs: runs table, metric charts",
	 .usage = usage_report},
	{.name = "ui", .fn = cmd_ui, .summary = "serve a web UI over the runs: table, charts, logs, compare",
	 .usage = usage_ui},
	{.name = "login", .fn = cmd_login, .summary = "log in to a team server: keep an API token for it", .usage = usage_login},
	{.name = "logout", .fn = cmd_logout, .summary = "revoke and forget the API token of a team server",
	 .usage = usage_logout},
	{.name = "push", .fn = cmd_push, .summary = "send runs to a team server (or the queued ones)", .usage = usage_push,
	 .exit_1_answers = true},
	{.name = "pull", .fn = cmd_pull, .summary = "fetch a team server project's runs into remote/ for list --remote",
	 .usage = usage_pull},
	{.name = "sync", .fn = cmd_sync, .summary = "the queue of runs waiting for a push: sync status", .usage = usage_sync},
	{.name = "server", .fn = cmd_server, .summary = "the team server: serve its API; its database: migrate, audit, accounts, projects, members, tokens",
	 .usage = usage_server},
	{.name = "tag", .fn = cmd_tag, .summary = "add or remove a run's tags after it ran", .usage = usage_tag},
	{.name = "note", .fn = cmd_note, .summary = "set a run's note", .usage = usage_note},
	{.name = "export", .fn = cmd_export, .summary = "write runs into one archive (.tar, .tar.gz, .tar.zst) for import",
	 .usage = usage_export},
	{.name = "import", .fn = cmd_import, .summary = "add the runs of an archive that export wrote", .usage = usage_import},
	{.name = "rm", .fn = cmd_rm, .summary = "move runs to the trash (or delete them: --purge)", .usage = usage_rm},
	{.name = "restore", .fn = cmd_restore, .summary = "bring runs back from the trash", .usage = usage_restore},
	{.name = "gc", .fn = cmd_gc, .summary = "remove what runs left behind; with a policy, move old runs to the trash",
	 .usage = usage_gc},
	{.name = "fsck", .fn = cmd_fsck, .summary = "check the whole store; --repair repairs what needs no guessing",
	 .usage = usage_fsck, .exit_1_answers = true},
	{.name = "reindex", .fn = cmd_reindex, .summary = "rebuild the run index from the run directories",
	 .usage = usage_reindex},
	{.name = "config", .fn = cmd_config, .summary = "show the settings a run would use and where each comes from",
	 .usage = usage_config},
	{.name = "doctor", .fn = cmd_doctor, .summary = "check what this host offers runs (sandbox, cgroups, docker)",
	 .usage = usage_doctor},
	{.name = "image", .fn = cmd_image, .summary = "keep images for runs without Docker: pull, import, ls, rm", .usage = usage_image},
	{.name = "completion", .fn = cmd_completion, .summary = "print a bash or zsh script that completes runpilot",
	 .usage = usage_completion},
	{.name = "help", .fn = cmd_help, .summary = "show help for a command", .usage = usage_help},
};

#define NCOMMANDS (sizeof commands / sizeof *commands)

const struct rp_cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void print_main_usage(FILE *f)
{
	fprintf(f, "usage: runpilot [--version] [--help] [--no-color] COMMAND [ARGS]\n\n"
		   "RunPilot runs ML jobs and keeps an auditable record of each run.\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRuns are kept in $RUNPILOT_HOME (default ~/.runpilot).\n"
		   "See `runpilot help COMMAND` for a command's options. --no-color (or NO_COLOR set):\n"
		   "no colour, which is otherwise used on a terminal.\n");
}

static int cmd_help(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2) {
		print_main_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--man")) { /* hidden: the man page, built from this table */
		man_print(stdout, commands, NCOMMANDS);
		return 0;
	}
	const struct rp_cmd *c = cmd_find(argv[1]);
	if (!c)
		return rp_err_set(err, RP_ERR_USAGE, "no command '%s' (see `runpilot --help`)", argv[1]);
	fputs(c->usage, stdout);
	return 0;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

static const char *closest_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strncmp(commands[i].name, name, 2) || strstr(commands[i].name, name))
			return commands[i].name;
	return NULL;
}

/* With fd 0, 1 or 2 closed, the next open() (the job's output pipe, say) would take its
 * number and be clobbered by stdio redirections: keep all three open. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			abort();
}

/* What the layers below report through log.h. */
static void print_log(enum rp_log_level level, const char *msg)
{
	fprintf(stderr, "runpilot: %s: %s\n", level == RP_LOG_TRACE ? "trace" : "warning", msg);
}

int main(int argc, char **argv)
{
	rp_log_set_sink(print_log);
	trace_start();
	ensure_std_fds();
	if (argc >= 2 && !strcmp(argv[1], "__complete")) /* hidden: the shell completion scripts' */
		return complete_main(commands, NCOMMANDS, argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "__node-run")) { /* hidden: a Slurm batch job's (slurm.h) */
		struct rp_err err = {0};
		int rc = cmd_node_run(argc - 1, argv + 1, &err);
		if (rc < 0)
			fprintf(stderr, "runpilot: error: %s\n", err.msg);
		return rc < 0 ? rp_err_exit_code(&err) : rc;
	}
	while (argc >= 2 && !strcmp(argv[1], "--no-color")) {
		color_disable();
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	if (argc < 2) {
		print_main_usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		print_main_usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("runpilot %s\n", RUNPILOT_VERSION);
		return 0;
	}
	const struct rp_cmd *cmd = cmd_find(name);
	if (!cmd) {
		const char *sug = closest_command(name);
		if (sug)
			fprintf(stderr, "runpilot: error: unknown command '%s' (did you mean '%s'?)\n", name, sug);
		else
			fprintf(stderr, "runpilot: error: unknown command '%s' (see `runpilot --help`)\n", name);
		return 2;
	}
	if (wants_help(argc - 1, argv + 1)) {
		fputs(cmd->usage, stdout);
		return 0;
	}
	struct rp_err err = {0};
	int rc = cmd->fn(argc - 1, argv + 1, &err);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "runpilot: error: %s\n", err.msg[0] ? err.msg : "unknown error");
		return cmd->exit_1_answers ? 2 : rp_err_exit_code(&err);
	}
	return rc;
}
