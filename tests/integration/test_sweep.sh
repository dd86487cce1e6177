#!/usr/bin/env bash
# Local parameter sweeps: grids of --param lists, --random draws from ranges (seeded), --parallel,
# run.json's sweep, sweep status/ls, compare --where sweep, Ctrl-C cancelling the whole sweep,
# bad ranges, a plain --param unchanged.
. "$(dirname "$0")/lib.sh"
W=$T/work; mkdir -p "$W"
cd "$W" || exit 1

# The runs created since NUM (exclusive) as their directories.
runs_after() { ls -d "$RUNPILOT_HOME"/runs/rp_* 2>/dev/null | sort -V | awk -v n="$1" -F_ '($NF + 0) > n'; }
nruns() { ls -d "$RUNPILOT_HOME"/runs/rp_* 2>/dev/null | wc -l; }
# "k=v ..." of a run's params.json, keys sorted
params_of() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]+"/params.json")); print(" ".join("%s=%s" % (k, json.dumps(d[k])) for k in sorted(d)))' "$1"; }

mkconfig "$W/job.yaml" job '"echo acc=$RUNPILOT_PARAM_ACC; exit 0"' "params:" "  acc: 0.5"

# --- a grid of 2 x 3 -----------------------------------------------------------------------
before=$(nruns)
rp run job.yaml --param lr=0.1,0.01 --param bs=32,64,128 --param fixed=7 > "$T/grid.out" 2> "$T/grid.err"
rc=$?
mapfile -t dirs < <(runs_after "$before")
got=$(for d in "${dirs[@]}"; do params_of "$d"; done | sort | tr '\n' ';')
want='acc=0.5 bs=128 fixed=7 lr=0.01;acc=0.5 bs=128 fixed=7 lr=0.1;acc=0.5 bs=32 fixed=7 lr=0.01;acc=0.5 bs=32 fixed=7 lr=0.1;acc=0.5 bs=64 fixed=7 lr=0.01;acc=0.5 bs=64 fixed=7 lr=0.1;'
if [ "$rc" = 0 ] && [ "${#dirs[@]}" = 6 ] && [ "$got" = "$want" ]; then pass grid_2x3_six_runs
else fail grid_2x3_six_runs "rc=$rc runs=${#dirs[@]} params=$got $(cat "$T/grid.err")"; fi
ids=$(for d in "${dirs[@]}"; do json "$d/run.json" 'd["sweep"]["id"]'; done | sort -u)
idx=$(for d in "${dirs[@]}"; do json "$d/run.json" '"%d/%d" % (d["sweep"]["index"], d["sweep"]["size"])'; done | sort | tr '\n' ' ')
if [ "$(echo "$ids" | wc -l)" = 1 ] && [[ $ids == sw_* ]] && [ "$idx" = "1/6 2/6 3/6 4/6 5/6 6/6 " ] &&
	json "${dirs[0]}/run.json" 'd["sweep"]["seed"]' | grep -qE '^[0-9]+$'; then pass grid_one_sweep_id
else fail grid_one_sweep_id "ids=$ids idx=$idx"; fi
GRID=$ids
check grid_prints_a_line_per_run grep -qE '^\[6/6\] rp_[0-9]+ lr=0\.01 bs=128 success in ' "$T/grid.err"

# --- sweep status, sweep ls, compare --where sweep ------------------------------------------
out=$(rp sweep status "$GRID" 2>&1); rc=$?
if [ "$rc" = 0 ] && echo "$out" | head -1 | grep -q "6 runs.*6 succeeded, 0 failed" &&
	[ "$(echo "$out" | grep -cE '^[1-6] +rp_[0-9]+ +(0\.1|0\.01) +(32|64|128) +success')" = 6 ] &&
	! echo "$out" | head -2 | tail -1 | grep -qw fixed; then pass sweep_status
else fail sweep_status "rc=$rc $out"; fi
out=$(rp sweep ls 2>&1)
check sweep_ls_lists_it grep -qE "^$GRID +6 +6 +0 +0" <<< "$out"
out=$(rp sweep status sw_00000000 2>&1); rc=$?
check sweep_status_unknown_exits_2 test "$rc" = 2 -a "$(echo "$out" | wc -l)" = 1

