#!/usr/bin/env bash
# Sandbox start cost: whole-process time of `runpilot run` for /bin/true with the sandbox runner
# and the local runner, side by side with bubblewrap doing the same work. bwrap --unshare-all
# makes a private network namespace, so the sandbox is timed with `network: none` (its own
# network namespace with only lo), like with like.
#   bench/sandbox-start.sh [RUNPILOT_BIN]      (needs hyperfine and bwrap)
# Two figures, as users meet them:
#   interleaved   ROUNDS short rounds, the commands in turn first and last, ratios per round,
#                 median over rounds (the build machines' speed drifts within a minute)
#   back to back  each command's BACK_RUNS runs one after the other (a sweep of runs)
# Goals: sandbox - local <= 5 ms; sandbox <= 1.5x bwrap.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
for t in hyperfine bwrap python3; do
	command -v "$t" >/dev/null || { echo "sandbox-start: $t is not installed" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "sandbox-start: $bin not built (make)" >&2; exit 1; }
T=$(mktemp -d /tmp/rpbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
export RUNPILOT_HOME=$T/home
printf 'name: bench\nentrypoint: ["/bin/true"]\nsandbox: {network: none}\n' > "$T/true.yaml"
"$bin" run --runner sandbox -q "$T/true.yaml" >/dev/null 2>&1 || {
	echo "sandbox-start: the sandbox runner does not work here (runpilot doctor)" >&2; exit 1; }

ROUNDS=${ROUNDS:-15}
BACK_RUNS=${BACK_RUNS:-60}
sandbox_cmd="$bin run --runner sandbox -q $T/true.yaml"
local_cmd="$bin run --runner local -q $T/true.yaml"
bwrap_cmd="bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then
		order=(-n sandbox "$sandbox_cmd" -n local "$local_cmd" -n bwrap "$bwrap_cmd")
	else
		order=(-n bwrap "$bwrap_cmd" -n local "$local_cmd" -n sandbox "$sandbox_cmd")
	fi
	hyperfine -N --warmup 2 --runs "${RUNS:-10}" --export-json "$T/h$r.json" "${order[@]}" \
		> "$T/h$r.txt" 2>&1 || { cat "$T/h$r.txt"; exit 1; }
done
hyperfine -N --warmup 3 --runs "$BACK_RUNS" --export-json "$T/back.json" \
	-n sandbox "$sandbox_cmd" -n local "$local_cmd" -n bwrap "$bwrap_cmd" > "$T/back.txt" 2>&1 ||
	{ cat "$T/back.txt"; exit 1; }

python3 - "$T" "$ROUNDS" "$BACK_RUNS" <<'PY'
import json, statistics, sys
t, rounds, back_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for r in range(1, rounds + 1):
    res = {x["command"]: x["mean"] * 1000 for x in json.load(open("%s/h%d.json" % (t, r)))["results"]}
    rows.append((res["sandbox"], res["local"], res["bwrap"]))
print("interleaved (network: none vs bwrap --unshare-all)")
print("round  sandbox    local    bwrap   sandbox-local  sandbox/bwrap  local/bwrap")
for i, (sb, lo, bw) in enumerate(rows, 1):
    print("%5d %7.2f ms %6.2f ms %6.2f ms %9.2f ms %12.2fx %11.2fx" % (i, sb, lo, bw, sb - lo, sb / bw, lo / bw))
med = lambda f: statistics.median(f(*x) for x in rows)
d, ratio = med(lambda s, l, b: s - l), med(lambda s, l, b: s / b)
print("median over %d rounds: sandbox %.2f ms, local %.2f ms, bwrap %.2f ms" %
      (rounds, med(lambda s, l, b: s), med(lambda s, l, b: l), med(lambda s, l, b: b)))
back = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open("%s/back.json" % t))["results"]}
print()
print("back to back (%d runs of each, medians): sandbox %.2f ms, local %.2f ms, bwrap %.2f ms" %
      (back_runs, back["sandbox"], back["local"], back["bwrap"]))
bratio, bd = back["sandbox"] / back["bwrap"], back["sandbox"] - back["local"]
print()
ok = lambda x, goal: "OK" if x <= goal else "MISSED"
print("sandbox - local = %.2f ms interleaved, %.2f ms back to back   (goal <= 5 ms)  %s" % (d, bd, ok(max(d, bd), 5)))
print("sandbox / bwrap = %.2fx interleaved, %.2fx back to back     (goal <= 1.5x)  %s" %
      (ratio, bratio, ok(max(ratio, bratio), 1.5)))
PY
