#!/usr/bin/env bash
# Push and pull's data layer against a real PostgreSQL (pg_lib.sh), through the test build's
# `server push-local | pull-local | push-json | blob-put | payload-local` (no HTTP): a run
# stored in runs/params/tags/metrics/series/run_blobs with its blobs on disk, an unchanged
# re-push that writes nothing, a higher revision that updates, a conflict that overwrites nothing
# (then --force), blobs checked by hash and size and shared between runs, a push killed before
# its commit, pull's content hash, strict payload checks and SQL injection stored as data.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "server push" "$PG_WHY"; exit 0; fi
	fail "postgres starts" "$PG_WHY"
	exit 1
fi
rpt() { "$RUNPILOT_TEST_BIN" "$@"; }
q() { pg_psql rp_test -tA -c "$*"; }
out() { local n=$1; shift; "$@" > "$T/$n.out" 2> "$T/$n.err"; rc=$?; }
export RUNPILOT_DB=$RP_TEST_PG_URL
D=$T/data
push() { rpt server push-local --project vision --data-dir "$D" "$@"; }
rp server migrate > /dev/null

W=$T/work; mkdir -p "$W"; cd "$W" || exit 1
mkconfig "$W/a.yaml" train '"echo weights > $RUNPILOT_OUTPUT_DIR/model.bin; mkdir -p $RUNPILOT_OUTPUT_DIR/sub; echo $RUNPILOT_PARAM_LR > $RUNPILOT_OUTPUT_DIR/sub/lr.txt; echo loss: 0.5; echo loss: 0.25; echo acc=0.9"' \
	"params: {lr: 0.1, opt: adam, deep: true}" "tags: [base]"
rp run -q --runner local a.yaml > /dev/null 2>&1                  # rp_0001
rp run -q --runner local a.yaml --param lr=0.2 > /dev/null 2>&1   # rp_0002: the same model.bin
R1=$RUNPILOT_HOME/runs/rp_0001
UID1=$(json "$R1/run.json" 'd["uid"]')
ln -s /etc/passwd "$R1/outputs/passwd-link"
cp -a "$R1" "$T/copy_rp_0001"   # for a second store, later

# ---- a first push ----
out p1 push rp_0001 rp_0002
check "push: exit 0" test "$rc" = 0
check "push: each run new" test "$(cat "$T/p1.out")" = "rp_0001 new
rp_0002 new"
check "push: two runs rows" test "$(q "select count(*) from runs")" = 2
check "push: the runs row's typed columns" test "$(q "select num, uid, revision, status, name, runner, exit_code, created > 0, ended >= started, fp_config is not null from runs where uid = '$UID1'")" = \
	"1|$UID1|1|success|train|local|0|t|t|t"
check "push: the record as jsonb" test "$(q "select record->>'uid' || ' ' || (record->'params'->>'lr') from runs where uid = '$UID1'")" = "$UID1 0.1"
check "push: params (num for numbers and booleans, text always)" test "$(q "select string_agg(key || '=' || coalesce(p.num::text, '-') || '/' || text, ' ' order by key) from params p join runs r on r.id = p.run_id where r.uid = '$UID1'")" = \
	"deep=1/true lr=0.1/0.1 opt=-/adam"
check "push: tags" test "$(q "select string_agg(tag, ',' order by tag) from tags t join runs r on r.id = t.run_id where r.uid = '$UID1'")" = "base"
check "push: metric summaries" test "$(q "select string_agg(m.name || ' ' || last || ' ' || min || ' ' || max || ' ' || count || ' ' || last_step, ',' order by m.name) from metrics m join runs r on r.id = m.run_id where r.uid = '$UID1'")" = \
	"acc 0.9 0.9 0.9 1 1,loss 0.25 0.25 0.5 2 1"
check "push: a series is one row per metric, arrays of steps and values" test "$(q "select string_agg(s.name || ' ' || steps::text || ' ' || \"values\"::text, ',' order by s.name) from series s join runs r on r.id = s.run_id where r.uid = '$UID1'")" = \
	"acc {1} {0.9},loss {0,1} {0.5,0.25}"
manifest=$(q "select string_agg(path, ' ' order by path) from run_blobs b join runs r on r.id = b.run_id where r.uid = '$UID1'")
check "push: run_blobs name the run's files, not the symbolic link ($manifest)" test "$manifest" = \
	"config.yaml files.json logs.txt metrics.json metrics.jsonl outputs/model.bin outputs/sub/lr.txt params.json"
