#!/usr/bin/env bash
# runpilot ui in a real browser: Debian's chromium, headless, driven by puppeteer-core
# (tests/ui/browser.cjs) over a store of a few hundred generated runs and three real ones. The
# runs page and its --where box, sorting by a metric, paging, a run's chart (its pixels) and log
# tail, zooming in for full resolution, a tag added on the page, a run named <script> shown as
# text, compare of the three real runs naming the changed code file; no console error.
. "$(dirname "$0")/../integration/lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
NPM=${RP_NPM:-$here/build/npm/node_modules}
N=${RP_UI_RUNS:-300}

if ! command -v chromium >/dev/null 2>&1; then
	skip "ui in chromium" "chromium is not installed (make test-deps installs it)"
	exit 0
fi
if ! command -v node >/dev/null 2>&1; then
	skip "ui in chromium" "node is not installed (make test-deps installs it)"
	exit 0
fi
if [ ! -d "$NPM/puppeteer-core" ]; then
	fail "puppeteer-core is installed" "$NPM/puppeteer-core is missing (make builds build/npm)"
	exit 0
fi

# --- the store: generated runs, then three real ones whose code differs --------------------
W=$T/work; mkdir -p "$W"
mkconfig "$T/t.yaml" template '["/bin/true"]' 'params: {lr: 0.1}'
RUNPILOT_HOME=$T/template rp run -q --runner local "$T/t.yaml" >/dev/null 2>&1
python3 "$here/bench/history_gen.py" "$T/template/runs/rp_0001/run.json" "$RUNPILOT_HOME" "$N"
check "generated $N runs" test -f "$(printf '%s/runs/rp_%04d/run.json' "$RUNPILOT_HOME" "$N")"
# A name the CLI would refuse, as a store written by other means may hold it.
XSS=rp_0007
python3 - "$RUNPILOT_HOME/runs/$XSS/run.json" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
d["name"] = "<script>alert(1)</script>"
json.dump(d, open(sys.argv[1], "w"))
P
HOSTILE='<img src=x onerror=alert(2)>'

cat > "$W/train.py" <<'P'
import math, os
lr = float(os.environ["RUNPILOT_PARAM_LR"])
for s in range(3000):
    print(f"step {s} loss={1 / (1 + s * lr):.6f} acc={1 - 0.5 / (1 + s * lr):.6f}")
print("training done")
open(os.path.join(os.environ["RUNPILOT_OUTPUT_DIR"], "model.txt"), "w").write(f"weights for lr {lr}\n")
P
mkconfig "$W/train.yaml" train '["python3", "train.py"]' 'params: {lr: 0.01, batch_size: 48}'
(cd "$W" && rp run "$W/train.yaml" --runner local -q) >/dev/null 2>&1
R1=$(basename "$(last_run_dir)")
echo "# the model changed" >> "$W/train.py"
(cd "$W" && rp run "$W/train.yaml" --runner local -q --param "note=$HOSTILE") >/dev/null 2>&1
R2=$(basename "$(last_run_dir)")
(cd "$W" && rp run "$W/train.yaml" --runner local -q --param lr=0.02) >/dev/null 2>&1
R3=$(basename "$(last_run_dir)")
check "three real runs after the generated ones" test "$R1 $R2 $R3" = "$(printf 'rp_%04d rp_%04d rp_%04d' $((N + 1)) $((N + 2)) $((N + 3)))"
check "the real runs recorded 3000 loss points" test "$(json "$RUNPILOT_HOME/runs/$R1/run.json" 'd["metrics"]["loss"]["count"]')" = 3000

# What the pages must show, computed from the run records themselves.
WHERE='params.lr = 0.001 and params.batch_size = 32 and status = success'
cat > "$T/expect.py" <<'P'
import glob, json, sys
runs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/runs/rp_*/run.json")]
match = [r for r in runs if r["params"].get("lr") == 0.001 and r["params"].get("batch_size") == 32 and r["status"] == "success"]
losses = sorted(r["metrics"]["loss"]["last"] for r in runs if "loss" in r.get("metrics", {}))
print(json.dumps({"where": len(match), "min_loss": losses[0], "max_loss": losses[-1], "total": len(runs)}))
P
python3 "$T/expect.py" "$RUNPILOT_HOME" > "$T/expect.json"
EXP_WHERE=$(json "$T/expect.json" 'd["where"]')

