#!/usr/bin/env bash
# The team server's database against a real PostgreSQL (pg_lib.sh): `server migrate` (every
# table, a no-op the second time, concurrent runs, a newer database refused), connection errors
# (one line, no password), and the audit trail (appended by the test build's hidden
# `server audit append`; refused UPDATE/DELETE/TRUNCATE for the tables' owner; a superuser's
# edit or removal caught by `server audit verify`; `server audit export` as JSONL).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "server db" "$PG_WHY"; exit 0; fi
	fail "postgres starts" "$PG_WHY"
	exit 1
fi
rpt() { "$RUNPILOT_TEST_BIN" "$@"; }
q() { local db=$1; shift; pg_psql "$db" -tA -c "$*"; }
# out NAME CMD...: run CMD, its stdout in $T/NAME.out, stderr in $T/NAME.err, status in $rc.
out() { local n=$1; shift; "$@" > "$T/$n.out" 2> "$T/$n.err"; rc=$?; }
one_line() { [ "$(wc -l < "$1")" -eq 1 ]; }
export -f one_line
lacks() { ! grep -q -- "$2" "$1"; }
has() { grep -q -- "$2" "$1"; }
URL=$RP_TEST_PG_URL

# ---- migrate ----
out m1 rp server migrate --db "$URL"
check "migrate: exit 0" test "$rc" = 0
check "migrate: prints the version it reached" test "$(cat "$T/m1.out")" = "schema version 2 (migrated from 0)"
tables="accounts annotations audit blobs members metrics params projects run_blobs runs schema_migrations series sessions tags tokens"
got=$(q rp_test "select string_agg(tablename, ' ' order by tablename) from pg_tables where schemaname = 'public'")
check "migrate: creates every table ($got)" test "$got" = "$tables"
runs_cols=$(q rp_test "select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns where table_name = 'runs'")
check "migrate: runs has the shared schema's columns" test "$runs_cols" = \
	"id,project_id,num,uid,revision,content_hash,name,status,reason,created,started,ended,duration,runner,image,fingerprint,exit_code,signal,fp_config,fp_code,fp_runtime,fp_packages,fp_env,note,sweep,record,pushed_at,pushed_by,deleted_at"
check "migrate: params, tags, metrics, series as given" test "$(q rp_test "select string_agg(table_name || '.' || column_name, ',' order by table_name, ordinal_position) from information_schema.columns where table_name in ('params', 'tags', 'metrics', 'series')")" = \
	"metrics.run_id,metrics.name,metrics.last,metrics.min,metrics.max,metrics.count,metrics.last_step,params.run_id,params.key,params.num,params.text,series.run_id,series.name,series.steps,series.values,tags.run_id,tags.tag"
idx=$(q rp_test "select string_agg(indexname, ' ' order by indexname) from pg_indexes where schemaname = 'public' and indexname in ('runs_project_num', 'runs_project_status_num', 'params_key_num', 'metrics_name_last', 'tags_tag')")
check "migrate: the paging and --where indexes ($idx)" test "$idx" = "metrics_name_last params_key_num runs_project_num runs_project_status_num tags_tag"
check "migrate: runs are unique by (project, uid)" test "$(q rp_test "select count(*) from pg_indexes where tablename = 'runs' and indexdef like 'CREATE UNIQUE INDEX % (project_id, uid)'")" = 1
check "migrate: a member's role is viewer, editor or admin" bash -c "! psql -X -q '$URL' -c \"insert into accounts (name) values ('a'); insert into projects (name) values ('p'); insert into members values (1, 1, 'owner')\" 2>/dev/null"
check "migrate: a token's hash is unique" test "$(q rp_test "select count(*) from pg_indexes where tablename = 'tokens' and indexdef like 'CREATE UNIQUE INDEX % (hash)'")" = 1
before=$(q rp_test "select version || ' ' || applied_at from schema_migrations order by version")
out m2 rp server migrate --db "$URL"
check "migrate again: exit 0" test "$rc" = 0
check "migrate again: up to date" test "$(cat "$T/m2.out")" = "schema version 2 (up to date)"
check "migrate again: schema_migrations unchanged" test "$(q rp_test "select version || ' ' || applied_at from schema_migrations order by version")" = "$before"
check "migrate: RUNPILOT_DB when --db is absent" bash -c "RUNPILOT_DB='$URL' '$RUNPILOT_BIN' server migrate | grep -qx 'schema version 2 (up to date)'"

