#!/usr/bin/env bash
# A supervisor killed at any point leaves nothing the next `runpilot run` does not remove (its
# cgroups, the overlay work dir, temp files), and readers show such runs as they are (lost)
# without writing anything: they work on a store they cannot write. The kill points come from
# the test build's RUNPILOT_TEST_STOP_AT hook (testhooks.h).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"
: "${RUNPILOT_TEST_BIN:?run through tests/run-integration.sh}"

W=$T/work
mkdir -p "$W"
mkconfig "$W/quick.yaml" quick '["true"]' "resources: {memory: 256m, pids: 64}"
mkconfig "$W/sleepy.yaml" sleepy '["sleep", "30"]' "resources: {memory: 256m}"

status_of() { json "$1/run.json" 'd["status"]' 2>/dev/null; }
# Start the test build stopped at a point, then SIGKILL it there.
kill_at() {
	local point=$1; shift
	RUNPILOT_TEST_STOP_AT=$point "$RUNPILOT_TEST_BIN" run -q "$@" > /dev/null 2>&1 &
	local pid=$!
	if ! wait_for "[ \"\$(awk '{print \$3}' /proc/$pid/stat 2>/dev/null)\" = T ]" 20; then
		fail "killed at $point: it never stopped there"
		kill -KILL "$pid" 2>/dev/null
		return 1
	fi
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	return 0
}
cgroups_possible=0
[ "$(id -u)" = 0 ] && cgroups_possible=1
# Whatever a failed check leaves, the runs of this file's store are finished off at exit.
rp_cleanup_hooks+=("chmod -R u+w '$RUNPILOT_HOME' 2>/dev/null; '$RUNPILOT_BIN' run -q '$W/quick.yaml' --runner local >/dev/null 2>&1")

# --- killed after the runner made its cgroups, before any run.json ----------------------
kill_at prepared "$W/quick.yaml" --runner local
D=$(last_run_dir)
check "killed while setting up: no run.json yet" test ! -e "$D/run.json"
if [ $cgroups_possible = 1 ]; then
	check "killed while setting up: its cgroups are left" test -n "$(run_cgroups "$D")"
fi
rp list > "$T/list" 2> "$T/list.err"
check "list shows it lost, never silently drops it" grep -Eq "^$(basename "$D") +quick +lost" "$T/list"
check "show shows it lost" sh -c "'$RUNPILOT_BIN' show $(basename "$D") | grep -Eq '^Status +lost'"
check "list --json has its record from the claim (lost, its name), not 'unreadable'" \
	test "$(rp list --json 2>/dev/null | python3 -c 'import json,sys; print([(r["status"], r.get("name")) for r in json.load(sys.stdin) if r["id"] == sys.argv[1]])' "$(basename "$D")")" = "[('lost', 'quick')]"
check "readers wrote nothing" test ! -e "$D/run.json"
rp run -q "$W/quick.yaml" --runner local > /dev/null 2>&1
check "the next run records it lost" test "$(status_of "$D")" = lost
check "...keeping its name" test "$(json "$D/run.json" 'd["name"]')" = quick
check "...and removes its cgroups" test -z "$(run_cgroups "$D")"
check "...and its claim leaves active/" sh -c "[ -z \"\$(ls -A '$RUNPILOT_HOME/active')\" ]"

# --- killed after the final run.json, before the cleanup --------------------------------
kill_at recorded "$W/quick.yaml" --runner local
D=$(last_run_dir)
check "killed after recording: run.json says success" test "$(status_of "$D")" = success
if [ $cgroups_possible = 1 ]; then
	check "killed after recording: its cgroups are left" test -n "$(run_cgroups "$D")"
fi
rp run -q "$W/quick.yaml" --runner local > /dev/null 2>&1
check "the next run removes them" test -z "$(run_cgroups "$D")"
check "...and leaves the success alone" test "$(status_of "$D")" = success
check "...and active/ is empty" sh -c "[ -z \"\$(ls -A '$RUNPILOT_HOME/active')\" ]"

# --- killed while the sandbox's setup hangs: overlay work dir and cgroups ---------------
if sb_usable; then
	D=$(next_run_dir)
	RUNPILOT_TEST_STALL_SETUP=1 "$RUNPILOT_TEST_BIN" run -q --runner sandbox "$W/quick.yaml" > /dev/null 2>&1 &
	P=$!
	wait_for "[ -e '$D/run.json' ]" 10
	sleep 0.2
	kill -KILL $P
	wait $P 2>/dev/null
	wait_for '[ -z "$(sb_live_procs)" ]' 5
	check "sandbox killed in setup: its setup process dies with it (root's, which runs as nobody, too)" \
		test -z "$(sb_live_procs)"
	check "sandbox killed in setup: the overlay work dir is left" test -d "$D/.overlay-work"
	rp run -q "$W/quick.yaml" --runner local > /dev/null 2>&1
	check "the next run removes the overlay work dir" test ! -e "$D/.overlay-work"
	check "...and the empty changes/ of a job that never ran" test ! -e "$D/changes"
	check "...and its cgroups" test -z "$(run_cgroups "$D")"
	check "...and records it lost" test "$(status_of "$D")" = lost
	check "...with no temp file left" sh -c "! ls '$D' | grep -q '\\.tmp\\.'"
