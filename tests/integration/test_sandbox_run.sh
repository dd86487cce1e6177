#!/usr/bin/env bash
# The sandbox runner as a user sees it: Python jobs (threads, multiprocessing, files,
# outputs) run unchanged; exit codes, signals, logs and cancellation match the local runner; the
# workdir overlay and its read-only fallback, rootfs, binds, capabilities, seccomp options,
# gpus, setup failures, auto and doctor. Every run leaves no mount, process or temp dir.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

if ! sb_usable; then
	skip "sandbox runner" "the sandbox cannot run on this host (see runpilot doctor)"
	exit 0
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
sb_workdir
field() { json "$RD/run.json" "$1"; }

# --- a Python ML-style job: threads, multiprocessing, reading inputs, writing outputs ---
cat > "$W/train.py" <<'PY'
import json, multiprocessing as mp, os, threading
def sq(x): return x * x
if __name__ == "__main__":
    data = [int(l) for l in open("data.txt")]
    out = []
    ts = [threading.Thread(target=lambda i=i: out.append(sq(data[i]))) for i in range(len(data))]
    for t in ts: t.start()
    for t in ts: t.join()
    with mp.Pool(2) as pool:
        par = pool.map(sq, data)
    q = mp.Queue(); p = mp.Process(target=q.put, args=(sum(par),)); p.start(); total = q.get(); p.join()
    with open(os.path.join(os.environ["RUNPILOT_OUTPUT_DIR"], "result.json"), "w") as f:
        json.dump({"threads": sorted(out), "pool": par, "total": total}, f)
    with open("scratch.txt", "w") as f: f.write("tmp")
    import socket
    print("loss: 0.25"); print("total", total); print("host", socket.gethostname())
PY
printf '1\n2\n3\n' > "$W/data.txt"
mkconfig "$W/train.yaml" train '["python3", "train.py"]'
sb_run train sandbox "$W/train.yaml"
check "python job: exit 0" test "$RC" -eq 0
check "python job: threads + multiprocessing result in outputs/" \
	test "$(json "$RD/outputs/result.json" "d['total']")" = 14
check "python job: output streamed" grep -q "^total 14" "$T/train.out"
check "python job: run.json runner is sandbox" test "$(field "d['runner']['type']")" = sandbox
check "python job: workdir overlay recorded" test "$(field "d['runner']['workdir']")" = overlay
check "python job: workdir write kept in changes/, real workdir untouched" \
	test -f "$RD/changes/scratch.txt" -a ! -e "$W/scratch.txt"
check "python job: hostname is the run id" grep -qx "host $(basename "$RD")" "$T/train.out"
sb_no_leftovers "python job" "$SNAP" "$RD"

# --- the job gets exactly runpilot's CPUs: the setup process is placed off the supervisor's
# CPU while it builds the mounts and must take the full set back before the job starts ---
cpus_of_self() { awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status; }
mkconfig "$W/cpus.yaml" cpus '["awk", "/^Cpus_allowed_list/ {print \"cpus \" $2}", "/proc/self/status"]'
sb_run cpus sandbox -q "$W/cpus.yaml"
check "job's CPUs are runpilot's ($(cpus_of_self))" grep -qx "cpus $(cpus_of_self)" "$RD/logs.txt"
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then
	timeout 120 taskset -c 1 "$RUNPILOT_BIN" run --runner sandbox -q "$W/cpus.yaml" > /dev/null 2>&1
	RD=$(last_run_dir)
	check "job's CPUs follow runpilot's own restriction (taskset -c 1)" grep -qx "cpus 1" "$RD/logs.txt"
else
	skip "job's CPUs under taskset" "taskset missing or one CPU"
fi

