#!/usr/bin/env bash
# runpilot metrics and runpilot compare: what a user sees of the metrics a run recorded (table,
# trend line, JSON, CSV, --name, a running run, a run without metrics, NaN/inf), what a config's
# patterns would find in a log (--test-patterns), and runs side by side (params that differ, last
# values, --sort, --json, --csv). Local runner throughout.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"

# The row of metric $2 in table $1, as "LAST MIN MAX STEPS LAST_STEP TREND".
row() { awk -v n="$2" '$1 == n { $1 = ""; sub(/^ /, ""); print }' <<<"$1"; }

# --- a known series ------------------------------------------------------------------------
cat > "$W/known.yaml" <<'Y'
name: known
entrypoint: |
  printf 'step 1 loss=0.9 acc=0.5\nstep 2 loss=0.5 acc=0.7\nstep 3 loss=0.8 acc=0.8\n'
  printf 'odd=nan\nodd=inf\nodd=-inf\nodd=2\nempty=nan\n'
  echo '{"step": 3, "f1": 0.25}' >> "$RUNPILOT_METRICS_FILE"
Y
rp run "$W/known.yaml" --runner local -q >/dev/null 2>&1
out=$(rp metrics rp_0001); rc=$?
check "metrics exits 0" test $rc -eq 0
check "metrics: header line names the run, its name and status" test "$(head -n1 <<<"$out")" = "rp_0001 known (success)"
check "metrics: table header" grep -Eq '^NAME +LAST +MIN +MAX +STEPS +LAST_STEP +TREND$' <<<"$out"
check "metrics: loss last/min/max/steps/last step and its trend" test "$(row "$out" loss)" = "0.8 0.5 0.9 3 3 █▁▆"
check "metrics: acc rises" test "$(row "$out" acc)" = "0.8 0.5 0.8 3 3 ▁▆█"
check "metrics: NaN and inf: min/max take inf, NaN left out; non-finite stretches are ·" \
	test "$(row "$out" odd)" = "2 -inf inf 4 3 ···▁"
check "metrics: only NaN: min and max are -" test "$(row "$out" empty)" = "nan - - 1 3 ·"
check "metrics: the job's own file counts" test "$(row "$out" f1)" = "0.25 0.25 0.25 1 3 ▁"
check "metrics: one row per metric" test "$(grep -c . <<<"$out")" -eq 7

rp metrics rp_0001 --json > "$T/known.json"; rc=$?
check "metrics --json exits 0" test $rc -eq 0
check "metrics --json: the series as printed" test "$(json "$T/known.json" \
	'[d["run"], d["metrics"]["loss"]["steps"], d["metrics"]["loss"]["values"], d["metrics"]["loss"]["sources"]]')" \
	= '["rp_0001", [1, 2, 3], [0.9, 0.5, 0.8], ["log", "log", "log"]]'
check "metrics --json: summary fields" test "$(json "$T/known.json" \
	'[d["metrics"]["loss"][k] for k in ("last", "min", "max", "count", "last_step")]')" = '[0.8, 0.5, 0.9, 3, 3]'
check "metrics --json: non-finite values are strings" test "$(json "$T/known.json" \
	'[d["metrics"]["odd"]["values"], d["metrics"]["odd"]["min"], d["metrics"]["odd"]["max"]]')" \
	= '[["nan", "inf", "-inf", 2], "-inf", "inf"]'
check "metrics --json: a metric with only NaN has null min and max" test "$(json "$T/known.json" \
	'[d["metrics"]["empty"]["min"], d["metrics"]["empty"]["max"], d["metrics"]["empty"]["last"]]')" = '[null, null, "nan"]'
check "metrics --json: the job's file is source file" test "$(json "$T/known.json" 'd["metrics"]["f1"]["sources"]')" = '["file"]'
check "metrics --json: a timestamp per point, of this run" python3 -c '
import json, sys, time
d = json.load(open(sys.argv[1]))["metrics"]
ok = all(len(m["timestamps"]) == len(m["values"]) and all(abs(t - time.time()) < 600 for t in m["timestamps"]) for m in d.values())
sys.exit(0 if ok else 1)' "$T/known.json"

rp metrics rp_0001 --csv > "$T/known.csv"
check "metrics --csv: header" test "$(head -n1 "$T/known.csv")" = "name,step,value,time,source"
check "metrics --csv: a row per point" test "$(tail -n +2 "$T/known.csv" | wc -l)" -eq 12
check "metrics --csv: rows in order with step, value and source" test \
	"$(grep '^loss,' "$T/known.csv" | cut -d, -f1-3,5 | tr '\n' ' ')" = "loss,1,0.9,log loss,2,0.5,log loss,3,0.8,log "
