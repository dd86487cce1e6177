#!/usr/bin/env bash
# The UI source over PostgreSQL at 100,000 runs in one project (10 params, 5 metric summaries
# and 1-2 tags each), its calls timed in-process (no HTTP) by the test build's `server
# ui-query --repeat N`: the first page (newest 50, with counts and columns), a page deep in,
# sorts by a param and a metric, a param+metric+status filter. A private cluster (pg_lib.sh,
# fsync off), one client. Not a test: prints the figures.
#   bash tests/run-integration.sh build bench/ui_pg.sh        (RUNS=N CALLS=N to change)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/integration/lib.sh"
source "$here/../tests/server/pg_lib.sh"
RUNS=${RUNS:-100000}
CALLS=${CALLS:-300}
pg_start || { fail "postgresql starts" "$PG_WHY"; exit 1; }
DB=$RP_TEST_PG_URL
rp server migrate --db "$DB" > /dev/null || { fail "migrate" ""; exit 1; }
t0=$(date +%s.%N)
pg_psql rp_test <<SQL
INSERT INTO projects (id, name) VALUES (1, 'big'), (2, 'other');
INSERT INTO runs (id, project_id, num, uid, content_hash, name, status, reason, created, started, ended, duration,
                  runner, exit_code, record)
SELECT g, 1 + (g % 20 = 0)::int, g, md5(g::text), 'h', 'sweep-' || (g % 50),
       (ARRAY['success','success','success','success','success','success','success','failed','failed','cancelled'])[1 + g % 10],
       NULL, 1.7e9 + g * 60, 1.7e9 + g * 60 + 1, 1.7e9 + g * 60 + 101 + g % 1000, 100 + g % 1000, 'local', 0,
       '{"id": "rp_0001", "status": "success"}'::jsonb
FROM generate_series(1, $RUNS) g;
INSERT INTO params (run_id, key, num, text)
SELECT r, CASE WHEN k = 0 THEN 'lr' ELSE 'p' || k END,
       CASE WHEN k = 0 THEN (ARRAY[0.1, 0.03, 0.01, 0.003, 0.001])[1 + r % 5] ELSE (r * k) % 97 END, NULL
FROM generate_series(1, $RUNS) r, generate_series(0, 9) k;
INSERT INTO metrics (run_id, name, last, min, max, count, last_step)
SELECT r, (ARRAY['loss', 'val_acc', 'grad_norm', 'lr_now', 'throughput'])[k], ((r * 7919 + k * 104729) % 10007) / 10007.0,
       0, 1, 30, 29
FROM generate_series(1, $RUNS) r, generate_series(1, 5) k;
INSERT INTO tags (run_id, tag) SELECT r, 'sweep' FROM generate_series(1, $RUNS) r;
INSERT INTO tags (run_id, tag) SELECT r, 'v1' FROM generate_series(1, $RUNS, 3) r;
VACUUM ANALYZE;
SQL
echo "  loaded $RUNS runs in $(echo "$(date +%s.%N) - $t0" | bc) s"
q() { "$RUNPILOT_TEST_BIN" server ui-query --db "$DB" --project big --repeat "$CALLS" "$@"; }
# a cursor 50,000 runs in (sort -id), made as the source makes them
deep=$(python3 - $((RUNS / 2)) <<'PY'
import sys
def fnv(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h
p = b"rps1\n-id\n%d\n%d\nv" % (int(sys.argv[1]), int(sys.argv[1]))
print(p.hex() + "%08x" % fnv(p))
PY
)
echo "  first page (newest 50, counts, columns): $(q runs)"
echo "  the same, 16 threads at once:            $(q runs --threads 16)"
echo "  a page 50,000 runs in:                   $(q runs --after "$deep")"
echo "  first page with 4 columns:               $(q runs --columns params.lr,params.p3,metrics.loss,metrics.val_acc)"
echo "  sorted by params.lr:                     $(q runs --sort params.lr)"
echo "  sorted by -metrics.loss:                 $(q runs --sort -metrics.loss)"
echo "  param+metric+status filter:              $(q runs --where 'params.lr < 0.01 and metrics.loss < 0.5 and status = success')"
echo "  the same, 16 threads at once:            $(q runs --threads 16 --where "params.lr < 0.01 and metrics.loss < 0.5 and status = success")"
echo "  param+metric filter, tag:                $(q runs --where 'params.p3 > 50 and metrics.val_acc >= 0.9 and tags contains v1')"
pass "bench done"