# Two at once on a fresh database: both succeed, the schema is applied once.
pg_createdb conc
CURL=$(pg_url conc)
rp server migrate --db "$CURL" > "$T/c1.out" 2>&1 & p1=$!
rp server migrate --db "$CURL" > "$T/c2.out" 2>&1 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "concurrent migrate: both exit 0 ($r1, $r2)" test "$r1$r2" = 00
check "concurrent migrate: one applied, one found it done" test "$(cat "$T/c1.out" "$T/c2.out" | sort | tr '\n' '|')" = \
	"schema version 2 (migrated from 0)|schema version 2 (up to date)|"
check "concurrent migrate: versions 1 and 2 recorded once" test "$(q conc "select count(*) from schema_migrations")" = 2

# A database a newer runpilot made.
q conc "insert into schema_migrations (version) values (99)" > /dev/null
out newer rp server migrate --db "$CURL"
check "newer database: exit 1" test "$rc" = 1
check "newer database: says a newer runpilot made it" grep -q "^runpilot: error: .*version 99, made by a newer runpilot.*: upgrade it" "$T/newer.err"
check "newer database: nothing applied" test "$(q conc "select string_agg(version::text, ',' order by version) from schema_migrations")" = "1,2,99"

# ---- connection errors: one line, exit 1, never the password ----
PW=hunter2pw
bad="postgresql://rp:$PW@/no_such_db?host=$PG_HOST"
out nodb rp server migrate --db "$bad"
check "no such database: exit 1" test "$rc" = 1
check "no such database: one line" one_line "$T/nodb.err"
check "no such database: says why" has "$T/nodb.err" 'database "no_such_db" does not exist'
check "no such database: the URL shown without its password" has "$T/nodb.err" "postgresql://rp:\*\*\*@/no_such_db"
check "no such database: no password" lacks "$T/nodb.err" "$PW"
out envpw env RUNPILOT_DB="$bad" "$RUNPILOT_BIN" server audit verify
check "no such database (RUNPILOT_DB, audit verify): exit 1, no password" bash -c "[ $rc = 1 ] && one_line '$T/envpw.err' && ! grep -q '$PW' '$T/envpw.err' '$T/envpw.out'"
out malformed rp server migrate --db "postgresql://rp:$PW@/db?host=$PG_HOST&nonsense=1"
check "malformed URL: a usage error (exit 2), one line, no password" bash -c "[ $rc = 2 ] && one_line '$T/malformed.err' && ! grep -q '$PW' '$T/malformed.err'"
out slash rp server migrate --db "postgresql://rp:hun/ter2pw@/db?host=$PG_HOST"
check "a password with a bare '/': refused, no part of it shown" bash -c "[ $rc = 2 ] && one_line '$T/slash.err' && ! grep -q -e hun -e ter2pw '$T/slash.err'"
out kv rp server migrate --db "host=$PG_HOST user=rp dbname=no_such_db password='$PW x'"
check "key=value settings: exit 1, no password" bash -c "[ $rc = 1 ] && one_line '$T/kv.err' && ! grep -q '$PW' '$T/kv.err'"
out nodbopt env -u RUNPILOT_DB "$RUNPILOT_BIN" server migrate
check "no --db and no RUNPILOT_DB: a usage error" bash -c "[ $rc = 2 ] && grep -q 'give --db URL or set RUNPILOT_DB' '$T/nodbopt.err'"
out stray rp server migrate "postgresql://rp:$PW@h/db"
check "a stray argument: usage error, no password" bash -c "[ $rc = 2 ] && ! grep -q '$PW' '$T/stray.err'"

check "libpq is loaded at first use, not linked" bash -c "! ldd '$RUNPILOT_BIN' | grep -q libpq"

