#!/usr/bin/env bash
# Foundation: run / list / show / logs, exit codes, output capture, concurrency,
# cancellation, supervisor death, bad configs. Local runner unless a test says otherwise.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"

# --- run, list, show, logs ---------------------------------------------------------------
cat > "$W/hello.yaml" <<'Y'
name: hello
entrypoint: "echo hello $RUNPILOT_RUN_ID lr=$RUNPILOT_PARAM_LEARNING_RATE; echo oops >&2"
params: {learning_rate: 0.001, epochs: 3, label: "7"}
tags: [demo]
env: {GREETING: hi, API_TOKEN: s3cret}
Y
out=$(rp run "$W/hello.yaml" --runner local --param learning_rate=0.5 --tag extra 2>"$T/err"); rc=$?
check "run exits 0 for a successful job" test $rc -eq 0
check "job output is streamed to stdout" grep -qx "hello rp_0001 lr=0.5" <<<"$out"
check "run prints the run id first" sh -c "head -n1 '$T/err' | grep -q 'run rp_0001 started'"
check "run prints a summary last" sh -c "tail -n1 '$T/err' | grep -q 'rp_0001 success'"
D=$RUNPILOT_HOME/runs/rp_0001
for f in run.json logs.txt config.yaml params.json outputs; do check "run dir has $f" test -e "$D/$f"; done
check "logs.txt keeps stdout and stderr" sh -c "grep -q '^oops$' '$D/logs.txt' && grep -q '^hello ' '$D/logs.txt'"
check "run.json status success" test "$(json "$D/run.json" 'd["status"]')" = success
check "run.json exit_code 0, signal null" test "$(json "$D/run.json" '[d["exit_code"], d["signal"]]')" = "[0, null]"
check "run.json param override typed" test "$(json "$D/run.json" 'd["params"]')" = '{"learning_rate": 0.5, "epochs": 3, "label": "7"}'
check "params.json matches" test "$(json "$D/params.json" 'd["learning_rate"]')" = 0.5
check "tags merged" test "$(json "$D/run.json" 'd["tags"]')" = '["demo", "extra"]'
check "secret env value redacted" test "$(json "$D/run.json" 'd["env"]["API_TOKEN"]')" = "<redacted>"
check "plain env value kept" test "$(json "$D/run.json" 'd["env"]["GREETING"]')" = hi
check "uid is a UUID" grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$(json "$D/run.json" 'd["uid"]')"
check "runner recorded" test "$(json "$D/run.json" 'd["runner"]["type"]')" = local
check "timestamps are RFC 3339 UTC" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$' <<<"$(json "$D/run.json" 'd["ended_at"]')"
check "host and supervisor recorded" test "$(json "$D/run.json" '[bool(d["host"]["kernel"]), d["supervisor"]["pid"] > 0, len(d["supervisor"]["boot_id"]) > 10]')" = "[true, true, true]"
check "config.yaml is the resolved config" grep -q 'learning_rate: 0.5' "$D/config.yaml"
check "config.yaml loads again" sh -c "'$RUNPILOT_BIN' run '$D/config.yaml' --runner local -q 2>/dev/null"
check "list shows the run" sh -c "'$RUNPILOT_BIN' list | grep -E '^rp_0001 +hello +success'"
check "list has the seed's header" sh -c "'$RUNPILOT_BIN' list | head -n1 | grep -Eq '^ID +NAME +STATUS +STARTED +DURATION$'"
check "show by number" sh -c "'$RUNPILOT_BIN' show 1 | grep -q 'rp_0001'"
check "show last" sh -c "'$RUNPILOT_BIN' show last | grep -q 'rp_0002'"
check "show --json is run.json" sh -c "'$RUNPILOT_BIN' show rp_0001 --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"id\"]==\"rp_0001\"'"
rp run "$W/hello.yaml" --runner local --name uniq-name -q 2>/dev/null
check "show by unique name" sh -c "'$RUNPILOT_BIN' show uniq-name | grep -q rp_0003"
rp show hello >/dev/null 2>"$T/err"; rc=$?
check "ambiguous name is a usage error" sh -c "[ $rc -eq 2 ] && grep -q 'runs are named' '$T/err'"
rp show rp_0999 >/dev/null 2>"$T/err"; rc=$?
check "unknown run is a usage error" sh -c "[ $rc -eq 2 ] && grep -q \"no run 'rp_0999'\" '$T/err'"
check "logs prints logs.txt" sh -c "'$RUNPILOT_BIN' logs rp_0001 | cmp -s - '$D/logs.txt'"
check "list --json" sh -c "'$RUNPILOT_BIN' list --json | python3 -c 'import json,sys; assert len(json.load(sys.stdin))==3'"
check "list --limit 1 shows the newest" sh -c "[ \$('$RUNPILOT_BIN' list --limit 1 | tail -n +2 | wc -l) -eq 1 ] && '$RUNPILOT_BIN' list --limit 1 | grep -q rp_0003"
check "list --tag" sh -c "'$RUNPILOT_BIN' list --tag extra | grep -q rp_0001"
check "--version" sh -c "'$RUNPILOT_BIN' --version | grep -q '^runpilot '"
check "help run" sh -c "'$RUNPILOT_BIN' help run | grep -q -- '--param'"
check "run --help" sh -c "'$RUNPILOT_BIN' run --help | grep -q 'usage: runpilot run'"
rp frobnicate 2>/dev/null; check "unknown command exits 2" test $? -eq 2
rp show 2>"$T/err"; check "show without RUN is a usage error" sh -c "[ $? -eq 2 ] && grep -q 'missing RUN' '$T/err'"
rp logs --bogus last 2>"$T/err"; check "unknown option is a usage error" sh -c "[ $? -eq 2 ] && grep -q \"unknown option '--bogus'\" '$T/err'"
rp diff last 2>"$T/err"; check "diff needs two runs" sh -c "[ $? -eq 2 ] && grep -q 'expected 2 runs' '$T/err'"
rp show last extra 2>"$T/err"; check "extra argument is a usage error" sh -c "[ $? -eq 2 ] && grep -q \"unexpected argument 'extra'\" '$T/err'"