# compare --where sweep, sorted by a metric: mixed into other runs, only the sweep's, in order
rp run job.yaml -q --param acc=0.9 > /dev/null 2>&1
rp run job.yaml -q --param acc=0.3,0.8,0.1 > "$T/acc.out" 2>&1
ACC=$(json "$(last_run_dir)/run.json" 'd["sweep"]["id"]')
out=$(rp compare --where "sweep = \"$ACC\"" --sort metrics.acc 2>&1); rc=$?
order=$(echo "$out" | awk '/^rp_/ {print $1}' | while read -r id; do json "$RUNPILOT_HOME/runs/$id/params.json" 'd["acc"]'; done | tr '\n' ' ')
if [ "$rc" = 0 ] && [ "$order" = "0.1 0.3 0.8 " ]; then pass compare_where_sweep_sort_metric
else fail compare_where_sweep_sort_metric "rc=$rc order=$order $out"; fi
n=$(rp list --where "sweep = \"$GRID\"" 2>/dev/null | grep -c '^rp_')
check list_where_sweep test "$n" = 6

# --- --random: seeded, ranges respected ----------------------------------------------------
RANGES=(--param lr=loguniform:1e-4:1e-1 --param n=int:2:9 --param opt=choice:adam,sgd,rms --param u=uniform:-1:1)
draw() { # seed -> the params of the 5 runs, in order
	local b; b=$(nruns)
	rp run job.yaml -q --random 5 --seed "$1" "${RANGES[@]}" > "$T/rand.out" 2>&1 || { echo "rc=$?"; return; }
	for d in $(runs_after "$b"); do params_of "$d"; done
}
a=$(draw 42); b=$(draw 42); c=$(draw 43)
if [ "$(echo "$a" | wc -l)" = 5 ] && [ "$a" = "$b" ]; then pass random_same_seed_same_params
else fail random_same_seed_same_params "$a // $b"; fi
check random_other_seed_differs test "$a" != "$c"
check random_seed_recorded test "$(json "$(last_run_dir)/run.json" 'd["sweep"]["seed"]')" = 43
bad=$(printf '%s\n%s\n' "$a" "$c" | python3 -c '
import sys, re
for line in sys.stdin:
    d = dict(kv.split("=", 1) for kv in line.split())
    lr, n, opt, u = float(d["lr"]), d["n"], d["opt"], float(d["u"])
    ok = 1e-4 <= lr <= 1e-1 and re.fullmatch(r"[0-9]+", n) and 2 <= int(n) <= 9 and opt in ("\"adam\"", "\"sgd\"", "\"rms\"") and -1 <= u <= 1
    if not ok: print(line.strip())')
[ "$(echo "$a" | wc -l)" = 5 ] && [ -z "$bad" ] && pass random_ranges_respected || fail random_ranges_respected "$bad $a"
# no --seed: a random one, recorded
b=$(nruns); rp run job.yaml -q --random 2 --param x=int:1:1000000 > /dev/null 2>&1
s1=$(json "$(last_run_dir)/run.json" 'd["sweep"]["seed"]')
rp run job.yaml -q --random 2 --param x=int:1:1000000 > /dev/null 2>&1
s2=$(json "$(last_run_dir)/run.json" 'd["sweep"]["seed"]')
check random_seed_when_none_given test -n "$s1" -a "$s1" != "$s2" -a "$s1" != None

# --- bad syntax: exit 2, one line, no run ---------------------------------------------------
for bad in "--random 3 --param lr=loguniform:0:1" "--random 3 --param lr=uniform:2:1" "--random 3 --param n=int:1.5:3" \
	"--random 3 --param c=choice:a,,b" "--param lr=loguniform:1e-4:1e-1" "--random 3 --param lr=1,2" \
	"--param lr=1,,2" "--random 0 --param n=int:1:2" "--parallel 2 --param lr=1" "--detach --param lr=1,2"; do
	b=$(nruns)
	# shellcheck disable=SC2086
	out=$(rp run job.yaml $bad 2>&1); rc=$?
	if [ "$rc" = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q '^runpilot: error: ' && [ "$(nruns)" = "$b" ]; then
		pass "bad_syntax_exits_2: $bad"
	else fail "bad_syntax_exits_2: $bad" "rc=$rc runs $b -> $(nruns): $out"; fi
done

# --- a plain --param is unchanged; a quoted list is one value --------------------------------
out=$(rp run job.yaml --param lr=0.5 --param name=x 2>&1); rc=$?
d=$(last_run_dir)
if [ "$rc" = 0 ] && [ "$(params_of "$d")" = 'acc=0.5 lr=0.5 name="x"' ] && [ "$(json "$d/run.json" '"sweep" in d')" = false ] &&
	echo "$out" | grep -q "^runpilot: run rp_[0-9]* started"; then pass plain_param_unchanged
else fail plain_param_unchanged "rc=$rc $(params_of "$d") $out"; fi
b=$(nruns); rp run job.yaml -q --param 'tags="a,b"' > /dev/null 2>&1
check quoted_comma_is_one_value test "$(nruns)" = $((b + 1)) -a "$(params_of "$(last_run_dir)")" = 'acc=0.5 tags="a,b"'

# --- --parallel 2: at most 2 at once, and 2 did overlap --------------------------------------
mkconfig "$W/slow.yaml" slow '"sleep 0.6"'
b=$(nruns)
rp run slow.yaml --param i=1,2,3,4,5,6 --parallel 2 > "$T/par.out" 2>&1; rc=$?
overlap=$(python3 - $(runs_after "$b") <<'P'
import json, sys, datetime
ev = []
for d in sys.argv[1:]:
    r = json.load(open(d + "/run.json"))
    t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    ev += [(t(r["started_at"]), 1), (t(r["ended_at"]), -1)]
cur = peak = 0
for _, k in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += k; peak = max(peak, cur)
print(len(sys.argv) - 1, peak)
P
)
if [ "$(nproc)" -lt 2 ]; then skip parallel_two_at_most "one CPU: the sweep runs one at a time"
elif [ "$rc" = 0 ] && [ "$overlap" = "6 2" ]; then pass parallel_two_at_most
else fail parallel_two_at_most "rc=$rc runs, peak: $overlap"; fi
check parallel_output_not_streamed grep -q "2 at once" "$T/par.out"

# the host's CPUs bound it: runs asking for all of them go one at a time
b=$(nruns)
rp run slow.yaml -q --param i=1,2,3 --parallel 3 --cpus "$(nproc)" > "$T/cpu.out" 2>&1; rc=$?
peak=$(python3 - $(runs_after "$b") <<'P'
import json, sys, datetime
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
ev = sorted(e for d in sys.argv[1:] for r in [json.load(open(d + "/run.json"))] for e in [(t(r["started_at"]), 1), (t(r["ended_at"]), -1)])
cur = peak = 0
for _, k in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += k; peak = max(peak, cur)
print(len(sys.argv) - 1, peak)
P
)
if [ "$rc" = 0 ] && [ "$peak" = "3 1" ] && grep -q "1 at once (as many as this host's CPUs" "$T/cpu.out"; then pass parallel_bounded_by_host_cpus
else fail parallel_bounded_by_host_cpus "rc=$rc peak=$peak $(head -1 "$T/cpu.out")"; fi

# --- Ctrl-C cancels the whole sweep ----------------------------------------------------------
mkconfig "$W/long.yaml" long '"sleep 20"'
b=$(nruns)
# as from a terminal: SIGINT not ignored (a shell's background job would have it ignored)
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
	"$RUNPILOT_BIN" run long.yaml --param i=1,2,3,4,5 --parallel 2 > "$T/int.out" 2>&1 &
SW=$!
rp_cleanup_hooks+=("kill -KILL $SW 2>/dev/null")
wait_for '[ "$(grep -c " started$" "$T/int.out")" = 2 ]' 20
sleep 0.5
kids=$(pgrep -P "$SW" | tr '\n' ' ')
jobs_pids=$(for k in $kids; do pgrep -P "$k"; done | tr '\n' ' ')
kill -INT "$SW"
wait "$SW"; rc=$?
mapfile -t dirs < <(runs_after "$b")
sts=$(for d in "${dirs[@]}"; do json "$d/run.json" 'd["status"]'; done | tr '\n' ' ')
if [ "$rc" = 130 ] && [ "${#dirs[@]}" = 2 ] && [ "$sts" = "cancelled cancelled " ]; then pass ctrl_c_cancels_sweep
else fail ctrl_c_cancels_sweep "rc=$rc runs=${#dirs[@]} statuses=$sts $(cat "$T/int.out")"; fi
alive=""
for p in $SW $kids $jobs_pids; do pid_dead "$p" || alive="$alive $p"; done
if [ -n "$kids" ] && [ -z "$alive" ]; then pass ctrl_c_leaves_no_process
else fail ctrl_c_leaves_no_process "children [$kids] jobs [$jobs_pids] alive [$alive]"; fi
sleep 1
check ctrl_c_starts_no_more test "$(nruns)" = $((b + 2))
check ctrl_c_summary grep -q "3 never started" "$T/int.out"

# --- the sweep's exit code: 1 when a run failed ---------------------------------------------
mkconfig "$W/rc.yaml" rc '"exit $RUNPILOT_PARAM_RC"'
rp run rc.yaml -q --param rc=0,3 > "$T/rc.out" 2>&1; rc=$?
check failed_run_exits_1 test "$rc" = 1
check failed_run_reported grep -qE '^\[2/2\] rp_[0-9]+ rc=3 failed' "$T/rc.out"
