#!/usr/bin/env bash
# runpilot report: one self-contained HTML file comparing runs — the runs table (status, params
# with the differing ones marked, resources), one chart per metric with one line per run, a
# legend; nothing loaded from elsewhere; text from runs escaped; a million points stay small;
# usage errors; and the page as Chromium renders it (DOM and pixels), when Chromium is here.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"

# What a reader of the page gets, as JSON: the charts (title, polylines, legend, ticks), the
# runs table, and anything that would load or run something.
cat > "$T/inspect.py" <<'P'
import html.parser, json, sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.d = {"charts": [], "scripts": 0, "refs": [], "param_headers": {}, "headers": [], "rows": []}
        self.stack = []   # open elements: [tag, classes, text]

    def inside(self, tag, cls=None):
        return any(t == tag and (cls is None or cls in c) for t, c, _ in self.stack)

    def handle_starttag(self, tag, attrs):
        self.start(tag, attrs)
        if tag not in VOID:
            self.stack.append([tag, (dict(attrs).get("class") or "").split(), ""])

    def handle_startendtag(self, tag, attrs):
        self.start(tag, attrs)

    def start(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "srcset", "data", "action", "poster") or "url(" in (v or ""):
                self.d["refs"].append(f"{tag} {k}={v}")
        if tag == "script":
            self.d["scripts"] += 1
        if tag == "svg":
            self.d["charts"].append({"title": a.get("aria-label"), "class": a.get("class") or "",
                                     "polylines": [], "legend": [], "xticks": [], "yticks": [], "titles": []})
        if tag == "polyline" and self.d["charts"]:
            self.d["charts"][-1]["polylines"].append({"run": a.get("data-run-index"), "stroke": a.get("stroke"),
                                                      "npoints": len((a.get("points") or "").split())})
        if tag == "tr" and self.inside("table", "runs") and self.inside("tbody"):
            self.d["rows"].append([])

    def handle_data(self, data):
        for e in self.stack:
            e[2] += data

    def handle_endtag(self, tag):
        if not any(t == tag for t, _, _ in self.stack):
            return
        while self.stack[-1][0] != tag:
            self.stack.pop()
        _, cls, text = self.stack[-1]
        text = text.strip()
        c = self.d["charts"][-1] if self.d["charts"] else None
        if tag == "text" and c is not None:
            if self.inside("g", "legend"):
                c["legend"].append(text)
            elif self.inside("g", "x"):
                c["xticks"].append(text)
            elif self.inside("g", "y"):
                c["yticks"].append(text)
            elif "title" in cls:
                c["titles"].append(text)
        if tag == "th" and self.inside("table", "runs"):
            self.d["headers"].append(text)
            if "param" in cls:
                self.d["param_headers"][text] = "diff" in cls
        if tag == "td" and self.inside("table", "runs") and self.d["rows"]:
            self.d["rows"][-1].append([text, " ".join(cls)])
        self.stack.pop()

p = Page()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
json.dump(p.d, open(sys.argv[2], "w"))
P
inspect() { python3 "$T/inspect.py" "$1" "$2"; }

# --- three runs of one config, different params ------------------------------------------
cat > "$W/train.py" <<'P'
import os, sys
lr = float(os.environ["RUNPILOT_PARAM_LR"])
for e in range(1, 7):
    print(f"epoch: {e} loss: {1 / (1 + e * lr * 10):.4f} acc: {1 - 0.5 / (1 + e * lr * 10):.4f}")
sys.exit(int(os.environ["RUNPILOT_PARAM_FAIL"]))
P
mkconfig "$W/train.yaml" train '["python3", "train.py"]' 'params: {lr: 0.1, batch: 32, fail: 0}'
rp run "$W/train.yaml" --runner local -q --param lr=0.1 2>/dev/null
rp run "$W/train.yaml" --runner local -q --param lr=0.2 --name train-b 2>/dev/null
rp run "$W/train.yaml" --runner local -q --param lr=0.4 --param fail=3 2>/dev/null
check "three runs recorded metrics" test "$(for i in 1 2 3; do json "$RUNPILOT_HOME/runs/rp_000$i/run.json" 'sorted(d["metrics"])'; done | sort -u)" = '["acc", "loss"]'

