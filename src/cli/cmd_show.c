/* runpilot show: one run, as a readable summary or as its run.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "annotations.h"
#include "cli.h"
#include "cmds.h"
#include "fingerprint.h"
#include "print.h"
#include "runs.h"
#include "sections.h"
#include "util.h"

const char usage_show[] =
	"usage: runpilot show RUN [--json] [--files]\n"
	"\n"
	"Show one run. RUN is a run id (rp_0007), its number (7), a unique run name, or 'last'.\n"
	"\n"
	"  --json   print the run's run.json\n"
	"  --files  list the workdir files its environment fingerprint counted (with --json: path,\n"
	"           mode, size and sha256 of each)\n";

static void field(const char *label, const char *value)
{
	printf(color_enabled(stdout) ? "\033[1m%-11s\033[0m %s\n" : "%-11s %s\n", label, value);
}

static void print_params(const struct rp_run *r)
{
	if (!r->params || !r->params->child)
		return;
	printf(color_enabled(stdout) ? "\033[1m%-11s\033[0m" : "%-11s", "Params");
	for (const cJSON *p = r->params->child; p; p = p->next) {
		char *v = cJSON_IsString(p) ? xstrdup(p->valuestring) : cJSON_PrintUnformatted(p);
		printf(" %s=%s", p->string, v);
		free(v);
	}
	printf("\n");
}

static void print_tags(const struct rp_run *r)
{
	if (!r->tags || !r->tags[0])
		return;
	printf(color_enabled(stdout) ? "\033[1m%-11s\033[0m" : "%-11s", "Tags");
	for (size_t i = 0; r->tags[i]; i++)
		printf("%s %s", i ? "," : "", r->tags[i]);
	printf("\n");
}

static double num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static double limit_requested(const cJSON *limits, const char *key)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(limits, key);
	if (cJSON_IsNumber(l))
		return l->valuedouble;
	return num(l, "requested", 0);
}

/* "CPU 1.02 s (0.51 cores avg, limit 0.5)" and "Memory peak 50.0 MiB / 64 MiB". */
static void print_resources(const struct rp_run *r)
{
	const cJSON *res = record_section(r, "resources");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(res, "usage");
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(res, "limits");
	if (!cJSON_IsObject(usage) || !cJSON_GetObjectItemCaseSensitive(usage, "cpu_total_s"))
		return;
	char line[256];
	double cpus = limit_requested(limits, "cpus");
	int n = snprintf(line, sizeof line, "%.2f s (%.2f cores avg", num(usage, "cpu_total_s", 0),
			 num(usage, "cpu_avg_cores", 0));
	if (cpus > 0)
		n += snprintf(line + n, sizeof line - (size_t)n, ", limit %g", cpus);
	snprintf(line + n, sizeof line - (size_t)n, ")");
	field("CPU", line);
	double peak = num(usage, "memory_peak_bytes", -1);
	if (peak >= 0) {
		char a[32], b[32];
		fmt_bytes(peak, a, sizeof a);
		double mem = limit_requested(limits, "memory");
		if (mem > 0) {
			fmt_bytes(mem, b, sizeof b);
			snprintf(line, sizeof line, "peak %s / %s", a, b);
		} else {
			snprintf(line, sizeof line, "peak %s", a);
		}
		field("Memory", line);
	}
	double pids = num(usage, "pids_peak", -1);
	if (pids >= 0) {
		double lim = limit_requested(limits, "pids");
		if (lim > 0)
			snprintf(line, sizeof line, "peak %.0f / %.0f", pids, lim);
		else
			snprintf(line, sizeof line, "peak %.0f", pids);
		field("Pids", line);
	}
}