check "push: run_blobs' hashes are the files'" test "$(q "select b.sha256 from run_blobs b join runs r on r.id = b.run_id where r.uid = '$UID1' and path = 'outputs/model.bin'")" = \
	"$(sha256sum < "$R1/outputs/model.bin" | cut -d' ' -f1)"
blob_files_ok() {
	local f n=0
	for f in "$D"/blobs/??/*; do
		[ "$(basename "$(dirname "$f")")$(basename "$f")" = "$(sha256sum < "$f" | cut -d' ' -f1)" ] || return 1
		n=$((n + 1))
	done
	[ "$n" = "$(q "select count(*) from blobs")" ]
}
check "push: every blob file is named by its content's SHA-256, one per blobs row" blob_files_ok
model=$(sha256sum < "$R1/outputs/model.bin" | cut -d' ' -f1)
check "push: the same output in two runs is stored once" test "$(q "select count(*) from blobs where sha256 = '$model'") $(q "select count(*) from run_blobs where sha256 = '$model'") $(ls "$D/blobs/${model:0:2}" | grep -c "${model:2}")" = "1 2 1"
check "push: blob sizes recorded" test "$(q "select size from blobs where sha256 = '$model'")" = 8
check "push: audited push.new with uid and revision" test "$(q "select string_agg(action || ' ' || (detail->>'revision'), ',' order by id) from audit where detail->>'uid' = '$UID1'")" = "push.new 1"
check "push: the audit chain is intact" bash -c "'$RUNPILOT_BIN' server audit verify > /dev/null"

# ---- an unchanged re-push writes nothing ----
snap() { q "select (select count(*) from runs) || ' ' || (select count(*) from params) || ' ' || (select count(*) from tags) || ' ' || (select count(*) from metrics) || ' ' || (select count(*) from series) || ' ' || (select count(*) from run_blobs) || ' ' || (select count(*) from blobs) || ' ' || (select max(id) from audit) || ' ' || (select string_agg(xmin::text, ',' order by id) from runs)"; }
before=$(snap)
out p2 push rp_0001 rp_0002
check "re-push: same for both" test "$(cat "$T/p2.out")" = "rp_0001 same
rp_0002 same"
check "re-push: no row, audit or xmin change" test "$(snap)" = "$before"
rpt server payload-local rp_0001 > "$T/pl1.json"
cp "$T/pl1.json" "$T/pl1.json.orig"
out pj rpt server push-json --project vision "$T/pl1.json"
check "re-push through push_run itself: same, nothing changed" test "$(cat "$T/pj.out") $(snap)" = "same $before"

# ---- a higher revision updates ----
rp tag rp_0001 best > /dev/null
check "tag: annotations.json counts the change" test "$(json "$R1/annotations.json" 'd["revision"]')" = 1
out p3 push rp_0001 rp_0002
check "tagged run: updated, the other same" test "$(cat "$T/p3.out")" = "rp_0001 updated
rp_0002 same"
check "updated: revision 2, the tag stored, the old rows replaced" test "$(q "select r.revision || ' ' || (select string_agg(tag, ',' order by tag) from tags t where t.run_id = r.id) || ' ' || (select count(*) from params p where p.run_id = r.id) || ' ' || jsonb_array_length(r.record->'tags') from runs r where uid = '$UID1'")" = \
	"2 base,best 3 2"
check "updated: still two runs" test "$(q "select count(*) from runs")" = 2
check "updated: audited push.update" test "$(q "select action || ' ' || (detail->>'revision') from audit order by id desc limit 1")" = "push.update 2"
HASH2=$(q "select content_hash from runs where uid = '$UID1'")

# ---- a conflict: another store holding the same run, changed otherwise ----
H2=$T/home2; mkdir -p "$H2/runs"; cp -a "$T/copy_rp_0001" "$H2/runs/rp_0001"
RUNPILOT_HOME=$H2 rp note rp_0001 "from the other machine" > /dev/null
audit_before=$(q "select max(id) from audit")
out c1 env RUNPILOT_HOME="$H2" "$RUNPILOT_TEST_BIN" server push-local --project vision --data-dir "$D" rp_0001
check "conflict: exit 1, shown as conflict" test "$rc $(cat "$T/c1.out")" = "1 rp_0001 conflict"
check "conflict: nothing overwritten" test "$(q "select revision || ' ' || content_hash || ' ' || coalesce(note, '-') from runs where uid = '$UID1'")" = "2 $HASH2 -"
check "conflict: audited push.conflict (one event)" test "$(q "select count(*) || ' ' || max(action) from audit where id > $audit_before")" = "1 push.conflict"
out c2 env RUNPILOT_HOME="$H2" "$RUNPILOT_TEST_BIN" server push-local --project vision --data-dir "$D" --force rp_0001
check "--force: overwritten" test "$rc $(cat "$T/c2.out")" = "0 rp_0001 forced"
check "--force: the other store's note and tags now" test "$(q "select revision || ' ' || note || ' ' || (select string_agg(tag, ',') from tags t where t.run_id = r.id) from runs r where uid = '$UID1'")" = "2 from the other machine base"
check "--force: audited push.force" test "$(q "select action || ' ' || (detail->>'uid') from audit order by id desc limit 1")" = "push.force $UID1"
out c3 push rp_0001
check "the first store again: a conflict now" test "$rc $(cat "$T/c3.out")" = "1 rp_0001 conflict"

# ---- pull ----
out pull rpt server pull-local --project vision "$UID1"
RUNPILOT_HOME=$H2 rpt server payload-local rp_0001 > "$T/local2.json"
check "pull: exit 0" test "$rc" = 0
check "pull: the payload as pushed, the same content hash" python3 - "$T/pull.out" "$T/local2.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert list(a) == ["uid", "revision", "content_hash", "record", "metrics", "manifest"], list(a)
assert a["content_hash"] == b["content_hash"] and a == b, (a["content_hash"], b["content_hash"])
PY
check "pull: its content hash holds (push-json of it: same)" bash -c "'$RUNPILOT_TEST_BIN' server push-json --project vision '$T/pull.out' | grep -qx same"
out pull2 rpt server pull-local --project vision no-such-uid
check "pull: an unknown uid is an error" test "$rc" = 2

# ---- blobs ----
echo "some bytes" > "$T/blob"
good=$(sha256sum < "$T/blob" | cut -d' ' -f1)
wrong=$(echo other | sha256sum | cut -d' ' -f1)
out b1 rpt server blob-put --data-dir "$D" "$wrong" "$T/blob"
check "blob with a wrong hash: refused" bash -c "[ $rc = 2 ] && grep -q 'not its name' '$T/b1.err'"
check "blob with a wrong hash: nothing under blobs/tmp, no file, no row" test \
	"$(ls -A "$D/blobs/tmp" | wc -l) $(ls "$D/blobs/${wrong:0:2}" 2>/dev/null | wc -l) $(q "select count(*) from blobs where sha256 = '$wrong'")" = "0 0 0"
out b2 rpt server blob-put --data-dir "$D" --cap 5 "$good" "$T/blob"
check "blob over the cap: refused, nothing left" bash -c "[ $rc = 2 ] && grep -q 'over the server.s cap' '$T/b2.err' && [ -z \"\$(ls -A '$D/blobs/tmp')\" ]"
out b3 rpt server blob-put --data-dir "$D" --size 4 "$good" "$T/blob"
check "blob longer than announced: refused, nothing left" bash -c "[ $rc = 2 ] && [ -z \"\$(ls -A '$D/blobs/tmp')\" ] && [ ! -e '$D/blobs/${good:0:2}/${good:2}' ]"
out b4 rpt server blob-put --data-dir "$D" "$good" "$T/blob"
check "blob: stored" test "$rc $(cat "$T/b4.out") $(q "select size from blobs where sha256 = '$good'")" = "0 stored 11"
out b5 rpt server blob-put --data-dir "$D" "$good" "$T/blob"
check "blob again: a no-op" test "$rc $(cat "$T/b5.out") $(q "select count(*) from blobs where sha256 = '$good'")" = "0 present 1"
echo "an upload killed" > "$T/blob2"
b2hash=$(sha256sum < "$T/blob2" | cut -d' ' -f1)
RUNPILOT_TEST_STOP_AT=blob-tmp-written "$RUNPILOT_TEST_BIN" server blob-put --data-dir "$D" "$b2hash" "$T/blob2" > /dev/null 2>&1 &
bpid=$!
bstopped() { [ "$(awk '{print $3}' "/proc/$bpid/stat" 2>/dev/null)" = T ]; }
check "upload killed: stopped with its temporary file written" wait_for bstopped 20
kill -KILL "$bpid"; wait "$bpid" 2> /dev/null
check "upload killed: its temporary file is left, no blob" test "$(ls -A "$D/blobs/tmp" | wc -l) $(q "select count(*) from blobs where sha256 = '$b2hash'")" = "1 0"
check "blob-sweep: a recent temporary file is kept" test "$(rpt server blob-sweep --data-dir "$D" --older-than 3600) $(ls -A "$D/blobs/tmp" | wc -l)" = "0 1"
touch -d '2 hours ago' "$D"/blobs/tmp/*
check "blob-sweep: an old one is removed" test "$(rpt server blob-sweep --data-dir "$D" --older-than 3600) $(ls -A "$D/blobs/tmp" | wc -l)" = "1 0"
out b7 rpt server blob-put --data-dir "$D" "$b2hash" "$T/blob2"
check "upload killed, then retried: stored" test "$rc $(cat "$T/b7.out")" = "0 stored"
out b6 rpt server blob-put --data-dir "$D" "../../etc/passwd" "$T/blob"
check "blob: a name that is not a SHA-256 is refused" test "$rc" = 2

# ---- strict payloads ----
edit() { python3 - "$T/pl1.json" "$T/bad.json" "$1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(p, open(sys.argv[2], "w"))
PY
}
refused() { # NAME EDIT MESSAGE
	edit "$2"
	local b a
	b=$(snap)
	"$RUNPILOT_TEST_BIN" server push-json --project vision "$T/bad.json" > /dev/null 2> "$T/bad.err"
	local r=$?
	a=$(snap)
	check "payload $1: refused, nothing changed" bash -c "[ $r = 2 ] && grep -q -- '$3' '$T/bad.err' && [ '$a' = '$b' ]"
}
refused "with a '..' path" 'p["manifest"][0]["path"] = "../etc/passwd"' "manifest path is absolute"
refused "with an absolute path" 'p["manifest"][0]["path"] = "/etc/passwd"' "manifest path is absolute"
refused "with a path in an inner '..'" 'p["manifest"][-1]["path"] = "outputs/../../x"' "manifest path is absolute"
refused "with a changed record" 'p["record"]["name"] = "forged"' "content_hash does not match"
refused "with an extra member" 'p["extra"] = 1' "not an object of uid"
refused "with a revision of 0" 'p["revision"] = 0' "revision is not"
refused "with a step that is not an integer" 'p["metrics"]["loss"]["steps"][0] = 0.5' "a step is not an integer"
refused "with steps and values of different lengths" 'p["metrics"]["loss"]["values"].append(1)' "not as many values"
refused "with a record over 1 MiB" 'p["record"]["blob"] = "x" * (1 << 20)' "over 1 MiB"
refused "with a running record" 'p["record"]["status"] = "running"' "has not ended"
refused "with a series over 1,000,000 points" 'p["metrics"]["big"] = {"steps": list(range(1000001)), "values": [0] * 1000001}' "more than 1,000,000 points"
python3 - "$T/pl1.json" "$T/dup.json" <<'PY'
import sys
t = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(t.replace('"params":{', '"params":{"lr":7,', 1))
PY
b=$(snap); out dup rpt server push-json --project vision "$T/dup.json"
check "payload naming a member twice: refused, nothing changed" test "$rc $(grep -c 'names a member twice' "$T/dup.err") $(snap)" = "2 1 $b"
refused "with an unsorted manifest" 'p["manifest"].reverse()' "not sorted by path"
cat > "$T/fix_hash.py" <<'PY'
import hashlib, json, sys
# sync.h's canonical form: members sorted, compact, a double as cJSON prints it.
def num(v):
    if isinstance(v, bool): return json.dumps(v)
    if v == int(v) and -2**31 <= v < 2**31: return "%d" % v
    s = "%1.15g" % v
    t = float(s)
    return s if abs(t - v) <= max(abs(t), abs(v)) * 2.220446049250313e-16 else "%1.17g" % v
def canon(v):
    if isinstance(v, dict): return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list): return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, (int, float)) and not isinstance(v, bool): return num(v)
    return json.dumps(v, ensure_ascii=False)
p = json.load(open(sys.argv[1]))
h = hashlib.sha256(b"runpilot-sync-1\n")
for k in ("record", "metrics", "manifest"): h.update((canon(p[k]) + "\n").encode())
p["content_hash"] = h.hexdigest(); json.dump(p, open(sys.argv[1], "w"))
PY
python3 "$T/fix_hash.py" "$T/pl1.json"
check "the content hash recomputed outside runpilot (sync.h's definition) is runpilot's" test "$(json "$T/pl1.json" 'd["content_hash"]')" = "$(json "$T/pl1.json.orig" 'd["content_hash"]')"
edit 'p["uid"] = p["record"]["uid"] = "0000-new"; p["manifest"].append({"path": "zz", "size": 3, "sha256": "ab" * 32})'
python3 "$T/fix_hash.py" "$T/bad.json"
out nb rpt server push-json --project vision "$T/bad.json"
check "payload naming a blob not uploaded: refused, no run" test "$rc $(grep -c 'upload them first' "$T/nb.err") $(q "select count(*) from runs where uid = '0000-new'")" = "2 1 0"

edit 'p["uid"] = p["record"]["uid"] = "0000-values"; p["metrics"]["odd"] = {"steps": [-3, 0, 123456789012345, 7, 8], "values": [0.30000000000000004, 1e-07, None, -1.5e300, 123456789.12345679]}'
python3 "$T/fix_hash.py" "$T/bad.json"
out odd rpt server push-json --project vision "$T/bad.json"
rpt server pull-local --project vision 0000-values > "$T/odd.json"
check "a series' extreme values and steps come back exactly" python3 - "$T/bad.json" "$T/odd.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
# cJSON prints a double in 15 digits when that reads back within one part in 2^52
a["metrics"]["odd"]["values"][0] = 0.3
assert a == b, (a["metrics"]["odd"], b["metrics"]["odd"])
PY

# ---- a push killed before its commit, then retried ----
rp run -q --runner local a.yaml --param lr=0.3 > /dev/null 2>&1   # rp_0003
UID3=$(json "$RUNPILOT_HOME/runs/rp_0003/run.json" 'd["uid"]')
RUNPILOT_TEST_STOP_AT=push-run-row "$RUNPILOT_TEST_BIN" server push-local --project vision --data-dir "$D" rp_0003 > "$T/k.out" 2>&1 &
kpid=$!
stopped() { [ "$(awk '{print $3}' "/proc/$kpid/stat" 2>/dev/null)" = T ]; }
check "killed push: stops after its runs row, before the commit" wait_for stopped 20
check "killed push: the uncommitted row is invisible" test "$(q "select count(*) from runs where uid = '$UID3'")" = 0
kill -KILL "$kpid"; wait "$kpid" 2> /dev/null
wait_for "[ \"\$(q \"select count(*) from pg_stat_activity where state like 'idle in transaction%'\")\" = 0 ]" 10
check "killed push: no half run left" test "$(q "select (select count(*) from runs where uid = '$UID3') || ' ' || (select count(*) from params p left join runs r on r.id = p.run_id where r.id is null) || ' ' || (select count(*) from audit where detail->>'uid' = '$UID3')")" = "0 0 0"
out k2 push rp_0003
check "killed push retried: new" test "$rc $(cat "$T/k2.out")" = "0 rp_0003 new"
check "killed push retried: exactly one run, complete" test "$(q "select count(*) || ' ' || max((select count(*) from run_blobs b where b.run_id = r.id)) || ' ' || max((select count(*) from series s where s.run_id = r.id)) || ' ' || max((select count(*) from params p where p.run_id = r.id)) from runs r where uid = '$UID3'")" = "1 8 2 3"

# ---- two pushes of one new run at once: one stores it, the other finds it the same ----
rp run -q --runner local a.yaml --param lr=0.5 > /dev/null 2>&1   # rp_0004
UID5=$(json "$RUNPILOT_HOME/runs/rp_0004/run.json" 'd["uid"]')
push rp_0004 > "$T/cc1.out" 2>&1 & c1=$!
push rp_0004 > "$T/cc2.out" 2>&1 & c2=$!
wait $c1; r1=$?; wait $c2; r2=$?
check "concurrent pushes: both exit 0 ($r1 $r2)" test "$r1$r2" = 00
check "concurrent pushes: one new, one same" test "$(cat "$T/cc1.out" "$T/cc2.out" | sort | tr '\n' '|')" = "rp_0004 new|rp_0004 same|"
check "concurrent pushes: one run, audited once" test "$(q "select count(*) from runs where uid = '$UID5'") $(q "select count(*) from audit where detail->>'uid' = '$UID5'")" = "1 1"

# ---- SQL injection through a uid, a param key, a tag and a metric name: data ----
rp run -q --runner local a.yaml --param lr=0.4 > /dev/null 2>&1   # rp_0005
R4=$RUNPILOT_HOME/runs/rp_0005
EVIL="x'); DROP TABLE runs; --"
python3 - "$R4" "$EVIL" <<'PY'
import json, os, sys
d, evil = sys.argv[1:]
r = json.load(open(os.path.join(d, "run.json")))
r["uid"] = evil
r["params"]["k'; DROP TABLE params; --"] = 1
r["tags"].append("t'); DELETE FROM tags; --")
json.dump(r, open(os.path.join(d, "run.json"), "w"))
with open(os.path.join(d, "metrics.jsonl"), "a") as f:
    f.write(json.dumps({"name": "m\"; DROP TABLE series; --", "step": 0, "value": 1.5, "time": 1.0, "source": "log"}) + "\n")
PY
rp reindex > /dev/null 2>&1
tags_before=$(q "select count(*) from tags")
out inj push rp_0005
check "injection: pushed as a new run" test "$rc $(cat "$T/inj.out")" = "0 rp_0005 new"
check "injection: every table still there" test "$(q "select count(*) from pg_tables where schemaname = 'public' and tablename in ('runs', 'params', 'tags', 'series', 'metrics', 'run_blobs', 'blobs')")" = 7
check "injection: the uid stored as data" test "$(q "select count(*) from runs where uid = \$\$$EVIL\$\$")" = 1
check "injection: the param key, tag and metric name stored as data" test \
	"$(q "select (select count(*) from params where key = \$\$k'; DROP TABLE params; --\$\$)::text || (select count(*) from tags where tag = \$\$t'); DELETE FROM tags; --\$\$)::text || (select count(*) from series where name = \$\$m\"; DROP TABLE series; --\$\$)")" = 111
check "injection: the other runs' rows intact, the new run's two tags added" test "$(q "select count(*) from runs") $(q "select count(*) from tags")" = "6 $((tags_before + 2))"
out inj2 rpt server pull-local --project vision "$EVIL"
check "injection: pulled back by its uid" bash -c "[ $rc = 0 ] && grep -q 'DROP TABLE series' '$T/inj2.out'"

# ---- a run that has not ended ----
python3 - "$RUNPILOT_HOME/runs/rp_0002/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["status"] = "running"; json.dump(r, open(sys.argv[1], "w"))
PY
out live push rp_0002
check "a running run is not pushed: a usage error naming it" bash -c "[ $rc = 2 ] && grep -q 'rp_0002 is running' '$T/live.err'"

# ---- the product binary has none of these ----
# ---- tags and a note changed on the server survive the next revision pushed ----
(cd "$W" && rp run -q --runner local a.yaml > /dev/null 2>&1)
RS=$(basename "$(last_run_dir)")
UIDS=$(json "$RUNPILOT_HOME/runs/$RS/run.json" 'd["uid"]')
push "$RS" > /dev/null
REV=$(q "select revision from runs where uid = '$UIDS'")
rpt server ui-query --project vision --data-dir "$D" annotate "$UIDS" '{"tags": ["+reviewed", "-base"], "note": "checked on the server"}' > /dev/null
rp tag "$RS" local2 > /dev/null
out p4 push "$RS"
check "server annotations: the next revision is pushed" test "$(cat "$T/p4.out")" = "$RS updated"
check "server annotations: its tags stay on top of the record's (for --where too), its note too" \
	test "$(q "select r.revision || ' ' || (select string_agg(tag, ',' order by tag) from tags t where t.run_id = r.id) || ' ' || r.note from runs r where uid = '$UIDS'")" = \
	"$((REV + 1)) local2,reviewed checked on the server"

for c in push-local pull-local push-json blob-put blob-sweep payload-local; do
	out prod rp server $c --project vision x
	check "product: server $c refused" test "$rc" = 2
done
check "the audit chain is intact after all of it" bash -c "'$RUNPILOT_BIN' server audit verify > /dev/null"