rp report rp_0001 rp_0002 rp_0003 -o "$T/report.html" >"$T/out" 2>"$T/err"; rc=$?
check "report exits 0" test $rc -eq 0
check "report says what it wrote" grep -q "wrote $T/report.html: 3 runs, 2 metrics" "$T/out"
check "report file exists" test -s "$T/report.html"
check "report is one HTML page" sh -c "head -n1 '$T/report.html' | grep -qi '^<!DOCTYPE html>' && tail -n1 '$T/report.html' | grep -q '</html>'"
check "report has no script" sh -c "! grep -qi '<script' '$T/report.html'"
check "report names no URL (http, https)" sh -c "! grep -Eqi 'https?:' '$T/report.html'"
check "report loads nothing (no src=, href=, url(), @import, <link>)" \
	sh -c "! grep -Eqi 'src=|href=|url\\(|@import|<link|<img|<iframe|<object' '$T/report.html'"
inspect "$T/report.html" "$T/r.json"
check "parsed: no script, no reference to anything" test "$(json "$T/r.json" '[d["scripts"], d["refs"]]')" = '[0, []]'
check "one chart (svg) per metric, by name" test "$(json "$T/r.json" '[c["title"] for c in d["charts"]]')" = '["acc", "loss"]'
check "each chart is titled with its metric" test "$(json "$T/r.json" '[c["titles"] for c in d["charts"]]')" = '[["acc"], ["loss"]]'
check "one polyline per run in each chart" \
	test "$(json "$T/r.json" '[[p["run"] for p in c["polylines"]] for c in d["charts"]]')" = '[["0", "1", "2"], ["0", "1", "2"]]'
check "each polyline has all 6 epochs" test "$(json "$T/r.json" 'sorted({p["npoints"] for c in d["charts"] for p in c["polylines"]})')" = '[6]'
check "the runs' lines have distinct colors" \
	test "$(json "$T/r.json" 'len({p["stroke"] for p in d["charts"][0]["polylines"]})')" = 3
check "legend names each run (id and name)" \
	test "$(json "$T/r.json" 'd["charts"][1]["legend"]')" = '["rp_0001 train", "rp_0002 train-b", "rp_0003 train"]'
check "x axis: steps 1..6 as tick labels" test "$(json "$T/r.json" 'd["charts"][0]["xticks"]')" = '["1", "2", "3", "4", "5", "6"]'
check "y axis: nice tick values covering the losses" \
	test "$(json "$T/r.json" 'd["charts"][1]["yticks"]')" = '["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]'
check "params table: the differing params are marked, the same one is not" \
	test "$(json "$T/r.json" 'd["param_headers"]')" = '{"lr": true, "batch": false, "fail": true}'
check "params table: each run's lr" \
	test "$(json "$T/r.json" '[[c[0] for c in r if "param" in c[1].split()] for r in d["rows"]]')" = '[["0.1", "32", "0"], ["0.2", "32", "0"], ["0.4", "32", "3"]]'
check "runs table: id, name, status of each run" \
	test "$(json "$T/r.json" '[r[:3] for r in [[c[0] for c in row] for row in d["rows"]]]')" = \
	'[["rp_0001", "train", "success"], ["rp_0002", "train-b", "success"], ["rp_0003", "train", "failed (exit 3)"]]'
check "runs table: resources used (CPU time, peak memory or RSS)" \
	sh -c "python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))[\"headers\"]; sys.exit(not (\"CPU time\" in h and (\"Peak memory\" in h or \"Max RSS\" in h)))' '$T/r.json'"
check "header lists the runs compared and when" \
	sh -c "grep -q 'Runs compared: <b>rp_0001</b>' '$T/report.html' && grep -q '^<p class=\"meta generated\">Generated 20' '$T/report.html'"
check "per metric, each run's last value" grep -q '<td class="num">0.8333</td>' "$T/report.html"
rp report rp_0001 rp_0002 rp_0003 -o "$T/again.html" >/dev/null 2>&1
check "the same runs give the same page (but for the generated-at line)" \
	bash -c "diff <(grep -v 'class=\"meta generated\"' '$T/report.html') <(grep -v 'class=\"meta generated\"' '$T/again.html') >/dev/null"
rp report last -o - >"$T/stdout.html" 2>/dev/null
check "-o - writes the page to stdout" sh -c "head -n1 '$T/stdout.html' | grep -qi '^<!DOCTYPE html>'"
check "help report" sh -c "'$RUNPILOT_BIN' help report | grep -q '^usage: runpilot report RUN... | SELECTION -o FILE'"
check "report is in the command list" sh -c "'$RUNPILOT_BIN' --help | grep -q '^  report '"

