#!/usr/bin/env bash
# Detached runs as a user sees them: `run --detach` returns at once with the run's id while the
# job runs on (and survives the terminal closing); `logs -f` follows it to its end; `cancel`
# cancels running and queued runs and says when a run had already ended; `wait` waits and exits
# with the job's code. The sandbox runner too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

W=$T/w
mkdir -p "$W"
field() { json "$RD/run.json" "$1"; }
status_of() { json "$RUNPILOT_HOME/runs/$1/run.json" "d['status']" 2>/dev/null; }
# Processes started for a run end with it: the supervisor's pid, from its claim.
sup_pid() { sed -n 's/^pid //p' "$RUNPILOT_HOME/runs/$1/run.lock" 2>/dev/null; }
started=()
rp_cleanup_hooks+=('for p in "${started[@]+"${started[@]}"}"; do pid_dead "$p" || kill -KILL "$p" 2>/dev/null; done')
note_sup() { local p; p=$(sup_pid "$1"); [ -n "$p" ] && started+=("$p"); }

# --- --detach returns at once; the run runs; cancel cancels it -----------------------------
mkconfig "$W/long.yaml" long '"echo begin; sleep 30; echo never"'
t0=$(date +%s%N)
ID=$(rp run --detach "$W/long.yaml" 2> "$T/d.err")
RC=$?
t1=$(date +%s%N)
note_sup "$ID"
check "detach: exit 0" test "$RC" -eq 0
check "detach: returns within 1 s" test $(( (t1 - t0) / 1000000 )) -lt 1000
check "detach: prints the run id alone on stdout" sh -c "echo '$ID' | grep -qx 'rp_[0-9][0-9][0-9][0-9]'"
check "detach: says how to follow on stderr" grep -q "run $ID started in the background; follow: runpilot logs -f $ID" "$T/d.err"
RD=$RUNPILOT_HOME/runs/$ID
wait_for "[ \"\$(status_of $ID)\" = running ]" 5
check "detach: run.json says running" test "$(status_of "$ID")" = running
SUP=$(sup_pid "$ID")
check "detach: its supervisor lives on" sh -c "[ -n '$SUP' ] && kill -0 '$SUP'"
check "detach: list shows it running" sh -c "'$RUNPILOT_BIN' list | grep '$ID' | grep -q running"
rp cancel "$ID" 2> "$T/c.err"
RC=$?
check "cancel: exit 0" test "$RC" -eq 0
check "cancel: run.json says cancelled" test "$(status_of "$ID")" = cancelled
check "cancel: says so" grep -q "$ID cancelled" "$T/c.err"
wait_for "pid_dead $SUP" 5
check "cancel: the supervisor is gone" pid_dead "$SUP"
check "cancel: the job's output is in logs.txt" grep -qx begin "$RD/logs.txt"
check "detach: a normal run (fingerprint, duration)" test "$(field "'environment' in d and d['duration_s'] is not None")" = true

# --- cancel of a run that ended, of an unknown run -----------------------------------------
mkconfig "$W/ok.yaml" ok '"echo ok"'
rp run -q "$W/ok.yaml" > /dev/null 2>&1
OK=$(basename "$(last_run_dir)")
rp cancel "$OK" 2> "$T/c2.err"
RC=$?
check "cancel ended: exit 0" test "$RC" -eq 0
check "cancel ended: says it already ended" grep -q "$OK already ended (success)" "$T/c2.err"
check "cancel ended: still success" test "$(status_of "$OK")" = success
rp cancel rp_0999 2> "$T/c3.err"
RC=$?
check "cancel unknown: exit 2" test "$RC" -eq 2
check "cancel unknown: says so" grep -q "no run 'rp_0999'" "$T/c3.err"
rp cancel "$OK" rp_0999 2> /dev/null
check "cancel unknown among others: exit 2" test $? -eq 2
check "cancel: a usage text" sh -c "'$RUNPILOT_BIN' cancel --help | grep -q 'usage: runpilot cancel'"

# --- rerun --detach too ---------------------------------------------------------------------
R=$(rp rerun --detach "$OK" 2> /dev/null)
note_sup "$R"
check "rerun --detach: prints the new run's id" sh -c "echo '$R' | grep -qx 'rp_[0-9][0-9][0-9][0-9]'"
rp wait "$R" 2> /dev/null
check "rerun --detach: the rerun succeeded" test "$(status_of "$R")" = success

# --- wait: the job's exit code, the first non-zero in order --------------------------------
mkconfig "$W/exit3.yaml" exit3 '"sleep 1; exit 3"'
E3=$(rp run -d "$W/exit3.yaml" 2> /dev/null)
note_sup "$E3"
rp wait "$OK" "$E3" > "$T/w.out" 2> "$T/w.err"
RC=$?
check "wait: exit 3, the job's" test "$RC" -eq 3
check "wait: the run has ended" test "$(status_of "$E3")" = failed
check "wait: nothing on stdout" test ! -s "$T/w.out"
check "wait: one line per run on stderr" test "$(wc -l < "$T/w.err")" -eq 2
check "wait: says how the run ended" grep -q "$E3 failed in .* (exit 3)" "$T/w.err"
rp wait "$OK" > /dev/null 2>&1
check "wait: a success exits 0" test $? -eq 0
L=$(rp run -d "$W/long.yaml" 2> /dev/null)
note_sup "$L"
t0=$(date +%s)
rp wait --timeout 1s "$L" 2> "$T/wt.err"
RC=$?
t1=$(date +%s)
check "wait --timeout: exit 124" test "$RC" -eq 124
check "wait --timeout: gives up in time" test $((t1 - t0)) -le 3
check "wait --timeout: says so" grep -q "gave up after" "$T/wt.err"
rp cancel "$L" 2> /dev/null
rp wait "$L" 2> "$T/wc.err"
RC=$?
check "wait on a cancelled run: 128+SIGTERM" test "$RC" -eq 143
rp wait rp_0999 2> /dev/null
check "wait unknown: exit 2" test $? -eq 2

