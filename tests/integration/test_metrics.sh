#!/usr/bin/env bash
# Metrics capture end to end: the example's loss series, the job's own file in the sandbox (and
# what it may not touch), a killed run keeps its metrics, bad output never stops the run or
# changes the log, custom patterns, config errors.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"
here=$(cd "$(dirname "$0")/../.." && pwd)

# --- the example: one loss point per epoch ---------------------------------------------
cp -r "$here/examples/train-linear" "$W/"
D=$(next_run_dir)
rp run -q "$W/train-linear/config.yaml" --param epochs=12 >/dev/null 2>&1
check "train-linear: a loss series with one point per epoch" \
	test "$(json "$D/metrics.json" 'd["metrics"]["loss"]["steps"]')" = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"
check "train-linear: values as printed" \
	test "$(json "$D/metrics.json" 'd["metrics"]["loss"]["values"][0]')" = "$(sed -n 's/^epoch: 1 loss: //p' "$D/logs.txt")"
last=$(sed -n 's/^epoch: 12 loss: //p' "$D/logs.txt")
check "train-linear: run.json summary (count, last_step, last = the last epoch's loss)" \
	test "$(json "$D/run.json" '[d["metrics"]["loss"]["count"], d["metrics"]["loss"]["last_step"], d["metrics"]["loss"]["last"] == float("'"$last"'")]')" = \
	"[12, 12, true]"
check "train-linear: min <= last <= max in the summary" \
	test "$(json "$D/run.json" 'd["metrics"]["loss"]["min"] <= d["metrics"]["loss"]["last"] <= d["metrics"]["loss"]["max"]')" = true
check "train-linear: timestamps and sources per point" \
	test "$(json "$D/metrics.json" '[len(d["metrics"]["loss"]["timestamps"]), sorted(set(d["metrics"]["loss"]["sources"]))]')" = '[12, ["log"]]'
check "train-linear: metrics.jsonl holds the same points" test "$(grep -c '"name":"loss"' "$D/metrics.jsonl")" = 12

# --- the job's own file, in the sandbox ------------------------------------------------
cat > "$W/own.sh" <<'S'
echo "file=$RUNPILOT_METRICS_FILE"
echo '{"step": 1, "tput": 100}' >> "$RUNPILOT_METRICS_FILE"
echo "loss: 0.5"
sleep 2.2
echo '{"step": 2, "tput": 150}' >> "$RUNPILOT_METRICS_FILE"
printf '{"step": 3, "tput": 175}' >> "$RUNPILOT_METRICS_FILE"
# what it must not reach: the run's own files (the sandbox shows it at most a private copy)
for f in "$RUNPILOT_RUN_DIR/metrics.jsonl" "$RUNPILOT_RUN_DIR/run.json"; do
	echo '{"name":"forged","step":0,"value":1,"time":0,"source":"log"}' >> "$f" 2>/dev/null
done
S
mkconfig "$W/own.yaml" own '["sh", "own.sh"]'
D=$(next_run_dir)
rp run -q --runner sandbox "$W/own.yaml" >/dev/null 2>&1
check "job file: \$RUNPILOT_METRICS_FILE is in the outputs" grep -qx "file=$D/outputs/runpilot-metrics.jsonl" "$D/logs.txt"
check "job file: its points recorded with source file (the last one without a newline too)" \
	test "$(json "$D/metrics.json" '[d["metrics"]["tput"]["steps"], d["metrics"]["tput"]["values"], d["metrics"]["tput"]["sources"]]')" = \
	'[[1, 2, 3], [100, 150, 175], ["file", "file", "file"]]'
check "job file: merged with the output's points" test "$(json "$D/metrics.json" 'd["metrics"]["loss"]["sources"]')" = '["log"]'
check "job file: the job could not write the run's metrics.jsonl or run.json" sh -c "! grep -q forged '$D/metrics.jsonl' '$D/run.json' '$D/metrics.json'"
check "job file: read while the job ran (the first point's time is before the end)" \
	test "$(json "$D/metrics.json" 'd["metrics"]["tput"]["timestamps"][0] < d["metrics"]["tput"]["timestamps"][2] - 0.5')" = true

# A symlink or FIFO in place of the file is not followed: RunPilot reads only a regular file.
printf '{"step": 0, "leak": 1}\n' > "$W/secret.jsonl"
mkconfig "$W/link.yaml" link "\"ln -s '$W/secret.jsonl' \\\"\$RUNPILOT_METRICS_FILE\\\"; echo done\""
D=$(next_run_dir)
rp run -q --runner local "$W/link.yaml" >/dev/null 2>&1
check "job file: a symlink is not followed" sh -c "grep -qx done '$D/logs.txt' && ! grep -q leak '$D/run.json' && [ ! -e '$D/metrics.jsonl' ]"
mkconfig "$W/fifo.yaml" fifo "\"mkfifo \\\"\$RUNPILOT_METRICS_FILE\\\"; echo done\""
D=$(next_run_dir)
timeout 20 "$RUNPILOT_BIN" run -q --runner local "$W/fifo.yaml" >/dev/null 2>&1; rc=$?
check "job file: a FIFO does not block the run" sh -c "[ $rc -eq 0 ] && grep -qx done '$D/logs.txt'"

