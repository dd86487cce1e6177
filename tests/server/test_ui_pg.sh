#!/usr/bin/env bash
# The web UI's data source over the server's database (ui_source_pg_open) answers as the local
# source does for the same runs: ~300 runs (bench/history_gen.py, varied: names, text params,
# missing values, outputs, annotations) are loaded from a local store into a private PostgreSQL
# (schema by `runpilot server migrate`, rows by tests/server/load_runs.py), twice: project one
# and, under other uids, project two. The test build's `server ui-query` calls one op of either
# source in-process and prints its JSON; the product binary has no such command.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "ui source on postgresql" "$PG_WHY"; exit 0; fi
	fail "postgresql starts" "$PG_WHY"
	exit 1
fi
RPT=$RUNPILOT_TEST_BIN

# ---- the runs ----
W=$T/w
mkdir -p "$W"
mkconfig "$W/t.yaml" template '"true"' 'params: {lr: 0.1}'
RUNPILOT_HOME=$T/template rp run -q --runner local "$W/t.yaml" > /dev/null 2>&1
if ! python3 "$here/../../bench/history_gen.py" "$T/template/runs/rp_0001/run.json" "$RUNPILOT_HOME" 300 > /dev/null; then
	fail "history_gen.py writes the runs" "see above"
	exit 1
fi
python3 - "$RUNPILOT_HOME/runs" <<'PY'
import json, os, random, sys
runs = sys.argv[1]
rng = random.Random(25)
names = ["a.b", "(x)", "Ünïcode-é", "it's", "", "Name-upper", "name-lower", "tab\there", "-dash", "<script>x</script>"]
for i in range(1, 301):
    d = os.path.join(runs, "rp_%04d" % i)
    path = os.path.join(d, "run.json")
    r = json.load(open(path))
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
    if i % 4 == 0:
        r["metrics"]["train/loss"] = {"last": rng.uniform(0, 2), "min": 0.0, "max": 2.0, "count": 7, "last_step": 6}
    if i % 10 == 0:
        os.makedirs(os.path.join(d, "outputs", "ckpt"), exist_ok=True)
        open(os.path.join(d, "outputs", "model.bin"), "wb").write(os.urandom(3000 + i))
        open(os.path.join(d, "outputs", "ckpt", "step-%d.txt" % i), "w").write("step %d\n" % i)
    if i == 20:
        with open(os.path.join(d, "metrics.jsonl"), "a") as f:
            for s in range(30, 5000):
                f.write('{"name":"long","step":%d,"value":%s,"time":1.0,"source":"log"}\n' % (s, (s * 7919) % 1000 / 7.0))
        with open(os.path.join(d, "logs.txt"), "w") as f:
            for k in range(2000):
                f.write("line %d: loss %.4f é\n" % (k, 1.0 / (k + 1)))
    json.dump(r, open(path, "w"), indent=2)
PY
rp tag rp_0007 +best -sweep > /dev/null 2>&1
rp note rp_0007 "the one to ship" > /dev/null 2>&1
rp list --jsonl > "$T/all.jsonl" 2> "$T/list.err"
check "runpilot list indexes the 300 runs" test "$(wc -l < "$T/all.jsonl")" = 300

# ---- the server's database ----
DB=$RP_TEST_PG_URL
DATA=$T/data
if ! rp server migrate --db "$DB" > /dev/null; then
	fail "runpilot server migrate" "see above"
	exit 1
fi
pg_psql rp_test -c "INSERT INTO projects (id, name) VALUES (1, 'one'), (2, 'two')"
python3 "$here/load_runs.py" "$RUNPILOT_HOME" "$DATA" 1::0 2:p2-:100000 > "$T/data.sql"
if ! pg_psql rp_test -f "$T/data.sql" > /dev/null; then
	fail "the runs load into postgresql" "see above"
	exit 1