# --- exit codes passed through ----------------------------------------------------------
mkconfig "$W/exit7.yaml" exit7 '"exit 7"'
rp run "$W/exit7.yaml" --runner local -q 2>/dev/null; rc=$?
check "exit code passed through" test $rc -eq 7
check "non-zero exit is failed" sh -c "'$RUNPILOT_BIN' list --limit 1 | grep -q 'failed (exit 7)'"
mkconfig "$W/segv.yaml" segv '["python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]'
rp run "$W/segv.yaml" --runner local -q 2>/dev/null; rc=$?
check "killed by signal → 128+N" test $rc -eq 139
check "signal recorded" test "$(json "$(last_run_dir)/run.json" '[d["status"], d["signal"], d["exit_code"]]')" = '["failed", 11, null]'
mkconfig "$W/nocmd.yaml" nocmd '["/nonexistent/prog"]'
rp run "$W/nocmd.yaml" --runner local -q 2>/dev/null; rc=$?
check "missing program exits 127 with a message in the log" sh -c "[ $rc -eq 127 ] && grep -q 'cannot run' '$(last_run_dir)/logs.txt'"

# --- 10 MB of output, byte-exact ---------------------------------------------------------
cat > "$W/gen.py" <<'P'
import sys, os
out = sys.stdout.buffer
for i in range(100000):
    out.write(b"%07d " % i + bytes(range(32, 123)) + b"\n")   # 100 bytes a line
