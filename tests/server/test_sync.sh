#!/usr/bin/env bash
# Sync over HTTP against a real PostgreSQL (pg_lib.sh) and `runpilot server`: push (new,
# unchanged with no audit, updated after a tag, a conflict from a second store, --force by role),
# the roles (viewer reads only, a non-member finds nothing), a server killed in the middle of a
# push, pull into remote/ and list --remote, the offline queue of sync.auto, and the token kept
# out of ps, output and the server's log.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "server sync" "$PG_WHY"; exit 0; fi
	fail "postgres starts" "$PG_WHY"
	exit 1
fi
rpt() { "$RUNPILOT_TEST_BIN" "$@"; }
q() { pg_psql rp_test -tA -c "$*"; }
out() { local n=$1; shift; "$@" > "$T/$n.out" 2> "$T/$n.err"; rc=$?; }
URL=$RP_TEST_PG_URL
export RUNPILOT_DB=$URL
SERVER_PIDS=()
stop_servers() { local p; for p in "${SERVER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
rp_cleanup_hooks+=(stop_servers)

# ---- accounts, a project, tokens by the admin CLI ----
for a in viewer editor admin other; do
	echo "pw-$a-123456" | rpt server account add "$a" --password-stdin > /dev/null 2>&1 || fail "account add $a"
done
rpt server project add vision > /dev/null && rpt server project add other > /dev/null
for m in "vision viewer viewer" "vision editor editor" "vision admin admin" "other other admin"; do
	set -- $m
	rpt server member set "$1" "$2" "$3" > /dev/null || fail "member set $m"
done
declare -A TOK
for a in viewer editor admin other; do
	TOK[$a]=$(rpt server token create "$a" 2> /dev/null | sed -n 's/^token [0-9]*: \(rpt_[0-9a-f]*\)$/\1/p')
done

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server() { # start_server NAME [ENV...]
	local n=$1; shift
	env "$@" "$RUNPILOT_TEST_BIN" server --db "$URL" --listen "127.0.0.1:$PORT" --data-dir "$T/data" ${SRV_ARGS:-} \
		> "$T/$n.out" 2> "$T/$n.err" &
	SRV_PID=$!
	SERVER_PIDS+=("$SRV_PID")
	wait_for "[ -s '$T/$n.out' ]" 20
	BASE=$(head -n1 "$T/$n.out")
}
start_server srv
check "server: serves at $BASE" test "$BASE" = "http://127.0.0.1:$PORT"

# ---- five runs ----
W=$T/work; mkdir -p "$W"; cd "$W" || exit 1
mkconfig "$W/a.yaml" train '"echo weights-$RUNPILOT_PARAM_LR > $RUNPILOT_OUTPUT_DIR/model.bin; echo loss: 0.5; echo loss: 0.25"' \
	"params: {lr: 0.1}" "tags: [base]"
for lr in 0.1 0.2 0.3 0.4 0.5; do rp run -q --runner local a.yaml --param lr=$lr > /dev/null 2>&1; done
UID1=$(json "$RUNPILOT_HOME/runs/rp_0001/run.json" 'd["uid"]')
push() { local who=$1; shift; RUNPILOT_TOKEN=${TOK[$who]} rp push --server "$BASE" --project vision "$@"; }
audits() { q "select count(*) from audit where action like 'push.%'"; }

out p1 push editor rp_0001 rp_0002 rp_0003 rp_0004 rp_0005
check "push: exit 0" test "$rc" = 0
check "push: one line per run, each new" test "$(head -n5 "$T/p1.out")" = "rp_0001 new
rp_0002 new
rp_0003 new
rp_0004 new
rp_0005 new"
check "push: a summary" grep -q '^pushed: 5 new, 0 updated, 0 unchanged, 0 forced, 0 conflicts, 0 failed$' "$T/p1.out"
check "push: five runs on the server, pushed_by the editor" test "$(q "select count(*) from runs r join accounts a on a.id = r.pushed_by where a.name = 'editor'")" = 5
code=$(curl -s -o "$T/get.json" -w '%{http_code}' -H "Authorization: Bearer ${TOK[viewer]}" "$BASE/api/v1/projects/vision/runs/$UID1")
check "GET runs/{uid}: the run, as a viewer" test "$code $(json "$T/get.json" 'd["uid"]')" = "200 $UID1"
model=$(sha256sum < "$RUNPILOT_HOME/runs/rp_0001/outputs/model.bin" | cut -d' ' -f1)
code=$(curl -s -D "$T/blob.h" -o "$T/blob" -w '%{http_code}' -H "Authorization: Bearer ${TOK[viewer]}" "$BASE/api/v1/projects/vision/blobs/$model")
check "GET blobs/{sha256}: the file, as an attachment" bash -c "[ $code = 200 ] && cmp -s '$T/blob' '$RUNPILOT_HOME/runs/rp_0001/outputs/model.bin' && grep -qi '^Content-Disposition: attachment' '$T/blob.h'"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOK[other]}" "$BASE/api/v1/projects/other/blobs/$model")
check "GET blobs/{sha256}: a blob no run of the project names is not found" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer ${TOK[editor]}" --data-binary 'not this' \
	"$BASE/api/v1/projects/vision/blobs/$(printf other | sha256sum | cut -d' ' -f1)")