fi
tables() { pg_psql rp_test -tA -c "SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM params) || ' '
	|| (SELECT count(*) FROM tags) || ' ' || (SELECT count(*) FROM metrics) || ' ' || (SELECT count(*) FROM series)"; }
loaded=$(tables)
check "postgresql holds both projects' runs" test "${loaded%% *}" = 600

pgq() { "$RPT" server ui-query --db "$DB" --project one --data-dir "$DATA" "$@"; }
pg2() { "$RPT" server ui-query --db "$DB" --project two --data-dir "$DATA" "$@"; }
loq() { "$RPT" server ui-query --local "$@"; }
uid_of() { python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["id"] == sys.argv[2]: print(r["uid"])' "$T/all.jsonl" "$1"; }

check "the product binary has no ui-query" test "$(rp server ui-query --db "$DB" --project one runs > /dev/null 2>&1; echo $?)" = 2

# ---- the table: the same rows in the same order, page after page ----
# same.py LOCAL PG: every page's rows (ids as uids, labels the local ids), counts, columns.
cat > "$T/same.py" <<'PY'
import json, sys
uids = {}
for l in open(sys.argv[3]):
    r = json.loads(l)
    uids[r["id"]] = r["uid"]
def pages(p):
    return [json.loads(l) for l in open(p)]
lo, pg = pages(sys.argv[1]), pages(sys.argv[2])
lrows = [r for p in lo for r in p["runs"]]
prows = [r for p in pg for r in p["runs"]]
problems = []
if len(lo) != len(pg):
    problems.append("pages %d vs %d" % (len(lo), len(pg)))
for a, b in zip(lrows, prows):
    b = dict(b)
    if b.pop("label") != a["id"]:
        problems.append("label %s" % a["id"])
    a = dict(a, id=uids[a["id"]])
    if a != b:
        problems.append("row %s: %s vs %s" % (a["id"], json.dumps(a)[:300], json.dumps(b)[:300]))
        break
if len(lrows) != len(prows):
    problems.append("rows %d vs %d" % (len(lrows), len(prows)))
if len({r["id"] for r in prows}) != len(prows):
    problems.append("a run shown twice")
if lo and pg and lo[0]["counts"] != pg[0]["counts"]:
    problems.append("counts %s vs %s" % (lo[0]["counts"], pg[0]["counts"]))
if lo and pg and lo[0]["columns"] != pg[0]["columns"]:
    problems.append("columns %s vs %s" % (lo[0]["columns"], pg[0]["columns"]))
print("; ".join(problems[:3]) if problems else "same %d" % len(prows))
PY
cols=params.lr,params.mixed,params.flag,params.opt,metrics.loss,metrics.train/loss,params.none
bad=0 rows_seen=0
for sort in -id id started -created duration -duration name -name status params.lr -params.lr params.mixed \
	-params.mixed params.opt metrics.loss -metrics.train/loss; do
	for where in "" "status = success" "params.lr < 0.01 and metrics.loss > 0.5" "tags contains best or name ~ '*a*'"; do
		loq runs --all --limit 37 --sort "$sort" --where "$where" --columns "$cols" > "$T/lo.out" 2> "$T/lo.err"
		pgq runs --all --limit 37 --sort "$sort" --where "$where" --columns "$cols" > "$T/pg.out" 2> "$T/pg.err"
		got=$(python3 "$T/same.py" "$T/lo.out" "$T/pg.out" "$T/all.jsonl" 2>&1)
		case $got in
		"same "*) rows_seen=$((rows_seen + ${got#same })) ;;
		*) fail "same pages: sort $sort, where '$where'" "$got $(head -c 300 "$T/pg.err")"; bad=$((bad + 1)) ;;
		esac
	done
done
check "the pages of 16 sorts x 4 filters are the local ones ($rows_seen rows)" test "$bad" = 0 -a "$rows_seen" -gt 2000
pgq runs --all --limit 7 --sort -started > "$T/pg7.out"
check "paging through every run visits each once (300)" test "$(python3 -c 'import json, sys
ids = [r["id"] for l in open(sys.argv[1]) for r in json.loads(l)["runs"]]
print(len(ids) if len(ids) == len(set(ids)) else -1)' "$T/pg7.out")" = 300

# ---- one run ----
U7=$(uid_of rp_0007) U20=$(uid_of rp_0020) U10=$(uid_of rp_0010) U3=$(uid_of rp_0003)
loq run rp_0007 > "$T/lo.run" && pgq run "$U7" > "$T/pg.run"
check "run: the record as annotated, as the local source gives it" python3 -c 'import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["run"] == b["run"], "record"
assert "best" in b["run"]["tags"] and "sweep" not in b["run"]["tags"] and b["run"]["note"] == "the one to ship"
assert a["log_size"] == b["log_size"] > 0' "$T/lo.run" "$T/pg.run"
loq run rp_0010 > "$T/lo.run" && pgq run "$U10" > "$T/pg.run"
check "run: outputs (path, size) and log size from the blobs" python3 -c 'import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
f = lambda o: sorted((e["path"], e["size"]) for e in o["outputs"])
assert f(a) == f(b) and len(f(b)) == 2, (f(a), f(b))
assert a["log_size"] == b["log_size"]' "$T/lo.run" "$T/pg.run"
pgq output "$U10" model.bin > "$T/model.bin"
check "output: the blob's bytes" cmp "$T/model.bin" "$RUNPILOT_HOME/runs/rp_0010/outputs/model.bin"
check "output: by its path under outputs/" test "$(pgq output "$U10" ckpt/step-10.txt)" = "step 10"
for p in ../run.json ckpt/../model.bin /etc/passwd "" . ckpt logs.txt ../logs.txt "model.bin/"; do
	pgq output "$U10" "$p" > /dev/null 2> "$T/err"; rc=$?
	check "output '$p' is not found" test "$rc" = 2 -a -n "$(grep -F 'not found' "$T/err")"
done

# ---- metric and log ----
for args in "loss" "long" "long --points 50" "long --from 100 --to 400" "long --from 1000 --to 1200 --points 100"; do
	# shellcheck disable=SC2086
	loq metric rp_0020 $args > "$T/lo.m"; pgq metric "$U20" $args > "$T/pg.m"
	check "metric $args: the same series, downsampled the same" cmp "$T/lo.m" "$T/pg.m"
done
check "metric: a long series is downsampled" test "$(json "$T/pg.m" 'd["downsampled"]')" = true
pgq metric "$U20" nope > /dev/null 2> "$T/err"
check "metric: an unknown one is not found" grep -q "not found: metric" "$T/err"
for args in "" "--offset -500" "--offset 100 --max 64" "--offset -3000 --max 1000" "--offset 999999"; do
	# shellcheck disable=SC2086
	loq log rp_0020 $args > "$T/lo.l"; pgq log "$U20" $args > "$T/pg.l"
	check "log $args: the same window of the logs.txt blob" cmp "$T/lo.l" "$T/pg.l"
done
check "log: a log was read" test "$(json "$T/pg.l" 'd["size"]')" -gt 30000

# ---- compare ----
loq compare rp_0003 rp_0007 rp_0010 > "$T/lo.c"; pgq compare "$U3" "$U7" "$U10" > "$T/pg.c"
check "compare: params differing and same, metrics, rows, environment" python3 -c 'import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["params"] == b["params"], "params"
assert a["metrics"] == b["metrics"], "metrics"
for x, y in zip(a["runs"], b["runs"]):
    y = dict(y); y.pop("label"); x = dict(x); x.pop("id"); y.pop("id")
    assert x == y, (x, y)
assert [(e["component"], e["differs"], len(e["changes"])) for e in a["environment"]] == \
       [(e["component"], e["differs"], len(e["changes"])) for e in b["environment"]]
assert len(b["params"]["differing"]) > 0' "$T/lo.c" "$T/pg.c"

# ---- another project's runs are never visible ----
U7B=p2-$U7
for op in "run $U7B" "metric $U7B loss" "log $U7B" "output ${U10/#/p2-} model.bin" "compare $U7 $U7B" "annotate $U7B {\"note\":\"x\"}"; do
	# shellcheck disable=SC2086
	pgq $op > /dev/null 2> "$T/err"; rc=$?
	check "project one: $op is not found" test "$rc" = 2 -a -n "$(grep -F 'not found' "$T/err")"
done
check "project two sees its own run" test "$(pg2 run "$U7B" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["uid"])')" = "$U7"
check "project one's table: only its 300 runs" test "$(pgq runs --all --limit 500 --where 'id > 0' | python3 -c 'import json, sys
ids = [r["id"] for l in sys.stdin for r in json.loads(l)["runs"]]
print(len(ids) if not any(i.startswith("p2-") for i in ids) else -1)')" = 300

# ---- annotate ----
pgq annotate "$U3" '{"tags": ["+gold", "-nope"], "note": "server note"}' > "$T/pg.a"
check "annotate: answers as run, annotated" python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["run"]
assert "gold" in r["tags"] and r["note"] == "server note", r["tags"]' "$T/pg.a"
check "annotate: --where sees the new tag" test "$(pgq runs --where 'tags contains gold and note contains server' | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin)["runs"]])')" = "['$U3']"
check "annotate: kept in the annotations table" test "$(pg_psql rp_test -tA -c "SELECT tags_added::text || note FROM annotations WHERE run_id = 3")" = "{gold}server note"
check "annotate: the local store is untouched" test -z "$(loq runs --where 'tags contains gold' | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"] or "")')"
for change in '{"tags": ["+bad tag"]}' '{"tags": "x"}' '{"note": "a\nb"}' '{"other": 1}' '[1]'; do
	pgq annotate "$U3" "$change" > /dev/null 2>&1
	check "annotate refuses $change" test $? = 2
done

# ---- bad requests and injection ----
next=$(pgq runs --limit 5 --sort -name | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')
pgq runs --limit 5 --sort -name --after "$next" > /dev/null
check "a cursor of its sort pages on" test $? = 0
for after in "$next" "${next:0:10}" "zz$next" "deadbeef00" "$(printf '%s' "$next" | tr 'a' 'b')"; do
	pgq runs --limit 5 --sort name --after "$after" > /dev/null 2> "$T/err"; rc=$?
	check "cursor ${after:0:12}... of another sort or changed: a usage error" test "$rc" = 2 -a -n "$(grep -F 'after:' "$T/err")"
done
# a forged cursor, checksum and all, with a value that is not a number
forged=$(python3 - <<'PY'
def fnv(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h
for v in [b"1; DROP TABLE runs", b"x'); DELETE FROM runs; --"]:
    p = b"rps1\nparams.lr\n5\n5\nv\n" + b"0".hex().encode() + b"\n" + v.hex().encode() + b"\n" + b"".hex().encode()
    print(p.hex() + "%08x" % fnv(p))
PY
)
for f in $forged; do
	pgq runs --sort params.lr --after "$f" > /dev/null 2>&1
	check "a forged cursor is a usage error" test $? = 2
done
for s in "name; DROP TABLE runs" "params.x') OR 1=1 --" "metrics.\"a\"" "-params.lr;--" "id desc" "bogus"; do
	out=$(pgq runs --sort "$s" 2>&1); rc=$?
	case $s in
	params.* | -params.* | metrics.*) check "sort '$s' is a key like any other" test "$rc" = 0 ;;
	*) check "sort '$s' is a usage error" test "$rc" = 2 ;;
	esac
done
for c in "params.x'); DROP TABLE params; --" "metrics.a\"b" "name" "params." "runs.id"; do
	pgq runs --columns "$c" > /dev/null 2>&1; rc=$?
	case $c in params.?* | metrics.?*) want=0 ;; *) want=2 ;; esac
	check "column '$c': $([ $want = 0 ] && echo 'a name, no value' || echo 'a usage error')" test "$rc" = "$want"
