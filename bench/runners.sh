#!/usr/bin/env bash
# The runners on one image: whole-process time of `runpilot run` for /bin/true under the Docker
# runner and under the sandbox on the same image (from the image store, no Docker involved), side
# by side with plain `docker run --rm IMAGE true` and bwrap over the image's unpacked tree. The
# engine is a private dockerd (tests/docker/docker_lib.sh: its own data root, socket and cgroups,
# stopped at the end); the image is its busybox test image, `docker save`d into runpilot's store.
# bwrap --unshare-all makes a network namespace, so the sandbox is timed with `network: none`;
# docker run and the Docker runner both use the engine's default network.
#   bench/runners.sh [RUNPILOT_BIN]      (as root; needs hyperfine, bwrap, docker.io)
# Figures, as users meet them:
#   interleaved   ROUNDS rounds of RUNS runs, the commands in turn first and last, the median of
#                 the per-round ratios
#   back to back  BACK_RUNS runs of each command one after the other
#   first use     `runpilot image import` of the saved image, and the first run (which unpacks it)
# Goals: Docker runner <= 1.1x docker run; sandbox on the image <= 0.05x docker run and <= 1.5x
# bwrap on the same tree.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
for t in hyperfine bwrap python3 docker; do
	command -v "$t" >/dev/null || { echo "runners: $t is not installed" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "runners: $bin not built (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "runners: run as root (a private dockerd)" >&2; exit 1; }

rp_cleanup_hooks=()
T=$(mktemp -d /tmp/rpbench.XXXXXX)
finish() {
	local h
	for h in "${rp_cleanup_hooks[@]}"; do "$h"; done
	rm -rf "$T"
}
trap finish EXIT
# shellcheck source=../tests/docker/docker_lib.sh
. "$here/tests/docker/docker_lib.sh"
dk_start || { echo "runners: no private Docker engine: $DK_WHY" >&2; exit 1; }
export RUNPILOT_HOME=$T/home

# First use: the saved image into the store, then the first run, which unpacks it.
docker save "$DK_IMAGE" > "$T/image.tar"
import_s=$( { /usr/bin/time -f %e "$bin" image import "$T/image.tar" >/dev/null; } 2>&1 | tail -n1)
printf 'name: bench\nimage: %s\nentrypoint: ["/bin/true"]\nsandbox: {network: none}\n' "$DK_IMAGE" > "$T/sandbox.yaml"
printf 'name: bench\nimage: %s\nentrypoint: ["/bin/true"]\n' "$DK_IMAGE" > "$T/docker.yaml"
first_s=$( { /usr/bin/time -f %e "$bin" run --runner sandbox -q "$T/sandbox.yaml" >/dev/null; } 2>&1 | tail -n1)
"$bin" run --runner docker -q "$T/docker.yaml" >/dev/null || { echo "runners: the Docker runner fails here" >&2; exit 1; }
tree=$(python3 - "$RUNPILOT_HOME/runs" <<'PY'
import json, os, sys
runs = sorted(n for n in os.listdir(sys.argv[1]) if n.startswith("rp_"))
print(json.load(open(os.path.join(sys.argv[1], runs[0], "run.json")))["runner"]["rootfs"])
PY
)
[ -d "$tree" ] || { echo "runners: the image's tree $tree is missing" >&2; exit 1; }

ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-5}
BACK_RUNS=${BACK_RUNS:-20}
cmds=(-n docker-run "docker run --rm $DK_IMAGE true"
	-n rp-docker "$bin run --runner docker -q $T/docker.yaml"
	-n rp-sandbox "$bin run --runner sandbox -q $T/sandbox.yaml"
	-n bwrap "bwrap --unshare-all --ro-bind $tree / --proc /proc --dev /dev /bin/true")
reversed=("${cmds[@]:9:3}" "${cmds[@]:6:3}" "${cmds[@]:3:3}" "${cmds[@]:0:3}")
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order=("${cmds[@]}"); else order=("${reversed[@]}"); fi
	hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$T/h$r.json" "${order[@]}" > "$T/h$r.txt" 2>&1 ||
		{ cat "$T/h$r.txt"; exit 1; }
done
hyperfine -N --warmup 2 --runs "$BACK_RUNS" --export-json "$T/back.json" "${cmds[@]}" > "$T/back.txt" 2>&1 ||
	{ cat "$T/back.txt"; exit 1; }

python3 - "$T" "$ROUNDS" "$BACK_RUNS" "$import_s" "$first_s" <<'PY'
import json, statistics, sys
t, rounds, back_runs, import_s, first_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
names = ["docker-run", "rp-docker", "rp-sandbox", "bwrap"]
rows = []
for r in range(1, rounds + 1):
    res = {x["command"]: x["mean"] * 1000 for x in json.load(open("%s/h%d.json" % (t, r)))["results"]}
    rows.append([res[n] for n in names])
print("interleaved (ms)")
print("round " + "".join("%12s" % n for n in names) + "  rp-docker/docker-run  rp-sandbox/docker-run  rp-sandbox/bwrap")
for i, row in enumerate(rows, 1):
    print("%5d " % i + "".join("%12.1f" % v for v in row) + "%22.3fx %22.4fx %17.2fx" %
          (row[1] / row[0], row[2] / row[0], row[2] / row[3]))
med = lambda f: statistics.median(f(r) for r in rows)
d_ratio, s_ratio, b_ratio = med(lambda r: r[1] / r[0]), med(lambda r: r[2] / r[0]), med(lambda r: r[2] / r[3])
back = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open("%s/back.json" % t))["results"]}
print()
print("back to back (%d runs of each, medians): " % back_runs + ", ".join("%s %.1f ms" % (n, back[n]) for n in names))
bd, bs, bb = back["rp-docker"] / back["docker-run"], back["rp-sandbox"] / back["docker-run"], back["rp-sandbox"] / back["bwrap"]
print()
print("first use: runpilot image import %s s; first sandbox run (unpacks the image) %s s" % (import_s, first_s))
ok = lambda x, goal: "OK" if x <= goal else "MISSED"
print("docker runner / docker run = %.3fx interleaved, %.3fx back to back  (goal <= 1.1x)   %s" % (d_ratio, bd, ok(max(d_ratio, bd), 1.1)))
print("sandbox image / docker run = %.4fx interleaved, %.4fx back to back  (goal <= 0.05x) %s" % (s_ratio, bs, ok(max(s_ratio, bs), 0.05)))
print("sandbox image / bwrap      = %.2fx interleaved, %.2fx back to back    (goal <= 1.5x)  %s" % (b_ratio, bb, ok(max(b_ratio, bb), 1.5)))
PY