check "PUT blobs: a body that is not its hash refused (400), nothing kept" bash -c "[ $code = 400 ] && [ -z \"\$(ls '$T/data/blobs/tmp' 2>/dev/null)\" ]"

# ---- an unchanged re-push ----
before=$(audits)
out p2 push editor rp_0001 rp_0002 rp_0003 rp_0004 rp_0005
check "re-push: unchanged, exit 0" bash -c "[ $rc = 0 ] && [ \"\$(grep -c ' unchanged$' '$T/p2.out')\" = 5 ]"
check "re-push: no new audit row" test "$(audits)" = "$before"
check "re-push: the hash cache kept" test -s "$RUNPILOT_HOME/sync/hashes.json"

# ---- a tag added locally ----
rp tag rp_0002 --add keep > /dev/null 2>&1 || rp tag rp_0002 keep > /dev/null 2>&1
out p3 push editor rp_0001 rp_0002
check "tag: updated" test "$(head -n2 "$T/p3.out")" = "rp_0001 unchanged
rp_0002 updated"
check "tag: the server has the tag" test "$(q "select count(*) from tags t join runs r on r.id = t.run_id where t.tag = 'keep'")" = 1

# ---- a conflict from a second store ----
H2=$T/home2; mkdir -p "$H2/runs"
cp -a "$RUNPILOT_HOME/runs/rp_0003" "$H2/runs/rp_0003"
python3 - "$H2/runs/rp_0003/run.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["name"] = "edited-elsewhere"; json.dump(d, open(p, "w"))
PY
UID3=$(json "$H2/runs/rp_0003/run.json" 'd["uid"]')
hash_before=$(q "select content_hash from runs where uid = '$UID3'")
out c1 env RUNPILOT_HOME="$H2" RUNPILOT_TOKEN="${TOK[editor]}" "$RUNPILOT_BIN" push --server "$BASE" --project vision rp_0003
check "conflict: exit 1" test "$rc" = 1
check "conflict: shown with the uid and both revisions" grep -q "^rp_0003 conflict: conflict: run $UID3 is revision 1 here .*the pushed one is revision 1" "$T/c1.out"
check "conflict: nothing overwritten" test "$(q "select content_hash from runs where uid = '$UID3'")" = "$hash_before"
check "conflict: audited" test "$(q "select count(*) from audit where action = 'push.conflict'")" = 1
out f1 env RUNPILOT_HOME="$H2" RUNPILOT_TOKEN="${TOK[editor]}" "$RUNPILOT_BIN" push --server "$BASE" --project vision --force rp_0003
check "--force as an editor: refused (403)" bash -c "[ $rc = 1 ] && grep -q 'needs the project.s admin role' '$T/f1.out'"
check "--force as an editor: nothing overwritten" test "$(q "select content_hash from runs where uid = '$UID3'")" = "$hash_before"
out f2 env RUNPILOT_HOME="$H2" RUNPILOT_TOKEN="${TOK[admin]}" "$RUNPILOT_BIN" push --server "$BASE" --project vision --force rp_0003
check "--force as an admin: forced, exit 0" bash -c "[ $rc = 0 ] && grep -q '^rp_0003 forced$' '$T/f2.out'"
check "--force as an admin: overwritten" test "$(q "select name from runs where uid = '$UID3'")" = edited-elsewhere
check "--force: audited push.force" test "$(q "select count(*) from audit where action = 'push.force' and actor = 'admin'")" = 1