out.flush()
P
python3 "$W/gen.py" > "$T/expected"
mkconfig "$W/big.yaml" big '"python3 gen.py"'
rp run "$W/big.yaml" --runner local > "$T/streamed" 2>/dev/null
check "10 MB logged byte-exact" cmp -s "$T/expected" "$(last_run_dir)/logs.txt"
check "10 MB streamed byte-exact" cmp -s "$T/expected" "$T/streamed"
check "10 MB is 10 MB" test "$(stat -c %s "$T/expected")" -eq 10000000

# --- 50 concurrent runs -----------------------------------------------------------------
H2=$T/home-concurrent
mkconfig "$W/quick.yaml" quick '"echo $RUNPILOT_RUN_ID"'
pids=()
for i in $(seq 50); do RUNPILOT_HOME=$H2 "$RUNPILOT_BIN" run "$W/quick.yaml" --runner local -q 2>>"$T/concurrent.err" & pids+=($!); done
bad=0; for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
check "50 concurrent runs all succeed" test $bad -eq 0
[ $bad -eq 0 ] || grep error "$T/concurrent.err" >&2
check "50 distinct run dirs" test "$(ls "$H2/runs" | sort -u | wc -l)" -eq 50
ok=0
for d in "$H2"/runs/rp_*; do
	id=$(basename "$d")
	[ "$(json "$d/run.json" 'd["status"]+" "+d["id"]')" = "success $id" ] && [ "$(cat "$d/logs.txt")" = "$id" ] && ok=$((ok + 1))
done
check "50 intact run dirs (run.json + logs agree on the id)" test $ok -eq 50

# --- Ctrl-C → cancelled -----------------------------------------------------------------
SL="300.$$"   # a duration no other process on the host uses, so pgrep finds only ours
mkconfig "$W/sleep.yaml" sleeper "\"echo started; sleep $SL & sleep $SL\""
"$RUNPILOT_BIN" run "$W/sleep.yaml" --runner local >"$T/out" 2>"$T/err" & P=$!
wait_for "grep -q started '$T/out'" 10
D=$(last_run_dir)
job=$(pgrep -f "sleep $SL" | head -n1)
kill -INT $P; wait $P; rc=$?
check "Ctrl-C → cancelled" test "$(json "$D/run.json" 'd["status"]')" = cancelled
check "Ctrl-C → runpilot exits 128+SIGTERM" test $rc -eq 143
check "Ctrl-C → job and its children are gone" wait_for "pid_dead $job && ! pgrep -f 'sleep $SL' >/dev/null" 5
# A job that ignores SIGTERM is killed after the grace period.
mkconfig "$W/stubborn.yaml" stubborn "[\"python3\", \"-c\", \"import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)\"]"
"$RUNPILOT_BIN" run "$W/stubborn.yaml" --runner local >"$T/out" 2>/dev/null & P=$!
wait_for "grep -q ready '$T/out'" 10
t0=$(date +%s.%N); kill -TERM $P; wait $P; rc=$?; t1=$(date +%s.%N)
check "SIGTERM-ignoring job is SIGKILLed after the grace period" sh -c "[ $rc -eq 137 ] && python3 -c 'import sys; d=$t1-$t0; sys.exit(0 if 1.5 < d < 8 else 1)'"
check "...and recorded cancelled" test "$(json "$(last_run_dir)/run.json" 'd["status"]')" = cancelled

# --- kill -9 of runpilot → job gone, run lost ------------------------------------------
"$RUNPILOT_BIN" run "$W/sleep.yaml" --runner local >"$T/out" 2>/dev/null & P=$!
wait_for "grep -q started '$T/out'" 10
D=$(last_run_dir)
kill -9 $P; wait $P 2>/dev/null
check "kill -9 of runpilot → the job dies too" wait_for "! pgrep -f 'sleep $SL' >/dev/null" 5
check "run.json still says running on disk" test "$(json "$D/run.json" 'd["status"]')" = running
check "list shows it lost" sh -c "'$RUNPILOT_BIN' list | grep -E '^$(basename "$D") .* lost'"
check "show shows it lost" sh -c "'$RUNPILOT_BIN' show $(basename "$D") | grep -E '^Status +lost'"
check "readers never write: run.json still says running after list and show" \
	test "$(json "$D/run.json" 'd["status"]')" = running