# --- while a job runs: run.json says running, with its start time and the sandbox's facts ---
# (the record is written once the job has run 0.1 s; a job ending sooner gets it with its outcome;
# the job sleeps long enough for a loaded machine running the ASan build to see it running)
mkconfig "$W/nap.yaml" nap '["sleep", "4"]'
"$RUNPILOT_BIN" run --runner sandbox -q "$W/nap.yaml" > "$T/nap.out" 2>&1 & NAP=$!
wait_for "grep -q started '$T/nap.out'" 10
RD=$(last_run_dir)
check "running job: run.json on disk once 'started' is printed" test "$(field "d['status']")" = running
check "running job: start time and workdir overlay recorded while it runs" \
	wait_for "[ \"\$(json '$RD/run.json' \"d['runner']['workdir'] if d['started_at'] else None\")\" = overlay ]" 5
check "running job: still running then" test "$(field "d['status']")" = running
wait $NAP
check "running job: ends success" test "$(field "d['status']")" = success
sb_no_leftovers "running job" "$SNAP" "$RD"

# --- outcomes: the same as the local runner ---
cat > "$W/outcome.sh" <<'SH'
echo "to stdout"; echo "to stderr" >&2; echo "line 3"
case "$1" in exit3) exit 3 ;; segv) kill -SEGV $$ ;; term) kill -TERM $$ ;; esac
SH
for case in ok exit3 segv term; do
	mkconfig "$W/o-$case.yaml" "o-$case" "[\"/bin/sh\", \"outcome.sh\", \"$case\"]"
	sb_run "l-$case" local "$W/o-$case.yaml"; lrc=$RC; lrd=$RD
	sb_run "s-$case" sandbox "$W/o-$case.yaml"; src=$RC; srd=$RD
	l=$(json "$lrd/run.json" "[d['status'], d.get('exit_code'), d.get('signal'), d.get('reason')]")
	s=$(json "$srd/run.json" "[d['status'], d.get('exit_code'), d.get('signal'), d.get('reason')]")
	check "$case: runpilot exit status as local ($lrc)" test "$src" = "$lrc"
	if [ "$l" = "$s" ]; then pass "$case: status/exit/signal as local ($s)"; else fail "$case: outcome as local" "local $l, sandbox $s"; fi
	check "$case: logs.txt as local" cmp -s "$lrd/logs.txt" "$srd/logs.txt"
done
mkconfig "$W/nocmd.yaml" nocmd '["no-such-command-xyz"]'
sb_run l-nocmd local "$W/nocmd.yaml"; lrc=$RC
sb_run s-nocmd sandbox "$W/nocmd.yaml"
check "missing command: exit status as local ($lrc)" test "$RC" = "$lrc"
check "missing command: same message as local" grep -q "cannot run 'no-such-command-xyz'" "$RD/logs.txt"
sb_no_leftovers "outcomes" "$SNAP"

# --- cancellation: SIGTERM to runpilot stops the whole sandbox ---
S1=$((100000 + $$ % 50000)) S2=$((200000 + $$ % 50000)) # unique: other runs' sleeps are not ours
mkconfig "$W/sleep.yaml" sleeper "sh -c 'sleep $S1 & sleep $S2; wait'"
"$RUNPILOT_BIN" run --runner sandbox "$W/sleep.yaml" > "$T/cancel.out" 2>&1 &
RPPID=$!
wait_for "grep -q started '$T/cancel.out'" 10
wait_for "pgrep -f 'sleep ($S1|$S2)' >/dev/null" 10
check "cancel: the job's processes are seen running" sh -c "pgrep -f 'sleep ($S1|$S2)' >/dev/null"
kill -TERM "$RPPID"
wait "$RPPID"
RD=$(last_run_dir)
check "cancel: status cancelled" test "$(field "d['status']")" = cancelled
check "cancel: no sleep of the job left" test -z "$(pgrep -f "sleep ($S1|$S2)" | while read -r p; do pid_dead "$p" || echo "$p"; done)"
sb_no_leftovers "cancel" "$SNAP" "$RD"

