/* runpilot server [serve] | migrate | audit verify|export | account | project | member | token:
 * the team server and its database (the work is src/server's: server.h, pgdb.h). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmds.h"
#include "pgdb.h"
#include "server.h"
#ifdef RUNPILOT_TEST_HOOKS
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "runs.h"
#include "server_push.h"
#include "store.h"
#include "sync.h"
#endif
#include "testhooks.h"
#include "util.h"

const char usage_server[] =
	"usage: runpilot server [--db URL] [--listen ADDR:PORT] [--data-dir DIR] [--max-blob BYTES]\n"
	"                       [--tls-cert FILE --tls-key FILE]\n"
	"       runpilot server migrate [--db URL]\n"
	"       runpilot server audit verify|export [--db URL] [-o FILE]\n"
	"       runpilot server account add NAME [--admin] [--password-stdin] [--db URL]\n"
	"       runpilot server account disable NAME [--db URL]\n"
	"       runpilot server project add NAME [--db URL]\n"
	"       runpilot server member set PROJECT ACCOUNT viewer|editor|admin|none [--db URL]\n"
	"       runpilot server token create ACCOUNT [--name N] [--expires-days D] [--db URL]\n"
	"       runpilot server token revoke ID [--db URL]\n"
	"\n"
	"The team server (docs/server.md) and its PostgreSQL database.\n"
	"  (no command)     serve the API: migrate the database, print the URL as the first line, serve\n"
	"                   until SIGTERM or SIGINT (requests in flight finish, then exit 0)\n"
	"  --listen ADDR:PORT  where to listen (default 127.0.0.1:7100; port 0: any free one, printed)\n"
	"  --data-dir DIR   the server's files (created, mode 0700): the pushed runs' blobs\n"
	"  --max-blob BYTES the largest file a push may upload (default 1073741824, 1 GiB; larger: 413)\n"
	"  --tls-cert FILE, --tls-key FILE  serve HTTPS with this PEM certificate and key (else put a\n"
	"                   TLS proxy in front: docs/server.md)\n"
	"The administration commands work on the database directly (run them on its host); each is\n"
	"audited with the actor local:<unix user>.\n"
	"  account add      an account; its password is read from the terminal (no echo), or with\n"
	"                   --password-stdin one line of stdin; --admin: a server administrator\n"
	"  account disable  refuse the account's logins, sessions and tokens from now on\n"
	"  project add      a project (members are added with member set)\n"
	"  member set       an account's role in a project (none removes it)\n"
	"  token create     an API token for the account, printed once (--name, default \"cli\";\n"
	"                   --expires-days D, default never)\n"
	"  token revoke     revoke token ID\n"
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

/* The options, then the database they name; NULL with err. */
static struct pg_db *open_db(int argc, char **argv, bool output_ok, const char *form, struct server_opts *o,
			     struct rp_err *err)
{
	return parse_opts(argc, argv, output_ok, form, o, err) < 0 ? NULL : pg_connect(o->db, err);
}