check "metrics --csv: non-finite values" test "$(grep '^odd,' "$T/known.csv" | cut -d, -f3 | tr '\n' ' ')" = "nan inf -inf 2 "

out=$(rp metrics rp_0001 --name 'l*')
check "--name GLOB keeps the matching metrics" test "$(tail -n +4 <<<"$out" | awk '{print $1}')" = loss
out=$(rp metrics rp_0001 --name loss --name 'a?c')
check "--name repeated: any matches" test "$(tail -n +4 <<<"$out" | awk '{print $1}' | tr '\n' ' ')" = "acc loss "
check "--name with --json" test "$(rp metrics rp_0001 --json --name acc | python3 -c 'import json,sys; print(list(json.load(sys.stdin)["metrics"]))')" = "['acc']"
check "--name with --csv" test "$(rp metrics rp_0001 --csv --name f1 | tail -n +2 | cut -d, -f1-3)" = "f1,3,0.25"
out=$(rp metrics rp_0001 --name 'nope*'); rc=$?
check "--name matching nothing says so in one line, exit 0" sh -c "[ $rc -eq 0 ] && [ '$out' = 'rp_0001 known (success): no metric matches --name' ]"

# A number that overflows a double is inf in every file, metrics.jsonl too (a JSON reader
# would otherwise read 1e999 as the largest double).
mkconfig "$W/ovf.yaml" ovf '"echo loss=1e999; echo loss=-1e400"'
rp run "$W/ovf.yaml" --runner local -q >/dev/null 2>&1
check "an overflowing value is \"inf\" in metrics.jsonl" test "$(cut -d, -f3 "$(last_run_dir)/metrics.jsonl" | tr '\n' ' ')" = '"value":"inf" "value":"-inf" '
check "...and in the table" test "$(rp metrics last | awk '$1 == "loss" { print $2, $3, $4 }')" = "-inf -inf inf"

# --- values exactly as printed -------------------------------------------------------------
cat > "$W/many.py" <<'P'
import json, random, sys
r = random.Random(7)
vals = [r.uniform(-1e3, 1e3) * 10 ** r.randint(-12, 12) for _ in range(500)]
for i, v in enumerate(vals):
    print("step %d loss=%r" % (i, v))
json.dump(vals, open(sys.argv[1], "w"))
P
mkconfig "$W/many.yaml" many "[\"python3\", \"$W/many.py\", \"$T/printed.json\"]"
rp run "$W/many.yaml" --runner local -q >/dev/null 2>&1
rp metrics last --json > "$T/many.json"
check "metrics --json: 500 values equal, bit for bit, to what the job printed" python3 -c '
import json, sys
got = json.load(open(sys.argv[1]))["metrics"]["loss"]
want = json.load(open(sys.argv[2]))
sys.exit(0 if got["values"] == want and got["steps"] == list(range(500)) else 1)' "$T/many.json" "$T/printed.json"
check "metrics --csv: the same values" python3 -c '
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sys.exit(0 if [float(r["value"]) for r in rows] == json.load(open(sys.argv[2])) else 1)' <(rp metrics last --csv) "$T/printed.json"
check "metrics: 500 points make a 24-column trend" test "$(rp metrics last | awk '$1 == "loss" { print $7 }' | python3 -c 'import sys; print(len(sys.stdin.read().strip()))')" -eq 24

# --- a run without metrics -----------------------------------------------------------------
mkconfig "$W/quiet.yaml" quiet '"echo hello"'
rp run "$W/quiet.yaml" --runner local -q >/dev/null 2>&1
Q=$(basename "$(last_run_dir)")
out=$(rp metrics last); rc=$?
check "a run without metrics says so in one line, exit 0" sh -c "[ $rc -eq 0 ] && [ '$out' = '$Q quiet (success): no metrics recorded' ]"
check "a run without metrics: --json has none" test "$(rp metrics last --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["run"], d["metrics"])')" = "$Q {}"
check "a run without metrics: --csv is the header" test "$(rp metrics last --csv)" = "name,step,value,time,source"

# --- a running run -------------------------------------------------------------------------
SL="300.$$"
mkconfig "$W/slow.yaml" slow "\"echo loss=0.25; echo step 2 loss=0.125; sleep $SL\""
"$RUNPILOT_BIN" run "$W/slow.yaml" --runner local >"$T/out" 2>/dev/null & P=$!
wait_for "grep -q 'step 2' '$T/out'" 10
D=$(last_run_dir); S=$(basename "$D")
check "running: metrics shows what was reported so far" \
	wait_for "'$RUNPILOT_BIN' metrics $S | grep -Eq '^loss +0.125 +0.125 +0.25 +2 +2 '" 10
