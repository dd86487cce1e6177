#!/usr/bin/env bash
# A full or failing disk, resources.log_bytes, and a RUNPILOT_HOME that cannot take a run.
#  - log_bytes: logs.txt keeps its head and tail with a marker between; run.json's "logs" says what
#    was cut; metrics still come from every line.
#  - faults: each filesystem call a run makes under the home fails in turn (ENOSPC, EIO; the
#    faultfs LD_PRELOAD shim): runpilot never crashes, keeps the job's exit status 7 (or refuses
#    the run in one error line, exit 1, before the job started), leaves a run.json that parses or
#    no run directory, and `list` works after.
#  - ENOSPC for real: the home on a 2 MiB tmpfs in a private mount namespace, a job printing
#    10 MiB: exit status kept, the log cut and said so, run.json written.
#  - a missing parent, a folder without permission, a read-only and a full home: one error line,
#    no run directory, no job.
source "$(dirname "$0")/lib.sh"

SHIM=${RP_HELPERS:-}/faultfs.so
W=$T/w
mkdir -p "$W"
chmod 755 "$W"
# Under ASan the shim is preloaded ahead of the sanitizer's runtime.
ASAN_PRELOAD="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# crashed FILE: a sanitizer report or a crash message in runpilot's stderr.
crashed() { grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|core dumped' "$1"; }
run_dirs() { ls -d "$1"/runs/rp_* 2>/dev/null; }

# ---- resources.log_bytes ----
# About 1 MiB of metric lines, then short lines; all of it streamed to cap.out as well.
LINES=9000
mkconfig "$W/cap.yaml" cap "awk 'BEGIN{n=0; for(i=1;i<=$LINES;i++){s=sprintf(\"step=%d loss=%.6f pad %s\", i, 1/i, \"............................................................................\"); n+=length(s)+1; print s} while(n<1048576){print \"z\"; n+=2} exit 3}'" \
	"resources:" "  log_bytes: 64k"
rp run --runner local "$W/cap.yaml" > "$T/cap.out" 2> "$T/cap.err"; rc=$?
D=$(last_run_dir)
TOTAL=$(stat -c %s "$T/cap.out")
check "log_bytes: the job's exit status kept" test "$rc" = 3
size=$(stat -c %s "$D/logs.txt" 2>/dev/null || echo 0)
check "log_bytes: logs.txt is at most the cap plus the marker line ($size bytes)" test "$size" -le $((65536 + 64)) -a "$size" -gt 60000
check "log_bytes: the head is kept" test "$(head -n1 "$D/logs.txt")" = "step=1 loss=1.000000 pad ............................................................................"
check "log_bytes: the tail is kept" test "$(tail -n1 "$D/logs.txt")" = "z"
marker=$(grep -a -c '^\[runpilot: [0-9]* bytes cut here\]$' "$D/logs.txt")
check "log_bytes: one marker line where the middle was cut" test "$marker" = 1
cut=$(sed -n 's/^\[runpilot: \([0-9]*\) bytes cut here\]$/\1/p' "$D/logs.txt")
logs=$(json "$D/run.json" '[d["logs"]["truncated"], d["logs"]["bytes_lost"], d["logs"]["bytes_written"], d["logs"]["cap"]]')
check "log_bytes: run.json says truncated, and the bytes lost are those cut ($logs, marker $cut)" \
	test "$logs" = "[true, $cut, $((TOTAL - cut)), 65536]"
check "log_bytes: about 1 MiB printed, 64 KiB of it kept ($TOTAL bytes)" test "$TOTAL" -ge 1048576 -a $((TOTAL - cut)) = 65536
count=$(json "$D/run.json" 'd["metrics"]["loss"]["count"]')
check "log_bytes: metrics from the cut middle are recorded ($count points)" test "$count" = "$LINES"
check "log_bytes: a notice says the log was cut" grep -q 'logs.txt keeps .* bytes cut' "$T/cap.err"
# A run under the cap: nothing cut, the section says so.
mkconfig "$W/small.yaml" small "echo hello" "resources:" "  log_bytes: 64k"
rp run -q --runner local "$W/small.yaml" >/dev/null 2>&1
D=$(last_run_dir)
check "log_bytes: a short log is whole" test "$(cat "$D/logs.txt")" = hello
check "log_bytes: run.json says not truncated" test "$(json "$D/run.json" '[d["logs"]["truncated"], d["logs"]["bytes_lost"], d["logs"]["bytes_written"]]')" = "[false, 0, 6]"
mkconfig "$W/badcap.yaml" badcap "true" "resources:" "  log_bytes: lots"
rp run -q --runner local "$W/badcap.yaml" >/dev/null 2> "$T/badcap.err"; rc=$?
check "log_bytes: a bad size is a config error (exit 2)" test "$rc" = 2
check "log_bytes: the error names the setting" grep -q "resources.log_bytes: 'lots' is not a size" "$T/badcap.err"

# ---- every filesystem call failing in turn ----
if [ ! -f "$SHIM" ]; then
	skip "faults" "the faultfs shim is not built (make build/helpers/faultfs.so)"
else
	mkconfig "$W/seven.yaml" seven "awk 'BEGIN{for(i=1;i<=30;i++) print \"step\", i, \"loss=\" 1/i; exit 7}'"
	FH=$T/fh
	# fault_run SPEC: one run of seven.yaml in a fresh home with FAULTFS_FAIL=SPEC.
	fault_run() {
		rm -rf "$FH"
		mkdir -p "$FH"
		env RUNPILOT_HOME="$FH/home" FAULTFS_PREFIX="${FPREFIX:-$FH}" FAULTFS_FAIL="$1" FAULTFS_COUNT="${2:-}" \
			LD_PRELOAD="$SHIM" ASAN_OPTIONS="$ASAN_PRELOAD" \
			"$RUNPILOT_BIN" run --runner local "$W/seven.yaml" > "$T/f.out" 2> "$T/f.err"
	}
	# What a run makes under its home: the calls of each kind.
	rm -f "$T/counts"
	fault_run none "$T/counts"
	rc=$?
	check "faults: the counting run succeeds (exit 7)" test "$rc" = 7
	declare -A K=()
	while read -r op n; do
		[ "${K[$op]:-0}" -ge "$n" ] || K[$op]=$n
	done < "$T/counts"
	echo "  calls under the home per run: $(for op in "${!K[@]}"; do printf '%s=%s ' "$op" "${K[$op]}"; done)"
	check "faults: the shim counts writes, fsyncs, renames and opens" \
		test "${K[write]:-0}" -gt 0 -a "${K[fsync]:-0}" -gt 0 -a "${K[rename]:-0}" -gt 0 -a "${K[open]:-0}" -gt 0
	# Each call of each kind fails once (at most 40 points per kind, spread over all its calls).
	total=0
	for op in write fsync rename open mkdir fallocate ftruncate link; do
		k=${K[$op]:-0}
		[ "$k" -gt 0 ] || continue
		step=$(( (k + 39) / 40 ))
		bad=""
		for ((n = 1; n <= k; n += step)); do
			err=ENOSPC
			[ $((n % 2)) = 0 ] && err=EIO
			fault_run "$op:$n:$err"
			rc=$?
			total=$((total + 1))
			why=""
			if crashed "$T/f.err" || [ "$rc" -gt 128 ]; then
				why="crashed (exit $rc): $(head -c 300 "$T/f.err")"
			elif [ "$rc" = 1 ]; then
				# Refused before the job started: one error line and nothing else, no output.
				lines=$(wc -l < "$T/f.err")
				grep -q '^runpilot: error: ' "$T/f.err" && [ "$lines" = 1 ] ||
					why="exit 1 with $lines lines: $(head -c 300 "$T/f.err")"
				[ ! -s "$T/f.out" ] || why="exit 1 after the job ran: $(head -c 300 "$T/f.err")"
			elif [ "$rc" != 7 ]; then
				why="exit $rc: $(head -c 300 "$T/f.err")"
			fi
			if [ -z "$why" ]; then
				for d in $(run_dirs "$FH/home"); do
					python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if sys.argv[2] != "7" or d["status"] in ("running", "queued") or d["exit_code"] == 7 else 1)' \
						"$d/run.json" "$rc" 2>/dev/null || why="$(basename "$d"): run.json missing, broken or without the exit status"
				done
			fi
			if [ -z "$why" ] && ! RUNPILOT_HOME="$FH/home" "$RUNPILOT_BIN" list >/dev/null 2> "$T/f.list"; then
				why="list fails after: $(head -c 200 "$T/f.list")"
			fi
			[ -z "$why" ] || bad="$bad [$op:$n:$err $why]"
		done
		if [ -z "$bad" ]; then pass "faults: each $op failing in turn ($k calls)"; else fail "faults: $op" "$bad"; fi
	done
	echo "  $total runs with one failing call"
	# The record's room cannot be reserved: the store is full, and nothing of the run is left.
	fault_run fallocate:1:ENOSPC; rc=$?
	check "faults: no room for the record: refused (exit 1)" test "$rc" = 1
	check "faults: ... in one line saying the store is full" \
		test "$(wc -l < "$T/f.err")" = 1 -a "$(grep -c 'is full: free some space' "$T/f.err")" = 1
	check "faults: ... and no run directory" test -z "$(run_dirs "$FH/home")"
	# Only logs.txt's writes count, the first fails: the job runs to its end, its output still
	# streamed, and the record says what the log lost.
	FPREFIX=$FH/home/runs/rp_0001/logs.txt fault_run write:1:ENOSPC; rc=$?
	check "faults: logs.txt unwritable: the job's exit status kept (7)" test "$rc" = 7
	check "faults: ... its output still streamed" test "$(wc -l < "$T/f.out")" = 30
	check "faults: ... run.json says all of it was lost" test "$(json "$FH/home/runs/rp_0001/run.json" \
		'[d["logs"]["truncated"], d["logs"]["bytes_written"], d["logs"]["bytes_lost"], d["logs"]["error"], d["exit_code"]]')" \
		= "[true, 0, $(stat -c %s "$T/f.out"), \"No space left on device\", 7]"
	check "faults: ... a warning says so" grep -q 'logs.txt is cut: writing it failed (No space left on device)' "$T/f.err"
	rm -rf "$FH"
	rm -f "$T/counts"