# --- Ctrl-C / SIGTERM while the setup hangs (a dead mount, say; RUNPILOT_TEST_STALL_SETUP makes
# the setup process of the test build wait for ever before its mounts): runpilot gives the
# setup up at once ---
mkconfig "$W/stall.yaml" stall '["true"]'
timeout 20 env RUNPILOT_TEST_STALL_SETUP=1 "$RUNPILOT_BIN" run --runner sandbox -q "$W/stall.yaml" > /dev/null 2>&1
RD=$(last_run_dir)
check "the product build has no test hooks (the stall hook is ignored)" test "$(field "d['status']")" = success
for sig in INT TERM; do
	RD=$(next_run_dir)
	RUNPILOT_TEST_STALL_SETUP=1 "$RUNPILOT_TEST_BIN" run --runner sandbox "$W/stall.yaml" > "$T/stall.out" 2>&1 &
	RPPID=$!
	wait_for "[ -e '$RD/run.json' ]" 10 # committed once the setup is waited for
	sleep 0.2
	check "setup stalled ($sig): runpilot still waiting" kill -0 "$RPPID"
	kill -"$sig" "$RPPID"
	wait_for "! kill -0 $RPPID 2>/dev/null" 5
	check "setup stalled ($sig): runpilot exits within 5 s" sh -c "! kill -0 $RPPID 2>/dev/null"
	kill -KILL "$RPPID" 2>/dev/null
	wait "$RPPID"
	RC=$?
	RD=$(last_run_dir)
	want=$(( 128 + $(kill -l "$sig") ))
	check "setup stalled ($sig): exit $want" test "$RC" -eq "$want"
	check "setup stalled ($sig): run cancelled" test "$(field "d['status']")" = cancelled
	check "setup stalled ($sig): says so" grep -q "cancelled during setup" "$T/stall.out"
	sb_no_leftovers "setup stalled ($sig)" "$SNAP" "$RD"
done

# --- root's job runs as nobody: its files through idmapped mounts -------------------------
# Its workdir lies under /root here (a masked directory: the mount point is made in the mask).
RW=/root/.rp-test-work-$$ RH=$T/root-home
rp_cleanup_hooks+=("rm -rf $RW")
mkdir -p "$RW"
echo original > "$RW/data.txt"
chmod 600 "$RW/data.txt"
echo "root secret" > "$RW/../.rp-test-secret-$$"
rp_cleanup_hooks+=("rm -f /root/.rp-test-secret-$$")
mkconfig "$RW/who.yaml" who "sh -c 'id -u; cat /proc/self/uid_map; cat data.txt; echo new > data.txt; mkdir d; echo o > d/f; echo o > \$RUNPILOT_OUTPUT_DIR/o.txt; cat /root/.rp-test-secret-$$ || echo no-secret'"
RUNPILOT_HOME=$RH rp run --runner sandbox "$RW/who.yaml" > "$T/who.out" 2>&1; RC=$?
RD=$(ls -d "$RH"/runs/rp_* | tail -n1)
NOBODY=$(id -u nobody)
check "root: the job runs (exit 0)" test "$RC" -eq 0
check "root: the job is uid 0 inside, host uid $NOBODY" \
	test "$(sed -n '1p;2p' "$RD/logs.txt" | tr -s ' ' | tr '\n' '|')" = "0| 0 $NOBODY 1|"
check "root: it reads and rewrites its workdir under /root (a 0600 file)" \
	test "$(sed -n 3p "$RD/logs.txt")" = original -a "$(cat "$RD/changes/data.txt")" = new -a "$(cat "$RW/data.txt")" = original
check "root: the rest of /root is hidden" grep -qx no-secret "$RD/logs.txt"
check "root: what it wrote is root's on the host (changes/ and outputs/)" \
	test "$(stat -c %u:%g "$RD/changes/data.txt" "$RD/changes/d" "$RD/changes/d/f" "$RD/outputs/o.txt" | sort -u)" = 0:0
check "root: run.json gives the mapping" test "$(field "[d['runner']['userns'], d['runner']['uid_map']]")" = "[true, \"0 $NOBODY 1\"]"

