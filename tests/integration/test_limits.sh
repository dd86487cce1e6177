#!/usr/bin/env bash
# Resource limits and metering on this host: --memory/--cpus/--pids/--timeout through
# the real binary, checked in run.json, `show` and `list`; every run's cgroups are gone afterwards.
# On the build machines (hybrid: cgroup v1 controllers) this exercises sandbox/cgroup1.c; on a
# unified host, cgroup2.c. The pure-v2 suite also runs in a VM (make test-vm).
source "$(dirname "$0")/lib.sh"

H=${RP_HELPERS:?run through tests/run-integration.sh}
MIB=1048576
for h in memhog spin forkbomb daemonize; do
	if [ ! -x "$H/$h" ]; then
		skip "limits" "test helper $H/$h not built (make helpers)"
		exit 0
	fi
done

# cfg NAME CMD...: a config whose list entrypoint prints the job's cgroups (so the test knows
# which directories must be gone afterwards), then execs CMD.
cfg() {
	local n=$1; shift
	local e="\"/bin/sh\", \"-c\", \"cat /proc/self/cgroup; exec \\\"\$0\\\" \\\"\$@\\\"\""
	local a
	for a in "$@"; do e="$e, \"$a\""; done
	mkconfig "$T/$n.yaml" "$n" "[$e]"
	echo "$T/$n.yaml"
}
# The run's cgroup directories, from the /proc/self/cgroup lines the job printed.
job_cgroups() {
	local line ctrl path
	grep -a -E '^[0-9]+:[^:]*:.*runpilot-' "$1" | while IFS= read -r line; do
		ctrl=${line#*:}; ctrl=${ctrl%%:*}; path=${line#*:*:}
		if [ -z "$ctrl" ]; then echo "/sys/fs/cgroup$path"
		else echo "/sys/fs/cgroup/${ctrl%%,*}$path"; [ -d "/sys/fs/cgroup/$ctrl" ] && echo "/sys/fs/cgroup/$ctrl$path"; fi
	done | sort -u
}
# cgroups_gone NAME OUTFILE: the job ran inside runpilot-* cgroups and none of them is left.
cgroups_gone() {
	local dirs d left=""
	dirs=$(job_cgroups "$2")
	if [ -z "$dirs" ]; then fail "$1: job ran in a runpilot cgroup" "$(head -n 12 "$2")"; return; fi
	for d in $dirs; do [ -e "$d" ] && left="$left $d"; done
	if [ -z "$left" ]; then pass "$1: cgroups removed"; else fail "$1: cgroups removed" "left:$left"; fi
}
between() { python3 -c 'import sys; v=float(sys.argv[1]); sys.exit(not (float(sys.argv[2]) <= v <= float(sys.argv[3])))' "$@"; }
usage() { json "$1/run.json" "d['resources']['usage']['$2']"; }

if [ "$(id -u)" != 0 ]; then
	skip "limits" "needs root for a writable cgroup on this host"
	exit 0
fi

# --- memory limit: an OOM kill is failed (oom), peak at the limit ---
c=$(cfg oom "$H/memhog" 256)
rp run --runner local --memory 64m "$c" > "$T/oom.out" 2>&1; rc=$?
d=$(last_run_dir)
check "oom: runpilot exits non-zero" test "$rc" -ne 0
check "oom: status failed (oom)" test "$(json "$d/run.json" "d['status']+'/'+str(d['reason'])")" = failed/oom
k=$(usage "$d" oom_kills)
check "oom: oom_kills >= 1 ($k)" test "${k:-0}" != None -a "${k:-0}" -ge 1
p=$(usage "$d" memory_peak_bytes)
check "oom: memory peak near 64 MiB ($p)" between "$p" $((60 * MIB)) $((66 * MIB))
src=$(json "$d/run.json" "d['resources']['source']")
check "oom: memory enforced by $src" test "$(json "$d/run.json" "d['resources']['limits']['memory']['enforced_by']")" = "$src"
check "oom: source is a cgroup ($src)" test "$src" = cgroup1 -o "$src" = cgroup2
if grep -q 'warning' "$T/oom.out"; then fail "oom: no warning" "$(grep warning "$T/oom.out")"; else pass "oom: no warning"; fi
rp list > "$T/list.out" 2>&1
check "oom: list shows failed (oom)" grep -q 'failed (oom)' "$T/list.out"
rp show "$(basename "$d")" > "$T/show.out" 2>&1
check "oom: show prints the memory peak beside the limit" grep -Eq 'Memory.*peak 6[0-9.]+ MiB / 64(\.0)? MiB' "$T/show.out"
cgroups_gone oom "$T/oom.out"

# --- metering: 100 MiB touched ---
c=$(cfg peak "$H/memhog" 100)
rp run --runner local "$c" > "$T/peak.out" 2>&1; rc=$?
d=$(last_run_dir)
check "peak: succeeded" test "$rc" -eq 0
p=$(usage "$d" memory_peak_bytes)
check "peak: memory_peak in [100, 140] MiB ($p)" between "$p" $((100 * MIB)) $((140 * MIB))
check "peak: no OOM kill" test "$(usage "$d" oom_kills)" = 0
cgroups_gone peak "$T/peak.out"

# --- CPU quota: a 2 s busy loop at half a CPU ---
c=$(cfg cpu "$H/spin" 2)
rp run --runner local --cpus 0.5 "$c" > "$T/cpu.out" 2>&1; rc=$?
d=$(last_run_dir)
check "cpu: succeeded" test "$rc" -eq 0
t=$(usage "$d" cpu_total_s)
check "cpu: cpu_total_s within 15% of 1.0 ($t)" between "$t" 0.85 1.15
check "cpu: wall_s >= 2 ($(usage "$d" wall_s))" between "$(usage "$d" wall_s)" 2 30
check "cpu: throttled time metered ($(usage "$d" throttled_s))" between "$(usage "$d" throttled_s)" 0 30
rp show "$(basename "$d")" > "$T/show.out" 2>&1
check "cpu: show prints cores avg and the limit" grep -Eq 'CPU.*s \(0\.[3-6][0-9] cores avg, limit 0\.5\)' "$T/show.out"
cgroups_gone cpu "$T/cpu.out"

# --- pids (from the config's resources:): a fork bomb is contained ---
c=$(cfg bomb "$H/forkbomb" 2)
printf 'resources:\n  pids: 32\n' >> "$c"
rp run --runner local "$c" > "$T/bomb.out" 2>&1; rc=$?
d=$(last_run_dir)
check "pids: the bomb ran to its end" test "$rc" -eq 0
check "pids: forks were refused" grep -Eq 'forkbomb: [0-9]+ forks, [1-9][0-9]* refused' "$T/bomb.out"
made=$(sed -n 's/^forkbomb: \([0-9]*\) forks.*/\1/p' "$T/bomb.out")
check "pids: at most 32 processes (forks: $made)" test "${made:-999}" -le 32
pk=$(usage "$d" pids_peak)
if [ "$pk" = None ]; then skip "pids: pids_peak" "no pids.peak on this kernel"; else check "pids: pids_peak <= 32 ($pk)" test "$pk" -le 32; fi
check "pids: enforced by a cgroup" test "$(json "$d/run.json" "d['resources']['limits']['pids']['enforced_by']")" = "$(json "$d/run.json" "d['resources']['source']")"
alive=$(ps -eo comm=,stat= | awk '$1 == "forkbomb" && $2 !~ /^Z/' | wc -l)
check "pids: no fork bomb process left on the host" test "$alive" -eq 0
cgroups_gone pids "$T/bomb.out"

# --- timeout: the job and its detached grandchild die, the run is failed (timeout) ---
c=$(cfg tmo "$H/daemonize" "$T/gc.pid")
t0=$(date +%s)
rp run --runner local --timeout 2s "$c" > "$T/tmo.out" 2>&1; rc=$?
t1=$(date +%s)
d=$(last_run_dir)
check "timeout: status failed (timeout)" test "$(json "$d/run.json" "d['status']+'/'+str(d['reason'])")" = failed/timeout
check "timeout: ended within 2 s + grace" test $((t1 - t0)) -le 8
check "timeout: enforced by the supervisor" test "$(json "$d/run.json" "d['resources']['limits']['timeout_s']['enforced_by']")" = supervisor
g=$(cat "$T/gc.pid" 2>/dev/null)
if [ -n "$g" ] && pid_dead "$g"; then pass "timeout: detached grandchild killed"; else fail "timeout: detached grandchild killed" "pid '$g'"; fi
cgroups_gone timeout "$T/tmo.out"

# --- the sandbox runner enforces and meters through the same cgroups ---
mkconfig "$T/sbtrue.yaml" sbtrue "[\"/bin/true\"]"
if rp run -q --runner sandbox "$T/sbtrue.yaml" > "$T/sbtrue.out" 2>&1; then
	# The sandbox hides the host's /tmp (where a checkout may live): run a copy from the workdir.
	cp "$H/memhog" "$T/memhog"
	mkconfig "$T/sboom.yaml" sboom '["./memhog", "256"]'
	rp run -q --runner sandbox --memory 64m "$T/sboom.yaml" > "$T/sboom.out" 2>&1
	d=$(last_run_dir)
	check "sandbox: OOM is failed (oom)" test "$(json "$d/run.json" "d['status']+'/'+str(d['reason'])")" = failed/oom
	check "sandbox: memory enforced by a cgroup" test "$(json "$d/run.json" "d['resources']['limits']['memory']['enforced_by']")" = "$(json "$d/run.json" "d['resources']['source']")"
	check "sandbox: oom_kills >= 1" test "$(usage "$d" oom_kills)" -ge 1
else
	skip "sandbox" "the sandbox runner does not start here: $(tail -n 1 "$T/sbtrue.out")"
fi

# --- cgroups switched off: usage from rusage, limits reported not enforced, one warning line ---
c=$(cfg off "$H/memhog" 20)
RUNPILOT_CGROUP=off rp run --runner local --memory 64m --pids 32 "$c" > "$T/off.out" 2>&1; rc=$?
d=$(last_run_dir)
check "off: run succeeds" test "$rc" -eq 0
check "off: exactly one warning line" test "$(grep -c 'not enforced' "$T/off.out")" -eq 1
check "off: source rusage" test "$(json "$d/run.json" "d['resources']['source']")" = rusage
check "off: memory not enforced" test "$(json "$d/run.json" "d['resources']['limits']['memory']['enforced_by']")" = null
check "off: peak from rusage >= 20 MiB" between "$(usage "$d" memory_peak_bytes)" $((20 * MIB)) $((64 * MIB))

# --- an ordinary user with no writable cgroup ---
if command -v setpriv > /dev/null; then
	N=$T/nobody
	mkdir -p "$N" && chown 65534:65534 "$N"
	c=$(cfg nobody "$H/memhog" 20)
	setpriv --reuid=65534 --regid=65534 --clear-groups env RUNPILOT_HOME="$N/home" HOME="$N" \
		"$RUNPILOT_BIN" run --runner local --memory 64m "$c" > "$T/nobody.out" 2>&1; rc=$?
	d=$(ls -d "$N"/home/runs/rp_* 2>/dev/null | sort -V | tail -n1)
	check "nobody: run succeeds" test "$rc" -eq 0
	check "nobody: exactly one warning line" test "$(grep -c 'not enforced' "$T/nobody.out")" -eq 1
	check "nobody: source rusage" test "$(json "$d/run.json" "d['resources']['source']")" = rusage
	check "nobody: memory not enforced" test "$(json "$d/run.json" "d['resources']['limits']['memory']['enforced_by']")" = null
	check "nobody: cpu metered" between "$(usage "$d" cpu_total_s)" 0 5
	check "nobody: no runpilot cgroup" test -z "$(job_cgroups "$T/nobody.out")"
else
	skip "nobody" "setpriv (util-linux) not installed"
fi