# ---- roles ----
out v1 push viewer rp_0001
check "a viewer's push: refused (exit 2, 403's message)" bash -c "[ $rc = 2 ] && grep -q 'needs the project.s editor role' '$T/v1.err'"
out o1 push other rp_0001
check "a non-member's push: not found" bash -c "[ $rc = 2 ] && grep -q 'not found' '$T/o1.err'"
out n1 env -u RUNPILOT_TOKEN "$RUNPILOT_BIN" push --server "$BASE" --project vision rp_0001
check "no token: told to log in (exit 2)" bash -c "[ $rc = 2 ] && grep -q 'runpilot login' '$T/n1.err'"

# ---- the server killed in the middle of a push ----
mkconfig "$W/k.yaml" big '"head -c 3000000 /dev/urandom > $RUNPILOT_OUTPUT_DIR/big.bin"'
rp run -q --runner local k.yaml > /dev/null 2>&1   # rp_0006
UID6=$(json "$RUNPILOT_HOME/runs/rp_0006/run.json" 'd["uid"]')
kill -KILL "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
start_server srv2 RUNPILOT_TEST_STOP_AT=push-run-row
push editor rp_0006 > "$T/k1.out" 2>&1 &
PUSH_PID=$!
stopped() { [ "$(ps -o stat= -p "$SRV_PID" 2>/dev/null | cut -c1)" = T ]; }
check "kill: the server stops inside the run's transaction" wait_for stopped 20
kill -KILL "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
wait "$PUSH_PID"; krc=$?
check "kill: that push failed (exit 1)" test "$krc" = 1
check "kill: no half run" test "$(q "select count(*) from runs where uid = '$UID6'")" = 0
start_server srv3
out k2 push editor rp_0006
check "kill: a new push stores it (new)" bash -c "[ $rc = 0 ] && grep -q '^rp_0006 new$' '$T/k2.out'"
nfiles=$(rpt server payload-local rp_0006 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["manifest"]))')
check "kill: exactly one complete run with its $nfiles files" test "$(q "select count(*) from runs where uid = '$UID6'") $(q "select count(*) from run_blobs b join runs r on r.id = b.run_id where r.uid = '$UID6'")" = "1 $nfiles"
check "kill: no duplicate blob rows" test "$(q "select count(*) - count(distinct sha256) from blobs")" = 0
check "kill: no leftover upload files after the restart" bash -c "[ -z \"\$(ls '$T/data/blobs/tmp' 2>/dev/null)\" ]"

