#!/usr/bin/env bash
# The Slurm runner against a real one-node Slurm (slurm_lib.sh): submission, the job run on the
# node through runpilot's own lifecycle, following, exit codes, a --time limit, cancel (ours and
# scancel from outside), logs, the state mapping, a sweep as a job array, a detached run and wait;
# then the same essentials with accounting (slurmdbd), where this machine can run it.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"

if ! sl_start; then
	if [ "$SL_SKIP" = 1 ]; then
		skip "slurm runner" "NO SLURM HERE: $SL_WHY (install slurm-wlm and munge: make deps)"
	else
		fail "slurm runner: the test cluster" "$SL_WHY"
	fi
	exit 0
fi
W=$T/w
mkdir -p "$W"
rj() { json "$RUNPILOT_HOME/runs/$1/run.json" "$2"; }
run_dir() { echo "$RUNPILOT_HOME/runs/$1"; }
job_of() { rj "$1" 'd["runner"]["job_id"]'; }
# Wait until the run's job runs on the node: shown running, and its first line is in its logs.
wait_running() {
	wait_for "[ \"\$($RUNPILOT_BIN show $1 2>/dev/null | awk '/^Status/{print \$2}')\" = running ] && grep -q started '$RUNPILOT_HOME/runs/$1/logs.txt'" 30
}

# --- a --time limit: submitted first (Slurm checks limits about once a minute), checked last ---
mkconfig "$W/long.yaml" long '"echo started; sleep 300"' "runner: slurm" "slurm: {time: 1m}"
LONG=$(rp run "$W/long.yaml" --detach 2>/dev/null)
check "--detach prints the run's id" test "${LONG:-}" = rp_0001
check "--detach: the script asks for the time limit" grep -qx '#SBATCH --time=1' "$(run_dir rp_0001)/slurm.sbatch"

# --- hello: a run on the node, followed here --------------------------------------------------
mkconfig "$W/hello.yaml" hello '"echo hello from slurm; echo loss: 0.25; echo step two"'
out=$(rp run "$W/hello.yaml" --runner slurm 2>"$T/err"); rc=$?
H=$(sed -n 's/^runpilot: run \(rp_[0-9]*\) submitted.*/\1/p' "$T/err")
check "hello: exit 0" test $rc -eq 0
check "hello: the job's output streamed here" test "$out" = "$(printf 'hello from slurm\nloss: 0.25\nstep two')"
check "hello: says it was submitted, with the job id" grep -q "submitted to Slurm as job [0-9]" "$T/err"
check "hello: success in run.json" test "$(rj "$H" 'd["status"]')" = success
check "hello: runner.type slurm" test "$(rj "$H" 'd["runner"]["type"]')" = slurm
check "hello: job_id recorded" sh -c "test -n \"$(job_of "$H")\" && test \"$(job_of "$H")\" -gt 0"
check "hello: the node recorded" test "$(rj "$H" 'd["runner"]["node"]')" = "$SL_NODE"
check "hello: the partition recorded" test "$(rj "$H" 'd["runner"]["partition"]')" = "$SL_PARTITION"
check "hello: queue_wait_s measured" python3 -c "import sys; v=$(rj "$H" 'd["runner"]["queue_wait_s"]'); sys.exit(0 if 0 <= v < 30 else 1)"
check "hello: submit_time recorded" python3 -c "import sys; sys.exit(0 if $(rj "$H" 'd["runner"]["submit_time"]') > 1.7e9 else 1)"
check "hello: on the node in runpilot's sandbox (or plainly, saying why)" \
	sh -c "t=\$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[\"runner\"][\"on_node\"]; print(r[\"type\"], bool(r[\"fallback_reason\"]))' '$(run_dir "$H")/run.json'); [ \"\$t\" = 'sandbox False' ] || [ \"\$t\" = 'local True' ]"
check "hello: logs.txt has the output" test "$(cat "$(run_dir "$H")/logs.txt")" = "$out"
check "hello: logs prints it" test "$(rp logs "$H")" = "$out"
check "hello: metrics from the output" test "$(rj "$H" 'd["metrics"]["loss"]["last"]')" = 0.25
check "hello: the node's environment fingerprinted" test "$(rj "$H" '"environment" in d and bool(d["environment"])')" = true
check "hello: the batch script kept in the run dir" grep -q "__node-run" "$(run_dir "$H")/slurm.sbatch"
check "hello: config.yaml kept" test -s "$(run_dir "$H")/config.yaml"
check "hello: list shows it" sh -c "$RUNPILOT_BIN list | grep -q \"^$H .*success\""

