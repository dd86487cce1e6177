/* migrate.c: the server's schema, built by versioned migrations (include/server.h). A migration
 * is a list of statements, applied in one transaction with its row in schema_migrations; a
 * version once released is never edited, only followed by a new one. */
#include <stdio.h>
#include <stdlib.h>

#include "pgdb.h"
#include "server.h"

/* pg_advisory_lock's key for migrations: any constant of our own ("rpmigr" in ASCII). */
#define MIGRATE_LOCK "126909232706930"

/* Version 1: the whole data model. runs/params/tags/metrics mirror the local index
 * (src/core/index_schema.h), so --where compiles to both with the same names. */
static const char *const v1[] = {
	"CREATE TABLE accounts ("
	" id bigserial PRIMARY KEY,"
	" name text NOT NULL UNIQUE,"
	" password_hash text," /* argon2id, PHC string form; NULL: no password login */
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" disabled boolean NOT NULL DEFAULT false)",

	"CREATE TABLE projects ("
	" id bigserial PRIMARY KEY,"
	" name text NOT NULL UNIQUE,"
	" created_at timestamptz NOT NULL DEFAULT now())",

	"CREATE TABLE members ("
	" project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,"
	" account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
	" role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),"
	" PRIMARY KEY (project_id, account_id))",
	"CREATE INDEX members_account ON members (account_id)",

	/* Only the token's SHA-256 is stored, never the token. */
	"CREATE TABLE tokens ("
	" id bigserial PRIMARY KEY,"
	" account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
	" name text NOT NULL,"
	" hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" expires_at timestamptz,"
	" revoked_at timestamptz,"
	" last_used_at timestamptz)",
	"CREATE INDEX tokens_account ON tokens (account_id)",

	/* A session is found by the hash of its id (the cookie's value). */
	"CREATE TABLE sessions ("
	" hash bytea PRIMARY KEY CHECK (length(hash) = 32),"
	" account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
	" csrf text NOT NULL,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" expires_at timestamptz NOT NULL)",
	"CREATE INDEX sessions_account ON sessions (account_id)",
	"CREATE INDEX sessions_expires ON sessions (expires_at)",

	"CREATE TABLE runs ("
	" id bigserial PRIMARY KEY,"
	" project_id bigint NOT NULL REFERENCES projects,"
	" num bigint NOT NULL,"
	" uid text NOT NULL,"
	" revision integer NOT NULL DEFAULT 1,"
	" content_hash text NOT NULL,"
	" name text, status text, reason text,"
	" created double precision, started double precision, ended double precision, duration double precision,"
	" runner text, image text, fingerprint text, exit_code integer, signal integer,"
	" fp_config text, fp_code text, fp_runtime text, fp_packages text, fp_env text,"
	" note text, sweep text,"
	" record jsonb NOT NULL,"
	" pushed_at timestamptz NOT NULL DEFAULT now(),"
	" pushed_by bigint,"
	" deleted_at timestamptz,"
	" UNIQUE (project_id, uid))",
	/* Keyset pages of a project's runs, by number and by status then number. */
	"CREATE INDEX runs_project_num ON runs (project_id, num, id)",
	"CREATE INDEX runs_project_status_num ON runs (project_id, status, num, id)",
	"CREATE INDEX runs_project_created ON runs (project_id, created, id)",

	"CREATE TABLE params ("
	" run_id bigint REFERENCES runs ON DELETE CASCADE,"
	" key text, num double precision, text text,"
	" PRIMARY KEY (run_id, key))",
	"CREATE INDEX params_key_num ON params (key, num)",
	"CREATE INDEX params_key_text ON params (key, text)",

	"CREATE TABLE tags ("
	" run_id bigint REFERENCES runs ON DELETE CASCADE,"
	" tag text,"
	" PRIMARY KEY (run_id, tag))",
	"CREATE INDEX tags_tag ON tags (tag)",

	"CREATE TABLE metrics ("
	" run_id bigint REFERENCES runs ON DELETE CASCADE,"
	" name text, last double precision, min double precision, max double precision,"
	" count bigint, last_step bigint,"
	" PRIMARY KEY (run_id, name))",
	"CREATE INDEX metrics_name_last ON metrics (name, last)",

	/* A metric's whole series in one row, as metrics.json keeps it. */
	"CREATE TABLE series ("
	" run_id bigint REFERENCES runs ON DELETE CASCADE,"
	" name text,"
	" steps bigint[] NOT NULL,"
	" \"values\" double precision[] NOT NULL,"
	" CHECK (cardinality(steps) = cardinality(\"values\")),"
	" PRIMARY KEY (run_id, name))",

	/* Outputs and logs by content: one blob per sha256, shared by the runs that name it. */
	"CREATE TABLE blobs ("
	" sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
	" size bigint NOT NULL CHECK (size >= 0),"
	" created_at timestamptz NOT NULL DEFAULT now())",
	"CREATE TABLE run_blobs ("
	" run_id bigint REFERENCES runs ON DELETE CASCADE,"
	" path text,"
	" sha256 text NOT NULL REFERENCES blobs,"
	" PRIMARY KEY (run_id, path))",
	"CREATE INDEX run_blobs_sha256 ON run_blobs (sha256)",

	/* Tags and notes changed on the server, kept apart from the pushed record. */
	"CREATE TABLE annotations ("
	" run_id bigint PRIMARY KEY REFERENCES runs ON DELETE CASCADE,"
	" tags_added text[] NOT NULL DEFAULT '{}',"
	" tags_removed text[] NOT NULL DEFAULT '{}',"
	" note text,"
	" updated_by bigint REFERENCES accounts,"
	" updated_at timestamptz NOT NULL DEFAULT now())",

	/* The audit trail: append-only, each event chained to the one before by hash (audit.c). */
	"CREATE TABLE audit ("
	" id bigserial PRIMARY KEY,"
	" at timestamptz NOT NULL,"
	" actor text NOT NULL,"
	" address text,"
	" action text NOT NULL,"
	" project text,"
	" detail jsonb NOT NULL DEFAULT '{}',"
	" prev_hash bytea NOT NULL UNIQUE CHECK (length(prev_hash) = 32)," /* the chain cannot fork */
	" hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32))",
	"CREATE INDEX audit_project_at ON audit (project, at)",
	"CREATE INDEX audit_at ON audit (at)",
	"CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';"
	" END $$",
	/* Statement triggers fire for every role and even when no row matches. */
	"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit"
	" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()",
	"REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM PUBLIC",
	NULL,
};

