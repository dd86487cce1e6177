#!/usr/bin/env bash
# runpilot fsck: a clean store; run.json, metrics.json, annotations.json and index.db damaged
# (truncated, zero-filled, garbled) while the read commands keep working and name the damaged
# runs; fsck naming each, --repair quarantining them to the trash and rebuilding the index; a run
# whose runpilot was killed; a stale temp dir; a damaged image blob; a store of 1000 runs.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)

W=$T/work
mkdir -p "$W"
mkconfig "$W/m.yaml" m '["sh", "-c", "echo loss: 0.5; echo acc=0.9"]'
mkconfig "$W/sleepy.yaml" sleepy '["sleep", "60"]'
run() { rp run -q --runner local "$W/$1.yaml" > /dev/null 2>&1; }
RUNS=$RUNPILOT_HOME/runs
status_of() { json "$1/run.json" 'd["status"]' 2>/dev/null; }
bg_pids=()
rp_cleanup_hooks+=('for p in "${bg_pids[@]+"${bg_pids[@]}"}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done')
# fsck ARGS...: its stdout in $T/out, stderr in $T/err, exit status in $rc
fsck() { rp fsck "$@" > "$T/out" 2> "$T/err"; rc=$?; }
# a line of the last fsck's output matching an extended regex
said() { grep -Eq "$1" "$T/out"; }
zero_fill() { local n; n=$(stat -c %s "$1"); head -c "$n" /dev/zero > "$1.z" && mv "$1.z" "$1"; }

for i in 1 2 3 4 5 6 7 8; do run m; done
rp list > /dev/null 2>&1 # the index exists

# ---- a clean store -------------------------------------------------------------------------
fsck
check "clean store: exit 0" test "$rc" -eq 0
check "clean store: a 'no problems' line" grep -Eq '^fsck: no problems \(8 runs, 8 index rows' "$T/out"
check "clean store: nothing else on stdout" test "$(wc -l < "$T/out")" -eq 1
rp fsck --json > "$T/j" 2> /dev/null
check "clean store --json: no findings, 8 runs checked" \
	test "$(json "$T/j" '[d["problems"], len(d["findings"]), d["checked"]["runs"]]')" = "[0, 0, 8]"
fsck --bogus
check "an unknown option: exit 2" test "$rc" -eq 2
fsck rp_0001
check "an argument: exit 2" test "$rc" -eq 2

# ---- an index that disagrees with the directories ------------------------------------------------
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$RUNPILOT_HOME/index.db" "$1"; }
sql "DELETE FROM runs WHERE id = 'rp_0007'"
sql "UPDATE runs SET name = 'other' WHERE id = 'rp_0008'"
fsck
check "index: a missing row and a wrong name: exit 1" test "$rc" -eq 1
check "...the missing row named" said '^rp_0007: index: no row for this run: --repair would rebuild the index from the run directories$'
check "...the wrong name named" said '^rp_0008: index: its row names it other, run.json m: --repair would rebuild'
fsck --repair
check "...--repair rebuilds it: exit 0" sh -c "[ $rc -eq 0 ] && grep -q '^rp_0007: index: no row for this run: index rebuilt (--repair)$' '$T/out'"
fsck
check "...then fsck is clean" test "$rc" -eq 0

# ---- what a person must look at: left by --repair --------------------------------------------
mv "$RUNS/rp_0008/logs.txt" "$T/logs8"
fsck
check "a success run without logs.txt: exit 1" test "$rc" -eq 1
check "...named, for a person" said '^rp_0008: logs.txt: missing, for a run that ended success: not repaired \(needs a person\)$'
fsck --repair
check "...--repair leaves it: exit 1" sh -c "[ $rc -eq 1 ] && [ -d '$RUNS/rp_0008' ]"
mv "$T/logs8" "$RUNS/rp_0008/logs.txt"