static int server_migrate_cmd(int argc, char **argv, struct rp_err *err)
{
	struct server_opts o = {0};
	struct pg_db *db = open_db(argc, argv, false, "runpilot server migrate [--db URL]", &o, err);
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
	struct pg_db *db = open_db(argc, argv, false, "runpilot server audit verify [--db URL]", &o, err);
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
	struct pg_db *db = open_db(argc, argv, true, "runpilot server audit export [--db URL] [-o FILE]", &o, err);
	if (!db)
		return -1;
	bool to_file = o.output && strcmp(o.output, "-");
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

/* The test build's push and pull without HTTP, what the server's routes will call:
 *   server push-local --db URL --project NAME --data-dir DIR [--force] RUN...
 *   server pull-local --db URL --project NAME UID
 *   server blob-put --db URL --data-dir DIR [--cap BYTES] [--size BYTES] SHA256 FILE
 *   server push-json --db URL --project NAME [--force] FILE   (a payload as is, no blobs)
 *   server payload-local RUN                                   (the payload push-local sends)
 *   server blob-sweep --data-dir DIR [--older-than SECONDS]    (unfinished uploads' files)
 * push-local creates the project when it is missing and prints "ID OUTCOME" per run. */
struct local_opts {
	const char *db, *project, *data_dir;
	bool force;
	unsigned long long cap, size;
	bool has_size;
	double older_than;
	int first;               /* argv index of the first operand */
};

static int local_opts_parse(int argc, char **argv, struct local_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},	    {"project", required_argument, NULL, 'p'},
		{"data-dir", required_argument, NULL, 'D'}, {"force", no_argument, NULL, 'f'},
		{"cap", required_argument, NULL, 'c'},	    {"size", required_argument, NULL, 's'},
		{"older-than", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	*o = (struct local_opts){.db = getenv("RUNPILOT_DB"), .cap = 1ULL << 30};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'p': o->project = optarg; break;
		case 'D': o->data_dir = optarg; break;
		case 'f': o->force = true; break;
		case 'c': o->cap = strtoull(optarg, NULL, 10); break;
		case 's': o->size = strtoull(optarg, NULL, 10), o->has_size = true; break;
		case 'o': o->older_than = strtod(optarg, NULL); break;
		default: return rp_err_set(err, RP_ERR_USAGE, "%s: bad option '%s'", argv[0], argv[optind - 1]);
		}
	}
	if (!o->db)
		return rp_err_set(err, RP_ERR_USAGE, "no database: give --db URL or set RUNPILOT_DB");
	o->first = optind;
	return 0;
}

/* Upload the blobs of payload p (the run in dir) that the server lacks. */
static int upload_blobs(struct pg_db *db, const struct local_opts *o, const char *dir, const cJSON *p,
			struct rp_err *err)
{
	const cJSON *manifest = cJSON_GetObjectItemCaseSensitive(p, "manifest");
	size_t n = (size_t)cJSON_GetArraySize(manifest);
	const char **hashes = xcalloc(n ? n : 1, sizeof *hashes);
	bool *missing = xcalloc(n ? n : 1, sizeof *missing);
	size_t i = 0;
	for (const cJSON *e = manifest->child; e; e = e->next)
		hashes[i++] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"));
	int rc = push_blobs_missing(db, o->data_dir, hashes, n, missing, err);
	i = 0;
	for (const cJSON *e = manifest->child; e && rc == 0; e = e->next, i++) {
		if (!missing[i])
			continue;
		char *path = path_join(dir, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path")));
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		bool stored;
		if (fd < 0)
			rc = rp_err_sys(err, "cannot open %s", path);
		else
			rc = blob_put(db, o->data_dir, hashes[i], fd,
				      (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "size")), o->cap,
				      &stored, err);
		if (fd >= 0)
			close(fd);
		free(path);
	}
	free(hashes);
	free(missing);
	return rc;
}

struct local_run {
	char *id, *dir;
	cJSON *payload;
};