# --- workdir read-only fallback: the overlay cannot be had --------------------------------
# As root: a workdir on a filesystem without idmapped mounts (ramfs, mounted in a private mount
# namespace of the test's own); and a run store there, which cannot work at all.
RAMFS_SCRIPT='mount -t ramfs rp-test "$1" && mkdir "$1/w" && cp "$2" "$1/w/" && echo hi > "$1/w/data.txt" &&
	RUNPILOT_HOME="$3" "$4" run --runner sandbox "$1/w/ro.yaml" > "$5.ro" 2>&1; echo $? > "$5.ro.rc"
	mkdir "$1/h"; RUNPILOT_HOME="$1/h" "$4" run --runner sandbox "$1/w/ro.yaml" > "$5.store" 2>&1; echo $? > "$5.store.rc"
	cp -r "$1/h" "$5.h"'
mkconfig "$W/ro.yaml" ro "sh -c 'cat data.txt >/dev/null && echo x > new.txt'"
mkdir -p "$T/ramfs"
HO=$T/ro-home
unshare -m --propagation private sh -c "$RAMFS_SCRIPT" sh "$T/ramfs" "$W/ro.yaml" "$HO" "$RUNPILOT_BIN" "$T/ramfs-out"
RC=$(cat "$T/ramfs-out.ro.rc")
RD=$(ls -d "$HO"/runs/rp_* | tail -n1)
check "read-only workdir: the write fails" test "$RC" -ne 0
check "read-only workdir: run.json says readonly" test "$(field "d['runner']['workdir']")" = readonly
check "read-only workdir: run.json says why" grep -q "cannot be idmapped" <<< "$(field "d['runner']['workdir_reason']")"
check "read-only workdir: no changes/ dir" test ! -e "$RD/changes"
check "run store without idmapped mounts: fails before the job (exit 1)" test "$(cat "$T/ramfs-out.store.rc")" = 1
check "run store without idmapped mounts: one error line with the fix" \
	test "$(grep -c 'runpilot: error:.*cannot be idmapped.*fix: a run store (RUNPILOT_HOME) on' "$T/ramfs-out.store")" = 1

# --- rootfs ---
if ! /bin/busybox true 2>/dev/null; then
	skip "rootfs" "busybox-static is not installed"
elif bash "$ROOT/rootfs/build-busybox.sh" "$T/rootfs" 2>"$T/rootfs.err"; then
	before=$(cd "$T/rootfs" && find . | sort | md5sum)
	mkconfig "$W/rootfs.yaml" rootfs '["/bin/sh", "-c", "cat /etc/rootfs-release; test ! -e /usr/bin/python3 && echo no-python; echo x > /tmp/ok && echo tmp-ok; echo y > /bin/new || echo root-ro"]' \
		"sandbox:" "  rootfs: $T/rootfs"
	sb_run rootfs sandbox "$W/rootfs.yaml"
	check "rootfs: exit 0" test "$RC" -eq 0
	check "rootfs: the job sees the rootfs, not the host" grep -q "runpilot busybox rootfs" "$T/rootfs.out"
	check "rootfs: host tools are absent" grep -q "no-python" "$T/rootfs.out"
	check "rootfs: /tmp writable, / read-only" grep -q "tmp-ok" "$T/rootfs.out"
	check "rootfs: read-only" grep -q "root-ro" "$T/rootfs.out"
	check "rootfs: the rootfs directory is unchanged" test "$(cd "$T/rootfs" && find . | sort | md5sum)" = "$before"
	check "rootfs: recorded in run.json" test "$(field "d['runner']['rootfs']")" = "$T/rootfs"
	sb_no_leftovers "rootfs" "$SNAP" "$RD"

	# A rootfs is not trusted: its symlinks are resolved inside it, as the job will see them,
	# and never lead the setup to create a mount point on the host (here: through /oldroot,
	# where the setup sees the host's root, absolute and by "..").
	cp -a "$T/rootfs" "$T/evilroot"
	mkdir -p "$T/hostside" "$T/bindsrc" "$T/evilroot/srv/data"
	echo "bound-in" > "$T/bindsrc/in.txt"
	ln -s "/oldroot$T/hostside" "$T/evilroot/evil-abs"
	ln -s "../../../../../../../../oldroot$T/hostside" "$T/evilroot/evil-rel"
	ln -s /srv/data "$T/evilroot/data"
	for how in abs rel; do
		mkconfig "$W/evil-$how.yaml" "evil-$how" '["/bin/true"]' \
			"sandbox:" "  rootfs: $T/evilroot" "  mounts:" "    - {src: $T/bindsrc, dst: /evil-$how/made}"
		sb_run "evil-$how" sandbox "$W/evil-$how.yaml"
		check "rootfs symlink out ($how): nothing created on the host" test -z "$(ls -A "$T/hostside")"
		check "rootfs symlink out ($how): a setup error naming the mount point" \
			sh -c "[ $RC -ne 0 ] && grep -q 'mount point /evil-$how/made' '$T/evil-$how.out'"
		sb_no_leftovers "rootfs symlink out ($how)" "$SNAP" "$RD"
	done
	mkconfig "$W/symdst.yaml" symdst '["/bin/sh", "-c", "cat /data/made/in.txt /srv/data/made/in.txt"]' \
		"sandbox:" "  rootfs: $T/evilroot" "  mounts:" "    - {src: $T/bindsrc, dst: /data/made}"
	sb_run symdst sandbox "$W/symdst.yaml"
	check "rootfs symlink (absolute, inside): the bind lands where the job resolves the path" \
		test "$(grep -c '^bound-in' "$T/symdst.out")" -eq 2
	check "rootfs symlink: the rootfs directory is unchanged" test ! -e "$T/evilroot/srv/data/made"