# ---- damaged files ---------------------------------------------------------------------------
rp tag 3 +best > /dev/null 2>&1
python3 - "$RUNS/rp_0002/run.json" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
open(p, "wb").write(b[: len(b) // 2])  # truncated mid-way
PY
zero_fill "$RUNS/rp_0005/run.json"
zero_fill "$RUNS/rp_0004/metrics.json"
printf '{"tags_added": ["best",\n' > "$RUNS/rp_0003/annotations.json"
python3 - "$RUNS/rp_0006/metrics.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["metrics"]["lozz"] = d["metrics"].pop("loss")
json.dump(d, open(p, "w"))
PY
sed -i '1i {"name":"loss","step":0,"val' "$RUNS/rp_0006/metrics.jsonl"
# index.db: its first page garbled
printf 'this is not sqlite at all, just garbage bytes over the header' | dd of="$RUNPILOT_HOME/index.db" conv=notrunc 2> /dev/null

# the read commands meanwhile
rp list > "$T/list" 2> "$T/list.err"; rc=$?
check "list: exit 0 with damaged runs and index" test "$rc" -eq 0
check "list: shows the others" sh -c "grep -Eq '^rp_0001 +m +success' '$T/list' && grep -Eq '^rp_0008 +m +success' '$T/list'"
check "list: the damaged runs unreadable" sh -c "grep -Eq '^rp_0002 .*unreadable' '$T/list' && grep -Eq '^rp_0005 .*unreadable' '$T/list'"
check "list: names why" grep -q 'rp_0002: .*rp_0002/run.json is not valid JSON' "$T/list.err"
rp list --where 'name = "m"' > "$T/list" 2> /dev/null
check "list --where: the readable runs" test "$(grep -c '^rp_' "$T/list")" -eq 6
rp show rp_0001 > "$T/show" 2>&1
check "show of another run: exit 0" sh -c "[ $? -eq 0 ] && grep -Eq '^Status +success' '$T/show'"
rp show rp_0003 > "$T/show" 2> "$T/show.err"; rc=$?
check "show of the run with damaged annotations: exit 0, warning naming the file" \
	sh -c "[ $rc -eq 0 ] && grep -q 'rp_0003/annotations.json is not a JSON object' '$T/show.err'"
rp compare 1 2 7 5 8 > "$T/cmp" 2> "$T/cmp.err"; rc=$?
check "compare: the others compared, exit 0" sh -c "[ $rc -eq 0 ] && [ \$(grep -c '^rp_000[178] ' '$T/cmp') -eq 3 ]"
check "compare: the damaged ones named and left out" \
	sh -c "grep -q 'left out 2: .*rp_0002/run.json' '$T/cmp.err' && grep -q 'left out 5: .*rp_0005/run.json' '$T/cmp.err' && ! grep -q '^rp_0002' '$T/cmp'"
rp compare 2 > /dev/null 2> "$T/cmp.err"
check "compare of only a damaged run: an error naming it" sh -c "[ $? -eq 1 ] && grep -q 'rp_0002/run.json' '$T/cmp.err'"
rp metrics 1 > "$T/mx" 2>&1
check "metrics of another run" sh -c "[ $? -eq 0 ] && grep -Eq '^loss +0.5' '$T/mx'"
rp metrics 4 > "$T/mx" 2>&1
check "metrics of the run whose metrics.json is zero-filled (read from metrics.jsonl)" sh -c "[ $? -eq 0 ] && grep -Eq '^loss +0.5' '$T/mx'"
rp metrics 2 > /dev/null 2> "$T/mx.err"
check "metrics of the damaged run: an error naming it" sh -c "[ $? -ne 0 ] && grep -q 'rp_0002/run.json' '$T/mx.err'"
rp export 1 7 -o "$W/x.tar" > /dev/null 2>&1
check "export of others" sh -c "[ $? -eq 0 ] && tar -tf '$W/x.tar' | grep -q MANIFEST.json"
rp export 2 -o "$W/y.tar" > /dev/null 2> "$T/x.err"
check "export of the damaged run: an error naming it" sh -c "[ $? -ne 0 ] && grep -q 'rp_0002/run.json' '$T/x.err'"
rp report 1 2 8 -o "$W/r.html" > /dev/null 2> "$T/r.err"
check "report: the others reported, the damaged one named" \
	sh -c "[ $? -eq 0 ] && grep -q 'left out 2' '$T/r.err' && grep -q 'rp_0008' '$W/r.html'"

# the readers rebuilt the index: garble it again for fsck
printf 'this is not sqlite at all, just garbage bytes over the header' | dd of="$RUNPILOT_HOME/index.db" conv=notrunc 2> /dev/null
sum_before=$(md5sum < "$RUNPILOT_HOME/index.db")
fsck
check "fsck: exit 1" test "$rc" -eq 1
check "fsck names the truncated run.json" said '^rp_0002: run.json: not valid JSON \(line [0-9]+\): --repair would quarantine it to trash/rp_0002$'
check "fsck names the zero-filled run.json" said '^rp_0005: run.json: zero-filled \([0-9]+ bytes\): --repair would quarantine it to trash/rp_0005$'
check "fsck names the zero-filled metrics.json" said '^rp_0004: metrics.json: zero-filled'
check "fsck names the metrics.json that disagrees with run.json" \
	said "^rp_0006: metrics.json: its metrics are not run.json's: only here: lozz; only in run.json: loss: "
check "fsck names the garbled metrics.jsonl line" said '^rp_0006: metrics.jsonl: 1 line that is not a point \(the first: line 1\): --repair would quarantine'
check "fsck names the garbled annotations.json (with a line)" said '^rp_0003: annotations.json: not valid JSON \(line [0-9]+\): --repair would quarantine it to trash/rp_0003$'
check "fsck names the garbled index.db" said '^index.db: .*: --repair would rebuild the index from the run directories$'
check "fsck: a summary of 7 problems" grep -Eq '^fsck: 7 problems \(8 runs.*runpilot fsck --repair' "$T/out"
check "fsck alone changes nothing" sh -c "[ -d '$RUNS/rp_0002' ] && [ ! -e '$RUNPILOT_HOME/trash' ] && [ '$(md5sum < "$RUNPILOT_HOME/index.db")' = '$sum_before' ]"
rp fsck --json > "$T/j" 2> /dev/null
check "fsck --json: the same 7, repairable" \
	test "$(json "$T/j" 'sorted(set(f["state"] for f in d["findings"])) + [d["problems"]]')" = '["repairable", 7]'

fsck --repair
check "fsck --repair: exit 0 (all repaired)" test "$rc" -eq 0
check "--repair: quarantined, said so" said '^rp_0002: run.json: not valid JSON \(line [0-9]+\): quarantined to trash/rp_0002 \(--repair\)$'
check "--repair: the index rebuilt, said so" said '^index.db: .*: index rebuilt \(--repair\)$'
check "--repair: summary" grep -Eq '^fsck: 7 problems, 7 repaired, 0 left' "$T/out"
check "--repair: the damaged runs are in the trash, whole" \
	sh -c "for i in 2 3 4 5 6; do [ -f '$RUNPILOT_HOME/trash/rp_000'\$i/logs.txt ] && [ ! -e '$RUNS/rp_000'\$i ] || exit 1; done"
check "--repair: each with a note saying why" \
	sh -c "grep -q 'run.json: not valid JSON' '$RUNPILOT_HOME/trash/rp_0002/FSCK-NOTE.txt' && grep -q 'runpilot restore rp_0003' '$RUNPILOT_HOME/trash/rp_0003/FSCK-NOTE.txt'"
rp list --where 'name = "m"' > "$T/list" 2> "$T/list.err"
check "--repair: list --where works after, on the runs left" \
	sh -c "[ \"\$(grep -o '^rp_[0-9]*' '$T/list' | tr '\n' ' ')\" = 'rp_0001 rp_0007 rp_0008 ' ] && [ ! -s '$T/list.err' ]"
check "--repair: the index holds the runs left" \
	test "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from runs").fetchone()[0])' "$RUNPILOT_HOME/index.db")" = 3