static int push_local_cmd(int argc, char **argv, struct rp_err *err)
{
	struct local_opts o;
	if (local_opts_parse(argc, argv, &o, err) < 0)
		return -1;
	if (!o.project || !o.data_dir || o.first >= argc)
		return rp_err_set(err, RP_ERR_USAGE, "push-local needs --project NAME, --data-dir DIR and RUN...");
	size_t n = (size_t)(argc - o.first);
	if (n > PUSH_ITEMS_MAX)
		return rp_err_set(err, RP_ERR_USAGE, "push-local: at most %d runs at once", PUSH_ITEMS_MAX);
	struct local_run *runs = xcalloc(n, sizeof *runs);
	struct push_item *items = xcalloc(n, sizeof *items);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct rp_store st;
		struct rp_run r;
		if ((rc = runs_load(argv[o.first + (int)i], &st, &r, &runs[i].dir, err)) < 0)
			break;
		runs[i].id = xstrdup(r.id ? r.id : argv[o.first + (int)i]);
		record_free(&r);
		store_close(&st);
		if ((rc = sync_payload_build(runs[i].dir, &runs[i].payload, err)) < 0)
			break;
		items[i].uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(runs[i].payload, "uid"));
		items[i].revision = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(runs[i].payload, "revision"));
		items[i].content_hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(runs[i].payload, "content_hash"));
	}
	struct pg_db *db = rc == 0 ? pg_connect(o.db, err) : NULL;
	long long project_id = 0;
	if (rc == 0 && (!db || push_project_id(db, o.project, true, &project_id, err) < 0 ||
			push_missing(db, project_id, items, n, err) < 0))
		rc = -1;
	bool conflict = false;
	struct push_who who = {.name = "push-local", .address = "local"};
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (items[i].state == PUSH_SAME) {
			printf("%s same\n", runs[i].id);
			continue;
		}
		char *text = cJSON_PrintUnformatted(runs[i].payload);
		struct push_result res;
		rc = upload_blobs(db, &o, runs[i].dir, runs[i].payload, err);
		if (rc == 0)
			rc = push_run(db, project_id, &who, text, strlen(text), o.force, &res, err);
		free(text);
		if (rc == 0) {
			printf("%s %s\n", runs[i].id, push_outcome_name(res.outcome));
			conflict |= res.outcome == PUSHED_CONFLICT;
		}
	}
	pg_close(db);
	for (size_t i = 0; i < n; i++) {
		free(runs[i].id);
		free(runs[i].dir);
		cJSON_Delete(runs[i].payload);
	}
	free(runs);
	free(items);
	if (rc < 0)
		return -1;
	return conflict ? 1 : 0;
}

static int pull_local_cmd(int argc, char **argv, struct rp_err *err)
{
	struct local_opts o;
	if (local_opts_parse(argc, argv, &o, err) < 0)
		return -1;
	if (!o.project || o.first != argc - 1)
		return rp_err_set(err, RP_ERR_USAGE, "pull-local needs --project NAME and one UID");
	struct pg_db *db = pg_connect(o.db, err);
	if (!db)
		return -1;
	long long project_id;
	char *json = NULL;
	int rc = push_project_id(db, o.project, false, &project_id, err);
	if (rc == 0)
		rc = pull_run(db, project_id, argv[o.first], &json, err);
	pg_close(db);
	if (rc == 0)
		printf("%s\n", json);
	free(json);
	return rc;
}

static int push_json_cmd(int argc, char **argv, struct rp_err *err)
{
	struct local_opts o;
	if (local_opts_parse(argc, argv, &o, err) < 0)
		return -1;
	if (!o.project || o.first != argc - 1)
		return rp_err_set(err, RP_ERR_USAGE, "push-json needs --project NAME and FILE");
	char *text = NULL;
	size_t len = 0;
	if (read_file(argv[o.first], &text, &len, err) < 0)
		return -1;
	struct pg_db *db = pg_connect(o.db, err);
	long long project_id;
	struct push_result res;
	struct push_who who = {.name = "push-json", .address = "local"};
	int rc = db && push_project_id(db, o.project, true, &project_id, err) == 0 ? 0 : -1;
	if (rc == 0)
		rc = push_run(db, project_id, &who, text, len, o.force, &res, err);
	pg_close(db);
	free(text);
	if (rc == 0)
		printf("%s\n", push_outcome_name(res.outcome));
	return rc < 0 ? -1 : res.outcome == PUSHED_CONFLICT ? 1 : 0;
}

