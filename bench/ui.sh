#!/usr/bin/env bash
# `runpilot ui` at 100,000 runs: the server's JSON under load from wrk (loopback, 16 concurrent
# clients), its memory, and the pages in Chromium.
#   bench/ui.sh [RUNPILOT_BIN]     env: RUNS (100000), STORE (a store made by an earlier run of
#                                  this or bench/history.sh, kept; default: a fresh one, removed),
#                                  SECS (10: each wrk round), ROUNDS (2)
# The store is synthetic (bench/history_gen.py, as bench/history.sh). Measured, in interleaved
# rounds: the runs page's first page (newest 50, with status counts), a --where filter on a param
# and a metric, a later page (keyset cursor), a run page's data (/api/runs/ID) and a metric's
# series; the server's RSS idle after the load; then in Chromium (bench/ui_browser.cjs) the runs
# page until usable and compare of 20 runs x 5 metrics until drawn.
# Goals: newest 50 p50 <= 5 ms, p99 <= 25 ms; filter p99 <= 100 ms; run data p50 <= 20 ms;
# RSS idle <= 64 MiB; runs page usable <= 1.5 s; compare 20 x 5 <= 2 s.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
RUNS=${RUNS:-100000}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-2}
for t in wrk python3 curl; do
	command -v "$t" >/dev/null || { echo "ui: $t is not installed (make test installs it)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "ui: $bin not built (make)" >&2; exit 1; }
T=$(mktemp -d /tmp/rpbench.XXXXXX)
server=
cleanup() {
	[ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
	rm -rf "$T"
}
trap cleanup EXIT
store=${STORE:-$T/store}
if [ ! -d "$store/runs" ]; then
	export RUNPILOT_HOME=$T/template
	printf 'name: template\nentrypoint: ["/bin/true"]\nparams: {lr: 0.1}\nsandbox: {network: none}\n' > "$T/t.yaml"
	"$bin" run -q "$T/t.yaml" >/dev/null 2>&1 || "$bin" run -q --runner local "$T/t.yaml" >/dev/null
	echo "ui: writing $RUNS runs into $store ..."
	GEN_METRICS=5 python3 "$here/bench/history_gen.py" "$T/template/runs/rp_0001/run.json" "$store" "$RUNS"
fi
# the 20 runs compare charts: 5 metrics of 1,000 points each (the server sends each downsampled)
python3 - "$store/runs" "$RUNS" <<'PY'
import json, math, os, sys
runs, n = sys.argv[1], int(sys.argv[2])
for i in range(max(1, n - 19), n + 1):
    d = os.path.join(runs, "rp_%04d" % i)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for m, name in enumerate(["loss", "val_acc", "grad_norm", "lr_now", "throughput"]):
            for s in range(1000):
                v = math.exp(-s / (200 + 10 * m)) + 0.01 * ((s * 7919 + i) % 100) / 100
                f.write('{"name":"%s","step":%d,"value":%.6f,"time":%d,"source":"log"}\n' % (name, s, v, s))
PY
export RUNPILOT_HOME=$store
"$bin" list --limit 1 >/dev/null   # the index, built once

"$bin" ui --port 0 > "$T/url" 2> "$T/server.err" &
server=$!
for _ in $(seq 100); do [ -s "$T/url" ] && break; sleep 0.05; done
url=$(head -1 "$T/url" | grep -o 'http://[^ ]*') || { cat "$T/server.err" >&2; exit 1; }
base=${url%%/?token=*}
token=${url##*token=}
auth="Authorization: Bearer $token"
mid=$(printf 'rp_%04d' $((RUNS / 2)))
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
next=$(curl -sf -H "$auth" "$base/api/runs?limit=50" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')

declare -A urls=(
	["runs: newest 50"]="$base/api/runs?limit=50"
	["runs: --where param and metric"]="$base/api/runs?limit=50&where=$(enc 'params.lr < 0.01 and metrics.loss < 0.5')"
	["runs: next page"]="$base/api/runs?limit=50&after=$(enc "$next")"
	["runs: sorted by a metric"]="$base/api/runs?limit=50&sort=-metrics.loss&columns=params.lr,metrics.loss"
	["run: data"]="$base/api/runs/$mid"
	["run: a metric's series"]="$base/api/runs/$mid/metrics/loss"
)
order=("runs: newest 50" "runs: --where param and metric" "runs: next page" "runs: sorted by a metric" "run: data" "run: a metric's series")
for u in "${order[@]}"; do
	curl -sf -o /dev/null -H "$auth" "${urls[$u]}" || { echo "ui: $u: ${urls[$u]} failed" >&2; exit 1; }
done

# wrk's latency distribution, as "p50_ms p99_ms req_per_s"; wrk's threads: one per core, as its
# documentation advises (more only take the server's CPU on a small machine)
WRK_THREADS=${WRK_THREADS:-$(nproc)}
latency() {
	wrk -t"$WRK_THREADS" -c16 -d"${SECS}s" --latency -H "$auth" "$1" | python3 -c '
import re, sys
out = sys.stdin.read()
def ms(tag):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % tag, out, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print("%.3f %.3f %.0f" % (ms("50"), ms("99"), rps))'
}
: > "$T/lat"
for round in $(seq "$ROUNDS"); do
	for u in "${order[@]}"; do
		printf '%s\t%s\n' "$u" "$(latency "${urls[$u]}")" >> "$T/lat"
	done
done
sleep 1
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")

browser="{}"
if [ -f "$here/bench/ui_browser.cjs" ] && command -v node >/dev/null && [ -x /usr/bin/chromium ]; then
	ids=$(python3 -c 'import sys; n = int(sys.argv[1]); print(",".join("rp_%04d" % i for i in range(max(1, n - 19), n + 1)))' "$RUNS")
	browser=$(NODE_PATH=$here/build/npm/node_modules node "$here/bench/ui_browser.cjs" "$url" "$ids") || browser="{}"
fi

python3 - "$T/lat" "$RUNS" "$rss_kib" "$browser" "$WRK_THREADS" <<'PY'
import json, statistics, sys
lat, runs, rss, browser = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4] or "{}")
threads = int(sys.argv[5])
rows = {}
for line in open(lat):
    name, vals = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append([float(x) for x in vals.split()])
print("%d runs, wrk: %d threads, 16 connections, loopback (rounds interleaved: p50 / p99 / requests per second)" % (runs, threads))
med = {}
for name, rs in rows.items():
    med[name] = [statistics.median(r[i] for r in rs) for i in range(3)]
    print("  %-34s p50 %7.2f ms   p99 %7.2f ms   %8.0f req/s   (rounds: %s)" % (name, *med[name],
          "; ".join("%.2f/%.2f" % (r[0], r[1]) for r in rs)))
print("  server RSS after the load, idle: %.1f MiB" % (rss / 1024))
if "runs_page_ms" in browser:
    print("  chromium: runs page usable        %5d ms   (rounds: %s; %d rows)" % (browser["runs_page_ms"],
          ", ".join(map(str, browser["runs_page_all_ms"])), browser["runs_page_rows"]))
if "compare_ms" in browser:
    print("  chromium: compare drawn           %5d ms   (rounds: %s; %d runs, %d charts, %d curves)" % (browser["compare_ms"],
          ", ".join(map(str, browser["compare_all_ms"])), browser["compare_runs"], browser["compare_charts"], browser["compare_curves"]))
if browser.get("console_errors"):
    print("  chromium: console errors: %s" % browser["console_errors"])
ok = lambda c: "OK" if c else "MISSED"
n50, flt, run = med["runs: newest 50"], med["runs: --where param and metric"], med["run: data"]
goals = ["newest 50 p50 <= 5 ms: %.2f %s" % (n50[0], ok(n50[0] <= 5)),
         "p99 <= 25 ms: %.2f %s" % (n50[1], ok(n50[1] <= 25)),
         "filter p99 <= 100 ms: %.2f %s" % (flt[1], ok(flt[1] <= 100)),
         "run data p50 <= 20 ms: %.2f %s" % (run[0], ok(run[0] <= 20)),
         "RSS idle <= 64 MiB: %.1f %s" % (rss / 1024, ok(rss / 1024 <= 64))]
if "runs_page_ms" in browser:
    goals.append("runs page usable <= 1500 ms: %d %s" % (browser["runs_page_ms"], ok(browser["runs_page_ms"] <= 1500)))
if "compare_ms" in browser:
    goals.append("compare 20x5 <= 2000 ms: %d %s" % (browser["compare_ms"], ok(browser["compare_ms"] <= 2000)))
print("goals: " + "; ".join(goals))
PY