fi

# ---- ENOSPC for real: the home on a 2 MiB tmpfs ----
mkconfig "$W/big.yaml" big "yes 'plain output, no metrics in it, 64 bytes to a line ..........' | head -c 10485760; exit 7"
mkdir -p "$T/small"
NS_OK=1
unshare -m --propagation private true 2>/dev/null || NS_OK=0
if [ "$NS_OK" = 0 ]; then
	skip "enospc" "cannot make a private mount namespace (unshare -m) here"
else
	unshare -m --propagation private sh -c '
		mount -t tmpfs -o size=2m tmpfs "$1" || { echo 90 > "$4/big.rc"; exit 0; }
		RUNPILOT_HOME="$1/home" ASAN_OPTIONS="$5" "$2" run --runner local "$3" > "$4/big.out" 2> "$4/big.err"
		echo $? > "$4/big.rc"
		cp "$1/home/runs/rp_0001/run.json" "$4/big.json" 2>/dev/null
		RUNPILOT_HOME="$1/home" "$2" list > "$4/big.list" 2>&1 || echo "list failed" >> "$4/big.list"
	' sh "$T/small" "$RUNPILOT_BIN" "$W/big.yaml" "$T" "${ASAN_OPTIONS:-}"
	rc=$(cat "$T/big.rc" 2>/dev/null)
	if [ "$rc" = 90 ]; then
		skip "enospc" "cannot mount a tmpfs in a private mount namespace"
	else
		check "enospc: the job's exit status kept (7)" test "$rc" = 7
		check "enospc: no crash" eval '! crashed "$T/big.err"'
		check "enospc: all 10 MiB still streamed to the terminal" test "$(stat -c %s "$T/big.out")" = 10485760
		check "enospc: run.json written and parses, failed with exit 7" \
			test "$(json "$T/big.json" '[d["status"], d["exit_code"]]' 2>/dev/null)" = '["failed", 7]'
		logs=$(json "$T/big.json" '[d["logs"]["truncated"], d["logs"]["bytes_lost"] > 0, d["logs"]["bytes_written"] + d["logs"]["bytes_lost"], d["logs"]["error"]]' 2>/dev/null)
		check "enospc: run.json says the log was cut and what was lost ($logs)" \
			test "$logs" = '[true, true, 10485760, "No space left on device"]'
		check "enospc: a warning says so at the end" grep -q 'warning: .*logs.txt is cut: writing it failed (No space left on device)' "$T/big.err"
		check "enospc: the warning comes before the summary" \
			test "$(grep -n 'logs.txt is cut' "$T/big.err" | cut -d: -f1)" -lt "$(grep -n 'run rp_0001 failed' "$T/big.err" | cut -d: -f1)"
		check "enospc: list works after" eval '! grep -q "list failed" "$T/big.list"'
	fi
