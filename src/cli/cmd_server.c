/* runpilot server migrate | audit verify | audit export: the team server's database (the work is
 * src/server's: server.h, pgdb.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "pgdb.h"
#include "server.h"
#include "testhooks.h"
#include "util.h"

const char usage_server[] =
	"usage: runpilot server migrate [--db URL]\n"
	"       runpilot server audit verify|export [--db URL] [-o FILE]\n"
	"\n"
	"The team server's PostgreSQL database.\n"
	"  migrate          bring the schema up to this runpilot's version (each version once, in its\n"
	"                   own transaction; concurrent runs wait for each other); prints the version.\n"
	"                   A database made by a newer runpilot is refused\n"
	"  audit verify     walk the audit trail recomputing each event's hash: exit 0 when the chain\n"
	"                   is intact, 1 naming the first event that was changed or follows a removed one\n"
	"  audit export     every audit event as one JSON object a line (id, at, actor, address,\n"
	"                   action, project, detail, prev_hash, hash)\n"
	"\n"
	"  --db URL         the database: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or key=value\n"
	"                   settings (libpq's); default $RUNPILOT_DB. Prefer RUNPILOT_DB or ~/.pgpass\n"
	"                   for a password: a command line is visible to every user of the host\n"
	"  -o, --output FILE  (audit export) write FILE (mode 0600, atomically) instead of stdout\n";

struct server_opts {
	const char *db;
	const char *output;
};

/* Options after the subcommand's words (argv[0] is its last word); -o only when allow_output. */
static int parse_opts(int argc, char **argv, bool allow_output, const char *form, struct server_opts *o,
		      struct rp_err *err)
{
	static const struct option longopts[] = {{"db", required_argument, NULL, 'd'},
						 {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'o':
			if (!allow_output)
				return rp_err_set(err, RP_ERR_USAGE, "-o is for `runpilot server audit export` only");
			o->output = optarg;
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: {
			char *shown = pg_redact_url(argv[optind - 1]);
			rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (usage: %s)", shown, form);
			free(shown);
			return -1;
		}
		}
	}
	if (optind < argc) {
		char *shown = pg_redact_url(argv[optind]);
		rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (usage: %s)", shown, form);
		free(shown);
		return -1;
	}
	if (!o->db || !*o->db)
		o->db = getenv("RUNPILOT_DB");
	if (!o->db || !*o->db)
		return rp_err_set(err, RP_ERR_USAGE, "no database: give --db URL or set RUNPILOT_DB");
	return 0;
}

static int server_migrate_cmd(int argc, char **argv, struct rp_err *err)
{
	struct server_opts o = {0};
	if (parse_opts(argc, argv, false, "runpilot server migrate [--db URL]", &o, err) < 0)
		return -1;
	struct pg_db *db = pg_connect(o.db, err);
	if (!db)
		return -1;
	int from = 0, to = 0;
	int rc = server_migrate(db, &from, &to, err);
	pg_close(db);
	if (rc < 0)
		return -1;
	if (from == to)
		printf("schema version %d (up to date)\n", to);
	else
		printf("schema version %d (migrated from %d)\n", to, from);
	return 0;
}

static int audit_verify_cmd(int argc, char **argv, struct rp_err *err)
{
	struct server_opts o = {0};
	if (parse_opts(argc, argv, false, "runpilot server audit verify [--db URL]", &o, err) < 0)
		return -1;
	struct pg_db *db = pg_connect(o.db, err);
	if (!db)
		return -1;
	struct audit_verdict v;
	int rc = audit_verify(db, &v, err);
	pg_close(db);
	if (rc < 0)
		return -1;
	if (v.broken_id) {
		printf("audit: chain broken at event %lld: %s (%lld events intact before it)\n", v.broken_id, v.why,
		       v.events);
		return 1;
	}
	printf("audit: %lld events, chain intact\n", v.events);
	return 0;
}

struct export_sink {
	struct strvec lines;
};