# ---- pull, list --remote ----
find "$RUNPILOT_HOME/runs" -name run.json -exec sha256sum {} + | sort > "$T/local.before"
out pl1 env RUNPILOT_TOKEN="${TOK[viewer]}" "$RUNPILOT_BIN" pull --server "$BASE" --project vision
check "pull: exit 0, six runs" bash -c "[ $rc = 0 ] && grep -q '^pulled 6 runs into ' '$T/pl1.out'"
RD=$RUNPILOT_HOME/remote/127.0.0.1:$PORT/vision
check "pull: run.json, metrics.json, manifest.json under remote/<host>/<project>/<uid>/" bash -c "[ -s '$RD/$UID1/run.json' ] && [ -s '$RD/$UID1/metrics.json' ] && [ -s '$RD/$UID1/manifest.json' ]"
check "pull: no local run.json changed" bash -c "find '$RUNPILOT_HOME/runs' -name run.json -exec sha256sum {} + | sort | cmp -s - '$T/local.before'"
out l1 rp list --remote="127.0.0.1:$PORT/vision" --columns id,name,status
check "list --remote: the six pulled runs" test "$(grep -c ' success' "$T/l1.out")" = 6
check "list --remote: the forced name shows" grep -q edited-elsewhere "$T/l1.out"
UID4=$(json "$RUNPILOT_HOME/runs/rp_0004/run.json" 'd["uid"]')
mv "$RUNPILOT_HOME/runs/rp_0004" "$T/rp_0004.away"
out cm1 rp compare "$UID4" rp_0001 --json
got=$(json "$T/cm1.out" '" ".join("%s=%s" % (r["id"], r["params"]["lr"]) for r in d)' 2>/dev/null)
check "compare: a pulled run by its uid beside a local one ($got)" test "$rc $got" = "0 rp_0004=0.4 rp_0001=0.1"
mv "$T/rp_0004.away" "$RUNPILOT_HOME/runs/rp_0004"
out cm2 rp compare 0123456789abcdef rp_0001
check "compare: an unknown uid is still an error" test "$rc" = 2
out pl2 env RUNPILOT_TOKEN="${TOK[viewer]}" "$RUNPILOT_BIN" pull --server "$BASE" --project vision --where "params.lr >= 0.4"
check "pull --where: the server selects (2 runs)" grep -q '^pulled 2 runs into ' "$T/pl2.out"

# ---- auto sync: the queue ----
A=$T/auto; mkdir -p "$A"
printf 'sync: {server: "%s", project: vision, auto: true}\n' "$BASE" > "$A/runpilot.yaml"
mkconfig "$A/job.yaml" auto '"echo hi; exit 3"'
# a server that takes the connection and never answers: the run does not wait for it
python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8); print(s.getsockname()[1], flush=True); time.sleep(60)' > "$T/hole.port" &
HOLE=$!
rp_cleanup_hooks+=("kill $HOLE 2>/dev/null")
wait_for "[ -s '$T/hole.port' ]" 10
B=$T/hole; mkdir -p "$B"
printf 'sync: {server: "http://127.0.0.1:%s", project: vision, auto: true}\n' "$(cat "$T/hole.port")" > "$B/runpilot.yaml"
mkconfig "$B/job.yaml" hole '"echo hi"'
t0=$(date +%s%N)
(cd "$B" && RUNPILOT_HOME=$T/home-hole RUNPILOT_TOKEN=${TOK[editor]} "$RUNPILOT_BIN" run --runner local job.yaml > "$T/h1.out" 2> "$T/h1.err"); hrc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "auto: a server that never answers does not delay the run (${ms} ms, exit $hrc)" bash -c "[ $hrc = 0 ] && [ $ms -lt 3000 ]"
check "auto: that run is queued" test "$(ls "$T/home-hole/sync/queue" | wc -l)" = 1
check "auto: the background push gives up within its time limit, recorded in last-error" \
	wait_for "grep -q 'Timeout' '$T/home-hole/sync/last-error' 2>/dev/null" 15
