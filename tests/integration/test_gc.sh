#!/usr/bin/env bash
# runpilot gc: each kind of leftover is planted, --dry-run names it and leaves it, gc removes it;
# what is in use (a held lock, a live process, a running run, a fresh entry) stays. Then the
# policy: --keep-last, --older-than with --status, never a running run, --yes off a terminal.
# The Docker case is in tests/docker/test_docker.sh.
source "$(dirname "$0")/lib.sh"

W=$T/work
mkdir -p "$W"
mkconfig "$W/quick.yaml" quick '["true"]'
mkconfig "$W/bad.yaml" bad '["sh", "-c", "exit 3"]'
mkconfig "$W/sleepy.yaml" sleepy '["sleep", "60"]'
run() { rp run -q --runner local "$W/$1.yaml" > /dev/null 2>&1; }
status_of() { json "$1/run.json" 'd["status"]' 2>/dev/null; }
old() { touch -h -d '2 hours ago' "$@"; }
bg_pids=()
rp_cleanup_hooks+=('for p in "${bg_pids[@]+"${bg_pids[@]}"}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done')
# Start sleepy.yaml in the background; $LIVE_PID is its runpilot, $LIVE_DIR its run directory.
start_sleepy() {
	LIVE_DIR=$(next_run_dir)
	"$RUNPILOT_BIN" run -q --runner local "$W/sleepy.yaml" > /dev/null 2>&1 &
	LIVE_PID=$!
	bg_pids+=("$LIVE_PID")
	wait_for "[ \"\$(status_of '$LIVE_DIR')\" = running ]" 20
}
cgroups_empty() { local d; for d in $(run_cgroups "$1"); do [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] || return 1; done; }
index_has() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); sys.exit(0 if c.execute("SELECT count(*) FROM runs WHERE id = ?", (sys.argv[2],)).fetchone()[0] == 1 else 1)' "$RUNPILOT_HOME/index.db" "$1"; }
index_gone() { ! index_has "$1"; }

# ---- the leftovers, planted in one store ----------------------------------------------------
run quick
run quick
run quick
run quick
R2=$RUNPILOT_HOME/runs/rp_0002 R3=$RUNPILOT_HOME/runs/rp_0003 R4=$RUNPILOT_HOME/runs/rp_0004
rp list > /dev/null 2>&1 # the index exists, knowing rp_0001..4

# cgroups (v1 memory here): an empty one of a run no store knows, untouched for hours, goes; a
# fresh one and one with a process in it stay.
CG=/sys/fs/cgroup/memory
CG_OLD=$CG/runpilot-rp_9999-deadbeef CG_NEW=$CG/runpilot-rp_9998-deadbeef CG_BUSY=$CG/runpilot-rp_9997-deadbeef
cg_case=0
if [ -d "$CG" ] && mkdir "$CG_OLD" 2> /dev/null; then
	cg_case=1
	rp_cleanup_hooks+=("rmdir '$CG_OLD' '$CG_NEW' '$CG_BUSY' 2>/dev/null")
	mkdir "$CG_NEW" "$CG_BUSY"
	sleep 300 &
	CG_PID=$!
	bg_pids+=("$CG_PID")
	echo "$CG_PID" > "$CG_BUSY/cgroup.procs"
	old "$CG_OLD" "$CG_BUSY"
fi

# temp dirs: import staging with a free lock (goes), one whose lock is held (stays), a fresh one
# (stays: maybe being set up), a stale images/tmp dir (goes)
TMP=$RUNPILOT_HOME/tmp
mkdir -p "$TMP/import-free01" "$TMP/import-held01" "$TMP/import-new001" "$RUNPILOT_HOME/images/tmp/unpack-old001/tree"
touch "$TMP/import-free01/.lock" "$TMP/import-free01/layer" "$TMP/import-held01/.lock" "$TMP/import-new001/.lock"
(exec 9> "$TMP/import-held01/.lock" && flock 9 && exec sleep 300) &
HOLD_PID=$!
bg_pids+=("$HOLD_PID")
wait_for "! flock -n '$TMP/import-held01/.lock' true" 5
old "$TMP/import-free01" "$TMP/import-held01" "$RUNPILOT_HOME/images/tmp/unpack-old001"

# temp files of atomic writes: of a dead process (goes), of a live one (stays)
sh -c 'exit 0' &
DEAD_PID=$!
wait "$DEAD_PID"
touch "$R4/run.json.tmp.$DEAD_PID" "$R4/annotations.json.tmp.$$"
old "$R4/run.json.tmp.$DEAD_PID" "$R4/annotations.json.tmp.$$"