# --- exit codes, and runner: slurm in the config -------------------------------------------------
mkconfig "$W/exit3.yaml" exit3 '"echo failing; exit 3"' "runner: slurm"
rp run "$W/exit3.yaml" >/dev/null 2>"$T/err"; rc=$?
E3=$(sed -n 's/^runpilot: run \(rp_[0-9]*\) submitted.*/\1/p' "$T/err")
check "exit 3: runpilot exits 3" test $rc -eq 3
check "exit 3: runner: slurm in the config submits it" test "$(rj "$E3" 'd["runner"]["type"]')" = slurm
check "exit 3: failed, exit_code 3" test "$(rj "$E3" 'd["status"]+" "+str(d["exit_code"])')" = "failed 3"
check "exit 3: the summary line says so" grep -q "run $E3 failed.*(exit 3)" "$T/err"

# --- a detached run, then wait ------------------------------------------------------------------
mkconfig "$W/five.yaml" five '"sleep 1; echo five; exit 5"' "runner: slurm"
D=$(rp run "$W/five.yaml" -d 2>/dev/null)
check "detached: list shows it queued or running at once" sh -c "$RUNPILOT_BIN list | grep -Eq \"^$D .*(queued|running)\""
rp wait "$D" 2>"$T/err"; rc=$?
check "detached: wait exits with the job's code" test $rc -eq 5
check "detached: wait's line" grep -q "$D failed" "$T/err"
check "detached: its logs" test "$(rp logs "$D")" = five

# --- logs -f follows a running Slurm run to its end -----------------------------------------------
mkconfig "$W/ticks.yaml" ticks '"for i in 1 2 3; do echo tick $i; sleep 0.5; done"' "runner: slurm"
TK=$(rp run "$W/ticks.yaml" -d 2>/dev/null)
check "logs -f: follows until the run ends" sh -c "timeout 60 $RUNPILOT_BIN logs -f $TK > '$T/follow'"
check "logs -f: every line" test "$(cat "$T/follow")" = "$(printf 'tick 1\ntick 2\ntick 3')"

# --- cancel: runpilot cancel, and scancel from outside ------------------------------------------
mkconfig "$W/sleep.yaml" sleeper '"echo started; sleep 300"' "runner: slurm"
C1=$(rp run "$W/sleep.yaml" -d 2>/dev/null)
check "cancel: the run starts on the node" wait_running "$C1"
check "cancel: runpilot cancel" rp cancel "$C1"
rp wait "$C1" 2>/dev/null; rc=$?
check "cancel: cancelled" test "$(rj "$C1" 'd["status"]')" = cancelled
check "cancel: wait exits 128+SIGTERM (the job's)" test $rc -eq 143
check "cancel: Slurm's word recorded" test "$(rj "$C1" 'd["runner"].get("state")')" = CANCELLED
check "cancel: the job is gone from the queue" sh -c "! squeue -h -j $(job_of "$C1") -o %T 2>/dev/null | grep -Eq 'RUNNING|PENDING'"

C2=$(rp run "$W/sleep.yaml" -d 2>/dev/null)
check "scancel from outside: the run starts" wait_running "$C2"
scancel "$(job_of "$C2")"
rp wait "$C2" >/dev/null 2>&1
check "scancel from outside: cancelled" test "$(rj "$C2" 'd["status"]')" = cancelled
check "scancel from outside: show says so" sh -c "$RUNPILOT_BIN show $C2 | grep -q '^Status *cancelled'"

# --- a job that never starts: PENDING with the queue's reason; Ctrl-C cancels it ----------------
mkconfig "$W/later.yaml" later '"echo never"' "runner: slurm" "slurm: {extra_args: [--begin=now+1hour]}"
"$RUNPILOT_BIN" run "$W/later.yaml" >"$T/out" 2>"$T/err" & P=$!
check "pending: the follower prints PENDING and the reason" wait_for "grep -q 'PENDING (BeginTime)' '$T/err'" 20
PD=$(sed -n 's/^runpilot: run \(rp_[0-9]*\) submitted.*/\1/p' "$T/err")
check "pending: list shows it queued" sh -c "$RUNPILOT_BIN list | grep -q \"^$PD .*queued\""
check "pending: readers wrote nothing" test "$(rj "$PD" 'd["status"]+" "+str(d["runner"].get("state"))')" = "queued None"
kill -INT $P; wait $P; rc=$?
check "pending: Ctrl-C cancels it (exit 130)" test $rc -eq 130
check "pending: cancelled, never started" test "$(rj "$PD" 'd["status"]+" "+str(d["started_at"])')" = "cancelled None"
check "pending: scancel'ed" grep -q "cancelling $PD" "$T/err"

