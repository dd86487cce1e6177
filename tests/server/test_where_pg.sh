#!/usr/bin/env bash
# --where compiled for PostgreSQL (where_compile_dialect) answers exactly as `runpilot list
# --where` does on SQLite: ~300 synthetic runs (bench/history_gen.py, then varied: names full of
# regex metacharacters, times over two months, text and numeric params, missing values) are
# loaded from the run index into a private PostgreSQL with the server's tables (made by `runpilot
# server migrate`), in two projects;
# for each expression the uids of project 1's matching runs must be the same set. Injection
# attempts through values, keys and names match nothing or are usage errors, and leave the tables
# as they were. build/helpers/where_pg compiles each expression and runs it through libpq, every
# value a bound parameter.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

WHERE_PG=${RP_HELPERS:-$here/../../build/helpers}/where_pg
if [ ! -x "$WHERE_PG" ]; then
	fail "where_pg helper" "$WHERE_PG is missing (make build/helpers/where_pg)"
	exit 1
fi
if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "where on postgresql" "$PG_WHY"; exit 0; fi
	fail "postgresql starts" "$PG_WHY"
	exit 1
fi

# ---- the runs: history_gen.py's, varied ----
NOW=$(date +%s)
W=$T/w
mkdir -p "$W"
mkconfig "$W/t.yaml" template '"true"' 'params: {lr: 0.1}'
RUNPILOT_HOME=$T/template rp run -q --runner local "$W/t.yaml" > /dev/null 2>&1
if ! python3 "$here/../../bench/history_gen.py" "$T/template/runs/rp_0001/run.json" "$RUNPILOT_HOME" 300 > /dev/null; then
	fail "history_gen.py writes the runs" "see above"
	exit 1
fi
python3 - "$RUNPILOT_HOME/runs" "$NOW" <<'PY'
import json, os, random, sys, datetime
runs, now = sys.argv[1], float(sys.argv[2])
rng = random.Random(25)
names = ["a.b", "axb", "a+b", "(x)", "x|y", "{1}", "^start", "end$", "back\\slash", "Ünïcode-é", "it's",
         "brack[e]t", "star*", "q?", "", "$1", "Name-upper", "name-lower", "tab\there", "]close", "a-z", "-dash"]
