#!/bin/sh
# The cgroup v2 suite, run inside the test VM by /init (busybox only: no python, no bash).
# Drives the real binary (/bin/runpilot) with the static helpers in /helpers, then checks run.json
# with grep/awk. Prints "vm: ok|FAIL NAME" per check and "vm: N passed, N failed"; exit 1 on failure.
export RUNPILOT_HOME=/tmp/rphome RUNPILOT_KILL_GRACE=1 HOME=/root
CG=/sys/fs/cgroup
W=/tmp/w
mkdir -p $W $RUNPILOT_HOME
P=0 F=0
ok() { P=$((P + 1)); echo "vm: ok   $1"; }
bad() { F=$((F + 1)); echo "vm: FAIL $1: $2"; }
# want NAME COND MSG: COND is an awk expression over nothing (values substituted by the caller)
want() { if awk "BEGIN { exit !($2) }"; then ok "$1"; else bad "$1" "$3"; fi; }
# jget KEY FILE: the first value of "KEY" in a JSON file, strings unquoted, null as "null"
jget() { tr -d '\n\t' < "$2" | grep -o "\"$1\": *[^,}]*" | head -n1 | sed 's/^[^:]*: *//; s/"//g'; }
# jsub OBJ KEY FILE: KEY inside the object "OBJ": {...} (one level, no nested braces before KEY)
jsub() { tr -d '\n\t' < "$3" | grep -o "\"$1\": *{[^}]*}" | head -n1 | grep -o "\"$2\": *[^,}]*" | sed 's/^[^:]*: *//; s/"//g'; }
last_run() { ls -d $RUNPILOT_HOME/runs/rp_* 2>/dev/null | sort | tail -n1; }
# cfg NAME ARGS...: a config running ARGS as a list entrypoint
cfg() {
	n=$1; shift
	e=""
	for a in "$@"; do e="$e${e:+, }\"$a\""; done
	printf 'name: %s\nentrypoint: [%s]\n' "$n" "$e" > $W/$n.yaml
	echo $W/$n.yaml
}
mib() { echo $(($1 * 1048576)); }
no_leftovers() {
	left=$(find $CG -name 'runpilot*' 2>/dev/null)
	if [ -z "$left" ]; then ok "$1: no runpilot-* cgroup left"; else bad "$1: no runpilot-* cgroup left" "$left"; fi
}

# --- the library's own tests (cmocka), on the v2 code paths ---
for t in /tests/test_*; do
	case $t in *.sh) continue ;; esac
	out=$($t 2>&1); rc=$?
	n=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
	if [ $rc -eq 0 ]; then ok "$(basename $t) ($n cmocka tests)"; else bad "$(basename $t)" "$(echo "$out" | grep -E 'FAIL|ERROR|Skip' | head -n 5)"; fi
	echo "$out" | grep -q SKIPPED && bad "$(basename $t) skipped tests" "$(echo "$out" | grep SKIPPED)"
done
no_leftovers "unit"

# --- memory limit: OOM is failed (oom), peak at the limit ---
c=$(cfg oom /helpers/memhog 256)
runpilot run --runner local --memory 64m $c > $W/oom.out 2>&1; rc=$?
d=$(last_run)
want "oom: runpilot exits non-zero" "$rc != 0" "rc $rc"
want "oom: status failed" "\"$(jget status $d/run.json)\" == \"failed\"" "status $(jget status $d/run.json)"
want "oom: reason oom" "\"$(jget reason $d/run.json)\" == \"oom\"" "reason $(jget reason $d/run.json)"
k=$(jget oom_kills $d/run.json)
want "oom: oom_kills >= 1" "\"$k\" != \"null\" && $k >= 1" "oom_kills $k"
p=$(jget memory_peak_bytes $d/run.json)
want "oom: peak near 64 MiB" "$p >= $(mib 60) && $p <= $(mib 66)" "memory_peak_bytes $p"
want "oom: memory enforced by cgroup2" "\"$(jsub memory enforced_by $d/run.json)\" == \"cgroup2\"" \
	"enforced_by $(jsub memory enforced_by $d/run.json)"
want "oom: source cgroup2" "\"$(jget source $d/run.json)\" == \"cgroup2\"" "source $(jget source $d/run.json)"
grep -q 'warning' $W/oom.out && bad "oom: no warning" "$(grep warning $W/oom.out)" || ok "oom: no warning"
no_leftovers oom

# --- metering: 100 MiB touched ---
c=$(cfg peak /helpers/memhog 100)
runpilot run --runner local $c > $W/peak.out 2>&1; rc=$?
d=$(last_run)
want "peak: succeeded" "$rc == 0 && \"$(jget status $d/run.json)\" == \"success\"" "rc $rc status $(jget status $d/run.json)"
p=$(jget memory_peak_bytes $d/run.json)
want "peak: memory_peak in [100, 140] MiB" "$p >= $(mib 100) && $p <= $(mib 140)" "memory_peak_bytes $p"
want "peak: from memory.peak" "\"$(jget memory_peak_source $d/run.json)\" == \"cgroup2 memory.peak\"" \
	"$(jget memory_peak_source $d/run.json)"
want "peak: no oom" "\"$(jget oom_kills $d/run.json)\" == \"0\"" "oom_kills $(jget oom_kills $d/run.json)"

