#!/usr/bin/env bash
# runpilot killed (SIGKILL) at random instants of short runs, under the local and the sandbox
# runner: during setup, while the job streams, during the final write. Afterwards every run is
# complete or shown lost, list agrees with the directories, no job process outlives its
# supervisor, and gc leaves no claim, cgroup, overlay work dir or temp file behind.
# The delays come from a seed, printed: RP_SEED=<seed> replays a failure; RP_KILL_RUNS sets the
# runs per runner (default 100).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_common.sh"

SEED=${RP_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
N=${RP_KILL_RUNS:-100}
echo "  seed $SEED, $N runs per runner (RP_SEED=$SEED replays)"
MARK="kill-test-$$-$SEED"
W=$T/w
mkdir -p "$W"
# About 0.2 s of output: the kills land in the setup, the streaming and the final write.
mkconfig "$W/short.yaml" short "\"echo $MARK start; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo line \$i; echo loss: 0.\$i; sleep 0.01; done\""
read -r -a DELAYS <<< "$(python3 -c "import random; r=random.Random($SEED); print(' '.join('%.3f' % (r.random() * 0.3) for _ in range(2 * $N)))")"

sb_mount_snapshot "$T/mounts.before"
runners=(local)
sb_usable && runners+=(sandbox)
k=0
for runner in "${runners[@]}"; do
	for ((i = 0; i < N; i++, k++)); do
		"$RUNPILOT_BIN" run "$W/short.yaml" --runner "$runner" -q >/dev/null 2>&1 &
		p=$!
		sleep "${DELAYS[$k]}"
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
done
total=$((k))

check "no job outlives its supervisor" wait_for "! pgrep -f '$MARK' >/dev/null" 15
sb_mount_snapshot "$T/mounts.after"
check "no mount left on the host" cmp -s "$T/mounts.before" "$T/mounts.after"
cmp -s "$T/mounts.before" "$T/mounts.after" || diff "$T/mounts.before" "$T/mounts.after" | sed 's/^/    /' | head -10
# Directories of runs that were made (a runpilot killed between its mkdir and its claim leaves one
# with nothing in it but its record's reserved room: no run, skipped by readers, removed by gc).
made_dirs() {
	local d n=0
	for d in "$RUNPILOT_HOME"/runs/rp_*; do
		# a dead runpilot's claim never renamed into place is no run either
		[ -n "$(ls -A "$d" | grep -vx -e run.json.reserve -e 'run\.lock\.[0-9]*')" ] && n=$((n + 1))
	done
	echo $n
}
dirs=$(made_dirs)
check "every run started has a directory ($dirs of $total)" test "$dirs" -le "$total"
rp list --jsonl > "$T/list.jsonl" 2>"$T/list.err"
check "list reads every directory" test "$(wc -l < "$T/list.jsonl")" -eq "$dirs"
check "list complains of none" test ! -s "$T/list.err"
# what an unreadable run's directory holds, should there be one (for the failure's reader)
python3 - "$T/list.jsonl" "$RUNPILOT_HOME/runs" <<'P'
import json, os, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("status") == "unreadable":
        p = os.path.join(sys.argv[2], d["id"])
        print("    %s: %s" % (d["id"], " ".join("%s(%d)" % (n, os.lstat(os.path.join(p, n)).st_size) for n in sorted(os.listdir(p)))))
P
python3 - "$T/list.jsonl" > "$T/counts" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["status"] for l in open(sys.argv[1]))
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))
PY
echo "  outcomes before gc: $(cat "$T/counts")"
check "every run is complete (success) or shown lost" \
	sh -c "! grep -Eo '[a-z]+=' '$T/counts' | grep -vxE 'success=|lost='"
# Every run.json on disk parses: a half-written one would be a failure here.
check "every run.json on disk parses" python3 -c "
import glob, json, sys
for p in glob.glob('$RUNPILOT_HOME/runs/*/run.json'):
    json.load(open(p))
"
rp gc >/dev/null 2>"$T/gc.err"
check "gc finishes the dead runs off" test ! -s "$T/gc.err"
check "no claim left in active/" sh -c "[ -z \"\$(ls -A '$RUNPILOT_HOME/active' 2>/dev/null)\" ]"
find "$RUNPILOT_HOME/runs" -name '*.tmp*' > "$T/temps"
check "no temp file left in a run dir" test ! -s "$T/temps"
[ -s "$T/temps" ] && head -n 5 "$T/temps" >&2
check "no overlay work dir left" sh -c "! find '$RUNPILOT_HOME/runs' -maxdepth 2 -name '.overlay-work*' | grep -q ."
no_cgroups_left() { local d; for d in "$RUNPILOT_HOME"/runs/rp_*; do [ -z "$(run_cgroups "$d")" ] || return 1; done; }
check "no cgroup of these runs left" no_cgroups_left
rp list --jsonl > "$T/after.jsonl"
python3 - "$T/after.jsonl" "$RUNPILOT_HOME/runs" > "$T/after" <<'PY'
import collections, json, os, sys
c = collections.Counter()
bad = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    c[r["status"]] += 1
    p = os.path.join(sys.argv[2], r["id"], "run.json")
    disk = json.load(open(p))["status"] if os.path.exists(p) else None
    if disk != r["status"]:
        bad.append(f'{r["id"]}: list {r["status"]}, run.json {disk}')
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
check "after gc every lost run is written lost (list = run.json)" test $? -eq 0
echo "  outcomes after gc: $(cat "$T/after")"
check "the index agrees with the directories" test "$(rp list --where 'status = "success" or status = "lost"' | tail -n +2 | wc -l)" -eq "$dirs"
rp fsck > "$T/fsck" 2>&1; rc=$?
check "fsck after gc: nothing left to repair (exit 0)" test $rc -eq 0
[ $rc -eq 0 ] || head -n 5 "$T/fsck" | sed 's/^/    /' >&2