# --- the server ------------------------------------------------------------------------------
"$RUNPILOT_BIN" ui --port 0 > "$T/ui.out" 2> "$T/ui.err" &
UI_PID=$!
rp_cleanup_hooks+=("kill $UI_PID 2>/dev/null; wait $UI_PID 2>/dev/null")
wait_for "grep -q 'http://' '$T/ui.out' 2>/dev/null || pid_dead $UI_PID" 15
URL=$(grep -o 'http://[^ ]*' "$T/ui.out" | head -n1)
check "ui prints its URL with a token" sh -c "echo '$URL' | grep -Eq '^http://127\\.0\\.0\\.1:[0-9]+/\\?token=[0-9a-f]{64}$'"
[ -n "$URL" ] || { fail "ui started" "$(cat "$T/ui.err")"; exit 0; }

# --- the browser -----------------------------------------------------------------------------
PROFILE=$(mktemp -d /tmp/rp-ui-chrome.XXXXXX)
rp_cleanup_hooks+=("for p in \$(pgrep -f -- '--user-data-dir=$PROFILE'); do kill -9 \$p 2>/dev/null; done; rm -rf '$PROFILE'")
SPEC=$(python3 -c 'import json,sys; print(json.dumps({"where": sys.argv[1], "bad_where": "params.lr <", "sort": "loss",
	"run": sys.argv[2], "xss": sys.argv[5], "compare": sys.argv[2:5], "tag": "ui-best"}))' "$WHERE" "$R1" "$R2" "$R3" "$XSS")
NODE_PATH=$NPM timeout -k 5 150 node "$here/tests/ui/browser.cjs" "$URL" "$PROFILE" "$SPEC" > "$T/b.json" 2> "$T/b.err"
rc=$?
check "the browser script ran (exit 0, no exception)" sh -c "[ $rc -eq 0 ] && [ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(\"error\", \"\"))' '$T/b.json' 2>/dev/null)\" = '' ]" ||
	{ sed -n '1,40p' "$T/b.err"; python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error"))' "$T/b.json" 2>/dev/null; }
B=$T/b.json
j() { json "$B" "$1" 2>/dev/null; }
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }     # has TEXT PART
starts() { case "$1" in "$2"*) return 0 ;; esac; return 1; }  # starts TEXT PREFIX

# The runs page.
check "runs page: the token URL is answered by the page, without the token" test "$(j 'd["steps"]["runs"]["path"].split("?")[0]')" = "/"
check "runs page: the newest 50 rows" test "$(j 'd["steps"]["runs"]["rows"]')" = 50
check "runs page: status counts over every run" starts "$(j 'd["steps"]["runs"]["counts"]')" "$((N + 3)) runs"
check "runs page: metric columns shown" test "$(j '"loss" in d["steps"]["runs"]["headers"] and "val_acc" in d["steps"]["runs"]["headers"]')" = true
check "'/' focuses the search box" test "$(j 'd["steps"]["where"]["slash_focuses"]')" = true
check "--where typed in the box: $EXP_WHERE rows, as the records say" test "$(j 'd["steps"]["where"]["rows"]')" = "$EXP_WHERE"
check "--where: a few rows, one page (no next)" test "$(j '[0 < d["steps"]["where"]["rows"] < 50, d["steps"]["where"]["next_enabled"]]')" = '[true, false]'
check "--where: the query is in the URL" test "$(j 'd["steps"]["where"]["url_where"]')" = "$WHERE"
check "--where: a reload shows the same rows and the query in the box" \
	test "$(j '[d["steps"]["where"]["reload_rows"], d["steps"]["where"]["reload_box"]]')" = "[$EXP_WHERE, \"$WHERE\"]"