# --- CPU quota: 2 s busy loop at half a CPU ---
c=$(cfg cpu /helpers/spin 2)
runpilot run --runner local --cpus 0.5 $c > $W/cpu.out 2>&1; rc=$?
d=$(last_run)
t=$(jget cpu_total_s $d/run.json); w=$(jget wall_s $d/run.json); th=$(jget throttled_s $d/run.json)
want "cpu: succeeded" "$rc == 0" "rc $rc"
want "cpu: cpu_total_s within 15% of 1.0" "$t >= 0.85 && $t <= 1.15" "cpu_total_s $t"
want "cpu: wall_s >= 2" "$w >= 2" "wall_s $w"
want "cpu: throttled" "\"$th\" != \"null\" && $th > 0" "throttled_s $th"
want "cpu: cpus enforced by cgroup2" "\"$(jsub cpus enforced_by $d/run.json)\" == \"cgroup2\"" "$(jsub cpus enforced_by $d/run.json)"

# --- pids: a fork bomb is contained ---
c=$(cfg bomb /helpers/forkbomb 2)
runpilot run --runner local --pids 32 $c > $W/bomb.out 2>&1; rc=$?
d=$(last_run)
pk=$(jget pids_peak $d/run.json)
want "pids: bomb ended by itself" "$rc == 0" "rc $rc: $(tail -n 3 $W/bomb.out)"
want "pids: pids_peak <= 32" "\"$pk\" != \"null\" && $pk <= 32 && $pk >= 16" "pids_peak $pk"
grep -q 'refused' $W/bomb.out && ! grep -q ' 0 refused' $W/bomb.out && ok "pids: forks were refused" \
	|| bad "pids: forks were refused" "$(grep forkbomb $W/bomb.out)"
no_leftovers pids

# --- timeout: the job and its detached grandchild die ---
rm -f $W/gc.pid
c=$(cfg tmo /helpers/daemonize $W/gc.pid)
t0=$(date +%s)
runpilot run --runner local --timeout 2s $c > $W/tmo.out 2>&1; rc=$?
t1=$(date +%s)
d=$(last_run)
want "timeout: failed (timeout)" "\"$(jget status $d/run.json)/$(jget reason $d/run.json)\" == \"failed/timeout\"" \
	"$(jget status $d/run.json)/$(jget reason $d/run.json)"
want "timeout: ended within 10 s" "$t1 - $t0 <= 10" "$((t1 - t0)) s"
g=$(cat $W/gc.pid 2>/dev/null)
if [ -n "$g" ] && { [ ! -e /proc/$g ] || grep -q '^State:.*Z' /proc/$g/status 2>/dev/null; }; then
	ok "timeout: detached grandchild killed"
else
	bad "timeout: detached grandchild killed" "pid '$g' still alive"
fi
no_leftovers timeout

# --- runpilot alone in a delegated cgroup: moves itself aside, enforces, undoes it ---
mkdir $CG/deleg
c=$(cfg oom2 /helpers/memhog 256)
sh -c "echo \$\$ > $CG/deleg/cgroup.procs && exec runpilot run --runner local --memory 64m $c" > $W/deleg.out 2>&1; rc=$?
d=$(last_run)
want "delegated: reason oom" "\"$(jget reason $d/run.json)\" == \"oom\"" "reason $(jget reason $d/run.json): $(cat $W/deleg.out | tail -n 3)"
want "delegated: memory enforced by cgroup2" "\"$(jsub memory enforced_by $d/run.json)\" == \"cgroup2\"" \
	"$(jsub memory enforced_by $d/run.json)"
sc=$(cat $CG/deleg/cgroup.subtree_control)
want "delegated: controllers given back" "\"$sc\" == \"\"" "subtree_control '$sc'"
rmdir $CG/deleg && ok "delegated: cgroup empty again" || bad "delegated: cgroup empty again" "$(ls $CG/deleg)"
no_leftovers delegated

# --- sharing its cgroup with another process: limits not enforced, one warning line ---
mkdir $CG/shared
c=$(cfg shared /helpers/memhog 100)
sh -c "echo \$\$ > $CG/shared/cgroup.procs && runpilot run --runner local --memory 64m $c; exit \$?" > $W/shared.out 2>&1; rc=$?
d=$(last_run)
nw=$(grep -c 'not enforced' $W/shared.out)
want "shared: one warning line" "$nw == 1" "$nw lines: $(cat $W/shared.out | head -n 5)"
want "shared: run still succeeds" "$rc == 0" "rc $rc"
want "shared: memory not enforced" "\"$(jsub memory enforced_by $d/run.json)\" == \"null\"" \
	"$(jsub memory enforced_by $d/run.json)"
t=$(jget cpu_total_s $d/run.json)
want "shared: cpu still metered" "\"$(jget source $d/run.json)\" == \"cgroup2\" && $t > 0" "source $(jget source $d/run.json) cpu $t"
rmdir $CG/shared
no_leftovers shared

# --- an ordinary user: nothing writable, rusage ---
mkdir -p /tmp/nobody && chown 65534:65534 /tmp/nobody
c=$(cfg nobody /helpers/memhog 20)
chmod 755 $W; chmod 644 $c
su -s /bin/sh nobody -c "RUNPILOT_HOME=/tmp/nobody/home HOME=/tmp/nobody runpilot run --runner local --memory 64m $c" > $W/nobody.out 2>&1; rc=$?
d=$(ls -d /tmp/nobody/home/runs/rp_* 2>/dev/null | tail -n1)
want "nobody: run succeeds" "$rc == 0" "rc $rc: $(tail -n 3 $W/nobody.out)"
nw=$(grep -c 'not enforced' $W/nobody.out)
want "nobody: one warning line" "$nw == 1" "$nw lines"
want "nobody: source rusage" "\"$(jget source $d/run.json)\" == \"rusage\"" "source $(jget source $d/run.json)"
p=$(jget memory_peak_bytes $d/run.json)
want "nobody: peak from rusage >= 20 MiB" "\"$p\" != \"null\" && $p >= $(mib 20)" "memory_peak_bytes $p"
no_leftovers nobody

echo "vm: $P passed, $F failed"
[ $F -eq 0 ]