/* Version 2: server administrators (they create projects; project roles stay in members). */
static const char *const v2[] = {
	"ALTER TABLE accounts ADD COLUMN is_admin boolean NOT NULL DEFAULT false",
	NULL,
};

static const char *const *const migrations[] = {v1, v2};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

int server_schema_latest(void)
{
	return NMIGRATIONS;
}

static int current_version(struct pg_db *db, int *version, struct rp_err *err)
{
	struct pg_res *r = pg_exec(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, err);
	if (!r)
		return -1;
	*version = atoi(pg_value(r, 0, 0) ? pg_value(r, 0, 0) : "0");
	pg_res_free(r);
	return 0;
}

static int apply(struct pg_db *db, int version, struct rp_err *err)
{
	if (pg_begin(db, err) < 0)
		return -1;
	for (const char *const *s = migrations[version - 1]; *s; s++)
		if (pg_cmd(db, *s, 0, NULL, err) < 0)
			goto fail;
	char v[16];
	snprintf(v, sizeof v, "%d", version);
	const char *p[] = {v};
	if (pg_cmd(db, "INSERT INTO schema_migrations (version) VALUES ($1::integer)", 1, p, err) < 0 ||
	    pg_commit(db, err) < 0)
		goto fail;
	return 0;
fail:
	pg_rollback(db);
	return rp_err_wrap(err, "schema version %d", version);
}

static int migrate_locked(struct pg_db *db, int *from, int *to, struct rp_err *err)
{
	if (pg_cmd(db,
		   "CREATE TABLE IF NOT EXISTS schema_migrations ("
		   " version integer PRIMARY KEY,"
		   " applied_at timestamptz NOT NULL DEFAULT now())",
		   0, NULL, err) < 0 ||
	    current_version(db, from, err) < 0)
		return -1;
	*to = *from;
	if (*from > NMIGRATIONS)
		return rp_err_set(err, RP_ERR_RUNTIME,
				  "the database is at schema version %d, made by a newer runpilot (this one knows up "
				  "to %d): upgrade it",
				  *from, NMIGRATIONS);
	for (int v = *from + 1; v <= NMIGRATIONS; v++) {
		if (apply(db, v, err) < 0)
			return -1;
		*to = v;
	}
	return 0;
}

int server_migrate(struct pg_db *db, int *from, int *to, struct rp_err *err)
{
	if (pg_cmd(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL, err) < 0)
		return rp_err_wrap(err, "migrations");
	int rc = migrate_locked(db, from, to, err);
	struct rp_err ignored = {0};
	pg_cmd(db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", 0, NULL, &ignored);
	return rc;
}
