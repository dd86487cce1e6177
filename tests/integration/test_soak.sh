#!/usr/bin/env bash
# Concurrency soak: 100 runs started at once while list, show, rm/restore and reindex run in
# loops beside them. No command fails, no id is given twice, and at the end the index, list and
# the directories agree.
. "$(dirname "$0")/lib.sh"

N=${RP_SOAK_RUNS:-100}
W=$T/w
mkdir -p "$W"
mkconfig "$W/soak.yaml" soak '"echo $RUNPILOT_RUN_ID; echo loss: 0.1"'
mkconfig "$W/keep.yaml" keep '"echo kept"'
# Runs that exist before the soak: shown, and removed and restored, in the loops.
for i in 1 2 3 4; do rp run "$W/keep.yaml" -q >/dev/null 2>&1; done
rp list >/dev/null

STOP=$T/stop
loop() { # NAME CMD...: run CMD until $STOP exists; count failures in $T/NAME.fail
	local name=$1 n=0 f=0
	shift
	while [ ! -e "$STOP" ]; do
		"$@" >/dev/null 2>>"$T/$name.err" || f=$((f + 1))
		n=$((n + 1))
	done
	echo "$n $f" > "$T/$name.count"
}
rm_restore() { "$RUNPILOT_BIN" rm rp_0002 --yes && "$RUNPILOT_BIN" restore rp_0002; }
loop list "$RUNPILOT_BIN" list & L1=$!
loop listw "$RUNPILOT_BIN" list --where 'status = "success"' & L2=$!
loop show "$RUNPILOT_BIN" show rp_0001 & L3=$!
loop rmrestore rm_restore & L4=$!
loop reindex "$RUNPILOT_BIN" reindex & L5=$!

t0=$(date +%s.%N)
pids=()
for ((i = 0; i < N; i++)); do
	"$RUNPILOT_BIN" run "$W/soak.yaml" -q >/dev/null 2>>"$T/runs.err" & pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
t1=$(date +%s.%N)
touch "$STOP"
wait $L1 $L2 $L3 $L4 $L5
echo "  $N runs at once in $(python3 -c "print('%.1f' % ($t1 - $t0))") s beside: list $(cut -d' ' -f1 "$T/list.count")×," \
	"list --where $(cut -d' ' -f1 "$T/listw.count")×, show $(cut -d' ' -f1 "$T/show.count")×," \
	"rm+restore $(cut -d' ' -f1 "$T/rmrestore.count")×, reindex $(cut -d' ' -f1 "$T/reindex.count")×"

check "$N runs at once: all succeed" test $bad -eq 0
[ $bad -eq 0 ] || head -n 5 "$T/runs.err" >&2
for l in list listw show rmrestore reindex; do
	check "the $l loop never failed" test "$(cut -d' ' -f2 "$T/$l.count")" -eq 0
	[ "$(cut -d' ' -f2 "$T/$l.count")" -eq 0 ] || head -n 3 "$T/$l.err" >&2
done
ids=$(for d in "$RUNPILOT_HOME"/runs/rp_*; do json "$d/run.json" 'd["id"]'; done)
check "no id given twice" test "$(echo "$ids" | sort | uniq -d | wc -l)" -eq 0
check "every run has its directory" test "$(ls "$RUNPILOT_HOME/runs" | grep -c '^rp_')" -eq $((N + 4))
check "each run's log is its own id" python3 - "$RUNPILOT_HOME/runs" <<'PY'
import json, os, sys
for d in os.listdir(sys.argv[1]):
    if not d.startswith("rp_"):
        continue
    p = os.path.join(sys.argv[1], d)
    if json.load(open(os.path.join(p, "run.json")))["name"] == "soak" and \
            open(os.path.join(p, "logs.txt")).readline().strip() != d:
        sys.exit(1)
PY
check "list shows every run" test "$(rp list | tail -n +2 | wc -l)" -eq $((N + 4))
check "the index has every run (list --where)" \
	test "$(rp list --where 'status = "success"' | tail -n +2 | wc -l)" -eq $((N + 4))
check "index and directories agree (read straight from index.db)" python3 - "$RUNPILOT_HOME" <<'PY'
import json, os, sqlite3, sys
home = sys.argv[1]
db = sqlite3.connect(os.path.join(home, "index.db"))
rows = {r[0]: r[1] for r in db.execute("SELECT id, status FROM runs")}
dirs = {d: json.load(open(os.path.join(home, "runs", d, "run.json")))["status"]
        for d in os.listdir(os.path.join(home, "runs")) if d.startswith("rp_")}
sys.exit(0 if rows == dirs else 1)
PY
check "the rm/restore run is back" test "$(json "$RUNPILOT_HOME/runs/rp_0002/run.json" 'd["status"]')" = success
check "fsck finds nothing wrong" rp fsck