# ---- usage ----
out u0 env -u RUNPILOT_DB "$RUNPILOT_BIN" server
check "server alone (serving) without a database: exit 2 asking for one" bash -c "[ $rc = 2 ] && grep -q 'give --db URL or set RUNPILOT_DB' '$T/u0.err'"
out u1 rp server serve --db "$URL"
check "server serve (no such word): exit 2 naming the commands" bash -c "[ $rc = 2 ] && grep -q \"no server command 'serve'.*account add|disable\" '$T/u1.err'"
out u2 rp server audit append --db "$URL" --actor x --action y
check "audit append exists only in the test build" test "$rc" = 2
out u3 rp server --help
check "help: every option" bash -c "grep -q -- '--db URL' '$T/u3.out' && grep -q -- '-o, --output FILE' '$T/u3.out' && grep -q RUNPILOT_DB '$T/u3.out'"

# ---- the audit trail ----
export RUNPILOT_DB=$URL
out v0 rp server audit verify
check "audit verify, empty: intact" bash -c "[ $rc = 0 ] && [ \"\$(cat '$T/v0.out')\" = 'audit: 0 events, chain intact' ]"
rpt server audit append --actor alice --action login --address 127.0.0.1 > /dev/null
rpt server audit append --actor alice --action push --project vision --detail '{"run": "rp_0001", "revision": 2, "x": 1.50}' > /dev/null
rpt server audit append --actor bob --action token.create --detail '{"name": "ci"}' > /dev/null
# Appends from two processes at once chain one after the other.
pids=()
for c in 1 2 3 4; do rpt server audit append --actor c$c --action push --project vision --count 50 > /dev/null & pids+=($!); done
rcs=""
for p in "${pids[@]}"; do wait "$p"; rcs+=$?; done
check "audit append: four appending at once all succeed" test "$rcs" = 0000
rpt server audit append --actor dave --action logout > /dev/null
out notobj rpt server audit append --actor x --action y --detail '[1]'
check "audit append: a detail that is not a JSON object is refused" bash -c "[ $rc = 2 ] && grep -q 'must be a JSON object' '$T/notobj.err'"
out v1 rp server audit verify
check "audit verify: 204 events, intact" bash -c "[ $rc = 0 ] && [ \"\$(cat '$T/v1.out')\" = 'audit: 204 events, chain intact' ]"
check "audit: ids run 1..204 without a gap" test "$(q rp_test "select min(id) || ' ' || max(id) || ' ' || count(*) from audit")" = "1 204 204"
check "audit: each event's prev_hash is the hash of the one before" test "$(q rp_test "select count(*) from audit a join audit b on b.id = a.id - 1 where a.prev_hash = b.hash")" = 203

out ex rp server audit export
check "audit export: one line per event" test "$(wc -l < "$T/ex.out")" = 204
check "audit export: each line a JSON object with the fields, chained" python3 - "$T/ex.out" <<'PY'
import json, sys
prev = "0" * 64
for n, line in enumerate(open(sys.argv[1]), 1):
    e = json.loads(line)
    assert list(e) == ["id", "at", "actor", "address", "action", "project", "detail", "prev_hash", "hash"], e
    assert e["id"] == n and e["prev_hash"] == prev and len(e["hash"]) == 64, e
    assert isinstance(e["detail"], dict)
    prev = e["hash"]
first, second = [json.loads(l) for l in open(sys.argv[1]).readlines()[:2]]
assert first["actor"] == "alice" and first["address"] == "127.0.0.1" and first["project"] is None
assert second["detail"] == {"run": "rp_0001", "revision": 2, "x": 1.5} and second["project"] == "vision"
PY
out exo rp server audit export -o "$T/audit.jsonl"
check "audit export -o: writes FILE, the same lines, nothing on stdout" bash -c "[ $rc = 0 ] && cmp -s '$T/audit.jsonl' '$T/ex.out' && [ ! -s '$T/exo.out' ]"
check "audit export -o: FILE is mode 0600" test "$(stat -c %a "$T/audit.jsonl")" = 600