check "a wrong --where: the CLI's error line under the box" starts "$(j 'd["steps"]["bad_where"]["error"]')" "--where: 1:"
check "sort by a metric, ascending: rows in order, the smallest first" \
	test "$(j '[[float(x) for x in d["steps"]["sort"]["asc"]] == sorted(float(x) for x in d["steps"]["sort"]["asc"]), abs(float(d["steps"]["sort"]["asc"][0]) - '"$(json "$T/expect.json" 'd["min_loss"]')"') < 1e-6]')" = '[true, true]'
check "sort again: descending, the largest first" \
	test "$(j '[[float(x) for x in d["steps"]["sort"]["desc"]] == sorted((float(x) for x in d["steps"]["sort"]["desc"]), reverse=True), abs(float(d["steps"]["sort"]["desc"][0]) - '"$(json "$T/expect.json" 'd["max_loss"]')"') < 1e-6, d["steps"]["sort"]["aria"]]')" = '[true, true, "descending"]'
check "paging: next gives 50 other runs, back the first page" test "$(j 'd["steps"]["paging"]')" = '{"first": 50, "second": 50, "overlap": 0}'

# A run.
check "run page: reached from its row's link" test "$(j 'd["steps"]["run"]["path"]')" = "/run/$R1"
check "run page: its name" test "$(j 'd["steps"]["run"]["h1"]')" = train
check "run page: one chart per metric" test "$(j 'sorted(d["steps"]["run"]["charts"])')" = '["acc", "loss"]'
check "run page: the charts are drawn (the line's color in the canvas pixels)" \
	test "$(j 'len(d["steps"]["run"]["ink"]) == 2 and all(c["line"] > 200 for c in d["steps"]["run"]["ink"])')" = true
check "run page: params" test "$(j 'sorted(d["steps"]["run"]["params"])')" = '[["batch_size", "48"], ["lr", "0.01"]]'
LOGTAIL=$(j 'd["steps"]["run"]["log"]')
check "run page: the log's tail (its last lines)" sh -c 'case "$1" in *"step 2999 loss="*"training done") exit 0 ;; esac; exit 1' - "$LOGTAIL"
check "run page: the tail only (64 KiB of about 110), from a line start" \
	test "$(j '[60000 < len(d["steps"]["run"]["log"]) <= 65536, d["steps"]["run"]["log"].startswith("step ")]')" = '[true, true]'
check "run page: resources, outputs, fingerprint shown" \
	test "$(j 'all(s in d["steps"]["run"]["sections"] for s in ["Resources", "Outputs", "Environment fingerprint", "Log"])')" = true
check "run page: its output listed, and downloaded as an attachment" \
	test "$(j '[(o["name"], o["status"], (o["disposition"] or "").startswith("attachment"), o["body"]) for o in d["steps"]["run"]["outputs"]]')" = '[["model.txt", 200, true, "weights for lr 0.01\n"]]'
check "zoom: the chart asks for the range it shows, at full resolution" \
	test "$(j '[d["steps"]["zoom"]["from"] is not None and 0 < d["steps"]["zoom"]["from"] < d["steps"]["zoom"]["to"] < 3000, d["steps"]["zoom"].get("downsampled"), d["steps"]["zoom"].get("all_steps")]')" = '[true, false, true]'
check "a tag added on the page shows there" has "$(j 'd["steps"]["run"]["tags"]')" '"ui-best"'
check "... and is the run's tag for the CLI too" sh -c "'$RUNPILOT_BIN' list --where 'tags contains ui-best' 2>/dev/null | grep -q '$R1'"

# Hostile text.
check "a run named <script>: its name shown as text" test "$(j 'd["steps"]["xss"]["h1"]')" = '<script>alert(1)</script>'
check "... in the runs table too" test "$(j 'd["steps"]["xss"]["row_name"]')" = '<script>alert(1)</script>'
check "... no script or element made of it, no dialog" \
	test "$(j '[d["steps"]["xss"]["injected"], d["steps"]["xss"]["scripts"], d["dialogs"]]')" = '[0, ["/assets/uPlot.iife.min.js", "/assets/app.js"], 0]'