static int payload_local_cmd(int argc, char **argv, struct rp_err *err)
{
	if (argc != 2)
		return rp_err_set(err, RP_ERR_USAGE, "payload-local needs one RUN");
	struct rp_store st;
	struct rp_run r;
	char *dir;
	if (runs_load(argv[1], &st, &r, &dir, err) < 0)
		return -1;
	record_free(&r);
	store_close(&st);
	cJSON *p = NULL;
	int rc = sync_payload_build(dir, &p, err);
	free(dir);
	if (rc == 0) {
		char *text = cJSON_PrintUnformatted(p);
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(p);
	return rc;
}

static int blob_sweep_cmd(int argc, char **argv, struct rp_err *err)
{
	struct local_opts o;
	if (local_opts_parse(argc, argv, &o, err) < 0)
		return -1;
	if (!o.data_dir || o.first != argc)
		return rp_err_set(err, RP_ERR_USAGE, "blob-sweep needs --data-dir DIR");
	unsigned removed = 0;
	if (blob_sweep_tmp(o.data_dir, o.older_than, &removed, err) < 0)
		return -1;
	printf("%u\n", removed);
	return 0;
}

static int blob_put_cmd(int argc, char **argv, struct rp_err *err)
{
	struct local_opts o;
	if (local_opts_parse(argc, argv, &o, err) < 0)
		return -1;
	if (!o.data_dir || o.first != argc - 2)
		return rp_err_set(err, RP_ERR_USAGE, "blob-put needs --data-dir DIR, SHA256 and FILE");
	int fd = open(argv[argc - 1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", argv[argc - 1]);
	struct stat st;
	uint64_t size = o.has_size ? o.size : fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	struct pg_db *db = pg_connect(o.db, err);
	bool stored = false;
	int rc = db ? blob_put(db, o.data_dir, argv[o.first], fd, size, o.cap, &stored, err) : -1;
	pg_close(db);
	close(fd);
	if (rc == 0)
		printf("%s\n", stored ? "stored" : "present");
	return rc;
}
#endif

/* ---- serving ---- */

static int serve_cmd(int argc, char **argv, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},	    {"listen", required_argument, NULL, 'l'},
		{"data-dir", required_argument, NULL, 'D'}, {"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},  {"max-blob", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0}};
	struct srv_options o = {0};
	char *end;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.db_url = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'D': o.data_dir = optarg; break;
		case 'c': o.tls_cert = optarg; break;
		case 'k': o.tls_key = optarg; break;
		case 'm':
			errno = 0;
			o.max_blob = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || !o.max_blob)
				return rp_err_set(err, RP_ERR_USAGE, "--max-blob '%s': a number of bytes", optarg);
			break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: {
			char *shown = pg_redact_url(argv[optind - 1]);
			rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see runpilot server --help)", shown);
			free(shown);
			return -1;
		}
		}
	}
	if (optind < argc) {
		char *shown = pg_redact_url(argv[optind]);
		rp_err_set(err, RP_ERR_USAGE, "no server command '%s': use migrate, audit, account, project, member or token",
			   shown);
		free(shown);
		return -1;
	}
	if (!o.db_url || !*o.db_url)
		o.db_url = getenv("RUNPILOT_DB");
	if (!o.db_url || !*o.db_url)
		return rp_err_set(err, RP_ERR_USAGE, "no database: give --db URL or set RUNPILOT_DB");
	/* the workers inherit the mask: the signals wait for this thread's sigwait */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0)
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot block SIGTERM");
	struct srv *s = NULL;
	if (srv_start(&o, &s, err) < 0)
		return -1;
	printf("%s\n", srv_url(s));
	fflush(stdout);
	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	srv_stop(s);
	if (test_hook("RUNPILOT_TEST_ARGON2_PEAK"))
		fprintf(stderr, "argon2 peak: %d\n", srv_argon2_peak());
	return 0;
}

/* ---- administration on the database host ---- */

struct admin_opts {
	const char *db;
	const char *name;
	int expires_days;
	bool admin;
	bool password_stdin;
	const char *pos[4];
	int npos;
};

