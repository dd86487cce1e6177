#!/usr/bin/env bash
# Runs travel: export on one home, import into another. The imported runs are the same runs
# (logs, metrics, outputs byte for byte; run.json equal apart from id and imported_from), list
# and show them, importing again adds nothing, and a link export keeps is one import accepts.
. "$(dirname "$0")/lib.sh"
W=$T/work
mkdir -p "$W"
cat > "$W/job.yaml" <<'Y'
name: travel
params:
  lr: 0.01
entrypoint: |
  set -e; o=$RUNPILOT_OUTPUT_DIR
  mkdir -p $o/ckpt
  head -c 200000 /dev/urandom > $o/ckpt/model.bin
  ln -s ckpt/model.bin $o/latest; ln -s ckpt/../ckpt/model.bin $o/roundabout
  for i in 1 2 3; do echo "step $i loss=0.$i"; done
Y
rp run -q --runner local "$W/job.yaml" >/dev/null 2>&1
rp run -q --runner local --param lr=0.1 --tag best "$W/job.yaml" >/dev/null 2>&1
SRC=$RUNPILOT_HOME
check "two runs with metrics" test -f "$SRC/runs/rp_0002/metrics.json"

rp export 1 2 -o "$T/runs.tar.zst" 2>"$T/export.err"
check "export succeeds" test -s "$T/runs.tar.zst"
check "...skipping the link import would refuse (a .. after a name), with a warning" \
	grep -q "roundabout" "$T/export.err"

export RUNPILOT_HOME=$T/other
rp import "$T/runs.tar.zst" >"$T/import.out" 2>&1
check "import into an empty home succeeds" test -d "$RUNPILOT_HOME/runs/rp_0002"
check "list shows both runs" test "$(rp list --json | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')" = "rp_0001 rp_0002"
check "show reads the imported run" sh -c "'$RUNPILOT_BIN' show 2 | grep -q '^Name  *travel'"
check "show: where the logs are here, and where the run came from" sh -c "out=\$('$RUNPILOT_BIN' show 2); echo \"\$out\" | grep -qx 'Logs  *$RUNPILOT_HOME/runs/rp_0002/logs.txt' && echo \"\$out\" | grep -Eq '^Imported  *rp_0002 on .+, imported 20'"
check "--where finds the imported run by its param" test "$(rp list --where 'params.lr = 0.1' --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1

# every file but run.json byte for byte; run.json equal but for id and imported_from
same_tree() {
	python3 - "$1" "$2" <<'PY'
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                out[rel] = ("file", open(p, "rb").read())
            else:
                out[rel] = ("dir", None)
    return out
ta, tb = walk(a), walk(b)
ta.pop("run.lock", None); ta.pop("outputs/roundabout", None)
if set(ta) != set(tb):
    sys.exit("files differ: %r" % (set(ta) ^ set(tb)))
for k in ta:
    if k == "run.json":
        ja, jb = json.loads(ta[k][1]), json.loads(tb[k][1])
        frm = jb.pop("imported_from")
        if frm["id"] != ja["id"] or not frm["host"] or not frm["time"]:
            sys.exit("imported_from %r" % frm)
        jb["id"] = ja["id"]
        if ja != jb:
            sys.exit("run.json differs beyond id and imported_from")
    elif ta[k] != tb[k]:
        sys.exit("%s differs" % k)
PY
}
for id in rp_0001 rp_0002; do
	check "$id: logs, metrics, outputs byte for byte; run.json the same record" \
		same_tree "$SRC/runs/$id" "$RUNPILOT_HOME/runs/$id"
done
check "metrics read back" sh -c "'$RUNPILOT_BIN' metrics 2 --json | grep -q loss"

rp import "$T/runs.tar.zst" >"$T/again.out" 2>&1; rc=$?
check "importing again succeeds and adds nothing" sh -c "[ $rc = 0 ] && [ \$(ls '$RUNPILOT_HOME/runs' | wc -l) = 2 ]"
check "...and says so" grep -q "already present" "$T/again.out"

# a local run holds rp_0001: the imported one takes the next free id
export RUNPILOT_HOME=$T/third
rp run -q --runner local --name local "$W/job.yaml" >/dev/null 2>&1
rp import "$T/runs.tar.zst" >/dev/null 2>&1
check "taken ids: the imported runs get the next free ones" \
	test "$(json "$RUNPILOT_HOME/runs/rp_0002/run.json" 'd["imported_from"]["id"]') $(json "$RUNPILOT_HOME/runs/rp_0003/run.json" 'd["id"]')" = "rp_0001 rp_0003"
check "...and the local run is untouched" test "$(json "$RUNPILOT_HOME/runs/rp_0001/run.json" 'd["name"]')" = local
