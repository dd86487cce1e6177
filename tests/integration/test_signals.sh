#!/usr/bin/env bash
# Signals from outside at awkward moments give the right status each time: the job's process tree
# killed by someone else, the supervisor stopped and continued while the job prints, Ctrl-C while
# the sandbox is being set up, and Ctrl-C while an image is being unpacked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_common.sh"

W=$T/w
mkdir -p "$W"
MARK="signals-test-$$"

# --- the job's whole process tree killed from outside -------------------------------------------
mkconfig "$W/tree.yaml" tree "\"echo $MARK; sleep 301 & sleep 302; echo never\""
"$RUNPILOT_BIN" run "$W/tree.yaml" --runner local >"$T/out" 2>"$T/err" & P=$!
wait_for "grep -q $MARK '$T/out' && pgrep -f 'sleep 302' >/dev/null" 10
# the shell and both its children, at once
sh_pid=$(pgrep -f "echo $MARK")
kill -KILL $sh_pid $(pgrep -P "$sh_pid")
wait $P; rc=$?
D=$(last_run_dir)
check "job killed from outside: runpilot exits 128+9" test $rc -eq 137
check "job killed from outside: failed, signal 9" test "$(json "$D/run.json" 'd["status"]+" "+str(d["signal"])')" = "failed 9"
check "job killed from outside: the summary says so" grep -q "run $(basename "$D") failed" "$T/err"
check "job killed from outside: nothing of it left" wait_for "! pgrep -f 'echo $MARK' >/dev/null" 5

# --- the supervisor stopped (SIGSTOP) and continued while the job prints ------------------------
# 20,000 lines over about a second: stopped, the supervisor reads nothing, the pipe fills, the
# job waits; continued, everything arrives.
mkconfig "$W/chatty.yaml" chatty '"for i in $(seq 1 20); do seq 1 1000 | sed \"s/^/line $i /\"; sleep 0.05; done; echo loss: 0.5"'
"$RUNPILOT_BIN" run "$W/chatty.yaml" --runner local -q >/dev/null 2>&1 & P=$!
sleep 0.2
check "supervisor stopped while the job runs" kill -STOP $P
sleep 1
kill -CONT $P
wait $P; rc=$?
D=$(last_run_dir)
check "supervisor stopped and continued: exit 0" test $rc -eq 0
check "supervisor stopped and continued: success" test "$(json "$D/run.json" 'd["status"]')" = success
check "supervisor stopped and continued: not a line lost" test "$(wc -l < "$D/logs.txt")" -eq 20001
check "supervisor stopped and continued: the metric recorded" test "$(json "$D/run.json" 'd["metrics"]["loss"]["last"]')" = 0.5

if ! sb_usable; then
	skip "Ctrl-C during sandbox setup and image unpack" "no sandbox on this host (runpilot doctor)"
	exit 0
fi

# --- Ctrl-C while the sandbox is set up (the setup hangs on purpose) ------------------------------
mkconfig "$W/true.yaml" t '["true"]'
RUNPILOT_TEST_STALL_SETUP=1 "$RUNPILOT_TEST_BIN" run "$W/true.yaml" --runner sandbox -q >/dev/null 2>"$T/err" & P=$!
wait_for "[ -e '$(next_run_dir)/run.json' ]" 10
sleep 0.3
kill -INT $P; wait $P; rc=$?
D=$(last_run_dir)
check "Ctrl-C during sandbox setup: exit 130" test $rc -eq 130
check "Ctrl-C during sandbox setup: cancelled" test "$(json "$D/run.json" 'd["status"]')" = cancelled
check "Ctrl-C during sandbox setup: no overlay work dir left" sh -c "! ls -a '$D' | grep -q overlay-work"

# --- Ctrl-C while an image is unpacked ----------------------------------------------------------
MKIMAGE=$(dirname "$0")/../helpers/mkimage.py
if sh "$(dirname "$0")/../../rootfs/build-busybox.sh" "$T/rootfs" >/dev/null 2>&1 &&
	python3 "$MKIMAGE" docker-save "$T/img.tar" --tag rp-sig:1 "$T/rootfs" >/dev/null &&
	rp image import "$T/img.tar" >/dev/null 2>&1; then
	# unpacked again by the run: the import's tree goes
	chmod -R u+w "$RUNPILOT_HOME/images/rootfs" 2>/dev/null
	rm -rf "$RUNPILOT_HOME"/images/rootfs/*
	mkconfig "$W/img.yaml" img '["/bin/true"]' "image: rp-sig:1"
	RUNPILOT_TEST_STOP_AT=unpacking "$RUNPILOT_TEST_BIN" run "$W/img.yaml" --runner sandbox -q >/dev/null 2>"$T/err" & P=$!
	if wait_for "[ \"\$(awk '{print \$3}' /proc/$P/stat 2>/dev/null)\" = T ]" 20; then
		pass "Ctrl-C during image unpack: stopped while unpacking"
	else
		fail "Ctrl-C during image unpack: stopped while unpacking" "it never stopped there"
	fi
	kill -INT $P; kill -CONT $P
	wait $P; rc=$?
	D=$(last_run_dir)
	check "Ctrl-C during image unpack: exit 130" test $rc -eq 130
	check "Ctrl-C during image unpack: cancelled" test "$(json "$D/run.json" 'd["status"]')" = cancelled
	check "Ctrl-C during image unpack: no half-unpacked tree left" \
		sh -c "! find '$RUNPILOT_HOME/images' -maxdepth 3 -name '.unpack-*' | grep -q ."
	check "Ctrl-C during image unpack: the next run uses the image" rp run "$W/img.yaml" --runner sandbox -q
else
	skip "Ctrl-C during image unpack" "cannot build the test image (busybox-static)"
fi