/* "slurm job 41_2 on node1 (partition gpu), sandbox on the node". */
static void slurm_runner_line(const cJSON *rn, char *line, size_t n)
{
	const char *job = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rn, "job_id"));
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(rn, "array_task");
	const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rn, "node"));
	const char *part = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rn, "partition"));
	const cJSON *inner = cJSON_GetObjectItemCaseSensitive(rn, "on_node");
	const char *itype = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inner, "type"));
	const char *iwhy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inner, "fallback_reason"));
	char t[32] = "";
	if (cJSON_IsNumber(task))
		snprintf(t, sizeof t, "_%d", task->valueint);
	snprintf(line, n, "slurm job %s%s%s%s%s%s%s%s%s%s%s%s", job ? job : "(not submitted)", t, node ? " on " : "",
		 node ? node : "", part ? " (partition " : "", part ? part : "", part ? ")" : "", itype ? ", " : "",
		 itype ? itype : "", itype ? " on the node" : "", iwhy ? ": " : "", iwhy ? iwhy : "");
}

static void print_runner(const struct rp_run *r)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(r->runner, "type");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(r->runner, "fallback_reason");
	char line[512];
	snprintf(line, sizeof line, "%s%s%s%s", cJSON_IsString(type) ? type->valuestring : "?",
		 cJSON_IsString(why) ? " (" : "", cJSON_IsString(why) ? why->valuestring : "",
		 cJSON_IsString(why) ? ")" : "");
	if (cJSON_IsString(type) && !strcmp(type->valuestring, "slurm"))
		slurm_runner_line(r->runner, line, sizeof line);
	field("Runner", line);
	/* The image it ran in, and which one exactly (the id's first 12 hex digits, as docker shows). */
	const cJSON *image_id = cJSON_GetObjectItemCaseSensitive(r->runner, "image_id");
	if (r->image) {
		const char *id = cJSON_GetStringValue(image_id);
		if (id && !strncmp(id, "sha256:", 7))
			id += 7;
		snprintf(line, sizeof line, "%s%s%.12s%s", r->image, id ? " (" : "", id ? id : "", id ? ")" : "");
		field("Image", line);
	}
	/* sandbox.seccomp.log: which syscalls the filter refused, and how often */
	const cJSON *denied = cJSON_GetObjectItemCaseSensitive(r->runner, "denied_syscalls");
	if (cJSON_IsObject(denied) && denied->child) {
		size_t len = 0;
		line[0] = '\0';
		for (const cJSON *d = denied->child; d && len < sizeof line - 64; d = d->next)
			len += (size_t)snprintf(line + len, sizeof line - len, "%s%s (%.0f)", len ? ", " : "",
						d->string, d->valuedouble);
		field("Refused", line);
	}
}

/* A rerun's parent: its id here when this store has it, and its uid. */
static void print_parent(const struct rp_store *st, const struct rp_run *r)
{
	if (!r->parent)
		return;
	struct run_invocation inv;
	invocation_read(record_section(r, "invocation"), &inv);
	char id[RP_ID_MAX], buf[512];
	if (runs_find_uid(st, r->parent, inv.rerun_of, id) == 0)
		snprintf(buf, sizeof buf, "%s (uid %s)", id, r->parent);
	else
		snprintf(buf, sizeof buf, "uid %s (not in this store)", r->parent);
	invocation_free(&inv);
	field("Parent", buf);
}

/* Where the run came from when it was imported (run.json's imported_from). */
static void print_imported_from(const struct rp_run *r)
{
	const cJSON *from = record_section(r, "imported_from");
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(from, "id"));
	const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(from, "host"));
	const char *time = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(from, "time"));
	if (!id)
		return;
	char buf[512];
	snprintf(buf, sizeof buf, "%s on %s, imported %s", id, host ? host : "?", time ? time : "?");
	field("Imported", buf);
}

