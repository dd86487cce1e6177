#!/usr/bin/env bash
# Capture throughput with metric parsing on: `runpilot run --quiet` of a job writing SIZE of
# 100-byte lines (one in EVERY a metric line: "step N loss=... lr=... acc: ..."), side by side with
# the same job piped to `cat > file`, in interleaved rounds (the order flips every round).
# Prints per round and as medians: wall seconds, the ratio (cat's wall / runpilot's: >= 0.8 is the
# goal) and CPU seconds per GiB of runpilot itself (its own user and system time, from
# RUNPILOT_TRACE_TIMES's last line: the job's are not in it) and of cat. Goal: <= 0.2 s of
# runpilot's user CPU per GiB.
#   bench/capture.sh [RUNPILOT_BIN]       env: SIZE (bytes, default 1 GiB), EVERY (100),
#                                         ROUNDS (7), STYLE (plain | logging: every filler line
#                                         carries a timestamp and "INFO trainer: ", so each one
#                                         passes the prefilter and is parsed in full)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
spew=$here/build/helpers/spew
[ -x "$bin" ] || { echo "capture: $bin not built (make)" >&2; exit 1; }
[ -x "$spew" ] || { echo "capture: $spew not built (make helpers)" >&2; exit 1; }
SIZE=${SIZE:-1073741824}
EVERY=${EVERY:-100}
ROUNDS=${ROUNDS:-7}
STYLE=${STYLE:-plain}
T=$(mktemp -d /tmp/rpbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
export RUNPILOT_HOME=$T/home
printf 'name: capture\nentrypoint: ["%s", "%s", "%s", "%s"]\n' "$spew" "$SIZE" "$EVERY" "$STYLE" > "$T/job.yaml"

python3 - "$bin" "$spew" "$T" "$SIZE" "$EVERY" "$ROUNDS" "$STYLE" <<'PY'
import json, os, re, statistics, subprocess, sys, time
bin, spew, t, size, every, rounds, style = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), sys.argv[7]
gib = size / 2**30

def waited(p):
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru

def run_cat():
    out = open(os.path.join(t, "cat.out"), "wb")
    t0 = time.monotonic()
    job = subprocess.Popen([spew, str(size), every, style], stdout=subprocess.PIPE)
    cat = subprocess.Popen(["cat"], stdin=job.stdout, stdout=out)
    job.stdout.close()
    ru_job, ru_cat = waited(job), waited(cat)
    wall = time.monotonic() - t0
    out.close()
    os.unlink(os.path.join(t, "cat.out"))
    return wall, ru_cat.ru_utime, ru_cat.ru_stime

def run_rp():
    t0 = time.monotonic()
    err = open(os.path.join(t, "rp.err"), "w+")
    p = subprocess.Popen([bin, "run", "--quiet", "--runner", "local", os.path.join(t, "job.yaml")],
                         stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ, RUNPILOT_TRACE_TIMES="1"))
    waited(p)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("capture: runpilot run failed (%d)" % p.returncode)
    err.seek(0)
    own = re.findall(r"own cpu: user ([0-9.]+) s, system ([0-9.]+) s", err.read())
    err.close()
    user, system = float(own[-1][0]), float(own[-1][1])
    runs = os.path.join(t, "home", "runs")
    last = sorted(n for n in os.listdir(runs) if n.startswith("rp_"))[-1]
    d = json.load(open(os.path.join(runs, last, "run.json")))
    npoints = sum(m["count"] for m in d.get("metrics", {}).values())
    logs = os.path.getsize(os.path.join(runs, last, "logs.txt"))
    # the run is not needed any more: keep the disk free for the next round
    subprocess.run(["rm", "-rf", os.path.join(runs, last)], check=True)
    return (wall, user, system, npoints, logs)

rows = []
print("round   cat wall   rp wall   cat/rp   rp user s/GiB   rp sys s/GiB   cat user s/GiB   cat sys s/GiB   points")
for r in range(rounds):
    order = [run_cat, run_rp] if r % 2 == 0 else [run_rp, run_cat]
    res = {}
    for f in order:
        res[f.__name__] = f()
    c, p = res["run_cat"], res["run_rp"]
    if p[4] != size // 100 * 100:
        sys.exit("capture: logs.txt has %d bytes, the job wrote %d" % (p[4], size // 100 * 100))
    row = (c[0], p[0], c[0] / p[0], p[1] / gib, p[2] / gib, c[1] / gib, c[2] / gib, p[3])
    rows.append(row)
    print("%5d %9.2fs %8.2fs %8.2fx %15.3f %14.3f %16.3f %15.3f %8d" % ((r + 1,) + row))
med = lambda i: statistics.median(x[i] for x in rows)
print()
print("medians over %d rounds (%.2f GiB, 1 metric line in %s, %s filler):" % (rounds, gib, every, style))
print("  wall: cat %.2f s, runpilot %.2f s; cat/runpilot %.2fx (goal >= 0.8x) %s" %
      (med(0), med(1), med(2), "OK" if med(2) >= 0.8 else "MISSED"))
print("  runpilot's own CPU per GiB: user %.3f s (goal <= 0.2 s) %s, system %.3f s; cat: user %.3f s, system %.3f s" %
      (med(3), "OK" if med(3) <= 0.2 else "MISSED", med(4), med(5), med(6)))
PY