# an overlay work dir of a finished run
mkdir -p "$R4/.overlay-work/work"

# an index row whose directory went behind the index's back
rm -rf "$R3"

# the trash: an entry trashed long ago goes; one just trashed stays, even when the run itself
# is old (the age counts from the move)
touch -d '40 days ago' "$R2"
rp rm --yes rp_0001 rp_0002 > /dev/null 2>&1
TR1=$RUNPILOT_HOME/trash/rp_0001 TR2=$RUNPILOT_HOME/trash/rp_0002
touch -d '40 days ago' "$TR1"
check "rm: the trash entry's mtime is the time it was trashed" test "$(find "$TR2" -maxdepth 0 -mmin -5)" = "$TR2"

# a running run whose runpilot was killed (SIGKILL), and one still running (started first: a
# run starting later would finish the dead one off itself)
start_sleepy
KEEP_PID=$LIVE_PID KEEP_DIR=$LIVE_DIR
start_sleepy
LOST_DIR=$LIVE_DIR
{ kill -KILL "$LIVE_PID"; wait "$LIVE_PID"; } 2> /dev/null
wait_for "cgroups_empty '$LOST_DIR'" 10
LIVE_PID=$KEEP_PID LIVE_DIR=$KEEP_DIR

# ---- dry run: everything named, nothing changed ------------------------------------------------
rp gc --dry-run > "$T/dry" 2> "$T/dry.err"
check "dry run: exits 0" test $? = 0
if [ $cg_case = 1 ]; then
	check "dry run: names the orphaned cgroup" grep -qx "would remove cgroup $CG_OLD" "$T/dry"
	check "dry run: ...and leaves it" test -d "$CG_OLD"
fi
check "dry run: names the stale import dir" grep -qx "would remove temp dir $TMP/import-free01" "$T/dry"
check "dry run: names the stale images/tmp dir" grep -qx "would remove temp dir $RUNPILOT_HOME/images/tmp/unpack-old001" "$T/dry"
check "dry run: names the old trash entry" grep -q "^would remove trash entry $TR1 (" "$T/dry"
check "dry run: names the index row" grep -qx "would remove index row rp_0003" "$T/dry"
check "dry run: names the stale temp file" grep -qx "would remove temp file $R4/run.json.tmp.$DEAD_PID" "$T/dry"
check "dry run: names the overlay work dir" grep -qx "would remove overlay work dir $R4/.overlay-work" "$T/dry"
check "dry run: names the dead run" grep -qx "would mark $(basename "$LOST_DIR") lost (supervisor died)" "$T/dry"
check "dry run: a summary" grep -q "^gc (dry run, nothing changed): .*1 index row" "$T/dry"
check "dry run: the import dir is still there" test -d "$TMP/import-free01"
check "dry run: the images/tmp dir too" test -d "$RUNPILOT_HOME/images/tmp/unpack-old001"
check "dry run: the temp file too" test -e "$R4/run.json.tmp.$DEAD_PID"
check "dry run: the overlay work dir too" test -d "$R4/.overlay-work"
check "dry run: the trash entry too" test -d "$TR1"
check "dry run: the index row too" index_has rp_0003
check "dry run: the dead run still says running on disk" test "$(status_of "$LOST_DIR")" = running
check "dry run: its active/ entry stays" test -e "$RUNPILOT_HOME/active/$(basename "$LOST_DIR")"

# ---- gc ---------------------------------------------------------------------------------------
rp gc > "$T/gc" 2> "$T/gc.err"
check "gc: exits 0" test $? = 0
if [ $cg_case = 1 ]; then
	check "gc: removes the orphaned cgroup" test ! -d "$CG_OLD"
	check "gc: ...saying so" grep -qx "removed cgroup $CG_OLD" "$T/gc"
	check "gc: a fresh cgroup of an unknown run stays" test -d "$CG_NEW"
	check "gc: a cgroup with a process in it stays" test -d "$CG_BUSY"
	kill -KILL "$CG_PID"
	wait "$CG_PID" 2> /dev/null
	rmdir "$CG_NEW" "$CG_BUSY"
else
	skip "gc: orphaned cgroups" "cannot create a cgroup under $CG"