# The tables' owner, not a superuser, cannot change the trail.
q rp_test "create role app login" > /dev/null
q rp_test "create database appdb owner app" > /dev/null
APP="postgresql:///appdb?host=$PG_HOST&user=app"
out appm rp server migrate --db "$APP"
check "an owner role: migrate works" test "$rc" = 0
check "an owner role: it owns audit and is no superuser" test "$(psql -X -tA "$APP" -c "select tableowner || ' ' || (select rolsuper from pg_roles where rolname = current_user) from pg_tables where tablename = 'audit'")" = "app false"
RUNPILOT_DB=$APP rpt server audit append --actor alice --action login > /dev/null
RUNPILOT_DB=$APP rpt server audit append --actor alice --action push > /dev/null
for sql in "update audit set actor = 'mallory'" "delete from audit where id = 1" "truncate audit" "delete from audit where id = 999"; do
	check "owner role: '$sql' refused" bash -c "! psql -X -q -v ON_ERROR_STOP=1 '$APP' -c \"$sql\" 2> '$T/refused.err' && grep -q 'append-only' '$T/refused.err'"
done
check "owner role: the events are all still there" test "$(psql -X -tA "$APP" -c "select count(*) || ' ' || min(actor) from audit")" = "2 alice"
check "owner role: PUBLIC holds no UPDATE, DELETE or TRUNCATE on audit" test \
	"$(q appdb "select count(*) from information_schema.role_table_grants where table_name = 'audit' and grantee = 'PUBLIC' and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE')")" = 0

# A superuser who gets round the triggers is caught.
tamper() { pg_psql rp_test -c "alter table audit disable trigger all" -c "$1" -c "alter table audit enable trigger all"; }
tamper "update audit set detail = '{\"run\": \"rp_0002\", \"revision\": 2, \"x\": 1.50}' where id = 2"
out t1 rp server audit verify
check "superuser edits event 2's detail: exit 1" test "$rc" = 1
check "superuser edits event 2's detail: verify names event 2" grep -q "^audit: chain broken at event 2: its hash does not match its contents" "$T/t1.out"
tamper "update audit set detail = '{\"run\": \"rp_0001\", \"revision\": 2, \"x\": 1.50}' where id = 2"
out t2 rp server audit verify
check "the edit undone: intact again" test "$rc" = 0
tamper "update audit set at = at + interval '1 second' where id = 30"
out t3 rp server audit verify
check "superuser moves event 30's time: verify names event 30" bash -c "[ $rc = 1 ] && grep -q '^audit: chain broken at event 30:' '$T/t3.out'"
tamper "update audit set at = at - interval '1 second' where id = 30"
tamper "delete from audit where id = 10"
out t4 rp server audit verify
check "superuser deletes event 10: exit 1" test "$rc" = 1
check "superuser deletes event 10: verify names events 11 and 9" grep -q "^audit: chain broken at event 11: its prev_hash is not the hash of event 9 .*between 9 and 11" "$T/t4.out"
check "superuser deletes event 10: counts the events before it" grep -q "(9 events intact before it)" "$T/t4.out"
tamper "delete from audit where id = 1"
out t5 rp server audit verify
check "superuser deletes the first event: verify names event 2" bash -c "[ $rc = 1 ] && grep -q '^audit: chain broken at event 2: it is the first event' '$T/t5.out'"

# ---- a stopped server ----
_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop > /dev/null 2>&1
out stopped rp server migrate --db "postgresql://rp:$PW@/rp_test?host=$PG_HOST"
check "stopped server: exit 1" test "$rc" = 1
check "stopped server: one line" one_line "$T/stopped.err"
check "stopped server: says it cannot connect" grep -q "^runpilot: error: cannot connect to PostgreSQL at postgresql://rp:\*\*\*@/rp_test" "$T/stopped.err"
check "stopped server: no password" lacks "$T/stopped.err" "$PW"
out stopped2 rp server audit export
check "stopped server: audit export exits 1 with one line" bash -c "[ $rc = 1 ] && one_line '$T/stopped2.err' && [ ! -s '$T/stopped2.out' ]"