fsck
check "a second fsck: exit 0, no problems" sh -c "[ $rc -eq 0 ] && grep -q '^fsck: no problems (3 runs' '$T/out'"
rp restore rp_0003 > /dev/null 2>&1
fsck
check "restore brings a quarantined run back as it was (fsck names it again)" \
	sh -c "[ $rc -eq 1 ] && grep -q '^rp_0003: annotations.json' '$T/out'"
printf '{"tags_added": ["best"]}\n' > "$RUNS/rp_0003/annotations.json"
fsck
check "...and once fixed by hand, fsck is clean" test "$rc" -eq 0

# ---- a run whose runpilot was killed, and a stale temp dir -------------------------------------
D=$(next_run_dir)
"$RUNPILOT_BIN" run -q --runner local "$W/sleepy.yaml" > /dev/null 2>&1 &
P=$!
bg_pids+=("$P")
wait_for "[ \"\$(status_of '$D')\" = running ]" 20
kill -9 "$P"
wait "$P" 2> /dev/null
wait_for "! pgrep -f 'sleep 60' > /dev/null" 5
id=$(basename "$D")
mkdir -p "$RUNPILOT_HOME/tmp/import-stale01"
touch -d '2 hours ago' "$RUNPILOT_HOME/tmp/import-stale01"
fsck
check "killed runpilot: fsck exit 1" test "$rc" -eq 1
check "...names the run as lost" said "^$id: run.json: still running on disk, but its runpilot is gone \(supervisor died\): --repair would mark it lost$"
check "...names the stale temp dir" said "^$RUNPILOT_HOME/tmp/import-stale01: a temp dir nobody holds: --repair would remove it$"
check "...and changes nothing" sh -c "[ '$(status_of "$D")' = running ] && [ -e '$RUNPILOT_HOME/active/$id' ] && [ -d '$RUNPILOT_HOME/tmp/import-stale01' ]"
fsck --repair
check "--repair: marked lost" sh -c "[ $rc -eq 0 ] && grep -q '^$id: run.json: .*: marked lost (--repair)$' '$T/out' && [ '$(status_of "$D")' = lost ]"
check "--repair: its leftovers removed (active/ entry, temp dir)" \
	sh -c "[ ! -e '$RUNPILOT_HOME/active/$id' ] && [ ! -e '$RUNPILOT_HOME/tmp/import-stale01' ]"