fi
check "gc: removes the stale import dir" test ! -e "$TMP/import-free01"
check "gc: ...saying so" grep -qx "removed temp dir $TMP/import-free01" "$T/gc"
check "gc: keeps the import dir whose lock is held" test -f "$TMP/import-held01/.lock"
check "gc: keeps a fresh import dir" test -d "$TMP/import-new001"
check "gc: removes the stale images/tmp dir" test ! -e "$RUNPILOT_HOME/images/tmp/unpack-old001"
check "gc: removes the dead process's temp file" test ! -e "$R4/run.json.tmp.$DEAD_PID"
check "gc: keeps a live process's temp file" test -e "$R4/annotations.json.tmp.$$"
check "gc: removes the overlay work dir" test ! -e "$R4/.overlay-work"
check "gc: removes the old trash entry" test ! -e "$TR1"
check "gc: ...with its size" grep -Eq "^removed trash entry $TR1 \([0-9.]+ (B|KiB|MiB)\)$" "$T/gc"
check "gc: keeps the entry trashed just now" test -d "$TR2"
check "gc: removes the index row" index_gone rp_0003
check "gc: ...saying so" grep -qx "removed index row rp_0003" "$T/gc"
check "gc: marks the dead run lost" test "$(status_of "$LOST_DIR")" = lost
check "gc: ...saying so" grep -qx "marked $(basename "$LOST_DIR") lost (supervisor died)" "$T/gc"
check "gc: its active/ entry goes" test ! -e "$RUNPILOT_HOME/active/$(basename "$LOST_DIR")"
if [ "$(id -u)" = 0 ]; then
	check "gc: the dead run's cgroups go" test -z "$(run_cgroups "$LOST_DIR")"
	check "gc: the running run's cgroups stay" test -n "$(run_cgroups "$LIVE_DIR")"
fi
check "gc: the running run stays running" test "$(status_of "$LIVE_DIR")" = running
check "gc: the running run is not named" sh -c "! grep -q '$(basename "$LIVE_DIR")' '$T/gc'"
check "gc: a summary line" grep -Eq "^gc: .*temp dirs?.*1 index row, 1 trash entry \([0-9.]+ [KM]?i?B\), 1 run marked lost$" "$T/gc"
rp list > "$T/list" 2>&1
check "list: rp_0003 is gone" sh -c "! grep -q '^rp_0003' '$T/list'"
rp gc > "$T/gc2" 2>&1
check "gc again: nothing left to remove" grep -qx "gc: nothing to remove" "$T/gc2"
kill -TERM "$LIVE_PID"
wait "$LIVE_PID" 2> /dev/null

# ---- the policy ---------------------------------------------------------------------------------
export RUNPILOT_HOME=$T/policy
run quick  # 1
run bad    # 2
run quick  # 3
run bad    # 4
run quick  # 5
run bad    # 6
P=$RUNPILOT_HOME/runs
in_runs() { local id; for id in "$@"; do [ -d "$P/$id" ] || return 1; done; }
in_trash() { local id; for id in "$@"; do [ -d "$RUNPILOT_HOME/trash/$id" ] && [ ! -e "$P/$id" ] || return 1; done; }

rp gc --keep-last 4 < /dev/null > "$T/p0" 2> "$T/p0.err"
check "policy off a terminal without --yes: exit 2" test $? = 2
check "...naming --yes" grep -q -- "--yes" "$T/p0.err"
check "...and moves nothing" in_runs rp_0001 rp_0002
rp gc --status failed < /dev/null > /dev/null 2> "$T/p1.err"
check "--status alone is a usage error" grep -q -- "--keep-last or --older-than" "$T/p1.err"

rp gc --keep-last 4 --dry-run < /dev/null > "$T/p2" 2>&1
check "--keep-last --dry-run: names the older runs" sh -c "grep -qx 'would move rp_0001 to the trash' '$T/p2' && grep -qx 'would move rp_0002 to the trash' '$T/p2'"
check "--keep-last --dry-run: not the newest" sh -c "! grep -q rp_0003 '$T/p2'"
check "--keep-last --dry-run: moves nothing" in_runs rp_0001 rp_0002

rp gc --keep-last 4 --yes > "$T/p3" 2>&1
check "--keep-last 4: the two oldest go to the trash" in_trash rp_0001 rp_0002
check "--keep-last 4: the newest four stay" in_runs rp_0003 rp_0004 rp_0005 rp_0006
check "--keep-last 4: summary" grep -qx "gc: 2 runs moved to the trash" "$T/p3"

# rp_0003 (success) and rp_0004 (failed) ended 40 days ago
for id in rp_0003 rp_0004; do
	python3 - "$P/$id/run.json" << 'EOF'