# --- a controller that does not answer: readers still answer, from run.json ----------------------
Q=()
for i in 1 2 3; do Q+=("$(rp run "$W/later.yaml" -d 2>/dev/null)"); done
CTLD=$(sl_pid slurmctld)
kill -STOP "$CTLD"
t0=$(date +%s)
timeout 60 "$RUNPILOT_BIN" list > "$T/list" 2>&1; rc=$?
t1=$(date +%s)
kill -CONT "$CTLD"
check "controller stuck: list still answers" test $rc -eq 0
check "controller stuck: the runs shown as recorded (queued)" test "$(grep -c ' queued ' "$T/list")" -ge 3
# each Slurm command has a 5 s limit, and once one ran out the others are not asked
check "controller stuck: Slurm asked once, not once a run ($((t1 - t0)) s)" test $((t1 - t0)) -lt 12
for q in "${Q[@]}"; do rp cancel "$q" >/dev/null 2>&1; done
for q in "${Q[@]}"; do rp wait "$q" >/dev/null 2>&1; done
check "controller back: the runs cancelled" test "$(for q in "${Q[@]}"; do rj "$q" 'd["status"]'; done | sort -u)" = cancelled

# --- the node cannot see the run directory: the batch script says so ------------------------------
mkconfig "$W/lost.yaml" hidden '"echo hi"' "runner: slurm" "slurm: {extra_args: [--begin=now+1hour]}"
HD=$(rp run "$W/lost.yaml" -d 2>/dev/null)
HJ=$(job_of "$HD")
mv "$(run_dir "$HD")" "$T/hidden"
scontrol update JobId="$HJ" StartTime=now >/dev/null
wait_for "scontrol -o show job $HJ | grep -q JobState=FAILED" 30
mv "$T/hidden" "$(run_dir "$HD")"
rp wait "$HD" 2>/dev/null; rc=$?
check "unshared home: the run failed (setup)" test "$(rj "$HD" 'd["status"]+" "+d["reason"]')" = "failed setup"
check "unshared home: why, from the batch script" sh -c "$RUNPILOT_BIN show $HD | grep -q 'not visible on node'"
check "unshared home: wait exits 2 (the script's code)" test $rc -eq 2

# --- refusals: one line, no run left half made ------------------------------------------------
mkconfig "$W/badpart.yaml" badpart '"true"' "runner: slurm" "slurm: {partition: nosuchpart}"
n0=$(ls "$RUNPILOT_HOME/runs" | wc -l)
rp run "$W/badpart.yaml" >/dev/null 2>"$T/err"; rc=$?
BP=$(ls "$RUNPILOT_HOME/runs" | sort -V | tail -n1)
check "sbatch refuses: exit 1" test $rc -eq 1
check "sbatch refuses: sbatch's reason, one line" sh -c "[ \$(wc -l < '$T/err') -eq 1 ] && grep -q 'runpilot: error: run $BP: sbatch failed: .*partition' '$T/err'"
check "sbatch refuses: the run is recorded failed (setup)" test "$(rj "$BP" 'd["status"]+" "+d["reason"]')" = "failed setup"
check "sbatch refuses: one run dir" test "$(ls "$RUNPILOT_HOME/runs" | wc -l)" -eq $((n0 + 1))
n0=$(ls "$RUNPILOT_HOME/runs" | wc -l)
env -u SLURM_CONF PATH=/nowhere "$RUNPILOT_BIN" run "$W/hello.yaml" --runner slurm >/dev/null 2>"$T/err"; rc=$?
check "no sbatch: exit 2, saying so" sh -c "[ $rc -eq 2 ] && grep -q \"needs Slurm's sbatch on PATH\" '$T/err'"
check "no sbatch: no run made" test "$(ls "$RUNPILOT_HOME/runs" | wc -l)" -eq "$n0"
"$RUNPILOT_BIN" __node-run "$(run_dir "$H")" 2>"$T/err"; rc=$?
check "__node-run outside the run's job: refused (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'is not this Slurm job' '$T/err'"
check "__node-run outside the run's job: the run is untouched" test "$(rj "$H" 'd["status"]')" = success