done
for e in "name = \"'; DROP TABLE runs; --\"" "params.lr = \"0; DROP TABLE params\"" "tags ~ \"*'); DELETE FROM tags; --\""; do
	check "where: a value is only a value: $e" test "$(pgq runs --where "$e" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')" = 0
done
pgq runs --where "params.x'; DROP TABLE runs; --" > /dev/null 2>&1
check "where: a bad expression is a usage error" test $? = 2
pgq runs --limit 501 > /dev/null 2>&1; b=$?
check "limit 501 is a usage error" test "$b" = 2
for id in "1 OR 1=1" "$U7'--" "../$U7" "" "rp_0007"; do
	pgq run "$id" > /dev/null 2> "$T/err"
	check "run '$id' is not found" grep -q "not found" "$T/err"
done
check "the tables are as loaded (annotate's one tag aside)" test "$(tables)" = "$(echo "$loaded" | awk '{print $1, $2, $3 + 1, $4, $5}')"

# ---- many threads at once: each call its own connection from the pool ----
out=$(pgq runs --repeat 10 --threads 8 --where 'status = success' --sort -params.lr 2>&1)
check "8 threads x 10 calls at once all answer ($out)" python3 -c 'import json, sys; assert json.loads(sys.argv[1])["calls"] == 80' "$out"
out=$(pgq compare "$U3" "$U7" --repeat 5 --threads 8 2>&1)
check "8 threads compare at once" python3 -c 'import json, sys; assert json.loads(sys.argv[1])["calls"] == 40' "$out"