static int parse_admin(int argc, char **argv, int want, const char *form, struct admin_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},	   {"name", required_argument, NULL, 'n'},
		{"expires-days", required_argument, NULL, 'e'}, {"admin", no_argument, NULL, 'a'},
		{"password-stdin", no_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "-:", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (o->npos == 4)
				return rp_err_set(err, RP_ERR_USAGE, "too many arguments (usage: %s)", form);
			o->pos[o->npos++] = optarg;
			break;
		case 'd': o->db = optarg; break;
		case 'n': o->name = optarg; break;
		case 'e':
			errno = 0;
			o->expires_days = (int)strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || o->expires_days < 0)
				return rp_err_set(err, RP_ERR_USAGE, "--expires-days '%s': a number of days", optarg);
			break;
		case 'a': o->admin = true; break;
		case 'p': o->password_stdin = true; break;
		case ':': return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default: {
			char *shown = pg_redact_url(argv[optind - 1]);
			rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (usage: %s)", shown, form);
			free(shown);
			return -1;
		}
		}
	}
	if (o->npos != want)
		return rp_err_set(err, RP_ERR_USAGE, "usage: %s", form);
	if (!o->db || !*o->db)
		o->db = getenv("RUNPILOT_DB");
	if (!o->db || !*o->db)
		return rp_err_set(err, RP_ERR_USAGE, "no database: give --db URL or set RUNPILOT_DB");
	return 0;
}

static void local_actor(char *out, size_t n)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw)
		snprintf(out, n, "local:%s", pw->pw_name);
	else
		snprintf(out, n, "local:%u", (unsigned)geteuid());
}

/* One line of f, its newline removed; NULL at the end. */
static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t n = 0;
	ssize_t len = getline(&line, &n, f);
	if (len < 0) {
		free(line);
		return NULL;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	return line;
}