check "running: the header says running" test "$(rp metrics $S | head -n1)" = "$S slow (running)"
check "running: --json has the points" test "$(rp metrics $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["metrics"]["loss"]["values"])')" = "running [0.25, 0.125]"
check "running: compare takes it, its last value from the series" sh -c "'$RUNPILOT_BIN' compare $S | grep -Eq '^$S +slow +running +- +0.125\$'"
kill -INT $P; wait $P
check "after the run: same series, status cancelled" test "$(rp metrics $S | sed -n '1p;4p' | tr -s ' ' | tr '\n' '|')" = "$S slow (cancelled)|loss 0.125 0.125 0.25 2 2 █▁|"

# --- --test-patterns -----------------------------------------------------------------------
cat > "$W/pat.yaml" <<'Y'
name: pat
entrypoint: "true"
metrics:
  defaults: false
  patterns:
    - 'iter (?<step>\d+): (?<key>\w+) is (?<value>[-\d.e]+)'
    - {acc: 'accuracy=(\d+\.\d+)%'}
Y
printf 'iter 3: loss is 0.5\nloss=9\naccuracy=91.5%% done\niter 4: loss is 0.25' > "$T/pat.log"
n_before=$(ls "$RUNPILOT_HOME/runs" | wc -l)
out=$(rp metrics --test-patterns "$W/pat.yaml" < "$T/pat.log"); rc=$?
check "--test-patterns: custom patterns, defaults off, last line without newline" test "$rc|$(tr -s ' ' <<<"$out" | tr '\n' '|')" \
	= "0|NAME STEP VALUE|loss 3 0.5|acc 3 91.5|loss 4 0.25|"
check "--test-patterns runs nothing and records no run" test "$(ls "$RUNPILOT_HOME/runs" | wc -l)" -eq "$n_before"
printf 'epoch: 3 loss: 0.41 val_acc: 0.88\n12:30:01 host:8080\nstep 120 loss=0.3 lr=1e-4\n{"step": 7, "loss": NaN}\n' > "$T/def.log"
check "--test-patterns: the defaults (no metrics section)" test "$(rp metrics --test-patterns "$W/quiet.yaml" --json < "$T/def.log" | python3 -c '
import json, sys; print(json.dumps([[p["name"], p["step"], p["value"]] for p in json.load(sys.stdin)]))')" \
	= '[["loss", 3, 0.41], ["val_acc", 3, 0.88], ["loss", 120, 0.3], ["lr", 120, 0.0001], ["loss", 7, "nan"]]'
check "--test-patterns --csv" test "$(rp metrics --test-patterns "$W/quiet.yaml" --csv --name lr < "$T/def.log" | tr '\n' '|')" = "name,step,value|lr,120,0.0001|"
check "--test-patterns: nothing found says so" test "$(echo 'no numbers' | rp metrics --test-patterns "$W/quiet.yaml")" = "no metrics found in the input"
cat > "$W/badre.yaml" <<'Y'
name: badre
entrypoint: "true"
metrics:
  patterns:
    - 'loss=(?<value>[0-9.]+'
Y
rp metrics --test-patterns "$W/badre.yaml" </dev/null >/dev/null 2>"$T/err"; rc=$?
check "--test-patterns: an invalid regex is a config error at its line and column" sh -c \
	"[ $rc -eq 2 ] && grep -Eq '^runpilot: error: $W/badre.yaml:5:[0-9]+: metrics.patterns\[0\]: invalid regex' '$T/err'"
rp metrics --test-patterns "$W/pat.yaml" last </dev/null 2>"$T/err"; rc=$?
check "--test-patterns takes no RUN" sh -c "[ $rc -eq 2 ] && grep -q \"unexpected argument 'last'\" '$T/err'"

# --- usage ---------------------------------------------------------------------------------
rp metrics rp_0999 2>"$T/err"; rc=$?
check "metrics: unknown run is a usage error naming it" sh -c "[ $rc -eq 2 ] && grep -q \"no run 'rp_0999'\" '$T/err'"
rp metrics 2>"$T/err"; check "metrics without RUN is a usage error" sh -c "[ $? -eq 2 ] && grep -q 'missing RUN' '$T/err'"
rp metrics 1 --json --csv 2>/dev/null; check "metrics --json --csv is a usage error" test $? -eq 2
check "help metrics" sh -c "'$RUNPILOT_BIN' help metrics | grep -q 'usage: runpilot metrics RUN'"
check "help compare" sh -c "'$RUNPILOT_BIN' compare --help | grep -q 'usage: runpilot compare RUN...'"
check "--help lists metrics and compare" sh -c "'$RUNPILOT_BIN' --help | grep -q '^  metrics ' && '$RUNPILOT_BIN' --help | grep -q '^  compare '"

