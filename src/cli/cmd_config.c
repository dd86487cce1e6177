/* runpilot config --explain: the settings a run of CONFIG would use, and where each came from
 * (a flag, the run config, the project's or the user's defaults, runpilot's own default). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cmds.h"
#include "config.h"
#include "print.h"
#include "sections.h"
#include "util.h"

const char usage_config[] =
	"usage: runpilot config --explain [CONFIG] [--json]\n"
	"\n"
	"Show every setting a `runpilot run CONFIG` would use, its value, and its source: the run\n"
	"config (FILE:LINE), the project's defaults (the `defaults:` of runpilot.yaml), the user's\n"
	"($RUNPILOT_HOME/config.yaml), or runpilot's built-in default. Without CONFIG: the\n"
	"runpilot.yaml `runpilot run` would find (here, or above up to the repository root).\n"
	"\n"
	"  --explain  list the settings and their sources (the only action so far)\n"
	"  --json     print {\"config\", \"sources\": [{path, role}], \"settings\": [{setting, value,\n"
	"             source, path, line}]} instead\n";

struct config_opts {
	const char *config;
	bool explain, json;
};

static int parse_config_args(int argc, char **argv, struct config_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {{"explain", no_argument, NULL, 'e'},
						 {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o->explain = true; break;
		case 'j': o->json = true; break;
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot config --help`)",
					  argv[optind - 1]);
		}
	}
	if (!o->explain)
		return rp_err_set(err, RP_ERR_USAGE, "config needs --explain (usage: runpilot config --explain [CONFIG] [--json])");
	if (optind + 1 < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (one CONFIG)", argv[optind + 1]);
	o->config = optind < argc ? argv[optind] : NULL;
	return 0;
}

/* A file as the user would name it from here: relative below the current directory. */
static char *shown_path(const char *path)
{
	char *cwd = getcwd(NULL, 0);
	size_t n = cwd ? strlen(cwd) : 0;
	char *out;
	if (cwd && n > 1 && !strncmp(path, cwd, n) && path[n] == '/')
		out = xstrdup(path + n + 1);
	else
		out = xstrdup(path);
	free(cwd);
	return out;
}

static const char *role_label(const char *source)
{
	if (!strcmp(source, "run"))
		return "run config";
	if (!strcmp(source, "user"))
		return "user config";
	return source;
}

static void print_explain(const cJSON *sources, const cJSON *settings)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, sources) {
		char *p = shown_path(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path")));
		printf("%s: %s\n", role_label(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "role"))), p);
		free(p);
	}
	putchar('\n');
	static const char *const header[] = {"SETTING", "VALUE", "SOURCE"};
	struct table t;
	table_init(&t, 3, header);
	cJSON_ArrayForEach(it, settings) {
		const char *source = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "source"));
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path"));
		char *src;
		if (path) {
			char *p = shown_path(path);
			src = xasprintf("%s:%d (%s)", p, cJSON_GetObjectItemCaseSensitive(it, "line")->valueint,
					role_label(source));
			free(p);
		} else {
			src = xstrdup(source);
		}
		const char *row[] = {cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "setting")),
				     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "value")), src};
		table_add(&t, row);
		free(src);
	}
	table_print(&t, stdout);
	table_free(&t);
}

int cmd_config(int argc, char **argv, struct rp_err *err)
{
	struct config_opts o = {0};
	char *found = NULL;
	struct rp_spec spec;
	if (parse_config_args(argc, argv, &o, err) < 0)
		return -1;
	if (!o.config && find_project_config(&found, err) < 0)
		return -1;
	int rc = config_load(o.config ? o.config : found, NULL, &spec, err);
	free(found);
	if (rc < 0)
		return -1;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "config", spec.config_path);
	cJSON *sources = config_sources_section(&spec);
	cJSON_AddItemToObject(out, "sources", sources);
	cJSON *settings = config_explain(&spec);
	cJSON_AddItemToObject(out, "settings", settings);
	if (o.json) {
		char *text = cJSON_Print(out);
		puts(text);
		free(text);
	} else {
		print_explain(sources, settings);
	}
	cJSON_Delete(out);
	config_free(&spec);
	return 0;
}