static void print_summary(const struct rp_store *st, const struct rp_run *r, const char *note, const char *dir)
{
	char buf[512], t1[32], t2[32], dur[32];
	snprintf(buf, sizeof buf, "%s (uid %s)", r->id, r->uid ? r->uid : "-");
	field("Run", buf);
	print_parent(st, r);
	print_imported_from(r);
	field("Name", r->name ? r->name : "-");
	fmt_status(r, buf, sizeof buf);
	if (r->has_exit_code && !status_live(r->status))
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ", exit code %d", r->exit_code);
	else if (r->signal)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ", signal %d", r->signal);
	else if ((r->status == RP_LOST || r->status == RP_QUEUED) && r->reason)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (%s)", r->reason);
	char colored[600];
	fmt_colored_status(stdout, buf, colored, sizeof colored);
	field("Status", colored);
	const cJSON *error = record_section(r, "error");
	if (cJSON_IsString(error))
		field("Error", error->valuestring);
	fmt_local_time(r->started_at, t1, sizeof t1);
	fmt_local_time(r->ended_at, t2, sizeof t2);
	fmt_duration(status_live(r->status) ? -1 : r->duration_s, dur, sizeof dur);
	field("Started", t1);
	field("Ended", t2);
	field("Duration", dur);
	field("Entrypoint", r->entrypoint ? r->entrypoint : "-");
	field("Workdir", r->workdir ? r->workdir : "-");
	print_params(r);
	print_tags(r);
	if (note)
		field("Note", note);
	print_runner(r);
	print_resources(r);
	char fp[13];
	fp_short(record_section(r, "environment"), fp);
	field("Fingerprint", fp);
	/* Where the files are now (run.json's paths say where they were written: another home, or
	 * another machine for an imported run). */
	char *logs = path_join(dir, "logs.txt"), *outs = path_join(dir, "outputs");
	field("Logs", logs);
	field("Outputs", outs);
	free(logs);
	free(outs);
}

/* The files the fingerprint counted (<run_dir>/files.json, written by fp_compute). */
static int print_files(const struct rp_run *r, const char *dir, bool json, struct rp_err *err)
{
	char *path = path_join(dir, FP_FILES_NAME);
	cJSON *files = NULL;
	int rc = path_exists(path) ? fp_files_load(path, &files, err)
				   : rp_err_set(err, RP_ERR_RUNTIME, "run %s has no file list (%s)", r->id, FP_FILES_NAME);
	free(path);
	if (rc < 0)
		return -1;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(files, "code");
	if (json) {
		cJSON *rows = fp_files_rows_json(code);
		char *s = cJSON_Print(rows);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(rows);
	} else {
		for (const cJSON *row = code ? code->child : NULL; row; row = row->next)
			if (fp_files_row_path(row))
				printf("%s\n", fp_files_row_path(row));
	}
	cJSON_Delete(files);
	return 0;
}

int cmd_show(int argc, char **argv, struct rp_err *err)
{
	bool json = false, files = false;
	const struct cli_flag flags[] = {{"json", 0, &json}, {"files", 0, &files}, {NULL, 0, NULL}};
	int first = cli_parse(argc, argv, flags, 1, "runpilot show RUN [--json] [--files]", err);
	if (first < 0)
		return -1;
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(argv[first], &st, &r, &dir, err) < 0)
		return -1;
	int rc = 0;
	if (files) {
		rc = print_files(&r, dir, json, err);
	} else if (json) {
		cJSON *j = record_to_json(&r);
		char *s = cJSON_Print(j);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(j);
	} else {
		/* the tags as annotated (runpilot tag), and the note */
		struct rp_annotations a;
		struct rp_err ignored = {0};
		if (annotations_read(dir, &a, &ignored) < 0) {
			fprintf(stderr, "runpilot: warning: %s; tags and note as run.json has them (runpilot fsck checks the store)\n",
				ignored.msg);
		} else {
			struct strvec tags = {0};
			annotations_tags(&a, r.tags, &tags);
			for (size_t i = 0; r.tags && r.tags[i]; i++)
				free(r.tags[i]);
			free(r.tags);
			r.tags = tags.v;
		}
		print_summary(&st, &r, a.note, dir);
		annotations_free(&a);
	}
	record_free(&r);
	free(dir);
	store_close(&st);
	return rc;
}