kill -KILL "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
(cd "$A" && RUNPILOT_TOKEN=${TOK[editor]} "$RUNPILOT_BIN" run --runner local job.yaml > "$T/a1.out" 2> "$T/a1.err"); arc=$?
check "auto: the run's own exit code (3) against a stopped server" test "$arc" = 3
check "auto: nothing about sync on the terminal" bash -c "! grep -qi 'sync\|push\|server' '$T/a1.out' '$T/a1.err'"
AUID=$(json "$(last_run_dir)/run.json" 'd["uid"]')
check "auto: queued" test -s "$RUNPILOT_HOME/sync/queue/$AUID"
check "auto: the background push failed and said so in last-error" wait_for "grep -q 'cannot reach' '$RUNPILOT_HOME/sync/last-error' 2>/dev/null" 15
check "auto: still queued, one attempt" wait_for "[ \"\$(json '$RUNPILOT_HOME/sync/queue/$AUID' 'd[\"attempts\"]')\" = 1 ]" 10
out s1 rp sync status
check "sync status: the queued run with its error" bash -c "grep -q '^queued: 1 run$' '$T/s1.out' && grep -q \"$AUID.*attempts 1.*cannot reach\" '$T/s1.out'"
start_server srv4
out d1 push editor
check "push with no runs: drains the queue (new)" bash -c "[ $rc = 0 ] && grep -q \"^$AUID new$\" '$T/d1.out'"
check "push with no runs: the queue is empty" bash -c "[ -z \"\$(ls '$RUNPILOT_HOME/sync/queue')\" ]"
out s2 rp sync status
check "sync status: empty, with the last success" bash -c "grep -q '^queued: 0 runs$' '$T/s2.out' && grep -q '^last success: .*pushed 1 run to' '$T/s2.out'"
check "config: a bad sync: refused with its line" bash -c "cd '$A' && printf 'sync: {server: ftp://x, project: p}\n' > runpilot.yaml && ! '$RUNPILOT_BIN' run --runner local job.yaml 2> '$T/bad.err' >/dev/null; grep -q 'runpilot.yaml:1:.*sync.server' '$T/bad.err'"

# ---- the token stays secret ----
printf '%s\n' "${TOK[editor]}" "${TOK[admin]}" "${TOK[viewer]}" > "$T/tokens"
check "token: in no output, error or server log" test -z "$(grep -lFf "$T/tokens" "$T"/*.out "$T"/*.err 2>/dev/null)"
RUNPILOT_TOKEN=${TOK[editor]} rp push --server "$BASE" --project vision rp_0001 rp_0002 rp_0003 rp_0004 rp_0005 > /dev/null 2>&1 &
PP=$!
seen=$(for i in 1 2 3 4 5 6 7 8 9 10; do ps -eo args; sleep 0.02; done | grep -cFf "$T/tokens")
wait "$PP"
check "token: not in ps while pushing" test "$seen" = 0
# ---- the blob cap ----
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
SRV_ARGS="--max-blob 1000" start_server srv5
head -c 2000 /dev/zero > "$T/2k"
sha2k=$(sha256sum < "$T/2k" | cut -d' ' -f1)
code=$(curl -s -o "$T/cap1.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer ${TOK[editor]}" --data-binary "@$T/2k" "$BASE/api/v1/projects/vision/blobs/$sha2k")
check "--max-blob: a larger upload announced is refused (413)" test "$code" = 413
code=$(curl -s -o "$T/cap2.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer ${TOK[editor]}" -H "Transfer-Encoding: chunked" -T - "$BASE/api/v1/projects/vision/blobs/$sha2k" < "$T/2k")
check "--max-blob: a larger upload streamed is refused (413), nothing kept" bash -c "[ $code = 413 ] && [ ! -e '$T/data/blobs/${sha2k:0:2}/${sha2k:2}' ]"
head -c 500 /dev/zero > "$T/500"
sha500=$(sha256sum < "$T/500" | cut -d' ' -f1)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer ${TOK[editor]}" -H "Transfer-Encoding: chunked" -T - "$BASE/api/v1/projects/vision/blobs/$sha500" < "$T/500")
check "--max-blob: a smaller upload streamed is stored (201)" bash -c "[ $code = 201 ] && cmp -s '$T/500' '$T/data/blobs/${sha500:0:2}/${sha500:2}'"
kill -TERM "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
check "no sanitizer report from the server or the client" test -z "$(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err "$T"/*.out 2>/dev/null)"
