#!/usr/bin/env bash
# The team server's push (docs/server.md, "Sync"), loopback, a private PostgreSQL (fsync off, as
# tests/server/pg_lib.sh makes it): N runs (default 1,000), each with 10 params and 5 metrics of
# 1,000 points, pushed with 4 uploads at once (runs/s; goal >= 100), then pushed again unchanged
# (runs/s; goal >= 1,000, with no row or audit change).
#   bench/server.sh [BUILD_DIR]     env: N (runs, default 1000), JOBS (4)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
RUNPILOT_BIN=$build/runpilot
RUNPILOT_TEST_BIN=$build/runpilot-test
N=${N:-1000}
JOBS=${JOBS:-4}
source "$here/tests/integration/lib.sh"
source "$here/tests/server/pg_lib.sh"
pg_start || { echo "bench: no PostgreSQL: $PG_WHY" >&2; exit 1; }
export RUNPILOT_DB=$RP_TEST_PG_URL
rpt() { "$RUNPILOT_TEST_BIN" "$@"; }
q() { pg_psql rp_test -tA -c "$*"; }
echo pw-bench-123456 | rpt server account add bench --password-stdin > /dev/null
rpt server project add p > /dev/null
rpt server member set p bench editor > /dev/null
export RUNPILOT_TOKEN=$(rpt server token create bench 2> /dev/null | sed -n 's/^token [0-9]*: \(rpt_[0-9a-f]*\)$/\1/p')
"$RUNPILOT_BIN" server --listen 127.0.0.1:0 --data-dir "$T/data" > "$T/srv.out" 2> "$T/srv.err" &
SRV=$!
rp_cleanup_hooks+=("kill $SRV 2>/dev/null; wait $SRV 2>/dev/null")
wait_for "[ -s '$T/srv.out' ]" 20
BASE=$(head -n1 "$T/srv.out")

params=""
for i in 1 2 3 4 5 6 7 8 9; do params="$params, q$i: $i.5"; done
mkconfig "$T/job.yaml" bench "\"awk -v s=\$RUNPILOT_PARAM_SEED 'BEGIN { for (i = 0; i < 1000; i++) printf \\\"step=%d m1=%.6f m2=%.6f m3=%.6f m4=%.6f m5=%.6f\\\\n\\\", i, s + i, s * i, i / (s + 1), s - i, i % 7 }'\"" \
	"params: {seed: 0$params}"
t0=$(date +%s.%N)
for ((i = 1; i <= N; i++)); do "$RUNPILOT_BIN" run -q --runner local "$T/job.yaml" --param seed=$i > /dev/null 2>&1; done
t1=$(date +%s.%N)
printf 'made %d runs in %.1f s\n' "$N" "$(echo "$t1 - $t0" | bc)"
ids=$(cd "$RUNPILOT_HOME/runs" && ls -d rp_* | sort -V)

t0=$(date +%s.%N)
/usr/bin/time -f "client: %U s user, %S s sys" "$RUNPILOT_BIN" push --server "$BASE" --project p --jobs "$JOBS" $ids > "$T/push1.out" 2> "$T/push1.time"; cat "$T/push1.time"; echo "server: $(ps -o cputime= -p $SRV) of CPU so far (PostgreSQL not counted)"
t1=$(date +%s.%N)
printf 'push, %d uploads at once: %s, %.2f s, %.0f runs/s\n' "$JOBS" "$(tail -n1 "$T/push1.out")" "$(echo "$t1 - $t0" | bc)" "$(echo "$N / ($t1 - $t0)" | bc -l)"
snap() { q "select (select count(*) from runs) || ' ' || (select count(*) from series) || ' ' || (select max(id) from audit)"; }
before=$(snap)
t0=$(date +%s.%N)
"$RUNPILOT_BIN" push --server "$BASE" --project p --jobs "$JOBS" $ids > "$T/push2.out" 2>&1
t1=$(date +%s.%N)
q "select count(*) || ' series rows, ' || (select count(*) from blobs) || ' blobs' from series"
printf 'unchanged re-push: %s, %.2f s, %.0f runs/s; rows and audit unchanged: %s\n' "$(tail -n1 "$T/push2.out")" "$(echo "$t1 - $t0" | bc)" "$(echo "$N / ($t1 - $t0)" | bc -l)" "$([ "$(snap)" = "$before" ] && echo yes || echo NO)"
