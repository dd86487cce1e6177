#!/usr/bin/env bash
# Fingerprint speed, side by side with the reference tool, printing ratios.
#   bench/fingerprint.sh [RUNPILOT_BIN] [FILES] [TOTAL_MB]     (defaults: build/runpilot 10000 1000)
# Generates a workdir of FILES files / TOTAL_MB MB in a temporary dir under /tmp, records one run
# on it, then measures with hyperfine (page cache warm for every contender):
#   cold: `runpilot verify` with an empty hash cache    vs  find | xargs sha256sum
#   warm: `runpilot verify` with nothing changed
# Goals: cold throughput >= 0.9x sha256sum's, warm <= 50 ms.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$here/build/runpilot}")
NFILES=${2:-10000}
TOTAL_MB=${3:-1000}
command -v hyperfine > /dev/null || { echo "bench: hyperfine is needed (make test-deps)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "bench: no runpilot binary at $BIN (make first)" >&2; exit 2; }

B=$(mktemp -d /tmp/rpbench.XXXXXX)
trap '[ -n "${RP_BENCH_KEEP:-}" ] || rm -rf "$B"' EXIT
W=$B/work
export RUNPILOT_HOME=$B/home
echo "bench: generating $NFILES files, $TOTAL_MB MB in $W"
python3 - "$W" "$NFILES" "$TOTAL_MB" <<'EOF'
import os, sys
root, n, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
size = total // n
block = os.urandom(size + 64)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(i.to_bytes(8, "little") + block[i % 64:i % 64 + size - 8])
EOF
printf 'name: bench\nentrypoint: "true"\nworkdir: %s\n' "$W" > "$B/bench.yaml"
"$BIN" run "$B/bench.yaml" --runner local -q > /dev/null 2>&1
"$BIN" verify last > /dev/null || { echo "bench: verify does not say identical" >&2; exit 1; }

J=$B/json
mkdir -p "$J"
hyperfine -N --warmup 1 --runs 5 --export-json "$J/ref.json" \
	"sh -c 'find $W -type f -print0 | xargs -0 sha256sum > /dev/null'"
hyperfine -N --warmup 1 --runs 5 --prepare "rm -rf $RUNPILOT_HOME/cache" --export-json "$J/cold.json" \
	"$BIN verify last"
hyperfine -N --warmup 3 --runs 30 --export-json "$J/warm.json" "$BIN verify last"

python3 - "$J" "$TOTAL_MB" <<'EOF'
import json, sys
j, mb = sys.argv[1], int(sys.argv[2])
mean = lambda n: json.load(open(f"{j}/{n}.json"))["results"][0]["mean"]
ref, cold, warm = mean("ref"), mean("cold"), mean("warm")
print()
print(f"sha256sum (find | xargs): {ref:7.3f} s  {mb / ref:8.0f} MB/s")
print(f"runpilot verify, cold:    {cold:7.3f} s  {mb / cold:8.0f} MB/s")
print(f"runpilot verify, warm:    {warm * 1000:7.1f} ms")
r = ref / cold
print(f"cold throughput ratio vs sha256sum: {r:.2f}x  (goal >= 0.9x: {'ok' if r >= 0.9 else 'MISSED'})")
print(f"warm time: {warm * 1000:.1f} ms  (goal <= 50 ms: {'ok' if warm <= 0.050 else 'MISSED'})")
EOF