else
	fail "rootfs: build-busybox.sh" "$(cat "$T/rootfs.err")"
fi

# --- binds, capabilities, seccomp options ---
mkdir -p "$T/ro-data" "$T/rw-data"
echo "bound" > "$T/ro-data/in.txt"
mkconfig "$W/binds.yaml" binds "sh -c 'cat /tmp/ro/in.txt; echo w > /tmp/ro/x || echo ro-refused; echo w > /tmp/rw/x && echo rw-ok; cat /tmp/sl/a/in.txt'" \
	"sandbox:" "  mounts:" "    - {src: $T/ro-data, dst: /tmp/ro, readonly: true}" "    - {src: $T/rw-data, dst: /tmp/rw, readonly: false}" \
	"    - {src: $T/ro-data, dst: \"/tmp//sl/a/\"}"
sb_run binds sandbox "$W/binds.yaml"
check "mounts: read-only bind visible" grep -q "^bound" "$T/binds.out"
check "mounts: read-only bind refuses writes" grep -q "ro-refused" "$T/binds.out"
check "mounts: writable bind reaches the host" test -f "$T/rw-data/x" -a ! -e "$T/ro-data/x"
check "mounts: a dst with repeated and trailing slashes" test "$(grep -c '^bound' "$T/binds.out")" -eq 2
mkconfig "$W/caps.yaml" caps "sh -c 'grep CapEff /proc/self/status'" "sandbox:" "  capabilities: [CAP_NET_BIND_SERVICE]"
sb_run caps sandbox "$W/caps.yaml"
check "capabilities: only the kept one is effective" grep -q "CapEff:.*0000000000000400" "$T/caps.out"
mkconfig "$W/badcap.yaml" badcap "true" "sandbox:" "  capabilities: [CAP_FLY]"
sb_run badcap sandbox "$W/badcap.yaml"
check "capabilities: unknown name is a usage error (exit 2)" test "$RC" -eq 2
check "capabilities: one-line error names it" grep -q "CAP_FLY" "$T/badcap.out"
mkconfig "$W/deny.yaml" deny "sh -c 'uname -s || echo uname-denied'" "sandbox:" "  seccomp: {deny: [uname]}"
sb_run deny sandbox "$W/deny.yaml"
check "seccomp.deny: the extra syscall is refused" grep -q "uname-denied" "$T/deny.out"
mkconfig "$W/slog.yaml" slog "sh -c 'uname; uname; unshare -U true; echo done'" "sandbox:" "  seccomp: {deny: [uname], log: true}"
sb_run slog sandbox "$W/slog.yaml"
check "seccomp.log: the job goes on after refused calls" grep -q "^done" "$T/slog.out"
check "seccomp.log: run.json counts refused calls" \
	test "$(field "[d['runner']['denied_syscalls'].get(k) for k in ('uname', 'unshare')]")" = "[2, 1]"
