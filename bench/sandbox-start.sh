#!/usr/bin/env bash
# Sandbox start cost: whole-process time of `runpilot run` for /bin/true with the
# sandbox runner and the local runner, side by side with bubblewrap doing a comparable setup.
#   bench/sandbox-start.sh [RUNPILOT_BIN]      (needs hyperfine and bwrap)
# Goals: sandbox - local <= 5 ms; sandbox run <= 1.5x the bwrap time.
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
printf 'name: bench\nentrypoint: ["/bin/true"]\n' > "$T/true.yaml"
"$bin" run --runner sandbox -q "$T/true.yaml" >/dev/null 2>&1 || {
	echo "sandbox-start: the sandbox runner does not work here (runpilot doctor)" >&2; exit 1; }

# The build machines are VMs whose speed drifts by tens of percent within a minute, and
# hyperfine times one command's runs before the next command's: so the three commands are timed
# in ROUNDS short rounds, in turn first and last (bwrap first in every other round), and the
# ratios are taken per round (the same few seconds) and reported as the median over rounds,
# beside each round's figures.
ROUNDS=${ROUNDS:-15}
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

python3 - "$T" "$ROUNDS" <<'PY'
import json, statistics, sys
t, rounds = sys.argv[1], int(sys.argv[2])
rows = []
for r in range(1, rounds + 1):
    res = {x["command"]: x["mean"] * 1000 for x in json.load(open("%s/h%d.json" % (t, r)))["results"]}
    rows.append((res["sandbox"], res["local"], res["bwrap"]))
print("round  sandbox    local    bwrap   sandbox-local  sandbox/bwrap  local/bwrap")
for i, (sb, lo, bw) in enumerate(rows, 1):
    print("%5d %7.2f ms %6.2f ms %6.2f ms %9.2f ms %12.2fx %11.2fx" % (i, sb, lo, bw, sb - lo, sb / bw, lo / bw))
med = lambda f: statistics.median(f(*x) for x in rows)
d, ratio, lratio = med(lambda s, l, b: s - l), med(lambda s, l, b: s / b), med(lambda s, l, b: l / b)
print()
print("median over %d rounds: sandbox %.2f ms, local %.2f ms, bwrap %.2f ms" %
      (rounds, med(lambda s, l, b: s), med(lambda s, l, b: l), med(lambda s, l, b: b)))
print("sandbox - local = %.2f ms   (goal <= 5 ms)  %s" % (d, "OK" if d <= 5 else "MISSED"))
print("sandbox / bwrap = %.2fx     (goal <= 1.5x)  %s" % (ratio, "OK" if ratio <= 1.5 else "MISSED"))
print("local   / bwrap = %.2fx" % lratio)
PY