def rfc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
for i in range(1, 301):
    path = os.path.join(runs, "rp_%04d" % i, "run.json")
    r = json.load(open(path))
    # times on half hours before now, so an age in whole hours or days is never close to one
    started = now - i * 4.5 * 3600 - 1800
    dur = rng.choice([5, 30, 90, 600, 3600, 7200.5])
    r["created_at"], r["started_at"] = rfc(started - 1), rfc(started)
    r["ended_at"], r["duration_s"] = rfc(started + dur), dur
    if i % 37 == 0:
        r.update(status="lost", reason="lost", ended_at=None, duration_s=None, exit_code=None)
    if i % 3 == 0:
        r["name"] = names[(i // 3) % len(names)]
    if i % 41 == 0:
        r["name"] = None
    p = r["params"]
    p["model/depth"] = rng.choice([2, 4, 8, 12])
    p["flag"] = rng.choice([True, False])
    if i % 2:
        p["mixed"] = rng.choice([0.001, 3, "1e-3", "adam", "", "it's", "0.5x"])
    if i % 5 == 0:
        p["opt"] = rng.choice(["Adam", "adamw", "s.g.d"])
    if i % 11 == 0:
        p["it's"] = 1
    m = r["metrics"]
    if i % 13 == 0:
        m["loss"]["last"] = None  # a NaN: not indexed
    if i % 4 == 0:
        m["train/loss"] = {"last": rng.uniform(0, 2), "min": 0.0, "max": 2.0, "count": 7, "last_step": 6}
    r["tags"] = r.get("tags", []) + rng.sample(["v1", "v2", "exp-a", "exp-b", "[x]", "a.b", "Tag", "ünï"], rng.randint(0, 3))
    if i % 6 == 0:
        r["tags"] = []
    r["note"] = rng.choice([None, None, "retry after oom", "it's fine", "50% done", "ends with $", "a\nb"])
    if i % 7 == 0:
        r["image"] = rng.choice(["pytorch:2.1", "python:3.12-slim"])
    if i % 9 == 0:
        r["sweep"] = {"id": rng.choice(["sw_1a2b", "sw_ffff"])}
    json.dump(r, open(path, "w"), indent=2)
PY
rp list --jsonl > "$T/all.jsonl" 2> "$T/list.err"
check "runpilot list indexes the 300 runs" test "$(wc -l < "$T/all.jsonl")" = 300

# ---- the server's tables, loaded from the run index ----
# A database that orders text by ICU's en-US rules (a before Z), unlike SQLite's bytes: the SQL
# must say how it orders.
if ! _pg_as "$PG_BIN/createdb" -h "$PG_HOST" -U rp -T template0 --locale-provider=icu --icu-locale=en-US rp_where; then
	fail "an ICU database" "createdb failed"
	exit 1
fi
DB_URL=$(pg_url rp_where)
python3 - "$RUNPILOT_HOME/index.db" > "$T/data.sql" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def cell(v):
    if v is None:
        return "\\N"
    if isinstance(v, float):
        return repr(v)
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
cols = ("num uid name status reason created started ended duration runner image fingerprint exit_code signal "
        "fp_config fp_code fp_runtime fp_packages fp_env note sweep").split()
rows = db.execute("SELECT id, %s FROM runs" % ", ".join(cols)).fetchall()
key = {}
# project 2 holds the same runs under other uids: the caller's scoping must keep them out
print("COPY runs (id, project_id, content_hash, record, %s) FROM stdin;" % ", ".join(cols))
for proj in (1, 2):
    for r in rows:
        pid = r[1] + (proj - 1) * 100000
        key[(proj, r[0])] = pid
        vals = list(r[1:])
        if proj == 2:
            vals[1] = "p2-" + vals[1]
        print("\t".join(cell(v) for v in [pid, proj, "h", "{}"] + vals))
print("\\.")
for table, c in (("params", "key, num, text"), ("tags", "tag"), ("metrics", "name, last, min, max, count, last_step")):
    print("COPY %s (run_id, %s) FROM stdin;" % (table, c))
    for proj in (1, 2):
        for r in db.execute("SELECT run_id, %s FROM %s" % (c, table)):
            print("\t".join(cell(v) for v in [key[(proj, r[0])]] + list(r[1:])))
    print("\\.")
PY
# the server's own schema (its migrations), two projects
if ! rp server migrate --db "$DB_URL" > /dev/null ||
	! pg_psql rp_where -c "INSERT INTO projects (id, name) VALUES (1, 'one'), (2, 'two')" ||
	! pg_psql rp_where -f "$T/data.sql" > /dev/null; then
	fail "the runs load into postgresql" "see above"
	exit 1
fi
counts() { pg_psql rp_where -tA -c "SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM params) || ' '
	|| (SELECT count(*) FROM tags) || ' ' || (SELECT count(*) FROM metrics)"; }
loaded=$(counts)
check "postgresql holds both projects' runs" test "${loaded%% *}" = 600

# ---- the expressions ----
q1() { "$WHERE_PG" --query "$DB_URL" 1 "$@"; }
# The uids of the records in a JSONL file (those named $2 when given), sorted.
uids() { python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if len(sys.argv) < 3 or r.get("name") == sys.argv[2]: print(r["uid"])' "$@" | LC_ALL=C sort; }
day() { date -u -d "@$((NOW - $1 * 86400))" +%F; }
D3=$(day 3) D10=$(day 10) D20=$(day 20)
T5=$(date -u -d "@$((NOW - 5 * 86400 - 900))" +%Y-%m-%dT%H:%M:%SZ)
exprs=(
	"status = success" "status != failed" "status = lost or status = cancelled"
	"name = sweep-7" "name != sweep-7" "name < m" "name >= sweep-3" "name <= 'Name-upper'" "name > Z"
	"name ~ 'sweep-1*'" "name ~ '*[0-9]'" "name ~ 'a.b'" "name ~ 'a?b'" "name ~ '[^s]*'" "name ~ '[]x]*'"
	"name ~ 'brack[[]e]t'" "name ~ '*\\\\*'" "name ~ '[À-Ý]*'" "name ~ '[!-]*'" "name ~ '[a-]*'"
	"name ~ '[z-a]*'" "name ~ '*[a'" "name ~ '^*' or name ~ '*$' or name ~ '(x)' or name ~ '{1}' or name ~ 'x|y'"
	"name ~ '*+*' or name ~ '\$1'" "name ~ '*\\t*'" "name ~ ''" "name contains \"'\"" "name contains ''"
	"id = rp_0007" "id = 7" "id > 250" "id ~ 'rp_00?5'" "id contains 12" "id <= rp_0010" "id != '7'"
	"started > 7d" "started < 30d" "started >= 3d or started <= 50d" "started > 36h and started < 2d"
	"started = $D3" "started != $D10" "started <= $D10" "started > $D20" "started >= $D3" "started < $T5"
	"ended < 2d" "ended = $D3" "not ended > 1d"
	"duration > 10m" "duration <= 90" "duration = 30" "duration != 30" "duration >= 2h" "not duration < 1h"
	"params.lr < 0.01" "params.lr = 1e-3" "params.lr >= 0.003" "params.lr != 0.1" "params.opt = adam"
	"params.opt != sgd" "params.opt > b" "params.opt < adam" "params.opt ~ '[Aa]*'" "params.opt contains ."
	"params.opt ~ 's.g.d'" "params.batch_size >= 64" "params.mixed = '1e-3'" "params.mixed < 0.01"
	"params.mixed = ''" "params.mixed contains \"'\"" "params.mixed > 1" "params.flag = 1" "params.flag = true"
	"params.model/depth > 6" "not params.mixed < 1" "params.seed > 290 or params.seed <= 2"
	"metrics.loss < 0.5" "metrics.loss.min >= 0.1" "metrics.val_acc.max > 0.9" "metrics.loss.count = 30"
	"metrics.loss.last_step != 29" "metrics.train/loss <= 1" "not metrics.loss > 1" "metrics.loss.last > 1.5"
	"tags contains baseline" "tags = v1" "tags ~ 'exp-*'" "tags ~ '[[]x]'" "not tags contains sweep"
	"tags ~ 'T*'" "tags ~ 'a.b'" "tags ~ 'ü*'" "tags contains ünï"
	"note contains \"it's\"" "note ~ '*%*'" "not note contains retry" "note ~ '*\$'" "note ~ 'a?b'"
	"image ~ 'pytorch:*'" "image != pytorch:2.1" "runner = local" "fingerprint ~ '*'" "sweep = sw_1a2b"
	"reason = lost"
	"(status = failed or params.lr > 0.01) and not tags contains v1"
	"not (params.opt = adam or metrics.loss < 1) and started > 20d"
	"status = success or runner = docker and status = failed"
	"NOT Status = success AND Tags CONTAINS v2 Or NAME = a.b"
	"((name ~ 'sweep-*' and (params.lr <= 0.003 or not params.batch_size = 32)) or tags = exp-a) and duration < 1h"
)
nonempty=0 bad=0
for e in "${exprs[@]}"; do
	if ! rp list --where "$e" --jsonl > "$T/sqlite.out" 2> "$T/sqlite.err"; then
		fail "sqlite: $e" "$(cat "$T/sqlite.err")"
		bad=$((bad + 1))
		continue
	fi
	uids "$T/sqlite.out" > "$T/sqlite.uids"
	if ! "$WHERE_PG" --query "$DB_URL" 1 --now "$(date +%s)" "$e" > "$T/pg.out" 2> "$T/pg.err"; then
		fail "postgresql: $e" "$(cat "$T/pg.err")"
		bad=$((bad + 1))
		continue
	fi
	LC_ALL=C sort "$T/pg.out" > "$T/pg.uids"
	n=$(wc -l < "$T/sqlite.uids")
	if cmp -s "$T/sqlite.uids" "$T/pg.uids"; then
		[ "$n" -eq 0 ] || nonempty=$((nonempty + 1))
	else
		fail "same runs: $e" "sqlite $n, postgresql $(wc -l < "$T/pg.uids"): $(diff "$T/sqlite.uids" "$T/pg.uids" | head -n 4 | tr '\n' ' ')"
		bad=$((bad + 1))
	fi
done
check "postgresql and sqlite agree on all ${#exprs[@]} expressions" test "$bad" -eq 0
# The set is no use if most expressions match nothing (or everything).
check "most expressions match some runs ($nonempty of ${#exprs[@]})" test "$nonempty" -ge $(( ${#exprs[@]} * 3 / 4 ))
check "the caller's \$1 scopes to project 1 (300 of 600 runs)" \
	test "$(q1 'fingerprint ~ "*"' | wc -l)" = 300

# ---- injection ----
for e in "params.x'; DROP TABLE runs; --" "params.it's = 1" "metrics.a\"b > 1" "metrics.x;y < 1" \
	"name = a; DROP TABLE runs"; do
	q1 "$e" > /dev/null 2>&1; rc=$?
	rp list --where "$e" > /dev/null 2>&1; lrc=$?
	check "a usage error for both: $e" test "$rc" = 2 -a "$lrc" = 2
done
for e in "name = \"'; DROP TABLE runs; --\"" "params.lr = \"0; DROP TABLE params\"" "note contains '\$2::text'" \
	"tags ~ \"*'); DELETE FROM tags; --\"" "name = '\\\\'" "name = '\$2'"; do
	got=$(q1 "$e" 2>&1)
	check "a value is only a value: $e" test -z "$got"
done
got=$(q1 "name = '\$1'" 2>&1 | LC_ALL=C sort)
want=$(uids "$T/all.jsonl" '$1')
check "'\$1' is the name \$1 ($(echo "$want" | wc -w) runs)" test -n "$want" -a "$got" = "$want"
check "the tables are as loaded" test "$(counts)" = "$loaded"