check "seccomp.log: show names them" grep -q "^Refused.*uname (2), unshare (1)" <<< "$(rp show "$(basename "$RD")")"
mkconfig "$W/strict.yaml" strict '["python3", "-c", "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, 1); print(\"raw-ok\")\nexcept OSError: print(\"raw-denied\")"]' \
	"sandbox:" "  seccomp: strict"
sb_run strict sandbox "$W/strict.yaml"
check "seccomp strict: raw sockets refused" grep -q "raw-denied" "$T/strict.out"
check "seccomp strict: recorded" test "$(field "d['runner']['seccomp']")" = strict
mkconfig "$W/gpus.yaml" gpus "true" "sandbox:" "  gpus: all"
sb_run gpus sandbox "$W/gpus.yaml"
if ls /dev/nvidia* >/dev/null 2>&1; then
	check "gpus: devices bound" test "$(field "d['runner']['gpu_devices']")" -gt 0
else
	check "gpus: no GPU is a notice, not an error" grep -q "no GPU devices" "$T/gpus.out"
	check "gpus: the run still succeeds" test "$RC" -eq 0
	# A stand-in device node (the same char device as /dev/null) named like a GPU's: it must
	# appear in the job's private /dev. Root only; removed at exit.
	if [ "$(id -u)" = 0 ] && mknod "/dev/nvidia-rptest$$" c 1 3 2>/dev/null; then
		rp_cleanup_hooks+=("rm -f /dev/nvidia-rptest$$")
		mkconfig "$W/fakegpu.yaml" fakegpu "\"test -c /dev/nvidia-rptest$$ && echo gpu-node-bound\"" "sandbox:" "  gpus: all"
		sb_run fakegpu sandbox "$W/fakegpu.yaml"
		check "gpus: device nodes bound into the job's /dev" grep -q gpu-node-bound "$T/fakegpu.out"
		check "gpus: count recorded" test "$(field "d['runner']['gpu_devices']")" -ge 1
		rm -f "/dev/nvidia-rptest$$"
	fi
fi
sb_no_leftovers "options" "$SNAP"

# --- limits through the run's cgroup, as with the local runner ---
MEMHOG=${RP_HELPERS:?run through tests/run-integration.sh}/memhog
if [ "$(id -u)" = 0 ] && [ -x "$MEMHOG" ]; then
	cp "$MEMHOG" "$W/memhog"
	mkconfig "$W/oom.yaml" oom '["./memhog", "256"]'
	sb_run oom sandbox --memory 64m "$W/oom.yaml"
	check "memory limit: OOM kill is failed (oom)" test "$(field "d['status']+'/'+str(d['reason'])")" = failed/oom
	sb_no_leftovers "oom" "$SNAP" "$RD"
else
	skip "memory limit in the sandbox" "needs root and build/helpers/memhog"
fi

# (network: tests/integration/test_network.sh)

# --- setup failure: one line, failed run, nothing left behind ---
mkconfig "$W/badmnt.yaml" badmnt "true" "sandbox:" "  mounts:" "    - {src: $T/ro-data, dst: /no-such-dir-rp/x}"
sb_run badmnt sandbox "$W/badmnt.yaml"
check "setup failure (a config problem): exit 2" test "$RC" -eq 2
check "setup failure: one error line naming the mount point and the fix" \
	test "$(grep -c 'runpilot: error:.*no-such-dir-rp.*choose a dst that exists, or one under /tmp' "$T/badmnt.out")" -eq 1
