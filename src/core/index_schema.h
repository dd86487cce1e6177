/* The run index's schema ($RUNPILOT_HOME/index.db, SQLite): a cache of the run directories, which
 * stay the source of truth. One row per run in `runs` (with its fingerprint's component hashes);
 * its params, tags and metric summaries in their own tables, keyed by the run's id. `--where` expressions
 * compile to SQL over these tables (where.h), with every value a bound parameter.
 *
 * Bump INDEX_SCHEMA_VERSION whenever a table changes: an index of another version is rebuilt. */
#ifndef RP_INDEX_SCHEMA_H
#define RP_INDEX_SCHEMA_H

#define INDEX_SCHEMA_VERSION 2

/* The tables, then their secondary indexes (a rebuild creates those after filling the tables). */
#define INDEX_SCHEMA_TABLES_SQL                                                                    \
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;\n"      \
	/* times: epoch seconds (NULL: not yet); duration: seconds (NULL: unknown) */              \
	"CREATE TABLE IF NOT EXISTS runs (\n"                                                      \
	"  id TEXT PRIMARY KEY,        -- rp_0007\n"                                               \
	"  num INTEGER NOT NULL,       -- 7: the order of the store\n"                             \
	"  uid TEXT, name TEXT, status TEXT, reason TEXT,\n"                                        \
	"  created REAL, started REAL, ended REAL, duration REAL,\n"                               \
	"  runner TEXT, image TEXT, fingerprint TEXT, exit_code INTEGER, signal INTEGER,\n"        \
	"  -- the fingerprint's component hashes (docs/fingerprint.md)\n"                           \
	"  fp_config TEXT, fp_code TEXT, fp_runtime TEXT, fp_packages TEXT, fp_env TEXT,\n"         \
	"  note TEXT,\n"                                                                            \
	"  sweep TEXT,                 -- run.json's sweep.id\n"                                     \
	"  stamp TEXT                  -- run.json's size and mtime when indexed: out of step if\n" \
	"                              -- they differ\n"                                            \
	");\n"                                                                                      \
	/* a param's value: num when it is a number (int, float, bool as 0/1), text always */      \
	"CREATE TABLE IF NOT EXISTS params (run_id TEXT NOT NULL, key TEXT NOT NULL, num REAL, "   \
	"text TEXT, PRIMARY KEY (run_id, key)) WITHOUT ROWID;\n"                                    \
	"CREATE TABLE IF NOT EXISTS tags (run_id TEXT NOT NULL, tag TEXT NOT NULL, "               \
	"PRIMARY KEY (run_id, tag)) WITHOUT ROWID;\n"                                               \
	/* a metric's summary (run.json's "metrics"); a NaN is stored as NULL */                   \
	"CREATE TABLE IF NOT EXISTS metrics (run_id TEXT NOT NULL, name TEXT NOT NULL, last REAL, " \
	"min REAL, max REAL, count INTEGER, last_step INTEGER, PRIMARY KEY (run_id, name)) "       \
	"WITHOUT ROWID;\n"

#define INDEX_SCHEMA_INDEXES_SQL                                                                   \
	"CREATE INDEX IF NOT EXISTS runs_num ON runs(num);\n"                                       \
	"CREATE INDEX IF NOT EXISTS runs_status ON runs(status, num);\n"                            \
	"CREATE INDEX IF NOT EXISTS runs_started ON runs(started);\n"                               \
	"CREATE INDEX IF NOT EXISTS runs_sweep ON runs(sweep, num);\n"                              \
	"CREATE INDEX IF NOT EXISTS params_key ON params(key, num);\n"                              \
	"CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);\n"                                       \
	"CREATE INDEX IF NOT EXISTS metrics_name ON metrics(name, last);\n"

#define INDEX_SCHEMA_SQL INDEX_SCHEMA_TABLES_SQL INDEX_SCHEMA_INDEXES_SQL

#endif
