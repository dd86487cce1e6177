#!/usr/bin/env bash
# The private one-node Slurm of slurm_lib.sh itself: exit codes, cancel, arrays, a stop that
# leaves no process behind, and (when slurmdbd and MariaDB are there) the exit code through sacct.
# Skips (loudly) where the host cannot run it: not root, or the packages missing.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/slurm_lib.sh"

now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
# Processes of a stopped instance: its dir in the command line, or its SLURM_CONF in the
# environment (job steps); zombies do not count (PID 1 here does not reap orphans).
leftovers() {
	local f p
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		[ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && ! pid_dead "$p" || continue
		{ tr '\0' ' ' < "$f"; echo; tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null |
			grep -qF -e "$1/" -e "SLURM_CONF=$1/slurm.conf" && echo "$p"
	done
}
all_dead() { local w; for w in $1; do pid_dead "${w#*:}" || return 1; done; }
# stopped NAME DIR PIDS: sl_stop left nothing of that instance.
stopped() {
	check "$1: every daemon is gone" all_dead "$3"
	check "$1: no process of it is left (job steps included)" test -z "$(leftovers "$2")"
	check "$1: its temp dir is removed" test ! -e "$2"
	check "$1: SLURM_CONF is unset" test -z "${SLURM_CONF:-}"
}
# start NAME FUNCTION: start a variant, or skip (host) / fail (daemon) and exit.
start() {
	local t0
	t0=$(now)
	if ! "$2"; then
		if [ "$SL_SKIP" = 1 ]; then
			echo "  NOTICE: the Slurm harness's tests ($1) did not run: $SL_WHY"
			skip "$1" "$SL_WHY"
		else
			fail "$1: starts" "$SL_WHY"
		fi
		return 1
	fi
	pass "$1: starts ($(since "$t0") s)"
}

# ---- without accounting ----
start "slurm" sl_start || exit 0
check "env: SLURM_CONF in the temp dir" test "$SLURM_CONF" = "$SL/slurm.conf"
check "env: node, partition, no accounting" test "$SL_NODE/$SL_PARTITION/$SL_ACCOUNTING" = "$(hostname)/debug/0"
check "sinfo: the node is idle" test "$(timeout 5 sinfo -h -N -o '%N %T')" = "$(hostname) idle"

t0=$(now)
id=$(timeout 5 sbatch --parsable -o /dev/null --wrap 'exit 3')
check "exit 3: sbatch gives a job id" test -n "$id"
sl_wait_job "$id" 20
info=$(timeout 5 scontrol -o show job "$id")
check "exit 3: JobState=FAILED ($(since "$t0") s)" grep -q ' JobState=FAILED ' <<< "$info"
check "exit 3: ExitCode=3:0" grep -q ' ExitCode=3:0 ' <<< "$info"

t0=$(now)
id=$(timeout 5 sbatch --parsable -o /dev/null --wrap 'true')
sl_wait_job "$id" 20
check "true: COMPLETED ($(since "$t0") s)" test "$(sl_job_state "$id")" = COMPLETED

id=$(timeout 5 sbatch --parsable -o /dev/null --wrap 'sleep 100')
wait_for '[ "$(sl_job_state "$id")" = RUNNING ]' 20
check "sleep: RUNNING" test "$(sl_job_state "$id")" = RUNNING
t0=$(now)
timeout 5 scancel "$id"
sl_wait_job "$id" 10
check "scancel: CANCELLED ($(since "$t0") s)" test "$(sl_job_state "$id")" = CANCELLED

t0=$(now)
id=$(timeout 5 sbatch --parsable -o /dev/null --array=0-3 --wrap 'true')
sl_wait_job "$id" 30
info=$(timeout 5 scontrol -o show job "$id")
check "array 0-3: 4 tasks" test "$(grep -c ' ArrayTaskId=[0-3] ' <<< "$info")" = 4
check "array 0-3: all COMPLETED ($(since "$t0") s)" test "$(grep -c ' JobState=COMPLETED ' <<< "$info")" = 4

# A job still running when the harness stops: sl_stop cancels it.
id=$(timeout 5 sbatch --parsable -o /dev/null --wrap "echo \$\$ > $T/job.pid; exec sleep 100")
wait_for "[ -s $T/job.pid ]" 20
job_pid=$(cat "$T/job.pid" 2>/dev/null)
check "running job: its pid is known" test -n "$job_pid"
dir=$SL pids=$SL_PIDS
t0=$(now)
sl_stop
echo "  sl_stop took $(since "$t0") s"
stopped "stop" "$dir" "$pids"
check "stop: the running job's process is gone" pid_dead "${job_pid:-1}"
sl_stop
check "stop: a second sl_stop is harmless" test -z "$SL"

# ---- with accounting (slurmdbd + MariaDB) ----
start "slurm+accounting" sl_start_accounting || exit 0
check "accounting: SL_ACCOUNTING=1" test "$SL_ACCOUNTING" = 1
t0=$(now)
id=$(timeout 5 sbatch --parsable -o /dev/null --wrap 'exit 3')
wait_for "timeout 5 sacct -j $id -n -X -P -o State | grep -qx FAILED" 30
check "sacct: exit 3 is FAILED 3:0 ($(since "$t0") s)" \
	test "$(timeout 5 sacct -j "$id" -n -X -P -o JobID,State,ExitCode)" = "$id|FAILED|3:0"
id=$(timeout 5 sbatch --parsable -o /dev/null --wrap 'true')
wait_for "timeout 5 sacct -j $id -n -X -o State | grep -qw COMPLETED" 30
check "sacct: true is COMPLETED" test "$(timeout 5 sacct -j "$id" -n -X -P -o State)" = COMPLETED
dir=$SL pids=$SL_PIDS
t0=$(now)
sl_stop
echo "  sl_stop took $(since "$t0") s"
stopped "stop (accounting)" "$dir" "$pids"