check "setup failure: run recorded as failed" test "$(field "d['status']")" = failed
sb_no_leftovers "setup failure" "$SNAP" "$RD"
mkconfig "$W/nosrc.yaml" nosrc "true" "sandbox:" "  mounts:" "    - {src: $T/missing, dst: /tmp/m}"
sb_run nosrc sandbox "$W/nosrc.yaml"
check "missing bind source: error names it" grep -q "runpilot: error:.*$T/missing" "$T/nosrc.out"
check "missing bind source: a config error (exit 2)" test "$RC" -eq 2
# A relative bind source is relative to the config's folder, like workdir.
mkdir -p "$W/relsrc"
mkconfig "$W/relsrc.yaml" relsrc '"echo via-relative > /tmp/rel/x"' "sandbox:" "  mounts:" "    - {src: ./relsrc, dst: /tmp/rel, readonly: false}"
sb_run relsrc sandbox "$W/relsrc.yaml"
check "mounts: relative src is the config folder's" test "$(cat "$W/relsrc/x" 2>/dev/null)" = via-relative

# --- auto and doctor ---
mkconfig "$W/auto.yaml" auto "true"
rp run "$W/auto.yaml" > "$T/auto.out" 2>&1
RD=$(last_run_dir)
DOC=$T/doctor.json
rp doctor --json > "$DOC"
check "auto picks what doctor says" test "$(field "d['runner']['type']")" = "$(json "$DOC" "d['auto_runner']")"
if [ "$(json "$DOC" "[c['ok'] for c in d['checks'] if c['name'] == 'docker engine'][0]")" = false ]; then
	check "without docker, auto picks the sandbox here" test "$(field "d['runner']['type']")" = sandbox
fi
rp doctor > "$T/doctor.out"; RC=$?
check "doctor: exit 0" test "$RC" -eq 0
for n in user pid mount uts ipc net cgroup; do
	check "doctor: namespace $n OK" grep -Eq "^namespace $n +OK" "$T/doctor.out"
done
for l in "seccomp filters" "cgroups" "docker engine" "auto runner" "overlayfs in a user namespace" "unprivileged user namespaces" "network outbound (pasta)"; do
	check "doctor: reports '$l'" grep -q "^$l" "$T/doctor.out"
done
check "doctor --json: every check has name, ok, detail" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not all({"name","ok","detail"} <= set(c) for c in d["checks"]) or "cgroup" not in d)' "$DOC"

# --- user namespaces disabled: one line with the fix; auto falls back to local ---
# Simulated without touching the host: user.max_user_namespaces is per user namespace, so it is
# set to 0 inside a bubblewrap user namespace, where runpilot then runs as an ordinary user.
if command -v bwrap >/dev/null && [ "$(id -u)" = 0 ]; then
	NU=$T/nouserns
	mkdir -p "$NU"
	mkconfig "$NU/c.yaml" nouserns '["true"]'
	chmod -R 777 "$NU"
	bwrap --unshare-user --unshare-pid --uid 1000 --gid 1000 --cap-add CAP_SYS_RESOURCE --ro-bind / / \
		--proc /proc --dev /dev --bind "$NU" "$NU" --setenv RUNPILOT_HOME "$NU/home" --setenv BIN "$RUNPILOT_BIN" \
		sh -c 'echo 0 > /proc/sys/user/max_user_namespaces || exit 99
			"$BIN" run --runner sandbox "$0/c.yaml" > "$0/sandbox.out" 2>&1; echo $? > "$0/sandbox.rc"
			"$BIN" run "$0/c.yaml" > "$0/auto.out" 2>&1; echo $? > "$0/auto.rc"' "$NU"
	if [ "$?" = 99 ]; then
		skip "userns disabled" "cannot set user.max_user_namespaces in a bwrap user namespace here"
	else
		check "userns disabled: --runner sandbox fails (exit 1)" test "$(cat "$NU/sandbox.rc")" = 1
		check "userns disabled: one error line naming the knob and the fix" \
			test "$(grep -c 'runpilot: error:.*max_user_namespaces = 0.*fix: sudo sysctl' "$NU/sandbox.out")" = 1
		check "userns disabled: auto runs the job with the local runner" test "$(cat "$NU/auto.rc")" = 0
		RD=$(ls -d "$NU"/home/runs/rp_* | tail -n1)
		check "userns disabled: run.json records the fallback reason" \
			grep -q "max_user_namespaces" <<< "$(field "d['runner']['fallback_reason']")"
	fi