import json, sys, time
p = sys.argv[1]; d = json.load(open(p))
t = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 40 * 86400))
d["created_at"] = d["started_at"] = d["ended_at"] = t
json.dump(d, open(p, "w"))
EOF
done
rp reindex > /dev/null 2>&1
start_sleepy
rp gc --older-than 30d --status failed --yes > "$T/p4" 2>&1
check "--older-than 30d --status failed: the old failed run goes" in_trash rp_0004
check "...not the old successful one" in_runs rp_0003
check "...nor the recent failed one" in_runs rp_0006
rp gc --keep-last 0 --yes > "$T/p5" 2>&1
check "--keep-last 0: every finished run goes" in_trash rp_0003 rp_0005 rp_0006
check "--keep-last 0: the running run stays" in_runs "$(basename "$LIVE_DIR")"
check "--keep-last 0: ...running" test "$(status_of "$LIVE_DIR")" = running
check "--keep-last 0: ...and is not named" sh -c "! grep -q '$(basename "$LIVE_DIR")' '$T/p5'"
kill -TERM "$LIVE_PID"
wait "$LIVE_PID" 2> /dev/null
rp list > "$T/plist" 2>&1
check "list: only the run that was running" test "$(grep -c '^rp_' "$T/plist")" = 1

# No Docker on the host (no socket where the engine would be): nothing said about containers; an
# engine that is configured but does not answer is named.
DOCKER_HOST=unix://$T/no-such.sock rp gc --dry-run > "$T/nodocker" 2>&1
check "no Docker here: gc says nothing about containers" sh -c "! grep -qi docker '$T/nodocker'"
: > "$T/not-a-socket"
DOCKER_HOST=unix://$T/not-a-socket rp gc --dry-run > "$T/deaddocker" 2>&1
check "an engine that does not answer: containers not checked, said once" \
	test "$(grep -c 'containers not checked' "$T/deaddocker")" = 1
python3 "$PTY" "$T/tty.out" "$RUNPILOT_BIN" gc; rc=$?
check "on a terminal: a progress line that reaches 100%" sh -c "[ $rc = 0 ] && grep -aq 'gc *100%' '$T/tty.out'"
rp gc > "$T/pipe.out" 2>&1
check "off a terminal: no progress line" test "$(tr -cd '\r' < "$T/pipe.out" | wc -c)" = 0

# --- a run directory with nothing in it (its runpilot died between the mkdir and its claim) ---
E=$RUNPILOT_HOME/runs/rp_0900
mkdir "$E"
touch -d '2 hours ago' "$E"
rp list >/dev/null 2>"$T/err"
check "empty run dir: list does not complain of it" sh -c "! grep -q rp_0900 '$T/err'"
check "empty run dir: list does not show it" sh -c "! '$RUNPILOT_BIN' list | grep -q rp_0900"
rp gc > "$T/out" 2>&1
check "empty run dir: gc removes it" test ! -e "$E"
check "empty run dir: gc says so" grep -q "removed empty run dir $E" "$T/out"
mkdir "$E"
head -c 4096 /dev/zero > "$E/run.json.reserve"
touch -d '2 hours ago' "$E/run.json.reserve" "$E"
check "a run dir with only its record's reserved room: list does not show it" sh -c "! '$RUNPILOT_BIN' list 2>&1 | grep -q rp_0900"
rp gc >/dev/null 2>&1
check "a run dir with only its record's reserved room: gc removes it" test ! -e "$E"
# its runpilot killed while writing its claim, before the rename that takes it
sh -c 'exit 0' & dead=$!; wait $dead
mkdir "$E"
head -c 4096 /dev/zero > "$E/run.json.reserve"
printf 'pid %s\n' "$dead" > "$E/run.lock.$dead"
touch -d '2 hours ago' "$E/run.json.reserve" "$E/run.lock.$dead" "$E"
rp list >/dev/null 2>"$T/err"
check "a claim never taken (run.lock.PID of a dead runpilot): list neither shows nor complains of it" \
	sh -c "! grep -q rp_0900 '$T/err' && ! '$RUNPILOT_BIN' list 2>&1 | grep -q rp_0900"
rp gc >/dev/null 2>&1
check "a claim never taken: gc removes the directory" test ! -e "$E"
mkdir "$E"
rp gc >/dev/null 2>&1
check "empty run dir just made: gc leaves it (it may be a run being made)" test -d "$E"
rmdir "$E"
