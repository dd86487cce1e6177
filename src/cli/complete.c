/* runpilot completion bash|zsh: a script for the shell; and the hidden `runpilot __complete
 * WORD...` the scripts call, which prints the candidates for the last word, one a line. The
 * commands come from main.c's table and everything else from their usage texts (usage.h), so a
 * new command completes with nothing added here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "index.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "usage.h"
#include "util.h"

const char usage_completion[] =
	"usage: runpilot completion bash|zsh\n"
	"\n"
	"Print a script that completes runpilot in that shell: commands, each command's options,\n"
	"run ids and names where a command takes a RUN, file names where it takes a CONFIG or FILE.\n"
	"Load it from ~/.bashrc with eval \"$(runpilot completion bash)\", or from ~/.zshrc (after\n"
	"compinit) with source <(runpilot completion zsh). `make install` puts both scripts where\n"
	"the shells look for them.\n";

/* The line that asks the script for the shell's own file name completion instead. */
#define FILES_DIRECTIVE ":file"

static const char bash_script[] =
	"# bash completion for runpilot (runpilot completion bash); the candidates come from\n"
	"# `runpilot __complete WORD...`.\n"
	"_runpilot() {\n"
	"\tlocal cur=${COMP_WORDS[COMP_CWORD]} rp=${COMP_WORDS[0]} c q\n"
	"\tlocal -a out\n"
	"\t[[ $rp == \\~* ]] && rp=runpilot\n"
	"\tmapfile -t out < <(\"$rp\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null)\n"
	"\tCOMPREPLY=()\n"
	"\tif [[ ${out[0]-} == " FILES_DIRECTIVE " ]]; then\n"
	"\t\tcompopt -o filenames 2>/dev/null\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
	"\t\treturn 0\n"
	"\tfi\n"
	"\tfor c in \"${out[@]}\"; do\n"
	"\t\tprintf -v q '%q' \"$c\"\n"
	"\t\tCOMPREPLY+=(\"$q\")\n"
	"\tdone\n"
	"}\n"
	"complete -F _runpilot runpilot\n";

static const char zsh_script[] =
	"#compdef runpilot\n"
	"# zsh completion for runpilot (runpilot completion zsh); the candidates come from\n"
	"# `runpilot __complete WORD...`.\n"
	"_runpilot() {\n"
	"\tlocal rp=${words[1]}\n"
	"\tlocal -a out\n"
	"\t[[ $rp == \\~* ]] && rp=runpilot\n"
	"\tout=(\"${(@f)$(\"$rp\" __complete \"${(@Q)words[2,CURRENT]}\" 2>/dev/null)}\")\n"
	"\tout=(${out:#})\n"
	"\tif [[ ${out[1]-} == " FILES_DIRECTIVE " ]]; then\n"
	"\t\t_files\n"
	"\telif (( ${#out} )); then\n"
	"\t\tcompadd -- \"${out[@]}\"\n"
	"\tfi\n"
	"}\n"
	"if [[ ${zsh_eval_context[-1]-} == loadautofunc ]]; then\n"
	"\t_runpilot \"$@\"\n"
	"else\n"
	"\tcompdef _runpilot runpilot\n"
	"fi\n";

int cmd_completion(int argc, char **argv, struct rp_err *err)
{
	if (argc != 2 || (strcmp(argv[1], "bash") != 0 && strcmp(argv[1], "zsh") != 0))
		return rp_err_set(err, RP_ERR_USAGE, "name the shell: runpilot completion bash|zsh");
	fputs(!strcmp(argv[1], "bash") ? bash_script : zsh_script, stdout);
	return 0;
}

/* ---- the candidates ---- */