else
	skip "sandbox killed in setup" "the sandbox cannot run on this host"
fi

# --- a live run is never touched by the cleanup ----------------------------------------
LD=$(next_run_dir)
"$RUNPILOT_BIN" run -q "$W/sleepy.yaml" --runner local > /dev/null 2>&1 &
LIVE=$!
wait_for "[ \"\$(status_of '$LD')\" = running ]" 10
rp run -q "$W/quick.yaml" --runner local > /dev/null 2>&1
check "a live run stays running through another run's cleanup" test "$(status_of "$LD")" = running
check "...and stays in active/" test -e "$RUNPILOT_HOME/active/$(basename "$LD")"
kill -INT $LIVE
wait $LIVE 2>/dev/null
check "...until it ends (cancelled)" test "$(status_of "$LD")" = cancelled
check "...when its entry goes" test ! -e "$RUNPILOT_HOME/active/$(basename "$LD")"

# --- a run directory that cannot be read is a row, with the reason on stderr -----------
mkdir -p "$RUNPILOT_HOME/runs/rp_0900"
echo '{"status": ' > "$RUNPILOT_HOME/runs/rp_0900/run.json"
rp list > "$T/list" 2> "$T/list.err"
check "a broken run.json is listed as unreadable" grep -Eq '^rp_0900 +- +unreadable' "$T/list"
check "...with a one-line reason on stderr" grep -q '^runpilot: warning: rp_0900: .*run.json is not valid JSON' "$T/list.err"
rp list --json > "$T/list.json" 2>/dev/null
check "list --json has it too" python3 -c "import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if any(r['id']=='rp_0900' and r['status']=='unreadable' for r in a) else 1)" "$T/list.json"
check "list --status unreadable shows only it" sh -c "'$RUNPILOT_BIN' list --status unreadable 2>/dev/null | tail -n +2 | awk '{print \$1}' | tr '\\n' ' ' | grep -qx 'rp_0900 '"
rm -rf "$RUNPILOT_HOME/runs/rp_0900"

# --- readers on a store they cannot write: same output, nothing changed -----------------
# (the owner's list reads through the index, the other user's scans: the outputs must agree)
if [ "$(id -u)" = 0 ] && sb_make_user; then
	kill_at prepared "$W/quick.yaml" --runner local   # a dead run, shown lost on read
	SD=$(next_run_dir)
	"$RUNPILOT_BIN" run -q "$W/sleepy.yaml" --runner local > /dev/null 2>&1 &
	LIVE=$!
	wait_for "[ \"\$(status_of '$SD')\" = running ]" 10
	kill -KILL $LIVE; wait $LIVE 2>/dev/null       # a running record whose supervisor died
	chmod -R a+rX "$T"
	chmod -R a-w "$RUNPILOT_HOME"
	# the run index (index.db) is a cache the owner's reads may refresh; the runs are not touched
	snap() { (cd "$RUNPILOT_HOME" && find . -mindepth 1 -not -name 'index.db*' -printf '%p %s %T@ %m\n' | sort; cat runs/*/run.json) | sha256sum; }
	before=$(snap)
	ids=$(ls "$RUNPILOT_HOME/runs" | grep '^rp_' | sort -V)
	first=$(echo "$ids" | head -n1); lastid=$(echo "$ids" | tail -n1)
	ok=$(grep -lE '"status":[[:space:]]*"success"' "$RUNPILOT_HOME"/runs/rp_*/run.json | head -n1 | xargs dirname | xargs basename)
	for cmd in "list" "list --json" "show $lastid" "show $lastid --json" "show $first" "logs $ok" "diff $ok $lastid"; do
		rp $cmd > "$T/root.out" 2>&1; rrc=$?
		as_user "$SB_USER" "$RUNPILOT_BIN" $cmd > "$T/user.out" 2>&1; urc=$?
		check "read-only store: '$cmd' as another user exits as for the owner ($rrc)" test "$urc" -eq "$rrc"
		check "read-only store: '$cmd' prints the same" cmp -s "$T/root.out" "$T/user.out"
	done
	as_user "$SB_USER" "$RUNPILOT_BIN" verify "$ok" > "$T/user.out" 2>&1; urc=$?
	check "read-only store: verify answers (0 or 1, not an error)" test "$urc" -le 1
	nlost=$(as_user "$SB_USER" "$RUNPILOT_BIN" list | grep -c ' lost ')
	check "read-only store: both dead runs are shown lost" test "$nlost" -ge 2
	check "read-only store: nothing in it changed" test "$(snap)" = "$before"
	chmod -R u+w "$RUNPILOT_HOME"
	rp run -q "$W/quick.yaml" --runner local > /dev/null 2>&1
	check "once writable, the next run finishes both dead runs off" sh -c "[ -z \"\$(ls -A '$RUNPILOT_HOME/active')\" ]"
else
	skip "readers on a read-only store" "needs root and useradd"
fi