# --- a run killed mid-way keeps its metrics --------------------------------------------
mkconfig "$W/long.yaml" long '"for i in 1 2 3; do echo \"step $i loss=0.$i\"; done; sleep 300"'
D=$(next_run_dir)
"$RUNPILOT_BIN" run "$W/long.yaml" --runner local >"$T/long.out" 2>/dev/null & P=$!
wait_for "grep -q 'loss=0.3' '$T/long.out'" 10
check "running: points are in metrics.jsonl while the job runs" wait_for "[ \"\$(grep -c loss '$D/metrics.jsonl' 2>/dev/null)\" = 3 ]" 5
kill -9 $P; wait $P 2>/dev/null
rp run -q --runner local "$W/own.yaml" >/dev/null 2>&1   # the next run records the dead one lost
check "killed: the run is lost" test "$(json "$D/run.json" 'd["status"]')" = lost
check "killed: its metrics up to its death are kept" \
	test "$(python3 -c 'import json,sys; print([json.loads(l)["value"] for l in open(sys.argv[1])])' "$D/metrics.jsonl")" = "[0.1, 0.2, 0.3]"

mkconfig "$W/cancel.yaml" cancel '"echo loss: 1; echo loss: 2; sleep 300"'
D=$(next_run_dir)
"$RUNPILOT_BIN" run "$W/cancel.yaml" --runner local >"$T/cancel.out" 2>/dev/null & P=$!
wait_for "grep -q 'loss: 2' '$T/cancel.out'" 10
kill -INT $P; wait $P 2>/dev/null
check "cancelled: the summary is in run.json" test "$(json "$D/run.json" '[d["status"], d["metrics"]["loss"]["count"]]')" = '["cancelled", 2]'

# --- bad output never stops the run or changes the log ---------------------------------
cat > "$W/bad.py" <<'P'
import random, sys
out = sys.stdout.buffer
out.write(b'{"loss": 0.4\n{"loss": }\n[1, {"loss": 2}]\n')
out.write(b"x" * (2 * 1024 * 1024) + b" loss=7\n")
out.write(random.Random(7).randbytes(300000).replace(b"=", b"-") + b"\n")
out.write(b"nul\x00 loss=8\x00\n\xff\xfe invalid utf-8 \xc3( acc=9\n")
out.write(b"12:30:01 http://host:8080/path C:\\x: 3\n")
out.write(b"loss=1\n")
P
mkconfig "$W/bad.yaml" bad '["python3", "bad.py"]'
D=$(next_run_dir)
(cd "$W" && python3 bad.py > "$T/bad.expected")
rp run --runner local "$W/bad.yaml" >"$T/bad.stdout" 2>/dev/null; rc=$?
check "bad output: the run succeeds" test $rc -eq 0
check "bad output: the log and the terminal have every byte, untouched" \
	sh -c "[ \$(stat -c %s '$D/logs.txt') -gt 2300000 ] && cmp -s '$D/logs.txt' '$T/bad.expected' && cmp -s '$T/bad.stdout' '$T/bad.expected'"
check "bad output: only the real metrics come through" \
	test "$(json "$D/run.json" 'sorted((k, v["last"]) for k, v in d["metrics"].items())')" = '[["acc", 9], ["loss", 1]]'

# --- custom patterns --------------------------------------------------------------------
cat > "$W/pat.yaml" <<'Y'
name: pat
entrypoint: "echo 'iter 5: 300 img/s'; echo 'accuracy 91.5%'; echo 'x=1'"
metrics:
  defaults: false
  patterns:
    - {throughput: 'iter (?<step>\d+): (?<value>\d+) img/s'}
    - {acc: 'accuracy ([\d.]+)%'}
Y
D=$(next_run_dir)
rp run -q --runner local "$W/pat.yaml" >/dev/null 2>&1
check "patterns: named groups and a first group" \
	test "$(json "$D/run.json" 'sorted((k, v["last"], v["last_step"]) for k, v in d["metrics"].items())')" = \
	'[["acc", 91.5, 5], ["throughput", 300, 5]]'
check "patterns: the config keeps the section" grep -q "throughput" "$D/config.yaml"
printf 'name: bad\nentrypoint: "true"\nmetrics:\n  patterns:\n    - "(?<key>\\\\w+)=(?<value>\\\\d+"\n' > "$W/badre.yaml"
rp run -q --runner local "$W/badre.yaml" >/dev/null 2>"$T/badre.err"; rc=$?
check "patterns: an invalid regex is a config error (exit 2) with line:col" \
	sh -c "[ $rc -eq 2 ] && grep -q 'badre.yaml:5:[0-9]*: metrics.patterns\[0\]: invalid regex' '$T/badre.err'"
check "patterns: no run is made for it" test ! -e "$(next_run_dir)"

# --- no metrics: no files ---------------------------------------------------------------
mkconfig "$W/none.yaml" none '"echo hello"'
D=$(next_run_dir)
rp run -q --runner local "$W/none.yaml" >/dev/null 2>&1
check "no metrics: no metrics files and no section" sh -c "[ ! -e '$D/metrics.jsonl' ] && [ ! -e '$D/metrics.json' ] && ! grep -q '\"metrics\"' '$D/run.json'"