# --- hostile text, missing metrics, values that are not finite ----------------------------
cat > "$W/odd.py" <<'P'
for step, v in [(1, "0.5"), (2, "nan"), (3, "0.25"), (4, "inf"), (5, "0.125")]:
    print(f"step {step} loss={v}")
P
mkconfig "$W/odd.yaml" odd '["python3", "odd.py"]'
rp run "$W/odd.yaml" --runner local -q --param 'note=<script>alert(1)</script>&"x"' 2>/dev/null
ODD=$(last_run_dir)
# A metric name from a store someone else wrote (the parser would not make this one).
printf '{"name":"<img src=x onerror=1>&m","step":1,"value":1,"time":1,"source":"log"}\n' >> "$ODD/metrics.jsonl"
rp report rp_0001 "$(basename "$ODD")" -o "$T/odd.html" >/dev/null 2>"$T/err"; rc=$?
check "report with a hostile param and metric name exits 0" test $rc -eq 0
check "param value escaped" grep -q '&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x&quot;' "$T/odd.html"
check "metric name escaped" grep -q '&lt;img src=x onerror=1&gt;&amp;m' "$T/odd.html"
check "nothing hostile got through as markup" sh -c "! grep -Eqi '<script|<img' '$T/odd.html'"
inspect "$T/odd.html" "$T/o.json"
check "escaped page: no script, no reference" test "$(json "$T/o.json" '[d["scripts"], d["refs"]]')" = '[0, []]'
check "union of metrics: a chart for each metric of either run" \
	test "$(json "$T/o.json" '[c["title"] for c in d["charts"]]')" = '["<img src=x onerror=1>&m", "acc", "loss"]'
check "a run without the metric has no line, and the legend says so" \
	test "$(json "$T/o.json" '[[p["run"] for p in d["charts"][1]["polylines"]], d["charts"][1]["legend"][1]]')" = '[["0"], "rp_0004 odd (no data)"]'
check "values that are not finite are left out of the line, and counted in the legend" \
	test "$(json "$T/o.json" '[[p["npoints"] for p in d["charts"][2]["polylines"]], d["charts"][2]["legend"][1]]')" = \
	'[[6, 3], "rp_0004 odd (2 not finite, not drawn)"]'

# --- usage errors -------------------------------------------------------------------------
one_line_exit2() { # NAME PATTERN ARGS...: exit 2 and one line on stderr matching PATTERN
	local name=$1 pat=$2; shift 2
	rp report "$@" >/dev/null 2>"$T/err"; local rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q -- "$pat" "$T/err"; then pass "$name"
	else fail "$name" "exit $rc: $(cat "$T/err")"; fi
}
one_line_exit2 "no runs → exit 2, one line" "missing RUN" -o "$T/x.html"
one_line_exit2 "unknown run → exit 2, one line" "no run 'rp_0999'" rp_0001 rp_0999 -o "$T/x.html"
one_line_exit2 "missing -o → exit 2, one line naming it" "missing -o FILE" rp_0001
one_line_exit2 "-o without a value → exit 2" "needs a value" rp_0001 -o
one_line_exit2 "unknown option → exit 2" "unknown option '--bogus'" rp_0001 --bogus -o "$T/x.html"
one_line_exit2 "-o into a missing directory → exit 2 naming it" "directory '$T/nope' does not exist" rp_0001 -o "$T/nope/r.html"
one_line_exit2 "-o a directory → exit 2" "is a directory" rp_0001 -o "$T"
one_line_exit2 "the same run twice → exit 2" "run rp_0001 is given twice" rp_0001 1 -o "$T/x.html"
check "no report file left by the errors" sh -c "[ ! -e '$T/x.html' ] && [ ! -e '$T/nope' ]"

# --- a million points stay small ----------------------------------------------------------
NPTS=${RP_REPORT_POINTS:-1000000}
cat > "$W/big.py" <<P
import math, sys
w = sys.stdout.write
for i in range($NPTS):
    w("step %d loss=%.6f\n" % (i, 1.0 / (1 + i * 1e-4) + 0.05 * math.sin(i / 50.0)))
