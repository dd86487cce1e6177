#!/usr/bin/env bash
# The run index and list's selection: filters, --where, --sort, --columns, the output formats;
# the index kept by supervisors (50 at once) and repaired by readers (deleted, garbage, run
# directories added or removed by hand), reindex.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"
IDX=$RUNPILOT_HOME/index.db

# The index's rows as "id status", straight from SQLite (no reader's repair in between).
index_rows() {
	python3 - "$IDX" <<'P'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for r in db.execute("SELECT id, status FROM runs ORDER BY num"):
    print(*r)
P
}
# The run directories as "id status", from their run.json.
dir_rows() {
	python3 - "$RUNPILOT_HOME/runs" <<'P'
import json, os, sys
for n in sorted((n for n in os.listdir(sys.argv[1]) if n.startswith("rp_")), key=lambda n: int(n[3:])):
    print(n, json.load(open(os.path.join(sys.argv[1], n, "run.json")))["status"])
P
}
ids_of() { awk 'NR > 1 {print $1}' | tr '\n' ' ' | sed 's/ $//'; }
# (list's note on hidden runs goes to stderr: the tests that want it look for it)

# --- a few runs with params, tags and metrics --------------------------------------------
mkconfig "$W/train.yaml" train '"echo loss: $RUNPILOT_PARAM_LOSS; echo acc=$RUNPILOT_PARAM_ACC; exit $RUNPILOT_PARAM_RC"' \
	"params: {lr: 0.1, loss: 1, acc: 0.5, rc: 0, opt: adam}" "tags: [base]"
rp run -q --runner local "$W/train.yaml" --param lr=0.1 --param loss=0.9 --param acc=0.70 >/dev/null 2>&1     # rp_0001
rp run -q --runner local "$W/train.yaml" --param lr=0.01 --param loss=0.5 --param acc=0.91 --tag best >/dev/null 2>&1  # rp_0002
rp run -q --runner local "$W/train.yaml" --param lr=0.001 --param loss=0.7 --param acc=0.85 --param opt=sgd >/dev/null 2>&1  # rp_0003
rp run -q --runner local "$W/train.yaml" --param lr=0.05 --param rc=3 --name other >/dev/null 2>&1            # rp_0004 failed
check "the first read builds the index" sh -c "'$RUNPILOT_BIN' list >/dev/null && test -s '$IDX'"
check "list: all four, oldest first" test "$(rp list | ids_of)" = "rp_0001 rp_0002 rp_0003 rp_0004"

# --- filters ------------------------------------------------------------------------------------
check "--status" test "$(rp list --status failed | ids_of)" = "rp_0004"
check "--status repeated: any" test "$(rp list --status failed --status success | ids_of)" = "rp_0001 rp_0002 rp_0003 rp_0004"
check "--tag repeated: all" test "$(rp list --tag base --tag best | ids_of)" = "rp_0002"
check "--name GLOB" test "$(rp list --name 'oth*' | ids_of)" = "rp_0004"
check "--limit: the newest N" test "$(rp list --limit 2 | ids_of)" = "rp_0003 rp_0004"
# on a terminal (script(1) gives list one) a note says how many matched beyond the limit
check "--limit on a terminal: says how many are hidden" sh -c "on_tty() { script -qec \"\$*\" /dev/null | tr -d '\\r'; }; on_tty '$RUNPILOT_BIN' list --limit 2 | grep -qx 'runpilot: 2 more runs not shown (--limit 0 for all)'"
check "--limit on a pipe: no note" sh -c "[ -z \"\$('$RUNPILOT_BIN' list --limit 2 2>&1 >/dev/null)\" ]"
check "--since in the future: none" test "$(rp list --since 2099-01-01 | ids_of)" = ""
check "--since 1h: all" test "$(rp list --since 1h | ids_of)" = "rp_0001 rp_0002 rp_0003 rp_0004"
check "--until a date in the past: none" test "$(rp list --until 2001-01-01 | ids_of)" = ""
rp list --since yesterday >/dev/null 2>"$T/err"; rc=$?
check "--since: a bad time is a usage error" sh -c "[ $rc -eq 2 ] && grep -q \"since 'yesterday'\" '$T/err'"

