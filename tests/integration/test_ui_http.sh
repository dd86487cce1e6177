#!/usr/bin/env bash
# runpilot ui over HTTP, as a browser or an attacker meets it: the one URL line; the token on
# every route (none, wrong, the cookie flow, Bearer); the security headers; every API route and
# its errors; outputs as attachments, never a file outside outputs/ (../ and its encodings, an
# absolute path, a symlink out); a run's name only as JSON, never in the page; POSTs from the page
# only; bodies over 1 MiB refused; a slow client dropped while others are served; the live log
# as server-sent events to its end; a clean stop on SIGTERM and SIGINT; a taken port.
. "$(dirname "$0")/lib.sh"
W=$T/w
mkdir -p "$W"
servers=()
rp_cleanup_hooks+=('for p in "${servers[@]+"${servers[@]}"}"; do kill -KILL "$p" 2>/dev/null; done')
rp_cleanup_hooks+=('[ -n "${SLOW_PID:-}" ] && kill "$SLOW_PID" 2>/dev/null')
rp_cleanup_hooks+=('[ -n "${LIVE_ID:-}" ] && "$RUNPILOT_BIN" cancel "$LIVE_ID" >/dev/null 2>&1')

# start_ui OUT ARGS...: start `runpilot ui --port 0 ARGS` and wait for its URL line; sets UI_PID
# (the server's own pid: not through rp, a function, whose subshell a signal would stop instead);
# UI_PATH: its PATH.
start_ui() {
	local out=$1; shift
	env PATH="${UI_PATH:-$PATH}" "$RUNPILOT_BIN" ui --port 0 "$@" > "$out" 2> "$out.err" &
	UI_PID=$!
	servers+=("$UI_PID")
	wait_for "grep -q 'http://' '$out'" 10
}
# code [CURL ARGS...]: the HTTP status of a request.
code() { curl -s -o /dev/null -w '%{http_code}' --path-as-is --max-time 10 "$@"; }
# get NAME [CURL ARGS...]: headers in $T/NAME.h, body in $T/NAME.b, prints the status.
get() { local n=$1; shift; curl -s -D "$T/$n.h" -o "$T/$n.b" -w '%{http_code}' --path-as-is --max-time 10 "$@"; }
hdr() { grep -i "^$2:" "$T/$1.h" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

# --- the runs ------------------------------------------------------------------------------
mkconfig "$W/xss.yaml" xss \
	'"echo step 1 loss=0.5; echo step 2 loss=0.25; echo hi > $RUNPILOT_OUTPUT_DIR/a.txt; mkdir -p $RUNPILOT_OUTPUT_DIR/sub; echo nested > $RUNPILOT_OUTPUT_DIR/sub/b.txt; echo uni > $RUNPILOT_OUTPUT_DIR/r\u00e9sum\u00e9.txt"' \
	'runner: local' 'params: {lr: 0.1}'
mkconfig "$W/plain.yaml" plain '"echo step 1 loss=0.7"' 'runner: local' 'params: {lr: 0.2}'
rp run "$W/xss.yaml" > /dev/null 2>&1
rp run "$W/plain.yaml" > /dev/null 2>&1
RD=$RUNPILOT_HOME/runs/rp_0001
# A name the config refuses, as an imported or hand-edited record may carry it.
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["name"]="<script>alert(1)</script>"; json.dump(d,open(p,"w"))' \
	"$RD/run.json"
rp reindex > /dev/null 2>&1
rp note rp_0001 '<img src=x onerror=alert(2)>' > /dev/null
ln -s /etc/passwd "$RD/outputs/pw"
ln -s / "$RD/outputs/root"
check "setup: two runs with outputs, one named <script>" \
	sh -c "test -f '$RD/outputs/a.txt' -a -f '$RUNPILOT_HOME/runs/rp_0002/run.json' && '$RUNPILOT_BIN' list | grep -q '<script>'"

# --- start: one line with the URL ------------------------------------------------------------
start_ui "$T/ui.out"
URL=$(grep -o 'http://[^ ]*' "$T/ui.out")
BASE=${URL%%/?token=*}
TOK=${URL##*token=}
PORT=${BASE##*:}
check "start: exactly one line on stdout" test "$(wc -l < "$T/ui.out")" -eq 1
check "start: the URL is on 127.0.0.1 with a 64-hex-digit token" \
	sh -c "echo '$URL' | grep -Eq '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{64}$'"
check "start: says how to stop it" grep -q 'Ctrl-C' "$T/ui.out"
B=(-H "Authorization: Bearer $TOK")

# A slow client from the start: half a request line, kept open; the server drops it later.
python3 - "$PORT" > "$T/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/ru")
t0 = time.time()
s.settimeout(30)
try:
    data = s.recv(100)
except OSError:
    data = None
print("closed" if data == b"" else "other %r" % data, round(time.time() - t0, 1))
PY
SLOW_PID=$!

# --- the token -------------------------------------------------------------------------------
ROUTES=(/ /run/rp_0001 /compare /assets/app.js /api/runs /api/runs/rp_0001 /api/runs/rp_0001/metrics/loss
	/api/runs/rp_0001/log /api/runs/rp_0001/log/stream /api/runs/rp_0001/outputs/a.txt "/api/compare?ids=1,2"
	/nothing/here)
WRONG_SAME=$(printf '%s' "$TOK" | tr '0-9a-f' '1-9a-f0')
WRONG_LAST=${TOK:0:63}$(printf '%s' "${TOK:63}" | tr '0-9a-f' '1-9a-f0')
bad=""
for r in "${ROUTES[@]}"; do
	[ "$(code "$BASE$r")" = 401 ] || bad+=" none:$r"
	[ "$(code -H "Authorization: Bearer $WRONG_SAME" "$BASE$r")" = 401 ] || bad+=" bearer-same-length:$r"
	[ "$(code -H "Authorization: Bearer $WRONG_LAST" "$BASE$r")" = 401 ] || bad+=" bearer-last-char:$r"
	[ "$(code -H "Authorization: Bearer ${TOK:0:10}" "$BASE$r")" = 401 ] || bad+=" bearer-short:$r"
	[ "$(code -H "Authorization: Bearer ${TOK}00" "$BASE$r")" = 401 ] || bad+=" bearer-long:$r"
	[ "$(code -b "rp_token_$PORT=$WRONG_SAME" "$BASE$r")" = 401 ] || bad+=" cookie:$r"
done
check "token: every route is 401 without it or with a wrong one (same length, last character, shorter, longer)" test -z "$bad"
[ -n "$bad" ] && echo "    $bad"
check "token: POST without it is 401" test "$(code -X POST -H 'X-Requested-With: runpilot' -d '{}' \
	"$BASE/api/runs/rp_0001/annotations")" = 401
check "token: a wrong ?token= on a page is 401" test "$(code "$BASE/?token=$WRONG_SAME")" = 401
check "token: the 401 is JSON with an error" grep -q '"error"' <(curl -s "$BASE/api/runs")

check "cookie flow: ?token= answers 303" test "$(get redir "$URL")" = 303
check "cookie flow: back to the page without the token" test "$(hdr redir Location)" = /
SC=$(hdr redir Set-Cookie)
check "cookie flow: the cookie is HttpOnly, SameSite=Strict, Path=/" \
	sh -c "echo '$SC' | grep -q '^rp_token_$PORT=$TOK;' && echo '$SC' | grep -q HttpOnly && echo '$SC' | grep -q 'SameSite=Strict' && echo '$SC' | grep -q 'Path=/'"
check "cookie flow: another server's cookie (another port) is not this one's" \
	test "$(code -b "rp_token=$TOK; rp_token_1$PORT=$TOK" "$BASE/api/runs")" = 401
get redir3 "$BASE//example.com/x?token=$TOK" > /dev/null
check "cookie flow: the redirect stays on this server (a path of //host)" test "$(hdr redir3 Location)" = /example.com/x
hostbad=""
for h in "evil.example:$PORT" "127.0.0.1:1$PORT" "127.0.0.1" "localhost:${PORT}x" "127.0.0.1:$PORT.evil.example"; do
	[ "$(code -H "Host: $h" "${B[@]}" "$BASE/api/runs")" = 421 ] || hostbad+=" $h"
done
check "Host: a request naming another host (DNS rebinding) is refused with 421, token or not" test -z "$hostbad"
[ -n "$hostbad" ] && echo "    $hostbad"
check "Host: localhost with the port is this server" test "$(code -H "Host: localhost:$PORT" "${B[@]}" "$BASE/api/runs")" = 200
get redir2 "$BASE/run/rp_0002?token=$TOK&tab=log%20tail" > /dev/null
check "cookie flow: the other query arguments stay" test "$(hdr redir2 Location)" = "/run/rp_0002?tab=log%20tail"
JAR=$T/jar
curl -s -c "$JAR" -o /dev/null "$URL"
check "cookie flow: the cookie then opens the pages" test "$(code -b "$JAR" "$BASE/")" = 200
check "cookie flow: and the API" test "$(code -b "$JAR" "$BASE/api/runs")" = 200
check "bearer: opens the API" test "$(code "${B[@]}" "$BASE/api/runs")" = 200

# --- headers ---------------------------------------------------------------------------------
CSP="default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
hbad=""
for r in / /api/runs /api/runs/rp_0009 /assets/app.js /nothing; do
	get h "${B[@]}" "$BASE$r" > /dev/null
	[ "$(hdr h Content-Security-Policy)" = "$CSP" ] || hbad+=" csp:$r"
	[ "$(hdr h X-Content-Type-Options)" = nosniff ] || hbad+=" nosniff:$r"
	[ "$(hdr h Referrer-Policy)" = no-referrer ] || hbad+=" referrer:$r"
done
get h "$BASE/api/runs" > /dev/null
[ "$(hdr h Content-Security-Policy)" = "$CSP" ] || hbad+=" csp:401"
check "headers: CSP, nosniff and Referrer-Policy on pages, API answers, errors and 401s" test -z "$hbad"
[ -n "$hbad" ] && echo "    $hbad"
get h "${B[@]}" "$BASE/api/runs" > /dev/null
check "headers: the API is Cache-Control: no-store" test "$(hdr h Cache-Control)" = no-store

# --- pages and assets ------------------------------------------------------------------------
for p in / /run/rp_0001 /compare; do
	c=$(get page -b "$JAR" "$BASE$p")
	check "page $p: 200 text/html" sh -c "[ $c = 200 ] && grep -qi '^content-type: text/html' '$T/page.h'"
done
check "page: no run data inline (no name, note or id)" sh -c "! grep -q -e 'alert(' -e 'rp_0001' -e 'plain' '$T/page.b'"
check "page: no inline script" sh -c "! grep -Eiq '<script>|<script [^>]*>[^<]' '$T/page.b'"
c=$(get a -b "$JAR" "$BASE/assets/app.js")
check "assets: app.js is JavaScript" sh -c "[ $c = 200 ] && grep -qi '^content-type: text/javascript' '$T/a.h'"
c=$(get a -b "$JAR" "$BASE/assets/app.css")
check "assets: app.css is CSS" sh -c "[ $c = 200 ] && grep -qi '^content-type: text/css' '$T/a.h'"
c=$(get a -b "$JAR" "$BASE/assets/uPlot.iife.min.js")
check "assets: uPlot is built in" sh -c "[ $c = 200 ] && grep -q uPlot '$T/a.b'"
c=$(get a -b "$JAR" "$BASE/assets/uPlot.min.css")
check "assets: uPlot's style is built in" sh -c "[ $c = 200 ] && grep -qi '^content-type: text/css' '$T/a.h'"
check "assets: an unknown one is 404" test "$(code -b "$JAR" "$BASE/assets/nope.js")" = 404

# --- the API ---------------------------------------------------------------------------------
check "runs: 200 JSON" test "$(get runs "${B[@]}" "$BASE/api/runs")" = 200
check "runs: Content-Type application/json" sh -c "grep -qi '^content-type: application/json' '$T/runs.h'"
check "runs: both runs, newest first" test "$(json "$T/runs.b" '[r["id"] for r in d["runs"]]')" = '["rp_0002", "rp_0001"]'
check "runs: counts" test "$(json "$T/runs.b" 'd["counts"].get("success")')" = 2
check "xss: the name comes back as a JSON string, the same characters" \
	test "$(json "$T/runs.b" '[r["name"] for r in d["runs"] if r["id"] == "rp_0001"][0]')" = '<script>alert(1)</script>'
check "xss: the note too" test "$(get r1 "${B[@]}" "$BASE/api/runs/rp_0001" >/dev/null; json "$T/r1.b" 'd["run"].get("note") or d["run"].get("annotations", {}).get("note")')" = '<img src=x onerror=alert(2)>'
check "runs: where on a param" test "$(get w "${B[@]}" "$BASE/api/runs?where=params.lr%20%3E%200.15")" = 200
check "runs: where selects" test "$(json "$T/w.b" '[r["id"] for r in d["runs"]]')" = '["rp_0002"]'
c=$(get w "${B[@]}" "$BASE/api/runs?where=params.lr%20%3C")
check "runs: a bad where is 400 with the CLI's message" sh -c "[ $c = 400 ] && grep -q 'where' '$T/w.b'"
check "runs: limit=0 is 400" test "$(code "${B[@]}" "$BASE/api/runs?limit=0")" = 400
get n "${B[@]}" "$BASE/api/runs?limit=1" > /dev/null
check "runs: limit=1 gives one run and a next cursor" test "$(json "$T/n.b" '[len(d["runs"]), d["next"] is not None]')" = '[1, true]'
get n2 "${B[@]}" "$BASE/api/runs?limit=1&after=$(json "$T/n.b" 'd["next"]' | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')" > /dev/null
check "runs: the next page" test "$(json "$T/n2.b" '[r["id"] for r in d["runs"]]')" = '["rp_0001"]'
c=$(get run "${B[@]}" "$BASE/api/runs/rp_0001")
check "run: 200 with run, outputs and log_size" test "$c $(json "$T/run.b" 'sorted(d)')" = '200 ["log_size", "outputs", "run"]'
check "run: an unknown one is 404" test "$(code "${B[@]}" "$BASE/api/runs/rp_0099")" = 404
c=$(get m "${B[@]}" "$BASE/api/runs/rp_0001/metrics/loss")
check "metric: 200 with the series" test "$c $(json "$T/m.b" 'd["values"]')" = '200 [0.5, 0.25]'
check "metric: an unknown one is 404" test "$(code "${B[@]}" "$BASE/api/runs/rp_0001/metrics/nope")" = 404
check "metric: a bad from is 400" test "$(code "${B[@]}" "$BASE/api/runs/rp_0001/metrics/loss?from=x")" = 400
check "metric: points over 1000 is 400" test "$(code "${B[@]}" "$BASE/api/runs/rp_0001/metrics/loss?points=5000")" = 400
c=$(get l "${B[@]}" "$BASE/api/runs/rp_0001/log")
check "log: 200 with the text" test "$c $(json "$T/l.b" '"loss=0.25" in d["text"]')" = '200 true'
check "log: a bad offset is 400" test "$(code "${B[@]}" "$BASE/api/runs/rp_0001/log?offset=abc")" = 400
c=$(get c "${B[@]}" "$BASE/api/compare?ids=rp_0001,rp_0002")
check "compare: 200 with both runs" test "$c $(json "$T/c.b" 'len(d["runs"])')" = '200 2'
check "compare: no ids is 400" test "$(code "${B[@]}" "$BASE/api/compare")" = 400
check "compare: 101 ids is 400" test "$(code "${B[@]}" "$BASE/api/compare?ids=$(seq -s, 1 101)")" = 400
check "unknown route: 404" test "$(code "${B[@]}" "$BASE/api/nothing")" = 404
check "wrong method: 405" test "$(code "${B[@]}" -X DELETE "$BASE/api/runs")" = 405
check "wrong method: POST on a GET route is 405" \
	test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' -d '{}' "$BASE/api/runs")" = 405

# --- outputs ---------------------------------------------------------------------------------
check "output: 200" test "$(get o "${B[@]}" "$BASE/api/runs/rp_0001/outputs/a.txt")" = 200
check "output: the file's bytes" test "$(cat "$T/o.b")" = hi
check "output: an attachment named after it" test "$(hdr o Content-Disposition)" = 'attachment; filename="a.txt"'
check "output: application/octet-stream, nosniff" \
	sh -c "[ '$(hdr o Content-Type)' = application/octet-stream ] && [ '$(hdr o X-Content-Type-Options)' = nosniff ]"
c=$(get o "${B[@]}" "$BASE/api/runs/rp_0001/outputs/sub/b.txt")
check "output: in a folder" sh -c "[ $c = 200 ] && [ \"\$(cat '$T/o.b')\" = nested ]"
get o "${B[@]}" "$BASE/api/runs/rp_0001/outputs/r%C3%A9sum%C3%A9.txt" > /dev/null
check "output: a non-ASCII name gets filename*" \
	test "$(hdr o Content-Disposition)" = "attachment; filename=\"r__sum__.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
tbad=""
for p in ../run.json ../../../../../../etc/passwd %2e%2e/run.json %2e%2e%2frun.json ..%2frun.json %2E%2E%2Frun.json \
	%252e%252e%252frun.json %252e%252e/run.json sub/../../run.json sub/%2e%2e/%2e%2e/run.json ./a.txt/../../run.json \
	/etc/passwd %2fetc%2fpasswd //etc/passwd pw root/etc/passwd sub a.txt%00.png ..%5crun.json "..\\run.json"; do
	c=$(get t "${B[@]}" "$BASE/api/runs/rp_0001/outputs/$p")
	[ "$c" = 404 ] || tbad+=" $p:$c"
	grep -q -e 'root:' -e '"status"' "$T/t.b" && tbad+=" $p:LEAK"
done
check "output: traversal, encodings, absolute paths, symlinks out, a folder: all 404, nothing leaks" test -z "$tbad"
[ -n "$tbad" ] && echo "    $tbad"
check "output: the run's id with ../ is 404" test "$(code "${B[@]}" "$BASE/api/runs/../runs/rp_0001")" = 404

# --- POST ------------------------------------------------------------------------------------
A=$BASE/api/runs/rp_0002/annotations
check "post: without X-Requested-With is 403" test "$(code "${B[@]}" -X POST -d '{"tags":["+x"]}' "$A")" = 403
check "post: with a foreign Origin is 403" test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' \
	-H 'Origin: http://evil.example' -d '{"tags":["+x"]}' "$A")" = 403
check "post: with another port's Origin is 403" test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' \
	-H "Origin: http://127.0.0.1:1" -d '{"tags":["+x"]}' "$A")" = 403
check "post: from the page (its Origin) is 200" test "$(get p "${B[@]}" -X POST -H 'X-Requested-With: runpilot' \
	-H "Origin: $BASE" -H 'Content-Type: application/json' -d '{"tags":["+best"],"note":"good one"}' "$A")" = 200
check "post: the tag is kept, as runpilot tag keeps it" sh -c "'$RUNPILOT_BIN' show rp_0002 | grep -q best"
check "post: a body that is no JSON object is 400" test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' -d 'nope' "$A")" = 400
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$T/big"
check "post: a 2 MiB body is 413" test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' --data-binary @"$T/big" "$A")" = 413
check "post: a 2 MiB chunked body is 413" test "$(code "${B[@]}" -X POST -H 'X-Requested-With: runpilot' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$A")" = 413
check "post: the server still answers after" test "$(code "${B[@]}" "$BASE/api/runs")" = 200

# --- the live log, and others served meanwhile -------------------------------------------------
mkconfig "$W/live.yaml" live '"echo first; sleep 2; echo second; sleep 1; echo third"' 'runner: local'
LIVE_ID=$(rp run --detach "$W/live.yaml" 2>/dev/null)
wait_for "grep -q first '$RUNPILOT_HOME/runs/$LIVE_ID/logs.txt' 2>/dev/null" 10
streams=()
for i in 1 2 3 4 5 6 7 8; do
	curl -sN --max-time 20 "${B[@]}" "$BASE/api/runs/$LIVE_ID/log/stream" > "$T/sse$i" 2>/dev/null &
	streams+=($!)
done
sleep 0.5
t0=$(date +%s%N)
c=$(code "${B[@]}" "$BASE/api/runs")
t1=$(date +%s%N)
check "sse: with 8 streams open, another request is answered at once" \
	test "$c" = 200 -a $(( (t1 - t0) / 1000000 )) -lt 1000
wait_for "grep -q 'event: end' '$T/sse1'" 20
check "sse: the stream is text/event-stream" sh -c "curl -s -D - -o /dev/null --max-time 20 '${B[0]}' '${B[1]}' '$BASE/api/runs/$LIVE_ID/log/stream' | grep -qi '^content-type: text/event-stream'"
check "sse: event: log with the lines as JSON strings" \
	sh -c "grep -q '^event: log' '$T/sse1' && grep '^data: ' '$T/sse1' | grep -q '\"first\\\\n' && grep '^data: ' '$T/sse1' | grep -q 'third'"
check "sse: the line written later came too" grep -q 'second' "$T/sse1"
check "sse: event: end once the run ended, last" test "$(grep '^event:' "$T/sse1" | tail -n1)" = 'event: end'
check "sse: every stream got its end" sh -c "for i in 1 2 3 4 5 6 7 8; do grep -q 'event: end' '$T/sse'\$i || exit 1; done"
check "sse: an unknown run is 404" test "$(code "${B[@]}" "$BASE/api/runs/rp_0099/log/stream")" = 404
wait "${streams[@]}"
LIVE_ID=""

# --- the slow client -------------------------------------------------------------------------
t0=$(date +%s%N)
c=$(code "${B[@]}" "$BASE/api/runs")
t1=$(date +%s%N)
check "slow client: others are served meanwhile" test "$c" = 200 -a $(( (t1 - t0) / 1000000 )) -lt 1000
wait "$SLOW_PID"
SLOW_PID=""
check "slow client: dropped after the timeout (10 s)" sh -c "grep -Eq '^closed (9|1[0-5])' '$T/slow.out'"

# --- stopping --------------------------------------------------------------------------------
mkconfig "$W/long.yaml" long '"echo begin; sleep 30"' 'runner: local'
LIVE_ID=$(rp run --detach "$W/long.yaml" 2>/dev/null)
curl -sN --max-time 20 "${B[@]}" "$BASE/api/runs/$LIVE_ID/log/stream" > "$T/open.sse" &
OPEN=$!
wait_for "grep -q begin '$T/open.sse'" 10
kill -TERM "$UI_PID"
wait "$UI_PID"
check "stop: SIGTERM exits 0" test $? -eq 0
check "stop: the port is free after" sh -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
check "stop: nothing on stderr" test ! -s "$T/ui.out.err"
wait "$OPEN"
check "stop: an open log stream ends with it" test $? -ne 28
rp cancel "$LIVE_ID" > /dev/null 2>&1
LIVE_ID=""

start_ui "$T/ui2.out"
P2=$(grep -o 'http://[^ ]*' "$T/ui2.out" | sed 's/.*:\([0-9]*\)\/.*/\1/')
TOK2=$(grep -o 'token=[0-9a-f]*' "$T/ui2.out")
check "restart: a new token each time" test "$TOK2" != "token=$TOK"
kill -INT "$UI_PID"
wait "$UI_PID"
check "stop: SIGINT (Ctrl-C) exits 0" test $? -eq 0

# --- a taken port, and other options -----------------------------------------------------------
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' > "$T/holder" &
HOLDER=$!
servers+=("$HOLDER")
wait_for "test -s '$T/holder'" 10
HP=$(cat "$T/holder")
rp ui --port "$HP" > "$T/taken.out" 2> "$T/taken.err"
rc=$?
check "taken port: exit status not 0" test "$rc" -ne 0
check "taken port: one line saying so" sh -c "[ \$(wc -l < '$T/taken.err') -eq 1 ] && grep -q 'port $HP' '$T/taken.err'"
check "taken port: nothing on stdout" test ! -s "$T/taken.out"
kill "$HOLDER" 2>/dev/null

# No --port: 7007, or the next free one up to 7027 (7007 held here when it is free).
python3 -c 'import socket,time
s=socket.socket()
try:
    s.bind(("127.0.0.1",7007)); s.listen()
except OSError:
    pass
print("held", flush=True); time.sleep(30)' > "$T/holder7007" &
H7=$!
servers+=("$H7")
wait_for "test -s '$T/holder7007'" 10
"$RUNPILOT_BIN" ui > "$T/ui6.out" 2> "$T/ui6.err" &
UI_PID=$!
servers+=("$UI_PID")
wait_for "grep -q 'http://' '$T/ui6.out'" 10
P6=$(grep -o 'http://[^ ]*' "$T/ui6.out" | sed 's/.*:\([0-9]*\)\/.*/\1/')
check "default port: the next free one after 7007, up to 7027" test "${P6:-0}" -ge 7008 -a "${P6:-0}" -le 7027
kill -TERM "$UI_PID"; wait "$UI_PID"
kill "$H7" 2>/dev/null

start_ui "$T/ui3.out" --listen 0.0.0.0
check "listen: another address warns" grep -q 'warning: serving on 0.0.0.0' "$T/ui3.out.err"
kill -TERM "$UI_PID"; wait "$UI_PID"
# --open: xdg-open gets the URL and is reaped; without one, a warning and the server serves on.
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "$1" > %s/opened\n' "$T" > "$T/fakebin/xdg-open"
chmod +x "$T/fakebin/xdg-open"
UI_PATH=$T/fakebin:$PATH start_ui "$T/ui4.out" --open
wait_for "test -s '$T/opened'" 10
check "open: xdg-open is given the URL" test "$(cat "$T/opened" 2>/dev/null)" = "$(grep -o 'http://[^ ]*' "$T/ui4.out")"
sleep 0.3
check "open: and reaped (no zombie child)" sh -c "! ps -o stat= --ppid $UI_PID | grep -q Z"
kill -TERM "$UI_PID"; wait "$UI_PID"
UI_PATH=/nonexistent start_ui "$T/ui5.out" --open
check "open: without xdg-open, a warning" grep -q 'warning: cannot open a browser' "$T/ui5.out.err"
check "open: and the URL still printed" grep -q 'http://127.0.0.1' "$T/ui5.out"
kill -TERM "$UI_PID"; wait "$UI_PID"

rp ui --port 70000 > /dev/null 2> "$T/u.err"
check "usage: a bad port is exit 2" test $? -eq 2
rp ui --listen nowhere --port 0 > /dev/null 2> "$T/u.err"
rc=$?
check "usage: a bad address is exit 2, one line" sh -c "[ $rc -eq 2 ] && [ \$(wc -l < '$T/u.err') -eq 1 ]"
check "help: lists every option" sh -c "'$RUNPILOT_BIN' help ui | grep -q -- --port && '$RUNPILOT_BIN' help ui | grep -q -- --listen && '$RUNPILOT_BIN' help ui | grep -q -- --open"