# --- a sweep of 4 runs: one job array -----------------------------------------------------------
mkconfig "$W/sweep.yaml" sw '"echo i=$RUNPILOT_PARAM_I; echo val_acc: 0.$RUNPILOT_PARAM_I"' "runner: slurm" "params: {i: 0}"
rp run "$W/sweep.yaml" --param i=1,2,3,4 --parallel 2 >/dev/null 2>"$T/err"; rc=$?
SW=$(sed -n 's/^runpilot: sweep \(sw_[0-9a-f]*\): 4 runs.*job array.*/\1/p' "$T/err")
check "sweep: exit 0" test $rc -eq 0
check "sweep: submitted as one job array" test -n "$SW"
ids=$(rp list --where "sweep = \"$SW\"" | awk 'NR>1{print $1}')
check "sweep: 4 runs" test "$(echo "$ids" | wc -w)" -eq 4
jobs=$(for i in $ids; do job_of "$i"; done | sort -u)
check "sweep: one job id for all" test "$(echo "$jobs" | wc -l)" -eq 1
check "sweep: tasks 0..3" test "$(for i in $ids; do rj "$i" 'd["runner"]["array_task"]'; done | sort | tr '\n' ' ')" = "0 1 2 3 "
check "sweep: each ran its own params" test "$(for i in $ids; do rp logs "$i" | grep '^i='; done | sort | tr '\n' ' ')" = "i=1 i=2 i=3 i=4 "
check "sweep: --parallel caps the array" grep -q -- '--array=0-3%2' "$(run_dir "$(echo "$ids" | head -n1)")/slurm.sbatch"
check "sweep: status shows 4 succeeded" sh -c "$RUNPILOT_BIN sweep status $SW | grep -Eq 'succeeded[^0-9]*4|4 succeeded'"
check "sweep: compare sorts by its metric" test "$(rp compare --where "sweep = \"$SW\"" --sort -metrics.val_acc --csv 2>/dev/null | sed -n 2p | cut -d, -f1)" = "$(echo "$ids" | tail -n1)"

# --- the --time limit, submitted at the start ----------------------------------------------------
rp wait "$LONG" --timeout 150s 2>/dev/null; rc=$?
check "--time: the run failed (timeout)" test "$(rj "$LONG" 'd["status"]+" "+d["reason"]')" = "failed timeout"
check "--time: Slurm's TIMEOUT recorded" test "$(rj "$LONG" 'd["runner"].get("state")')" = TIMEOUT
check "--time: its output up to then kept" test "$(rp logs "$LONG")" = started

# --- with accounting: the ended job's state from sacct ---------------------------------------------
sl_stop
if ! sl_start_accounting; then
	if [ "$SL_SKIP" = 1 ]; then
		skip "slurm runner with accounting" "NO ACCOUNTING HERE: $SL_WHY"
	else
		fail "slurm runner with accounting: the test cluster" "$SL_WHY"
	fi
	exit 0
fi
check "accounting: sacct answers" sh -c "sacct -n -X -o JobID >/dev/null 2>&1"
rp run "$W/exit3.yaml" >/dev/null 2>"$T/err"; rc=$?
A3=$(sed -n 's/^runpilot: run \(rp_[0-9]*\) submitted.*/\1/p' "$T/err")
check "accounting: exit 3 → exit 3" test $rc -eq 3
check "accounting: failed, exit_code 3" test "$(rj "$A3" 'd["status"]+" "+str(d["exit_code"])')" = "failed 3"
AC=$(rp run "$W/later.yaml" -d 2>/dev/null)
scancel "$(job_of "$AC")"
wait_for "sacct -n -X -j $(job_of "$AC") -o State | grep -q CANCELLED" 30
check "accounting: a job cancelled while queued: cancelled (its end from sacct)" \
	sh -c "$RUNPILOT_BIN show $AC | grep -q '^Status *cancelled'"
rp wait "$AC" 2>/dev/null
check "accounting: wait records Slurm's word" test "$(rj "$AC" 'd["status"]+" "+str(d["runner"].get("state"))')" = "cancelled CANCELLED"