# --- --where ----------------------------------------------------------------------------------
check "--where on a param (numeric)" test "$(rp list --where 'params.lr < 0.05' | ids_of)" = "rp_0002 rp_0003"
check "--where on a metric and a tag" test "$(rp list --where 'metrics.acc >= 0.85 or tags contains "best"' | ids_of)" = "rp_0002 rp_0003"
check "--where with not and text" test "$(rp list --where 'not params.opt = adam and status = success' | ids_of)" = "rp_0003"
rp list --where 'params.lr <' >/dev/null 2>"$T/err"; rc=$?
check "--where: an error points at the column (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q '^runpilot: error: --where: 1:' '$T/err'"
rp list --where "params.x'; DROP TABLE runs; --' = 1" >/dev/null 2>&1
rp list --where "name = \"'; DROP TABLE runs; --\"" >/dev/null 2>&1
check "--where: injection attempts are data" test "$(index_rows | wc -l)" = 4

# --- --sort, --columns and formats ----------------------------------------------------------
check "--sort params.lr" test "$(rp list --sort params.lr | ids_of)" = "rp_0003 rp_0002 rp_0004 rp_0001"
check "--sort -metrics.acc (runs without it last)" test "$(rp list --sort -metrics.acc | ids_of)" = "rp_0002 rp_0003 rp_0001 rp_0004"
check "--sort with --limit: the first N of that order" test "$(rp list --sort -metrics.acc --limit 1 | ids_of)" = "rp_0002"
rp list --sort bogus >/dev/null 2>"$T/err"; rc=$?
check "--sort: an unknown field is a usage error" sh -c "[ $rc -eq 2 ] && grep -q \"sort 'bogus'\" '$T/err'"
check "--columns with params and metrics" sh -c "'$RUNPILOT_BIN' list --columns id,params.lr,metrics.loss | grep -Eq '^rp_0002 +0.01 +0.5 *$'"
check "--csv" test "$(rp list --csv --columns id,status,params.opt | sed -n 4p)" = "rp_0003,success,sgd"
check "--jsonl: one record a line" test "$(rp list --jsonl --status success | python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')" = "rp_0001 rp_0002 rp_0003"
check "--json: an array of run records" test "$(rp list --json --status failed | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"], a[0]["exit_code"])')" = "rp_0004 3"
check "list shows a failed run's exit code" sh -c "'$RUNPILOT_BIN' list | grep -Eq '^rp_0004 +other +failed \\(exit 3\\)'"

# --- the supervisors keep it: 50 at once ------------------------------------------------------
mkconfig "$W/quick.yaml" quick '"echo loss=1"'
pids=()
for i in $(seq 50); do rp run -q --runner local "$W/quick.yaml" >/dev/null 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
check "50 concurrent runs: the index holds every run with its final status, before any reader" \
	test "$(index_rows)" = "$(dir_rows)"
check "50 concurrent runs: list agrees" test "$(rp list | ids_of | wc -w)" = 54
check "on a terminal: the newest 50, and a note" sh -c "out=\$(script -qec '$RUNPILOT_BIN list' /dev/null | tr -d '\\r'); [ \$(echo \"\$out\" | grep -c '^rp_') = 50 ] && echo \"\$out\" | grep -q '4 more runs not shown' && echo \"\$out\" | grep -q '^rp_0054 '"

# --- readers repair it --------------------------------------------------------------------------
rm -f "$IDX" "$IDX-wal" "$IDX-shm"
check "index.db deleted: list is the same" test "$(rp list | ids_of | wc -w)" = 54
check "...and the index is back, in step" test "$(index_rows)" = "$(dir_rows)"
head -c 65536 /dev/urandom > "$IDX"; rm -f "$IDX-wal" "$IDX-shm"
check "index.db full of random bytes: list is the same" test "$(rp list | ids_of | wc -w)" = 54
check "...and rebuilt" test "$(index_rows)" = "$(dir_rows)"
cp -r "$RUNPILOT_HOME/runs/rp_0002" "$RUNPILOT_HOME/runs/rp_0100"
sed -i 's/"rp_0002"/"rp_0100"/' "$RUNPILOT_HOME/runs/rp_0100/run.json"
check "a run directory added by hand is listed" sh -c "'$RUNPILOT_BIN' list --limit 0 | grep -q '^rp_0100 '"
rm -rf "$RUNPILOT_HOME/runs/rp_0003"
check "a run directory removed by hand is gone" sh -c "! '$RUNPILOT_BIN' list | grep -q '^rp_0003 '"
check "...and the index agrees" test "$(index_rows)" = "$(dir_rows)"
python3 - "$IDX" <<'P'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
db.commit()
P
check "an index of another schema version is rebuilt" sh -c "'$RUNPILOT_BIN' list >/dev/null && test \"\$(python3 -c \"import sqlite3; print(sqlite3.connect('$IDX').execute('SELECT value FROM meta WHERE key=\\\"schema_version\\\"').fetchone()[0])\")\" != 0"