static int collect_line(void *ctx, const char *json, struct rp_err *err)
{
	struct export_sink *s = ctx;
	strvec_pushf(&s->lines, "%s\n", json);
	return 0;
}

static int print_line(void *ctx, const char *json, struct rp_err *err)
{
	if (printf("%s\n", json) < 0)
		return rp_err_sys(err, "writing to stdout");
	return 0;
}

static int audit_export_cmd(int argc, char **argv, struct rp_err *err)
{
	struct server_opts o = {0};
	if (parse_opts(argc, argv, true, "runpilot server audit export [--db URL] [-o FILE]", &o, err) < 0)
		return -1;
	bool to_file = o.output && strcmp(o.output, "-");
	struct pg_db *db = pg_connect(o.db, err);
	if (!db)
		return -1;
	struct export_sink sink = {0};
	int rc = audit_export(db, to_file ? collect_line : print_line, &sink, err);
	pg_close(db);
	if (rc == 0 && to_file) {
		char *all = strvec_join(&sink.lines, "");
		rc = write_file_atomic(o.output, all, strlen(all), 0600, err);
		free(all);
	}
	strvec_free(&sink.lines);
	if (rc == 0 && !to_file && fflush(stdout) != 0)
		rc = rp_err_sys(err, "writing to stdout");
	return rc < 0 ? -1 : 0;
}

#ifdef RUNPILOT_TEST_HOOKS
/* The test build's `server audit append --actor A --action X [--address A] [--project P]
 * [--detail JSON] [--count N] [--db URL]`: events for the audit's tests, which the server's
 * requests will append once it serves. */
static int audit_append_cmd(int argc, char **argv, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},	   {"actor", required_argument, NULL, 'a'},
		{"action", required_argument, NULL, 'x'},  {"address", required_argument, NULL, 'i'},
		{"project", required_argument, NULL, 'p'}, {"detail", required_argument, NULL, 'j'},
		{"count", required_argument, NULL, 'n'},   {NULL, 0, NULL, 0}};
	struct audit_event ev = {0};
	const char *url = getenv("RUNPILOT_DB");
	long count = 1;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': url = optarg; break;
		case 'a': ev.actor = optarg; break;
		case 'x': ev.action = optarg; break;
		case 'i': ev.address = optarg; break;
		case 'p': ev.project = optarg; break;
		case 'j': ev.detail = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		default: return rp_err_set(err, RP_ERR_USAGE, "audit append: bad option '%s'", argv[optind - 1]);
		}
	}
	if (!url)
		return rp_err_set(err, RP_ERR_USAGE, "no database: give --db URL or set RUNPILOT_DB");
	struct pg_db *db = pg_connect(url, err);
	if (!db)
		return -1;
	long long id = 0;
	int rc = 0;
	for (long i = 0; i < count && rc == 0; i++)
		rc = audit_append(db, &ev, &id, err);
	pg_close(db);
	if (rc < 0)
		return -1;
	printf("%lld\n", id);
	return 0;
}
#endif

int cmd_server(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2)
		return rp_err_set(err, RP_ERR_USAGE, "`runpilot server` needs a command: migrate, audit verify or audit export");
	if (!strcmp(argv[1], "migrate"))
		return server_migrate_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "verify"))
		return audit_verify_cmd(argc - 2, argv + 2, err);
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "export"))
		return audit_export_cmd(argc - 2, argv + 2, err);
#ifdef RUNPILOT_TEST_HOOKS
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "append"))
		return audit_append_cmd(argc - 2, argv + 2, err);
	if (!strcmp(argv[1], "ui-query"))
		return server_ui_query_cmd(argc - 1, argv + 1, err);
#endif
	bool audit = !strcmp(argv[1], "audit") && argc >= 3;
	char *shown = pg_redact_url(audit ? argv[2] : argv[1]);
	rp_err_set(err, RP_ERR_USAGE, "no server command '%s%s': use migrate, audit verify or audit export",
		   audit ? "audit " : "", shown);
	free(shown);
	return -1;
}