static void candidate(const char *prefix, const char *word)
{
	if (!strncmp(word, prefix, strlen(prefix)) && strcmp(word, FILES_DIRECTIVE) != 0)
		printf("%s\n", word);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run ids, then the names of runs (each once), then "last" when there is a run: from the index,
 * or the ids alone where it cannot be used. Silent on every error. */
static void complete_runs(const char *prefix)
{
	size_t found = 0;
	struct rp_err err = {0};
	struct rp_store st;
	if (store_open(&st, false, &err) < 0)
		return;
	struct rp_index *ix = NULL;
	struct index_row *rows = NULL;
	size_t n = 0, total;
	struct index_query q = {0};
	if (index_open(&st, &ix, &err) == 0 && ix && index_select(ix, &q, &rows, &n, &total, &err) == 0) {
		struct strvec names = {0};
		found = n;
		for (size_t i = 0; i < n; i++) {
			candidate(prefix, rows[i].id);
			const char *name = rows[i].name;
			if (name && *name && !strncmp(name, prefix, strlen(prefix)) && store_id_number(name) < 0)
				strvec_push(&names, name);
		}
		if (names.n)
			qsort(names.v, names.n, sizeof *names.v, cmp_str);
		for (size_t i = 0; i < names.n; i++)
			if (!i || strcmp(names.v[i], names.v[i - 1]) != 0)
				candidate(prefix, names.v[i]);
		strvec_free(&names);
		index_rows_free(rows, n);
	} else {
		struct strvec ids = {0};
		if (store_list_ids(&st, &ids, &err) == 0)
			for (size_t i = 0; i < ids.n; i++)
				candidate(prefix, ids.v[i]);
		found = ids.n;
		strvec_free(&ids);
	}
	index_close(ix);
	store_close(&st);
	if (found)
		candidate(prefix, "last");
}

/* main.c's table */
static const struct rp_cmd *cmds;
static size_t ncmds;

static void complete_commands(const char *prefix)
{
	for (size_t i = 0; i < ncmds; i++)
		candidate(prefix, cmds[i].name);
}

/* What a metavar stands for: RUN, RUN_A, RUN...: runs; CONFIG, FILE, FILE|DIR, LOG: files;
 * COMMAND: commands. Literals (lower case: "bash|zsh", a subcommand) are their own candidates. */
static void complete_metavar(const char *metavar, const char *prefix)
{
	char word[USAGE_WORD_MAX];
	snprintf(word, sizeof word, "%s", metavar);
	char *dots = strstr(word, "...");
	if (dots)
		*dots = '\0';
	bool literal = true;
	for (const char *p = word; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			literal = false;
	if (literal) {
		char *save = NULL;
		for (char *w = strtok_r(word, "|", &save); w; w = strtok_r(NULL, "|", &save))
			candidate(prefix, w);
	} else if (!strcmp(word, "RUN") || !strncmp(word, "RUN_", 4)) {
		complete_runs(prefix);
	} else if (strstr(word, "FILE") || strstr(word, "CONFIG") || strstr(word, "DIR") || strstr(word, "LOG")) {
		printf("%s\n", FILES_DIRECTIVE);
	} else if (!strcmp(word, "COMMAND")) {
		complete_commands(prefix);
	}
}

static const struct usage_flag *find_flag(const struct usage_flag *flags, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(flags[i].name, name))
			return &flags[i];
	return NULL;
}

static void complete_flag_value(const struct usage_flag *f, const char *prefix)
{
	if (!strcmp(f->name, "--status")) {
		for (int s = RP_RUNNING; s <= RP_QUEUED; s++)
			candidate(prefix, status_name((enum rp_status)s));
		candidate(prefix, "unreadable");
		return;
	}
	if (f->metavar[0] >= 'a' && f->metavar[0] <= 'z')
		return; /* an option's value is never one of a list of literals */
	complete_metavar(f->metavar, prefix);
}

#define MAX_WORDS 16

/* The positional words of one form of the command ("show RUN [--json]" → RUN): bracketed groups
 * and options (with their values) left out, up to a top-level "|" (another form) or "<". */
static size_t form_positionals(const char *form, const struct usage_flag *flags, size_t nflags,
			       char out[][USAGE_WORD_MAX])
{
	size_t n = 0;
	bool skip_value = false, first = true;
	for (const char *p = form; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p == '[') {
			const char *open = p;
			int depth = 0;
			do {
				depth += (*p == '[') - (*p == ']');
				p++;
			} while (*p && depth > 0);
			/* an optional positional: [COMMAND] */
			size_t len = (size_t)(p - open) - 2;
			if (!first && len && len < USAGE_WORD_MAX && strspn(open + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == len &&
			    n < MAX_WORDS)
				snprintf(out[n++], USAGE_WORD_MAX, "%.*s", (int)len, open + 1);
			continue;
		}
		size_t len = strcspn(p, " [");
		char w[USAGE_WORD_MAX];
		snprintf(w, sizeof w, "%.*s", (int)(len < USAGE_WORD_MAX ? len : USAGE_WORD_MAX - 1), p);
		p += len;
		if (!strcmp(w, "|") || !strcmp(w, "<"))
			break;
		if (first) { /* the command's name */
			first = false;
		} else if (skip_value) {
			skip_value = false;
		} else if (w[0] == '.') {
			/* "[--name GLOB]..." */
		} else if (w[0] == '-') {
			const struct usage_flag *f = find_flag(flags, nflags, w);
			skip_value = f && f->metavar[0];
		} else if (n < MAX_WORDS) {
			snprintf(out[n++], USAGE_WORD_MAX, "%s", w);
		}
	}
	return n;
}

static bool literal_matches(const char *token, const char *word)
{
	for (const char *p = token; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return true; /* a metavar takes any word */
	char copy[USAGE_WORD_MAX], *save = NULL;
	snprintf(copy, sizeof copy, "%s", token);
	for (char *w = strtok_r(copy, "|", &save); w; w = strtok_r(NULL, "|", &save))
		if (!strcmp(w, word))
			return true;
	return false;
}

/* The positional word number k (typed: the ones before it), for every form it fits. */
static void complete_positional(const char *usage, const struct usage_flag *flags, size_t nflags, char **typed,
				size_t k, const char *prefix)
{
	char form[512], pos[MAX_WORDS][USAGE_WORD_MAX];
	for (size_t f = 0; usage_form(usage, f, form, sizeof form); f++) {
		size_t m = form_positionals(form, flags, nflags, pos);
		bool repeats = m && strstr(pos[m - 1], "...");
		bool fits = k < m || repeats;
		for (size_t j = 0; j < k && fits; j++)
			fits = literal_matches(pos[j < m ? j : m - 1], typed[j]);
		if (fits)
			complete_metavar(pos[k < m ? k : m - 1], prefix);
	}
}

/* words: what follows the command's name, the last one the word being completed. */
static void complete_command_args(const struct rp_cmd *cmd, char **words, size_t n)
{
	struct usage_flag flags[64];
	size_t nflags = usage_flags(cmd->usage, flags, 64);
	const char *cur = words[n - 1];
	char *typed[MAX_WORDS];
	size_t k = 0;
	bool options = true;
	const struct usage_flag *value_of = NULL;
	for (size_t i = 0; i + 1 < n; i++) {
		const char *w = words[i];
		if (value_of) {
			value_of = NULL;
		} else if (options && !strcmp(w, "--")) {
			options = false;
		} else if (options && w[0] == '-' && w[1]) {
			const struct usage_flag *f = strchr(w, '=') ? NULL : find_flag(flags, nflags, w);
			value_of = f && f->metavar[0] ? f : NULL;
		} else if (k < MAX_WORDS) {
			typed[k++] = words[i];
		}
	}
	if (value_of)
		complete_flag_value(value_of, cur);
	else if (options && cur[0] == '-')
		for (size_t i = 0; i < nflags; i++)
			candidate(cur, flags[i].name);
	else if (k < MAX_WORDS)
		complete_positional(cmd->usage, flags, nflags, typed, k, cur);
}

static void silent(enum rp_log_level level, const char *msg)
{
}

int complete_main(const struct rp_cmd *table, size_t n, int argc, char **argv)
{
	cmds = table;
	ncmds = n;
	rp_log_set_sink(silent);
	char *empty[] = {""};
	if (argc < 1) {
		argc = 1;
		argv = empty;
	}
	int i = 0;
	while (i + 1 < argc && !strcmp(argv[i], "--no-color"))
		i++;
	if (i + 1 == argc) {
		if (argv[i][0] == '-') {
			static const char *const globals[] = {"--no-color", "--help", "--version"};
			for (size_t g = 0; g < 3; g++)
				candidate(argv[i], globals[g]);
		} else {
			complete_commands(argv[i]);
		}
	} else {
		for (size_t c = 0; c < ncmds; c++)
			if (!strcmp(cmds[c].name, argv[i]))
				complete_command_args(&cmds[c], argv + i + 1, (size_t)(argc - i - 1));
	}
	fflush(stdout);
	return 0;
}