check "the killed run is listed in active/ until someone cleans up" test -e "$RUNPILOT_HOME/active/$(basename "$D")"
"$RUNPILOT_BIN" run "$W/hello.yaml" --runner local -q >/dev/null 2>&1
check "the next run persists lost" test "$(json "$D/run.json" 'd["status"]')" = lost
check "...with why" test "$(json "$D/run.json" 'd["reason"]')" = "supervisor died"
check "...and drops the dead run from active/" test ! -e "$RUNPILOT_HOME/active/$(basename "$D")"
check "...and its own entry too, once it is done" sh -c "[ -z \"\$(ls -A '$RUNPILOT_HOME/active')\" ]"

# --- readers racing finishing runs never mark them lost ---------------------------------
H4=$T/home-race
mkconfig "$W/blink.yaml" blink '"true"'
( while [ ! -e "$T/race-done" ]; do RUNPILOT_HOME=$H4 "$RUNPILOT_BIN" list >/dev/null 2>&1; RUNPILOT_HOME=$H4 "$RUNPILOT_BIN" show last >/dev/null 2>&1; done ) &
READER=$!
for i in $(seq 40); do RUNPILOT_HOME=$H4 "$RUNPILOT_BIN" run "$W/blink.yaml" --runner local -q 2>/dev/null; done
touch "$T/race-done"; wait $READER
lost=$(grep -l '"status":[[:space:]]*"lost"' "$H4"/runs/rp_*/run.json 2>/dev/null | wc -l)
check "40 runs finishing under concurrent list/show: none marked lost" test "$lost" -eq 0
check "...and all 40 recorded success" test "$(grep -l '"status":[[:space:]]*"success"' "$H4"/runs/rp_*/run.json | wc -l)" -eq 40

# --- logs -f follows a running run -----------------------------------------------------
mkconfig "$W/slow.yaml" slow '"for i in 1 2 3; do echo tick $i; sleep 0.3; done"'
SD=$(next_run_dir)
"$RUNPILOT_BIN" run "$W/slow.yaml" --runner local -q 2>/dev/null & P=$!
# `last` is the newest run with a run.json: wait for that, not for logs.txt, which is made first
wait_for "[ -f '$SD/run.json' ]" 5
timeout 10 "$RUNPILOT_BIN" logs -f last > "$T/follow"; rc=$?
wait $P
check "logs -f returns when the run ends, with all output" sh -c "[ $rc -eq 0 ] && [ \$(grep -c tick '$T/follow') -eq 3 ]"

