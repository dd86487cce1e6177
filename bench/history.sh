#!/usr/bin/env bash
# Reading history at 100,000 runs, through the run index (index.db), side by side with a plain
# scan that parses every run.json (what a reader without an index does).
#   bench/history.sh [RUNPILOT_BIN]     env: RUNS (100000), STORE (a store made by an earlier
#                                       run of this script, kept; default: a fresh one, removed)
# The store is synthetic (bench/history_gen.py writes real run.json, metrics and logs, starting
# from the run.json of one real run), not `runpilot run`: 100,000 runs in about a minute.
# Measured (hyperfine, interleaved rounds): list (newest 50), a filtered list (--where on a
# param and a metric, --limit 20), list --status failed --jsonl | wc -l, show of one run, and
# the scan; then the first read after index.db is deleted (the rebuild), in runs per second.
# Goals: <= 50 ms median for the plain and the filtered list; >= 100x faster than the scan;
# the rebuild >= 20,000 runs/s.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
RUNS=${RUNS:-100000}
for t in hyperfine python3; do
	command -v "$t" >/dev/null || { echo "history: $t is not installed" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "history: $bin not built (make)" >&2; exit 1; }
T=$(mktemp -d /tmp/rpbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
store=${STORE:-$T/store}
if [ ! -d "$store/runs" ]; then
	# one real run, the template of the others
	export RUNPILOT_HOME=$T/template
	printf 'name: template\nentrypoint: ["/bin/true"]\nparams: {lr: 0.1}\nsandbox: {network: none}\n' > "$T/t.yaml"
	"$bin" run -q "$T/t.yaml" >/dev/null 2>&1 || "$bin" run -q --runner local "$T/t.yaml" >/dev/null
	echo "history: writing $RUNS runs into $store ..."
	python3 "$here/bench/history_gen.py" "$T/template/runs/rp_0001/run.json" "$store" "$RUNS"
fi
export RUNPILOT_HOME=$store
mid=$(printf 'rp_%04d' $((RUNS / 2)))

cat > "$T/scan.py" <<'PY'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
n = 0
for name in os.listdir(runs):
    if name.startswith("rp_"):
        with open(os.path.join(runs, name, "run.json")) as f:
            d = json.load(f)
        n += d["status"] == "failed"
print(n)
PY

# the first read builds the index (timed below, after it is deleted again)
"$bin" list --limit 1 >/dev/null
hyperfine -N --warmup 2 --runs 15 --export-json "$T/h.json" \
	-n "list (newest 50)" "$bin list --limit 50" \
	-n "list --where (param and metric) --limit 20" "$bin list --limit 20 --where 'params.lr < 0.01 and metrics.loss < 0.5'" \
	-n "list --status failed --jsonl | wc -l" "sh -c '$bin list --status failed --jsonl | wc -l'" \
	-n "show $mid" "$bin show $mid" > "$T/h.out" 2>&1 || { cat "$T/h.out"; exit 1; }
hyperfine -N --warmup 1 --runs 3 --export-json "$T/scan.json" -n "scan: parse every run.json (python3)" \
	"python3 $T/scan.py $store" > "$T/scan.out" 2>&1 || { cat "$T/scan.out"; exit 1; }
rebuild=()
for i in 1 2 3; do
	rm -f "$store/index.db" "$store/index.db-wal" "$store/index.db-shm"
	s=$(date +%s.%N)
	"$bin" list --limit 1 >/dev/null
	rebuild+=("$(python3 -c "import sys; print($(date +%s.%N) - $s)")")
done

python3 - "$T" "$RUNS" "${rebuild[@]}" <<'PY'
import json, statistics, sys
t, runs, rebuild = sys.argv[1], int(sys.argv[2]), [float(x) for x in sys.argv[3:]]
res = json.load(open(t + "/h.json"))["results"] + json.load(open(t + "/scan.json"))["results"]
med = {r["command"]: statistics.median(r["times"]) * 1000 for r in res}
scan = med["scan: parse every run.json (python3)"]
print("%d runs (medians)" % runs)
for name, ms in med.items():
    print("  %-46s %9.1f ms   %7.0fx faster than the scan" % (name, ms, scan / ms))
r = statistics.median(rebuild)
print("  %-46s %9.2f s    %7.0f runs/s  (3 rebuilds: %s)" % ("first read after deleting index.db", r, runs / r,
      ", ".join("%.2f s" % x for x in rebuild)))
ok = lambda c: "OK" if c else "MISSED"
plain, filt = med["list (newest 50)"], med["list --where (param and metric) --limit 20"]
print("goals: list <= 50 ms: plain %.1f ms %s, filtered %.1f ms %s; >= 100x the scan: %.0fx / %.0fx %s; rebuild >= 20,000 runs/s: %.0f %s"
      % (plain, ok(plain <= 50), filt, ok(filt <= 50), scan / plain, scan / filt, ok(scan / max(plain, filt) >= 100),
         runs / r, ok(runs / r >= 20000)))
PY