fsck
check "a second fsck: exit 0" test "$rc" -eq 0

# ---- a damaged image blob ----------------------------------------------------------------------
mkdir -p "$W/tiny/etc"
echo hello > "$W/tiny/etc/greeting"
python3 "$here/tests/helpers/mkimage.py" docker-save "$W/tiny.tar" --tag tiny "$W/tiny" > /dev/null
if rp image import "$W/tiny.tar" > /dev/null 2> "$T/err"; then
	IMGB=$RUNPILOT_HOME/images/blobs/sha256
	layer=$(json "$RUNPILOT_HOME/images/index.json" 'd["images"][0]["layers"][0]["digest"][7:]')
	fsck
	check "image store intact: exit 0, blobs counted" sh -c "[ $rc -eq 0 ] && grep -Eq 'index rows, [1-9][0-9]* image blobs' '$T/out'"
	chmod u+w "$IMGB/$layer"
	printf 'x' >> "$IMGB/$layer"
	fsck
	check "a damaged blob: fsck exit 1 naming it and its image" \
		sh -c "[ $rc -eq 1 ] && grep -Eq '^images/blobs/sha256/${layer:0:12}: content does not match its name .*used by tiny:latest: pull or import it again: --repair would remove it$' '$T/out'"
	check "...and leaves it" test -f "$IMGB/$layer"
	fsck --repair
	check "--repair removes the damaged blob" sh -c "grep -q '^images/blobs/sha256/${layer:0:12}: .*: removed (--repair)$' '$T/out' && [ ! -e '$IMGB/$layer' ]"
	fsck
	check "...then the image's missing blob is reported for a person" \
		sh -c "[ $rc -eq 1 ] && grep -Eq '^images/blobs/sha256/${layer:0:12}: missing; used by tiny:latest: pull or import it again: not repaired' '$T/out'"
	rp image rm tiny > /dev/null 2>&1
	fsck
	check "...and once the image is removed, fsck is clean" test "$rc" -eq 0
else
	skip "image blob cases" "image import failed: $(head -n1 "$T/err")"
fi

# ---- 1000 runs ------------------------------------------------------------------------------------
H=$T/home1000
(
	export RUNPILOT_HOME=$H
	rp run -q --runner local "$W/m.yaml" > /dev/null 2>&1
	python3 - "$H/runs" <<'PY'
import json, os, shutil, sys, uuid
runs = sys.argv[1]
src = os.path.join(runs, "rp_0001")
for n in range(2, 1001):
    rid = "rp_%04d" % n
    dst = os.path.join(runs, rid)
    shutil.copytree(src, dst, symlinks=True)
    p = os.path.join(dst, "run.json")
    d = json.load(open(p))
    d["id"], d["uid"] = rid, str(uuid.uuid4())
    json.dump(d, open(p, "w"))
PY
	rp list > /dev/null 2>&1
	t0=$(date +%s%N); rp fsck > "$T/out1000" 2>&1; rc=$?; t1=$(date +%s%N)
	echo "  figure: fsck of 1000 runs $(( (t1 - t0) / 1000000 )) ms"
	[ $rc -eq 0 ] && grep -q '^fsck: no problems (1000 runs, 1000 index rows' "$T/out1000"
)
check "1000 runs: clean, every run and row checked" test $? -eq 0
