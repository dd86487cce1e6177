#!/usr/bin/env bash
# Sandbox start cost: whole-process time of `runpilot run` for /bin/true with the sandbox runner
# and the local runner, side by side with bubblewrap doing the same work. bwrap --unshare-all
# makes a private network namespace, so the sandbox is timed with `network: none` (its own
# network namespace with only lo), like with like; the default network (outbound: pasta wires the
# namespace) is timed alongside, against none. Then the supervisor's peak RSS (VmHWM of the
# runpilot process itself, sampled while a 1 s job runs) next to bwrap's.
#   bench/sandbox-start.sh [RUNPILOT_BIN]      (needs hyperfine and bwrap)
# Two figures, as users meet them:
#   interleaved   ROUNDS short rounds, the commands in turn first and last, ratios per round,
#                 median over rounds (the build machines' speed drifts within a minute)
#   back to back  each command's BACK_RUNS runs one after the other (a sweep of runs)
# Goals: sandbox - local <= 5 ms; sandbox <= 1.5x bwrap; outbound - none <= 5 ms; supervisor
# RSS <= 4 MiB.
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
printf 'name: bench\nentrypoint: ["/bin/true"]\n' > "$T/outbound.yaml"
"$bin" run --runner sandbox -q "$T/true.yaml" >/dev/null 2>&1 || {
	echo "sandbox-start: the sandbox runner does not work here (runpilot doctor)" >&2; exit 1; }

ROUNDS=${ROUNDS:-15}
BACK_RUNS=${BACK_RUNS:-60}
sandbox_cmd="$bin run --runner sandbox -q $T/true.yaml"
local_cmd="$bin run --runner local -q $T/true.yaml"
outbound_cmd="$bin run --runner sandbox -q $T/outbound.yaml"
with_outbound=1
"$bin" run --runner sandbox -q "$T/outbound.yaml" >/dev/null 2>&1 || {
	echo "sandbox-start: network outbound does not work here (pasta missing?): not timed" >&2; with_outbound=0; }
out_args() { [ "$with_outbound" = 1 ] && printf '%s\n' -n outbound "$outbound_cmd"; }
bwrap_cmd="bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true"
for r in $(seq "$ROUNDS"); do
	mapfile -t extra < <(out_args)
	if [ $((r % 2)) -eq 1 ]; then
		order=(-n sandbox "$sandbox_cmd" -n local "$local_cmd" -n bwrap "$bwrap_cmd" "${extra[@]}")
	else
		order=("${extra[@]}" -n bwrap "$bwrap_cmd" -n local "$local_cmd" -n sandbox "$sandbox_cmd")
	fi
	hyperfine -N --warmup 2 --runs "${RUNS:-10}" --export-json "$T/h$r.json" "${order[@]}" \
		> "$T/h$r.txt" 2>&1 || { cat "$T/h$r.txt"; exit 1; }
done
mapfile -t extra < <(out_args)
hyperfine -N --warmup 3 --runs "$BACK_RUNS" --export-json "$T/back.json" \
	-n sandbox "$sandbox_cmd" -n local "$local_cmd" -n bwrap "$bwrap_cmd" "${extra[@]}" > "$T/back.txt" 2>&1 ||
	{ cat "$T/back.txt"; exit 1; }

# Supervisor RSS: runpilot's own peak (VmHWM), sampled until it exits, over a few runs of a 1 s job;
# bwrap's peak (its own maxrss, from GNU time) for the same job, for scale.
printf 'name: rss\nentrypoint: ["sleep", "1"]\n' > "$T/rss.yaml"
for i in 1 2 3; do
	"$bin" run --runner sandbox -q "$T/rss.yaml" >/dev/null 2>&1 &
	pid=$! peak=0
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) || v=
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.02
	done
	wait "$pid"
	echo "$peak" >> "$T/rss.txt"
done
/usr/bin/time -f %M -o "$T/bwrap-rss.txt" bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev sleep 1 2>/dev/null || true

python3 - "$T" "$ROUNDS" "$BACK_RUNS" <<'PY'
import json, os, statistics, sys
t, rounds, back_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows, outs = [], []
for r in range(1, rounds + 1):
    res = {x["command"]: x["mean"] * 1000 for x in json.load(open("%s/h%d.json" % (t, r)))["results"]}
    rows.append((res["sandbox"], res["local"], res["bwrap"]))
    if "outbound" in res:
        outs.append((res["outbound"], res["sandbox"]))
print("interleaved (network: none vs bwrap --unshare-all)")
print("round  sandbox    local    bwrap   sandbox-local  sandbox/bwrap  local/bwrap" + ("   outbound  outbound-none" if outs else ""))
for i, (sb, lo, bw) in enumerate(rows, 1):
    extra = " %8.2f ms %10.2f ms" % (outs[i - 1][0], outs[i - 1][0] - sb) if outs else ""
    print("%5d %7.2f ms %6.2f ms %6.2f ms %9.2f ms %12.2fx %11.2fx%s" % (i, sb, lo, bw, sb - lo, sb / bw, lo / bw, extra))
med = lambda f: statistics.median(f(*x) for x in rows)
d, ratio = med(lambda s, l, b: s - l), med(lambda s, l, b: s / b)
print("median over %d rounds: sandbox %.2f ms, local %.2f ms, bwrap %.2f ms" %
      (rounds, med(lambda s, l, b: s), med(lambda s, l, b: l), med(lambda s, l, b: b)))
back = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open("%s/back.json" % t))["results"]}
print()
print("back to back (%d runs of each, medians): sandbox %.2f ms, local %.2f ms, bwrap %.2f ms%s" %
      (back_runs, back["sandbox"], back["local"], back["bwrap"],
       ", outbound %.2f ms" % back["outbound"] if "outbound" in back else ""))
bratio, bd = back["sandbox"] / back["bwrap"], back["sandbox"] - back["local"]
rss = [int(x) for x in open("%s/rss.txt" % t).read().split()]
bw_rss = open("%s/bwrap-rss.txt" % t).read().split() if os.path.exists("%s/bwrap-rss.txt" % t) else []
print()
print("supervisor peak RSS (VmHWM of runpilot, 1 s job, %d runs): %s KiB; bwrap's own: %s KiB" %
      (len(rss), " ".join(map(str, rss)), bw_rss[-1] if bw_rss else "?"))
print()
ok = lambda x, goal: "OK" if x <= goal else "MISSED"
print("sandbox - local = %.2f ms interleaved, %.2f ms back to back   (goal <= 5 ms)  %s" % (d, bd, ok(max(d, bd), 5)))
print("sandbox / bwrap = %.2fx interleaved, %.2fx back to back     (goal <= 1.5x)  %s" %
      (ratio, bratio, ok(max(ratio, bratio), 1.5)))
if outs:
    od = statistics.median(o - s for o, s in outs)
    bod = back["outbound"] - back["sandbox"]
    print("outbound - none = %.2f ms interleaved, %.2f ms back to back   (goal <= 5 ms)  %s" % (od, bod, ok(max(od, bod), 5)))
print("supervisor RSS  = %.2f MiB at most                          (goal <= 4 MiB)  %s" %
      (max(rss) / 1024, ok(max(rss) / 1024, 4)))
PY