# --- compare -------------------------------------------------------------------------------
cat > "$W/sweep.yaml" <<'Y'
name: sweep
entrypoint: 'echo "loss=$RUNPILOT_PARAM_TARGET"; if [ "$RUNPILOT_PARAM_LR" = 0.3 ]; then echo acc=0.75; fi'
params: {lr: 0.1, bs: 32, target: 0.5}
Y
ids=()
for p in "0.1 0.5" "0.2 0.2" "0.3 0.9"; do
	set -- $p
	rp run "$W/sweep.yaml" --runner local -q --param lr=$1 --param target=$2 >/dev/null 2>&1
	ids+=("$(basename "$(last_run_dir)")")
done
A=${ids[0]} B=${ids[1]} C=${ids[2]}
out=$(rp compare $A $B $C); rc=$?
check "compare exits 0" test $rc -eq 0
check "compare: header has the params that differ and every metric, not the same ones" \
	grep -Eq '^ID +NAME +STATUS +DURATION +lr +target +acc +loss$' <<<"$(head -n1 <<<"$out")"
check "compare: a row per run with its last values, - where it has none" test \
	"$(tail -n +2 <<<"$out" | awk '{print $1, $2, $3, $5, $6, $7, $8}' | tr '\n' '|')" \
	= "$A sweep success 0.1 0.5 - 0.5|$B sweep success 0.2 0.2 - 0.2|$C sweep success 0.3 0.9 0.75 0.9|"
check "compare --all-params shows the same ones too" \
	grep -Eq '^ID +NAME +STATUS +DURATION +lr +bs +target +acc +loss$' <<<"$(rp compare $A $B $C --all-params | head -n1)"
order() { rp compare "$@" | tail -n +2 | awk '{print $1}' | tr '\n' ' '; }
check "compare --sort METRIC: lowest first" test "$(order $A $B $C --sort loss)" = "$B $A $C "
check "compare --sort -METRIC: highest first" test "$(order $A $B $C --sort -loss)" = "$C $A $B "
check "compare --sort: runs without the metric last, in the order given" test "$(order $B $C $A --sort acc)" = "$C $B $A "
check "compare of one run" test "$(order $A)" = "$A "
rp compare $A $B $C --json > "$T/cmp.json"
check "compare --json: an object per run, typed params that differ, last values or null" test "$(json "$T/cmp.json" \
	'[[r["id"], r["name"], r["status"], sorted(r["params"].items()), sorted(r["metrics"].items()), r["duration_s"] >= 0] for r in d]')" \
	= "[[\"$A\", \"sweep\", \"success\", [[\"lr\", 0.1], [\"target\", 0.5]], [[\"acc\", null], [\"loss\", 0.5]], true], [\"$B\", \"sweep\", \"success\", [[\"lr\", 0.2], [\"target\", 0.2]], [[\"acc\", null], [\"loss\", 0.2]], true], [\"$C\", \"sweep\", \"success\", [[\"lr\", 0.3], [\"target\", 0.9]], [[\"acc\", 0.75], [\"loss\", 0.9]], true]]"
check "compare --json --all-params --sort" test "$(rp compare $A $B $C --json --all-params --sort -loss | python3 -c '
import json, sys; print([(r["id"], r["params"]["bs"]) for r in json.load(sys.stdin)])')" = "[('$C', 32), ('$A', 32), ('$B', 32)]"
rp compare $A $B $C --csv > "$T/cmp.csv"
check "compare --csv: header" test "$(head -n1 "$T/cmp.csv")" = "id,name,status,duration_s,params.lr,params.target,metrics.acc,metrics.loss"
check "compare --csv: a row per run, empty where a run has no value" test \
	"$(tail -n +2 "$T/cmp.csv" | cut -d, -f1-3,5- | tr '\n' '|')" \
	= "$A,sweep,success,0.1,0.5,,0.5|$B,sweep,success,0.2,0.2,,0.2|$C,sweep,success,0.3,0.9,0.75,0.9|"
rp compare $A rp_0999 $C >/dev/null 2>"$T/err"; rc=$?
check "compare: unknown run is a usage error naming it" sh -c "[ $rc -eq 2 ] && grep -q \"no run 'rp_0999'\" '$T/err'"
rp compare >/dev/null 2>"$T/err"; rc=$?
check "compare without RUN is a usage error" sh -c "[ $rc -eq 2 ] && grep -q 'missing RUN' '$T/err'"
rp compare $A $B --sort nope >/dev/null 2>"$T/err"; rc=$?
check "compare --sort of a metric no run has is a usage error" sh -c "[ $rc -eq 2 ] && grep -q \"metric 'nope'\" '$T/err'"