char *ask_password(bool from_stdin, struct rp_err *err)
{
	if (from_stdin) {
		char *pw = read_line(stdin);
		if (!pw || !*pw) {
			free(pw);
			rp_err_set(err, RP_ERR_USAGE, "--password-stdin: no password on stdin");
			return NULL;
		}
		return pw;
	}
	FILE *tty = fopen("/dev/tty", "r+e");
	if (!tty) {
		rp_err_set(err, RP_ERR_USAGE, "no terminal to ask the password on: use --password-stdin");
		return NULL;
	}
	struct termios old, quiet;
	bool echo_off = tcgetattr(fileno(tty), &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	fputs("Password: ", tty);
	fflush(tty);
	char *pw = read_line(tty);
	if (echo_off)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	if (!pw || !*pw) {
		free(pw);
		rp_err_set(err, RP_ERR_USAGE, "no password given");
		return NULL;
	}
	return pw;
}

static int admin_cmd(int argc, char **argv, const char *what, struct rp_err *err)
{
	struct admin_opts o = {.name = "cli"};
	char actor_name[300];
	local_actor(actor_name, sizeof actor_name);
	struct srv_actor who = {actor_name, NULL};
	char *password = NULL;
	const char *form;
	int want;
	if (!strcmp(what, "account add"))
		form = "runpilot server account add NAME [--admin] [--password-stdin]", want = 1;
	else if (!strcmp(what, "account disable"))
		form = "runpilot server account disable NAME", want = 1;
	else if (!strcmp(what, "project add"))
		form = "runpilot server project add NAME", want = 1;
	else if (!strcmp(what, "member set"))
		form = "runpilot server member set PROJECT ACCOUNT viewer|editor|admin|none", want = 3;
	else if (!strcmp(what, "token create"))
		form = "runpilot server token create ACCOUNT [--name N] [--expires-days D]", want = 1;
	else
		form = "runpilot server token revoke ID", want = 1;
	if (parse_admin(argc, argv, want, form, &o, err) < 0)
		return -1;
	long long id = 0;
	if (!strcmp(what, "token revoke")) {
		char *end;
		id = strtoll(o.pos[0], &end, 10);
		if (*end || id <= 0)
			return rp_err_set(err, RP_ERR_USAGE, "token revoke: '%s' is not a token id", o.pos[0]);
	}
	if (!strcmp(what, "account add")) {
		if (!srv_name_ok(o.pos[0]))
			return rp_err_set(err, RP_ERR_USAGE, "account name '%.64s' is not valid: 1 to 64 of letters, "
					  "digits, '.', '_', '-', starting with a letter or digit", o.pos[0]);
		if (!(password = ask_password(o.password_stdin, err)))
			return -1;
	}
	struct pg_db *db = pg_connect(o.db, err);
	if (!db) {
		free(password);
		return -1;
	}
	int from, to, rc = server_migrate(db, &from, &to, err);
	char token[SRV_TOKEN_LEN + 1] = "";
	bool found = true;
	if (rc == 0 && !strcmp(what, "account add"))
		rc = srv_account_add(db, &who, o.pos[0], password, o.admin, err);
	else if (rc == 0 && !strcmp(what, "account disable"))
		rc = srv_account_disable(db, &who, o.pos[0], err);
	else if (rc == 0 && !strcmp(what, "project add"))
		rc = srv_project_add(db, &who, o.pos[0], err);
	else if (rc == 0 && !strcmp(what, "member set"))
		rc = srv_member_set(db, &who, o.pos[0], o.pos[1], o.pos[2], err);
	else if (rc == 0 && !strcmp(what, "token create"))
		rc = srv_token_create(db, &who, o.pos[0], o.name, o.expires_days, token, &id, err);
	else if (rc == 0)
		rc = srv_token_revoke(db, &who, id, 0, &found, err);
	pg_close(db);
	free(password);
	if (rc != 0)
		return -1;
	if (!found)
		return rp_err_set(err, RP_ERR_USAGE, "no token %lld", id);
	if (!strcmp(what, "token create")) {
		printf("token %lld: %s\n", id, token);
		fprintf(stderr, "runpilot: this token is shown once: keep it now\n");
	} else if (!strcmp(what, "token revoke")) {
		printf("token %lld revoked\n", id);
	} else {
		printf("%s: done\n", what);
	}
	return 0;
}

static const char *const admin_words[] = {"account add", "account disable", "project add", "member set",
					  "token create", "token revoke"};

int cmd_server(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2 || argv[1][0] == '-')
		return serve_cmd(argc, argv, err);
	if (argc >= 3) {
		char words[64];
		snprintf(words, sizeof words, "%s %s", argv[1], argv[2]);
		for (size_t i = 0; i < sizeof admin_words / sizeof *admin_words; i++)
			if (!strcmp(words, admin_words[i]))
				return admin_cmd(argc - 2, argv + 2, admin_words[i], err);
	}
#ifdef RUNPILOT_TEST_HOOKS
	if (!strcmp(argv[1], "routes")) {
		char *json = srv_routes_json();
		printf("%s\n", json);
		free(json);
		return 0;
	}
#endif
	if (!strcmp(argv[1], "migrate"))
		return server_migrate_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "verify"))
		return audit_verify_cmd(argc - 2, argv + 2, err);
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "export"))
		return audit_export_cmd(argc - 2, argv + 2, err);
#ifdef RUNPILOT_TEST_HOOKS
	if (!strcmp(argv[1], "audit") && argc >= 3 && !strcmp(argv[2], "append"))
		return audit_append_cmd(argc - 2, argv + 2, err);
	if (!strcmp(argv[1], "push-local"))
		return push_local_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "pull-local"))
		return pull_local_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "push-json"))
		return push_json_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "payload-local"))
		return payload_local_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "blob-sweep"))
		return blob_sweep_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "blob-put"))
		return blob_put_cmd(argc - 1, argv + 1, err);
	if (!strcmp(argv[1], "ui-query"))
		return server_ui_query_cmd(argc - 1, argv + 1, err);
#endif
	bool audit = !strcmp(argv[1], "audit") && argc >= 3;
	char *shown = pg_redact_url(audit ? argv[2] : argv[1]);
	rp_err_set(err, RP_ERR_USAGE, "no server command '%s%s': use migrate, audit verify|export, account add|disable, "
		   "project add, member set or token create|revoke",
		   audit ? "audit " : "", shown);
	free(shown);
	return -1;
}
