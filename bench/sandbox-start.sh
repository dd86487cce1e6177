#!/usr/bin/env bash
# Sandbox start cost (issue 3): whole-process time of `runpilot run` for /bin/true with the
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

hyperfine -N --warmup 5 --runs "${RUNS:-60}" --export-json "$T/h.json" \
	-n sandbox "$bin run --runner sandbox -q $T/true.yaml" \
	-n local "$bin run --runner local -q $T/true.yaml" \
	-n bwrap "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true"

python3 - "$T/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
sb, lo, bw = (r[k]["mean"] * 1000 for k in ("sandbox", "local", "bwrap"))
print()
print("mean: sandbox %.2f ms, local %.2f ms, bwrap %.2f ms" % (sb, lo, bw))
print("sandbox - local = %.2f ms   (goal <= 5 ms)  %s" % (sb - lo, "OK" if sb - lo <= 5 else "MISSED"))
print("sandbox / bwrap = %.2fx     (goal <= 1.5x)  %s" % (sb / bw, "OK" if sb / bw <= 1.5 else "MISSED"))
print("local   / bwrap = %.2fx" % (lo / bw))
PY