fi

# ---- a home that cannot take a run: one line, no run directory, no job ----
mkconfig "$W/touch.yaml" touch "touch $T/job-started"
# refused NAME RC PATTERN HOME [CMD-PREFIX...]: the run is refused with exit RC in one line
# matching PATTERN; no job ran and HOME has no run directory.
refused() {
	local name=$1 want=$2 pat=$3 home=$4 rc
	shift 4
	rm -f "$T/job-started"
	"$@" env RUNPILOT_HOME="$home" "$RUNPILOT_BIN" run --runner local "$W/touch.yaml" > "$T/h.out" 2> "$T/h.err"
	rc=$?
	check "$name: exit $want" test "$rc" = "$want"
	check "$name: one line saying so ($(head -c 200 "$T/h.err"))" \
		test "$(wc -l < "$T/h.err")" = 1 -a "$(grep -c -- "$pat" "$T/h.err")" = 1
	check "$name: no job started" test ! -e "$T/job-started"
	check "$name: no run directory" test -z "$(run_dirs "$home")"
}
refused "missing parent" 2 "the folder above it, $T/nope/deeper, does not exist: create it" "$T/nope/deeper/home"
check "missing parent: nothing created" test ! -e "$T/nope"
echo file > "$T/afile"
refused "home under a file" 2 "is not a folder" "$T/afile/home"
if id nobody >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	mkdir -p "$T/locked" "$T/locked2/home/runs"
	chmod 555 "$T/locked2/home/runs"
	chmod a+r "$W"/*.yaml
	refused "permission denied (new home)" 1 "no permission to write in the run store $T/locked/home" "$T/locked/home" \
		setpriv --reuid=65534 --regid=65534 --clear-groups
	refused "permission denied (runs/ 555)" 1 "no permission to write in the run store $T/locked2/home" "$T/locked2/home" \
		setpriv --reuid=65534 --regid=65534 --clear-groups
else
	skip "permission denied" "cannot run as nobody here"
fi
if [ "$NS_OK" = 1 ]; then
	mkdir -p "$T/ro/home/runs" "$T/full"
	# In a private mount namespace: the home's folder bound read-only, and a full tmpfs.
	ns_refused() {
		local name=$1 want=$2 pat=$3 home=$4 setup=$5
		rm -f "$T/job-started" "$T/h.ls"
		unshare -m --propagation private sh -c "$setup"'
			RUNPILOT_HOME="$1" "$2" run --runner local "$3" > "$4/h.out" 2> "$4/h.err"; echo $? > "$4/h.rc"
			ls -d "$1"/runs/rp_* > "$4/h.ls" 2>/dev/null' sh "$home" "$RUNPILOT_BIN" "$W/touch.yaml" "$T"
		check "$name: exit $want" test "$(cat "$T/h.rc")" = "$want"
		check "$name: one line saying so ($(head -c 200 "$T/h.err"))" \
			test "$(wc -l < "$T/h.err")" = 1 -a "$(grep -c -- "$pat" "$T/h.err")" = 1
		check "$name: no job started" test ! -e "$T/job-started"
		check "$name: no run directory" test ! -s "$T/h.ls"
	}
	ns_refused "read-only home" 1 "the run store $T/ro/home (RUNPILOT_HOME) is on a read-only filesystem" "$T/ro/home" \
		"mount --bind '$T/ro' '$T/ro' && mount -o remount,bind,ro '$T/ro' || exit 1;"
	ns_refused "full home" 1 "the run store $T/full/home (RUNPILOT_HOME) is full: free some space" "$T/full/home" \
		"mount -t tmpfs -o size=1m tmpfs '$T/full' || exit 1; mkdir '$T/full/home'; dd if=/dev/zero of='$T/full/fill' bs=64k 2>/dev/null;"
else
	skip "read-only and full home" "cannot make a private mount namespace (unshare -m) here"
fi