# A run written by a runpilot that does not know the index (its final run.json changed, the
# index row did not): a running row is checked against its run.json on every read.
mkconfig "$W/slow.yaml" slow '"sleep 1; echo done"'
"$RUNPILOT_BIN" run -q --runner local "$W/slow.yaml" >/dev/null 2>"$T/slow.err" &
P=$!
wait_for "grep -q started '$T/slow.err'" 10
D=$RUNPILOT_HOME/runs/$(sed -n 's/^runpilot: run \(rp_[0-9]*\) started.*/\1/p' "$T/slow.err")
wait_for "[ \"\$(json '$D/run.json' 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
check "the supervisor indexes its run as running (no reader in between)" \
	wait_for "index_rows | grep -qx '$(basename "$D") running'" 5
"$RUNPILOT_BIN" list >/dev/null
check "a running run is listed running" sh -c "'$RUNPILOT_BIN' list | grep -Eq '^$(basename "$D") +slow +running'"
wait $P
python3 - "$IDX" "$(basename "$D")" <<'P'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE runs SET status = 'running', stamp = 'old' WHERE id = ?", (sys.argv[2],))
db.commit()
P
check "a stale running row is refreshed from run.json" sh -c "'$RUNPILOT_BIN' list | grep -Eq '^$(basename "$D") +slow +success'"

# --- reindex --------------------------------------------------------------------------------------
rp reindex >/dev/null 2>"$T/err"; rc=$?
check "reindex rebuilds (exit 0, a one-line summary)" sh -c "[ $rc -eq 0 ] && grep -q '^runpilot: reindexed ' '$T/err'"
check "reindex off a terminal: no progress line" sh -c "[ \$(wc -l < '$T/err') = 1 ] && ! grep -q \"\$(printf '\\r')\" '$T/err'"
check "reindex on a terminal: a progress line, cleared" sh -c "script -qec '$RUNPILOT_BIN reindex' /dev/null | tr '\\r' '\\n' | grep -Eq '^(.\\[K)?reindex +100%  [0-9]+ of [0-9]+'"
check "...and the index agrees with the directories" test "$(index_rows)" = "$(dir_rows)"

# --- the same selection for compare and report ------------------------------------------------
check "compare --where" test "$(rp compare --where 'params.lr <= 0.01 and name = train' --csv | cut -d, -f1 | tail -n +2 | tr '\n' ' ')" = "rp_0002 rp_0100 "
rp report --where 'tags contains "best"' -o "$T/r.html" >/dev/null 2>&1
check "report --where" grep -q 'rp_0002' "$T/r.html"
rp compare --where 'params.lr > 99' >/dev/null 2>"$T/err"; rc=$?
check "compare --where matching nothing: exit 2, one line" sh -c "[ $rc -eq 2 ] && grep -q 'no run matches' '$T/err'"

# --- tag and note: beside run.json, never in it ------------------------------------------------
before=$(sha256sum < "$RUNPILOT_HOME/runs/rp_0001/run.json")
rp tag rp_0001 +golden -base >/dev/null 2>&1
check "tag: run.json untouched" test "$(sha256sum < "$RUNPILOT_HOME/runs/rp_0001/run.json")" = "$before"
check "tag: annotations.json holds the change" test "$(json "$RUNPILOT_HOME/runs/rp_0001/annotations.json" '[d["tags_added"], d["tags_removed"]]')" = '[["golden"], ["base"]]'
check "tag: --tag sees it" test "$(rp list --tag golden | ids_of)" = "rp_0001"
check "tag: a removed tag is gone from --tag" sh -c "! '$RUNPILOT_BIN' list --tag base | grep -q '^rp_0001 '"
check "tag: show prints the run's tags as annotated" sh -c "'$RUNPILOT_BIN' show rp_0001 | grep -Eq '^Tags +golden$'"
rp tag rp_0001 'bad tag' >/dev/null 2>"$T/err"; rc=$?
check "tag: a bad tag is a usage error" sh -c "[ $rc -eq 2 ] && grep -q \"tag 'bad tag'\" '$T/err'"
rp note rp_0002 "the one to ship" >/dev/null 2>&1
check "note: show prints it" sh -c "'$RUNPILOT_BIN' show rp_0002 | grep -Eq '^Note +the one to ship$'"
check "note: --where note ~" test "$(rp list --where 'note ~ "*ship*"' | ids_of)" = "rp_0002"
rm -f "$IDX" "$IDX-wal" "$IDX-shm"
check "tags and notes survive a rebuild of the index" test "$(rp list --where 'note ~ "*ship*" or tags contains "golden"' | ids_of)" = "rp_0001 rp_0002"