P
mkconfig "$W/big.yaml" big '["python3", "big.py"]'
rp run "$W/big.yaml" --runner local -q 2>/dev/null
BIG=$(basename "$(last_run_dir)")
check "the big run recorded $NPTS points" test "$(json "$RUNPILOT_HOME/runs/$BIG/run.json" 'd["metrics"]["loss"]["count"]')" = "$NPTS"
t0=$(date +%s.%N)
rp report "$BIG" rp_0001 -o "$T/big.html" >/dev/null 2>&1; rc=$?
t1=$(date +%s.%N)
size=$(stat -c %s "$T/big.html" 2>/dev/null || echo 0)
echo "        report of $NPTS points: $size bytes in $(python3 -c "print(round($t1 - $t0, 2))") s"
check "report of $NPTS points exits 0" test $rc -eq 0
check "report of $NPTS points is under 200 KB" test "$size" -gt 0 -a "$size" -lt 200000
inspect "$T/big.html" "$T/b.json"
check "its line keeps at most 2 points per bucket (1000)" \
	test "$(json "$T/b.json" '[0 < p["npoints"] <= 1000 for c in d["charts"] if c["title"] == "loss" for p in c["polylines"]]')" = '[true, true]'
check "its x axis reaches the last step" test "$(json "$T/b.json" '[c["xticks"][-1] for c in d["charts"] if c["title"] == "loss"][0]')" = "$( [ "$NPTS" -eq 1000000 ] && echo 1.0M || echo "$(( NPTS / 1000 ))k")"

# --- as Chromium renders it ---------------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1; then
	skip "chromium render" "chromium is not installed (make test-deps installs it)"
else
	PROFILE=$T/chrome-profile
	# Without the networking flags it would try to reach Google's services: never leave them out.
	chrome() {
		timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--user-data-dir="$PROFILE" "$@"
	}
	chrome_gone() { ! pgrep -f "$PROFILE" >/dev/null; }
	# Kill only what this test started, by pid, should any be left.
	rp_cleanup_hooks+=("for p in \$(pgrep -f '$PROFILE'); do kill -9 \$p 2>/dev/null; done")
	chrome --screenshot="$T/report.png" --window-size=1280,2400 "file://$T/report.html" >"$T/chrome.log" 2>&1
	check "chromium renders the report to a PNG" test -s "$T/report.png"
	chrome --dump-dom "file://$T/report.html" >"$T/dom.html" 2>"$T/chrome-dom.log"
	check "chromium dumps the DOM" grep -q '</html>' "$T/dom.html"
	check "no chromium process left behind" wait_for chrome_gone 10
	inspect "$T/dom.html" "$T/d.json"
	check "DOM: two svg charts" test "$(json "$T/d.json" '[c["title"] for c in d["charts"] if "chart" in c["class"]]')" = '["acc", "loss"]'
	check "DOM: one polyline per run in each chart" \
		test "$(json "$T/d.json" '[len(c["polylines"]) for c in d["charts"]]')" = '[3, 3]'
	check "DOM: axis tick labels" \
		test "$(json "$T/d.json" '[d["charts"][1]["xticks"], d["charts"][1]["yticks"][-1]]')" = '[["1", "2", "3", "4", "5", "6"], "0.5"]'
	check "DOM: legend texts" test "$(json "$T/d.json" 'd["charts"][0]["legend"]')" = '["rp_0001 train", "rp_0002 train-b", "rp_0003 train"]'
	# The pixels: decode the PNG (no PIL), count its colors and look for the runs' line colors.
	cat > "$T/png.py" <<'P'
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
counts, right = {}, {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        counts[px] = counts.get(px, 0) + 1
        if x // bpp > w * 0.55:   # right of the tables' swatches and the legends: the plots only
            right[px] = right.get(px, 0) + 1
    prev = line
want = {"#1f77b4", "#ff7f0e", "#2ca02c"}
def drawn(color):   # pixels of about that color (lines are antialiased)
    r, g, b = bytes.fromhex(color[1:])
    return sum(n for px, n in right.items() if abs(px[0] - r) + abs(px[1] - g) + abs(px[2] - b) <= 24)
found = sorted(c for c in want if drawn(c) >= 30)
white = counts.get(b"\xff\xff\xff", 0)
print(json.dumps({"colors": len(counts), "line_colors": found, "not_white": 1 - white / (w * h)}))
P
	python3 "$T/png.py" "$T/report.png" > "$T/png.json" 2>"$T/png.err"
	check "PNG: decodes" test -s "$T/png.json"
	check "PNG: not blank (many colors, some ink)" \
		test "$(json "$T/png.json" 'd["colors"] > 20 and d["not_white"] > 0.02')" = true
	check "PNG: each run's line color is drawn in the plots" \
		test "$(json "$T/png.json" 'd["line_colors"]')" = '["#1f77b4", "#2ca02c", "#ff7f0e"]'
fi
