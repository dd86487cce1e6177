/* Subcommands (one file each: src/cli/cmd_<name>.c), dispatched from main.c's table.
 * A command returns its exit code (>= 0), or -1 with err filled: main prints
 * "runpilot: error: <msg>" and picks the exit code from the error's kind (err.h). */
#ifndef RP_CMDS_H
#define RP_CMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

struct rp_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct rp_err *err);
	const char *summary;   /* one line for `runpilot --help` */
	const char *usage;     /* full text for `runpilot help CMD` / `CMD --help` */
	/* Its exit status 1 is an answer (verify: "changed"), so errors of every kind exit 2, as
	 * diff(1) and cmp(1) do. */
	bool exit_1_answers;
};

/* Find a command by name; NULL if unknown. */
const struct rp_cmd *cmd_find(const char *name);

/* A password: stdin's first line (from_stdin), else asked on the terminal without echo
 * (cmd_server.c); NULL with err. */
char *ask_password(bool from_stdin, struct rp_err *err);
int cmd_login(int argc, char **argv, struct rp_err *err);
int cmd_push(int argc, char **argv, struct rp_err *err);
int cmd_pull(int argc, char **argv, struct rp_err *err);
int cmd_sync(int argc, char **argv, struct rp_err *err);
int cmd_logout(int argc, char **argv, struct rp_err *err);
extern const char usage_login[];
extern const char usage_push[];
extern const char usage_pull[];
extern const char usage_sync[];
extern const char usage_logout[];

int cmd_run(int argc, char **argv, struct rp_err *err);
int cmd_rerun(int argc, char **argv, struct rp_err *err);
int cmd_list(int argc, char **argv, struct rp_err *err);
int cmd_show(int argc, char **argv, struct rp_err *err);
int cmd_logs(int argc, char **argv, struct rp_err *err);
int cmd_cancel(int argc, char **argv, struct rp_err *err);
int cmd_wait(int argc, char **argv, struct rp_err *err);
/* cancel and wait: their options (a selection; --timeout when timeout is given), and the runs
 * named or selected as ids. */
struct run_selection;
struct rp_store;
struct strvec;
int runs_from_args(int argc, char **argv, const char *usage, double *timeout, struct rp_store *st, struct strvec *ids,
		   struct rp_err *err);
/* Poll until each run of ids (those only[] marks, or all when only is NULL) is
 * over, or timeout_s (> 0) passes; true when all are over. */
bool await_runs_over(const struct rp_store *st, const struct strvec *ids, const bool *only, double timeout_s);
int cmd_doctor(int argc, char **argv, struct rp_err *err);
int cmd_verify(int argc, char **argv, struct rp_err *err);
int cmd_diff(int argc, char **argv, struct rp_err *err);
int cmd_image(int argc, char **argv, struct rp_err *err);
int cmd_metrics(int argc, char **argv, struct rp_err *err);
int cmd_compare(int argc, char **argv, struct rp_err *err);
int cmd_report(int argc, char **argv, struct rp_err *err);
int cmd_reindex(int argc, char **argv, struct rp_err *err);
int cmd_rm(int argc, char **argv, struct rp_err *err);
int cmd_restore(int argc, char **argv, struct rp_err *err);
int cmd_tag(int argc, char **argv, struct rp_err *err);
int cmd_note(int argc, char **argv, struct rp_err *err);
int cmd_config(int argc, char **argv, struct rp_err *err);
/* run and config: no CONFIG given, the nearest runpilot.yaml up to the repository root. */
int find_project_config(char **path, struct rp_err *err);
int cmd_gc(int argc, char **argv, struct rp_err *err);
int cmd_fsck(int argc, char **argv, struct rp_err *err);
extern const char usage_fsck[];
int cmd_import(int argc, char **argv, struct rp_err *err);
int cmd_export(int argc, char **argv, struct rp_err *err);
int cmd_ui(int argc, char **argv, struct rp_err *err);
int cmd_server(int argc, char **argv, struct rp_err *err);
#ifdef RUNPILOT_TEST_HOOKS
/* The test build's `server ui-query` (cmd_server_ui.c). */
int server_ui_query_cmd(int argc, char **argv, struct rp_err *err);
#endif
extern const char usage_verify[], usage_diff[];
extern const char usage_doctor[];
extern const char usage_image[];
extern const char usage_metrics[], usage_compare[], usage_report[];
extern const char usage_reindex[], usage_rm[], usage_restore[], usage_tag[], usage_note[], usage_gc[];
extern const char usage_rerun[];
extern const char usage_import[];
extern const char usage_run[], usage_list[], usage_show[], usage_logs[];
extern const char usage_cancel[], usage_wait[];
extern const char usage_config[];
extern const char usage_ui[];
extern const char usage_server[];

/* The shell side: completion scripts, the hidden `runpilot __complete WORD...` they call (it
 * prints the candidates for the last word, one a line, and always exits 0), and the man page
 * (`runpilot help --man`), all from main.c's table (cmds, n) and the usage texts. */
int cmd_completion(int argc, char **argv, struct rp_err *err);
extern const char usage_completion[];
/* The hidden `runpilot __node-run RUN_DIR` of Slurm batch jobs. */
int cmd_node_run(int argc, char **argv, struct rp_err *err);
int complete_main(const struct rp_cmd *cmds, size_t n, int argc, char **argv);
void man_print(FILE *f, const struct rp_cmd *cmds, size_t n);
extern const char usage_export[];

/* sweep: the command, and the printing of a sweep `run` starts (cmd_sweep.c). */
int cmd_sweep(int argc, char **argv, struct rp_err *err);
extern const char usage_sweep[];
struct run_opts;
struct sweep_plan;
struct rp_spec;
int run_sweep_print(const char *config, const struct run_opts *o, const struct sweep_plan *plan, long parallel,
		    const struct rp_spec *spec, struct rp_err *err);

/* cmd_sync.c: the server and project of push, pull and list --remote: the flags, else sync: in
 * runpilot.yaml; with want_token the token too (RUNPILOT_TOKEN or the credentials). Free the
 * owned strings with sync_resolve_free. */
#include <stdbool.h>
struct sync_target;
int sync_resolve(const char *server, const char *project, bool want_token, const char *home, struct sync_target *t,
		 char **owned_server, char **owned_project, char **token, struct rp_err *err);
void sync_resolve_free(char *owned_server, char *owned_project, char *token);

#endif
