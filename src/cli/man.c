/* The man page, runpilot(1), in roff: written from main.c's table and each command's usage text
 * (usage.h), so that it says what `runpilot help CMD` says. The build writes it to
 * build/man/runpilot.1 with `runpilot help --man`. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "usage.h"

/* One character of text for roff: the escape character, a hyphen (a minus in roff, as options
 * need), other than ASCII as \[uXXXX]. Returns the bytes of s it took. */
static size_t put_char(FILE *f, const unsigned char *s)
{
	if (*s == '\\') {
		fputs("\\e", f);
		return 1;
	}
	if (*s == '-') {
		fputs("\\-", f);
		return 1;
	}
	if (*s < 0x80) {
		fputc(*s, f);
		return 1;
	}
	size_t len = (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 1;
	unsigned cp = len == 1 ? 0xfffd : *s & (0xff >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			fputs("\\[uFFFD]", f);
			return i;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	fprintf(f, "\\[u%04X]", cp);
	return len;
}

/* Text, escaped, as one line of filled text. */
static void put_text(FILE *f, const char *s, size_t len)
{
	if (len && (*s == '.' || *s == '\''))
		fputs("\\&", f);
	for (size_t i = 0; i < len;)
		i += put_char(f, (const unsigned char *)s + i);
}

static bool is_upper(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* A synopsis or an option's spec: literal words (commands, options) bold, metavars italic. */
static void put_styled(FILE *f, const char *s, size_t len)
{
	if (len && (*s == '.' || *s == '\''))
		fputs("\\&", f);
	for (size_t i = 0; i < len;) {
		size_t j = i;
		if (is_upper(s[i])) {
			while (j < len && (is_upper(s[j]) || (s[j] >= '0' && s[j] <= '9')))
				j++;
			fputs("\\fI", f);
		} else if (is_word(s[i])) {
			while (j < len && is_word(s[j]))
				j++;
			fputs("\\fB", f);
		} else {
			i += put_char(f, (const unsigned char *)s + i);
			continue;
		}
		for (; i < j; i++)
			put_char(f, (const unsigned char *)s + i);
		fputs("\\fR", f);
	}
	fputc('\n', f);
}

static size_t indent_of(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && s[i] == ' ')
		i++;
	return i;
}

/* One command's usage text: its forms as a synopsis, prose as paragraphs, options as a list. */
static void put_usage(FILE *f, const char *usage)
{
	bool in_forms = false, paragraph = false;
	for (const char *p = usage; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p), spec_end;
		size_t ind = indent_of(p, len);
		bool form = !strncmp(p, "usage: runpilot ", 16) || !strncmp(p, "       runpilot ", 16);
		/* the forms as a synopsis: one a line, a long one wrapped with a hanging indent */
		if (form && !in_forms) {
			fputs(".PP\n.in +4n\n", f);
			in_forms = true;
		} else if (!form && in_forms) {
			fputs(".in -4n\n", f);
			in_forms = false;
		}
		if (form) {
			fputs(".ti -4n\n", f);
			put_styled(f, p + 7, len - 7);
			fputs(".br\n", f);
		} else if (ind == len) {
			paragraph = true;
		} else if (usage_option_line(p, len, &spec_end)) {
			fputs(".TP\n", f);
			put_styled(f, p + ind, spec_end - ind);
			size_t d = spec_end + indent_of(p + spec_end, len - spec_end);
			if (d < len) {
				put_text(f, p + d, len - d);
				fputc('\n', f);
			}
			paragraph = false;
		} else {
			if (paragraph)
				fputs(".PP\n", f);
			paragraph = false;
			put_text(f, p + ind, len - ind);
			fputc('\n', f);
		}
		p = e ? e + 1 : p + len;
	}
	if (in_forms)
		fputs(".in -4n\n", f);
}

static const char head[] =
	".SH NAME\n"
	"runpilot \\- run ML jobs and keep an auditable record of each run\n"
	".SH SYNOPSIS\n"
	".B runpilot\n"
	"[\\fB\\-\\-no\\-color\\fR]\n"
	".I COMMAND\n"
	"[\\fIARGS\\fR]\n"
	".br\n"
	".B runpilot \\-\\-version\n"
	".br\n"
	".B runpilot \\-\\-help\n"
	".SH DESCRIPTION\n"
	"RunPilot runs a job from a YAML config and records it as a run:\n"
	"\\fI$RUNPILOT_HOME/runs/rp_NNNN/\\fR holds its run.json (status, params, resources used, the\n"
	"environment fingerprint), its output (logs.txt), its metrics and its outputs.\n"
	"The other commands read the runs back: list them, show one, compare them, check whether a\n"
	"run's environment is still the same.\n"
	".PP\n"
	"A \\fIRUN\\fR is a run id (rp_0007), its number (7), a unique run name, or \\fBlast\\fR.\n"
	".SH OPTIONS\n"
	".TP\n"
	".B \\-\\-no\\-color\n"
	"Print no colour. Without it, statuses and table headers are coloured when the output is a\n"
	"terminal.\n"
	".TP\n"
	".B \\-\\-version\n"
	"Print the version.\n"
	".TP\n"
	".BR \\-\\-help \", \" \\-h\n"
	"Print the commands; after a command, that command's help.\n"
	".SH COMMANDS\n";

static const char tail[] =
	".SH ENVIRONMENT\n"
	".TP\n"
	".B RUNPILOT_HOME\n"
	"Where runs are kept (default \\fI~/.runpilot\\fR).\n"
	".TP\n"
	".B NO_COLOR\n"
	"Any value but the empty one: print no colour (https://no\\-color.org).\n"
	".TP\n"
	".B RUNPILOT_COLOR\n"
	"\\fBalways\\fR: colour even when the output is not a terminal; \\fBnever\\fR: no colour.\n"
	"NO_COLOR and \\-\\-no\\-color win over it.\n"
	".SH FILES\n"
	".TP\n"
	".I $RUNPILOT_HOME/runs/rp_NNNN/\n"
	"One run: run.json, logs.txt, config.yaml, params.json, metrics, outputs/.\n"
	".TP\n"
	".I $RUNPILOT_HOME/index.db\n"
	"The run index, a cache of the run directories (\\fBrunpilot reindex\\fR rebuilds it).\n"
	".TP\n"
	".I $RUNPILOT_HOME/trash/\n"
	"Runs removed by \\fBrunpilot rm\\fR, until \\fBrunpilot restore\\fR.\n"
	".SH EXIT STATUS\n"
	"\\fBrunpilot run\\fR exits with the job's exit code (128+N when a signal N killed it).\n"
	"Otherwise 0 on success, 1 when the work failed, 2 for a usage error (a bad option or\n"
	"config, a run that does not exist). \\fBrunpilot verify\\fR: 0 same, 1 changed, 2 error.\n"
	".SH SHELL COMPLETION\n"
	".nf\n"
	"eval \"$(runpilot completion bash)\"     # in ~/.bashrc\n"
	"source <(runpilot completion zsh)      # in ~/.zshrc, after compinit\n"
	".fi\n";

void man_print(FILE *f, const struct rp_cmd *cmds, size_t n)
{
	fprintf(f, ".\\\" runpilot(1), written by `runpilot help --man` from its commands' help texts\n");
	fprintf(f, ".TH RUNPILOT 1 \"\" \"runpilot %s\" \"User Commands\"\n", RUNPILOT_VERSION);
	fputs(".nh\n.ad l\n", f);
	fputs(head, f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, ".SS %s\n", cmds[i].name);
		put_text(f, cmds[i].summary, strlen(cmds[i].summary));
		fputs(".\n", f);
		put_usage(f, cmds[i].usage);
	}
	fputs(tail, f);
}