# --- logs -f follows a detached run to its end -----------------------------------------------
mkconfig "$W/count.yaml" count '"for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done"'
C=$(rp run -d "$W/count.yaml" 2> /dev/null)
note_sup "$C"
timeout 20 "$RUNPILOT_BIN" logs -f "$C" > "$T/f.out" 2>&1
RC=$?
check "logs -f: ends when the run ends" test "$RC" -eq 0
check "logs -f: the whole output" test "$(tr '\n' ' ' < "$T/f.out")" = "line1 line2 line3 line4 line5 "
check "logs -f: the run had ended" test "$(status_of "$C")" = success

# --- the terminal closing does not end a detached run ---------------------------------------
mkconfig "$W/slow.yaml" slow '"sleep 2; echo survived"'
python3 "$PTY" "$T/pty.out" "$RUNPILOT_BIN" run --detach "$W/slow.yaml"
RC=$?
P=$(basename "$(last_run_dir)")
note_sup "$P"
check "pty detach: exit 0" test "$RC" -eq 0
check "pty detach: printed the id" grep -q "$P" "$T/pty.out"
sleep 0.5
check "pty detach: still running after the terminal closed" test "$(status_of "$P")" = running
rp wait "$P" 2> /dev/null
RC=$?
check "pty detach: the job ran to its end" test "$RC" -eq 0
check "pty detach: success" test "$(status_of "$P")" = success
check "pty detach: its output logged" grep -qx survived "$RUNPILOT_HOME/runs/$P/logs.txt"

# --- a bad config: the error, and no run --------------------------------------------------
printf 'name: bad\nentrypoint: "true"\nbogus: 1\n' > "$W/bad.yaml"
before=$(ls "$RUNPILOT_HOME/runs" | wc -l)
rp run --detach "$W/bad.yaml" > "$T/b.out" 2> "$T/b.err"
RC=$?
check "detach bad config: exit 2" test "$RC" -eq 2
check "detach bad config: one-line error" sh -c "[ \$(wc -l < '$T/b.err') -eq 1 ] && grep -q \"runpilot: error: .*unknown key 'bogus'\" '$T/b.err'"
check "detach bad config: nothing on stdout" test ! -s "$T/b.out"
check "detach bad config: no run" test "$(ls "$RUNPILOT_HOME/runs" | wc -l)" -eq "$before"
rp run --detach --runner nosuch "$W/ok.yaml" > /dev/null 2> "$T/b2.err"
check "detach unknown runner: exit 2" test $? -eq 2

# --- a queued run whose supervisor died is lost -----------------------------------------------
Q=$(RUNPILOT_TEST_STOP_AT=prepared "$RUNPILOT_TEST_BIN" run -d "$W/long.yaml" 2> /dev/null)
note_sup "$Q"
QS=$(sup_pid "$Q")
wait_for "[ \"\$(awk '{print \$3}' /proc/$QS/stat 2>/dev/null)\" = T ]" 5
check "queued: run.json says queued before the job starts" test "$(status_of "$Q")" = queued
check "queued: list shows it" sh -c "'$RUNPILOT_BIN' list | grep '$Q' | grep -q queued"
check "queued: --status queued selects it" sh -c "'$RUNPILOT_BIN' list --status queued | grep -q '$Q'"
kill -KILL "$QS"
wait_for "pid_dead $QS" 5
check "queued, supervisor dead: shown lost" sh -c "'$RUNPILOT_BIN' list | grep '$Q' | grep -q lost"
rp cancel "$Q" 2> "$T/q.err"
check "queued, supervisor dead: cancel says it ended" grep -q "$Q already ended (lost)" "$T/q.err"

# --- the sandbox runner: detached, queued while its setup stalls, cancelled -----------------
if ! sb_usable; then
	skip "sandbox detach" "the sandbox cannot run on this host (see runpilot doctor)"
	exit 0
fi
S=$(rp run -d --runner sandbox "$W/long.yaml" 2> /dev/null)
note_sup "$S"
wait_for "[ \"\$(status_of $S)\" = running ]" 5
check "sandbox detach: running" test "$(status_of "$S")" = running
check "sandbox detach: the sandbox runner" test "$(json "$RUNPILOT_HOME/runs/$S/run.json" "d['runner']['type']")" = sandbox
rp cancel "$S" 2> /dev/null
check "sandbox cancel: exit 0" test $? -eq 0
check "sandbox cancel: cancelled" test "$(status_of "$S")" = cancelled
SQ=$(RUNPILOT_TEST_STALL_SETUP=1 "$RUNPILOT_TEST_BIN" run -d --runner sandbox "$W/long.yaml" 2> /dev/null)
note_sup "$SQ"
sleep 0.5
check "sandbox stalled setup: queued" test "$(status_of "$SQ")" = queued
check "sandbox stalled setup: list shows queued" sh -c "'$RUNPILOT_BIN' list | grep '$SQ' | grep -q queued"
rp cancel "$SQ" 2> "$T/sq.err"
RC=$?
check "cancel queued: exit 0" test "$RC" -eq 0
check "cancel queued: cancelled" test "$(status_of "$SQ")" = cancelled
check "cancel queued: says so" grep -q "$SQ cancelled" "$T/sq.err"
rp wait "$SQ" 2> /dev/null
check "wait on a run cancelled in setup: 130" test $? -eq 130