else
	skip "userns disabled" "needs bwrap and root"
fi

# --- as an unprivileged user ---
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null && sb_make_user; then
	UW=$T/uwork UH=$T/uhome
	mkdir -p "$UW" "$UH"
	cp "$W/train.py" "$W/data.txt" "$W/outcome.sh" "$UW/"
	mkconfig "$UW/train.yaml" train '["python3", "train.py"]'
	mkconfig "$UW/segv.yaml" segv '["/bin/sh", "outcome.sh", "segv"]'
	mkconfig "$UW/write.yaml" write "sh -c 'id -u; echo new > data.txt; echo o > \$RUNPILOT_OUTPUT_DIR/o.txt'"
	chown -R "$SB_USER:$SB_USER" "$UW" "$UH"
	urun() { RUNPILOT_HOME=$UH HOME=$UH as_user "$SB_USER" timeout 120 "$RUNPILOT_BIN" run --runner sandbox "$1" > "$2" 2>&1; RC=$?; RD=$(ls -d "$UH"/runs/rp_* | tail -n1); }
	urun "$UW/write.yaml" "$T/uwrite.out"
	check "user: job runs as the user (exit 0)" test "$RC" -eq 0 -a "$(head -n1 "$RD/logs.txt")" = "$(id -u "$SB_USER")"
	check "user: user namespace used" test "$(field "d['runner']['userns']")" = true
	check "user: workdir write kept in changes/" test "$(cat "$RD/changes/data.txt" 2>/dev/null)" = new -a "$(head -n1 "$UW/data.txt")" = 1
	check "user: outputs written" test -f "$RD/outputs/o.txt"
	# A ':' in the run dir's path: overlayfs options cannot name it; the workdir is read-only.
	mkconfig "$UW/ro.yaml" ro "sh -c 'cat data.txt >/dev/null && echo x > new.txt'"
	chown "$SB_USER" "$UW/ro.yaml"
	mkdir -p "$T/uho:me" && chown "$SB_USER" "$T/uho:me"
	RUNPILOT_HOME=$T/uho:me HOME=$UH as_user "$SB_USER" timeout 120 "$RUNPILOT_BIN" run --runner sandbox "$UW/ro.yaml" > "$T/uro.out" 2>&1
	RC=$?
	RD=$(ls -d "$T/uho:me"/runs/rp_* | tail -n1)
	check "user: read-only workdir: the write fails" test "$RC" -ne 0
	check "user: read-only workdir: run.json says readonly, and why" \
		test "$(field "[d['runner']['workdir'], 'overlay' in d['runner']['workdir_reason']]")" = '["readonly", true]'
	check "user: read-only workdir: no changes/ dir" test ! -e "$RD/changes" -a ! -e "$UW/new.txt"
	urun "$UW/segv.yaml" "$T/usegv.out"
	check "user: a signal is recorded (SIGSEGV)" test "$(field "d.get('signal')")" = 11
	if sb_user_python "$SB_USER"; then
		urun "$UW/train.yaml" "$T/utrain.out"
		check "user: python job exit 0" test "$RC" -eq 0
		check "user: python result in outputs/" test "$(json "$RD/outputs/result.json" "d['total']")" = 14
	else
		skip "user: python job" "python3 on PATH does not run for an unprivileged user on this host"
	fi
	sb_no_leftovers "user" "$SNAP" "$RD"
else
	skip "user: sandbox as an unprivileged user" "needs root and useradd"
fi