# Compare.
check "compare: reached with the picked runs" test "$(j 'd["steps"]["compare"]["path"]')" = "/compare?ids=$R1,$R2,$R3"
check "compare: the three runs in its table" test "$(j 'd["steps"]["compare"]["rows"]')" = 3
check "compare: lr and note differ (highlighted)" test "$(j 'd["steps"]["compare"]["diff_params"]')" = '["lr", "note"]'
check "compare: a hostile param value shown as text" test "$(j 'd["steps"]["compare"]["cells"][1][-1]')" = "$HOSTILE"
check "compare: the code differs, the change names train.py" \
	test "$(j '[(c["differs"], any("train.py" in x for x in c["changes"])) for c in d["steps"]["compare"]["env"] if c["component"] == "code"]')" = '[[true, true]]'
check "compare: config differs (lr), runtime the same" \
	test "$(j '{c["component"]: c["differs"] for c in d["steps"]["compare"]["env"] if c["component"] in ("config", "runtime")}')" = '{"config": true, "runtime": false}'
check "compare: a chart per metric, one curve per run" \
	test "$(j '[sorted(d["steps"]["compare"]["charts"]), d["steps"]["compare"]["legend"][1:]]')" = \
	"[[\"acc\", \"loss\"], [\"$R1 train\", \"$R2 train\", \"$R3 train\"]]"
check "compare: the second run's curve is drawn" test "$(j 'all(c["line"] > 100 for c in d["steps"]["compare"]["ink"])')" = true

check "no console error or warning, no page error" test "$(j 'd["console_errors"]')" = '[]' ||
	j 'd["console_errors"]'
check "no failed request but the wrong query's 400" test "$(j '[d.get("http_errors", []), d["expected_400"]]')" = '[[], 1]'

# --- a running run: its log followed live (server-sent events) until it ends ----------------
cat > "$W/slow.py" <<'P'
import sys, time
for i in range(1, 21):
    print(f"tick {i}", flush=True)
    print(f"loss={1 / i:.4f}", flush=True)
    time.sleep(0.25)
P
mkconfig "$W/slow.yaml" slow '["python3", "slow.py"]'
LIVE=$(cd "$W" && rp run "$W/slow.yaml" --runner local --detach -q 2>/dev/null | tail -n1)
wait_for "grep -q 'tick 2' '$RUNPILOT_HOME/runs/$LIVE/logs.txt' 2>/dev/null" 15
NODE_PATH=$NPM timeout -k 5 60 node "$here/tests/ui/browser.cjs" "$URL" "$PROFILE" "{\"live\": \"$LIVE\"}" > "$T/live.json" 2> "$T/live.err"
B=$T/live.json
check "live: the page of a running run says so" test "$(j '[d.get("error"), d["steps"]["live"]["status_before"]]')" = '[null, "running"]'
check "live: the stream adds the lines written after the page loaded, each once" \
	test "$(j '[d["steps"]["live"]["first_ticks"] < 20, d["steps"]["live"]["ticks"] == ["tick %d" % i for i in range(1, 21)]]')" = '[true, true]'
check "live: the metric reported so far is charted while the run runs, and again after it ended" \
	test "$(j '[d["steps"]["live"]["charts_live"], d["steps"]["live"]["charts_after"]]')" = '[["loss"], ["loss"]]'
check "live: at the end the page shows the run ended, and its status" \
	test "$(j '[d["steps"]["live"]["status_after"], "ended" in d["steps"]["live"]["info"]]')" = '["success", true]'
check "live: no console error" test "$(j '[d["console_errors"], d.get("http_errors", [])]')" = '[[], []]'

# --- the end: chromium gone, the server stops on SIGTERM ---------------------------------------
chrome_gone() { ! pgrep -f -- "--user-data-dir=$PROFILE" >/dev/null; }
check "no chromium process left behind" wait_for chrome_gone 10
kill -TERM "$UI_PID"
check "the server stops on SIGTERM" wait_for "pid_dead $UI_PID" 10
wait "$UI_PID" 2>/dev/null
check "the server reported no sanitizer error" sh -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' '$T/ui.err'"