# --- durability: run.json is fsync'd at start and end; the other inputs once the job runs ---
if command -v strace > /dev/null; then
	mkconfig "$W/durable.yaml" durable '["sleep", "0.5"]'
	# -ff: one file per process, so no call is split across lines by another process's
	strace -ff -qq -e trace=openat,fsync,rename -o "$T/strace" "$RUNPILOT_BIN" run --runner local -q "$W/durable.yaml" > /dev/null 2>&1
	DD=$(last_run_dir)
	# openat(..., "<file>", O_RDONLY...) = N, then fsync(N) in the same process: the flush of an
	# input already in place
	flushed() { python3 - "$T/strace" "$1" <<'PY'
import glob, re, sys
want = sys.argv[2]
for f in glob.glob(sys.argv[1] + ".*"):
    lines = open(f).read().splitlines()
    for i, l in enumerate(lines):
        m = re.search(r'openat\(AT_FDCWD, "([^"]+)", O_RDONLY[^)]*\) = (\d+)', l)
        if m and m.group(1) == want and any("fsync(%s)" % m.group(2) in x for x in lines[i + 1:i + 6]):
            sys.exit(0)
sys.exit(1)
PY
	}
	for f in config.yaml params.json files.json; do
		check "a run longer than 0.1 s: $f flushed to disk while the job runs" flushed "$DD/$f"
	done
	check "a run longer than 0.1 s: runs/ flushed (the run's directory survives a power loss)" \
		flushed "$RUNPILOT_HOME/runs"
	check "run.json replaced atomically at start, once running, and at the end" \
		test "$(cat "$T"/strace.* | grep -c "rename(\"$DD/run.json.tmp")" -eq 3
	# logs.txt: flushed at the end when the job wrote to it (an empty one has nothing to flush)
	mkconfig "$W/durable-log.yaml" durable-log '["sh", "-c", "echo logged; sleep 0.2"]'
	strace -ff -qq -e trace=openat,fsync -o "$T/strace-log" "$RUNPILOT_BIN" run --runner local -q "$W/durable-log.yaml" > /dev/null 2>&1
	LD=$(last_run_dir)
	log_flushed() { python3 - "$T/strace-log" "$LD/logs.txt" <<'PY'
import glob, re, sys
for f in glob.glob(sys.argv[1] + ".*"):
    fd = None
    for l in open(f).read().splitlines():
        m = re.search(r'openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)', l)
        if m and m.group(1) == sys.argv[2] and "O_APPEND" in l:
            fd = m.group(2)
        elif m and fd is not None and m.group(2) == fd:
            fd = None  # the number was reused: the log was closed unflushed
        elif fd is not None and re.search(r'\bfsync\(%s\)' % fd, l):
            sys.exit(0)
sys.exit(1)
PY
	}
	check "logs.txt flushed at the end of a job that printed" log_flushed
	check "logs.txt holds what it printed" grep -qx logged "$LD/logs.txt"
else
	skip "durability checks" "strace is not installed"
fi

# --- bad configs: exit 2, one line, no run dir ----------------------------------------
H3=$T/home-bad
printf 'name: x\nentrypiont: "true"\n' > "$W/typo.yaml"
RUNPILOT_HOME=$H3 "$RUNPILOT_BIN" run "$W/typo.yaml" 2>"$T/err"; rc=$?
check "bad config exits 2" test $rc -eq 2
check "bad config: one line with line:col and a suggestion" sh -c "[ \$(wc -l < '$T/err') -eq 1 ] && grep -q \"typo.yaml:2:1: unknown key 'entrypiont' (did you mean 'entrypoint'?)\" '$T/err'"
check "bad config: no run dir" test ! -e "$H3/runs/rp_0001"
printf 'name: x\nentrypoint: "true"\nresources: {memory: lots}\n' > "$W/units.yaml"
RUNPILOT_HOME=$H3 "$RUNPILOT_BIN" run "$W/units.yaml" 2>"$T/err"; rc=$?
check "bad units exit 2 with position" sh -c "[ $rc -eq 2 ] && grep -q 'units.yaml:3:21: resources.memory' '$T/err'"
printf 'name: [x\n' > "$W/syntax.yaml"
RUNPILOT_HOME=$H3 "$RUNPILOT_BIN" run "$W/syntax.yaml" 2>"$T/err"; rc=$?
check "YAML syntax error exits 2 with position" sh -c "[ $rc -eq 2 ] && grep -Eq 'syntax.yaml:[0-9]+:[0-9]+: YAML syntax error' '$T/err'"
RUNPILOT_HOME=$H3 "$RUNPILOT_BIN" run "$W/hello.yaml" --param nokey 2>"$T/err"; rc=$?
check "bad --param exits 2" test $rc -eq 2
RUNPILOT_HOME=$H3 "$RUNPILOT_BIN" run "$W/hello.yaml" --runner warp 2>"$T/err"; rc=$?
check "unknown runner exits 2" sh -c "[ $rc -eq 2 ] && grep -q \"unknown runner 'warp'\" '$T/err'"
check "no run dir after any bad input" test ! -e "$H3/runs/rp_0001"