# --- rm, restore, purge ---------------------------------------------------------------------------
rp rm rp_0004 </dev/null >/dev/null 2>"$T/err"; rc=$?
check "rm without a terminal needs --yes" sh -c "[ $rc -eq 2 ] && grep -q -- '--yes' '$T/err' && test -d '$RUNPILOT_HOME/runs/rp_0004'"
rp rm --yes rp_0004 >/dev/null 2>&1
check "rm moves the run to the trash" sh -c "test -d '$RUNPILOT_HOME/trash/rp_0004' && test ! -e '$RUNPILOT_HOME/runs/rp_0004'"
check "rm: list no longer has it, and the index agrees" sh -c "! '$RUNPILOT_BIN' list | grep -q '^rp_0004 ' && test \"\$(python3 -c \"import sqlite3; print(sqlite3.connect('$IDX').execute('SELECT COUNT(*) FROM runs WHERE id=\\\"rp_0004\\\"').fetchone()[0])\")\" = 0"
rp restore rp_0004 >/dev/null 2>&1
check "restore brings it back" sh -c "'$RUNPILOT_BIN' list | grep -Eq '^rp_0004 +other +failed'"
check "...and the index agrees with the directories" test "$(index_rows)" = "$(dir_rows)"
# what an rm interrupted between its rename and the index update leaves: the directory moved,
# the row still there
mv "$RUNPILOT_HOME/runs/rp_0004" "$RUNPILOT_HOME/trash/rp_0004"
check "an interrupted rm: list agrees with the directories" sh -c "! '$RUNPILOT_BIN' list | grep -q '^rp_0004 '"
rp restore rp_0004 >/dev/null 2>&1
check "...and restore undoes it" sh -c "'$RUNPILOT_BIN' list | grep -q '^rp_0004 '"
rp rm --yes --where 'status = failed' >/dev/null 2>&1
check "rm --where" sh -c "test -d '$RUNPILOT_HOME/trash/rp_0004' && ! '$RUNPILOT_BIN' list | grep -q ' failed'"
rp rm --yes --purge rp_0004 >/dev/null 2>&1
check "rm --purge deletes a run from the trash for good" test ! -e "$RUNPILOT_HOME/trash/rp_0004"
rp restore rp_0004 >/dev/null 2>"$T/err"; rc=$?
check "restore of a run not in the trash: exit 2" sh -c "[ $rc -eq 2 ] && grep -q \"no run 'rp_0004' in the trash\" '$T/err'"
mkconfig "$W/long.yaml" long '"sleep 30"'
"$RUNPILOT_BIN" run -q --runner local "$W/long.yaml" >/dev/null 2>"$T/long.err" &
P=$!
wait_for "grep -q started '$T/long.err'" 10
LID=$(sed -n 's/^runpilot: run \(rp_[0-9]*\) started.*/\1/p' "$T/long.err")
wait_for "[ \"\$(json '$RUNPILOT_HOME/runs/$LID/run.json' 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
rp rm --yes "$LID" >/dev/null 2>"$T/err"; rc=$?
check "rm refuses a running run" sh -c "[ $rc -eq 2 ] && grep -q 'is running' '$T/err' && test -d '$RUNPILOT_HOME/runs/$LID'"
kill -INT $P; wait $P 2>/dev/null

# --- list's other filters work for compare, report and rm too ------------------------------------
check "compare --status --tag" test "$(rp compare --status success --tag best --csv | cut -d, -f1 | tail -n +2 | tr '\n' ' ')" = "rp_0002 rp_0100 "
rp report --name 'tra*' --tag best --since 1h -o "$T/r2.html" >/dev/null 2>&1
check "report --name --tag --since" sh -c "grep -q 'rp_0002' '$T/r2.html' && ! grep -q 'rp_0001' '$T/r2.html'"
rp rm --yes --status cancelled --name slow >/dev/null 2>&1
check "rm --status --name" sh -c "! '$RUNPILOT_BIN' list --status cancelled | grep -q ' slow '"
rp compare --status bogus >/dev/null 2>"$T/err"; rc=$?
check "a bad --status is a usage error for compare too" sh -c "[ $rc -eq 2 ] && grep -q \"status 'bogus'\" '$T/err'"
