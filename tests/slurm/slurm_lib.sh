# A private one-node Slurm for the Slurm runner's tests (source after tests/integration/lib.sh).
#   sl_start             start munged, slurmctld and slurmd under a short temp dir ($SL), export
#                        SLURM_CONF; returns non-zero (with $SL_WHY) when it cannot
#   sl_start_accounting  the same with accounting: a private MariaDB and slurmdbd, the cluster,
#                        an account and root's association added with sacctmgr
#   sl_stop              (an EXIT hook) cancel every job, stop the daemons by their pids (TERM,
#                        then KILL), kill the job steps our slurmd left, remove the temp dir
#   sl_job_state ID      a job's JobState (scontrol)
#   sl_wait_job ID [S]   wait until every task of a job has ended
# Exported for tests: SLURM_CONF, SL, SL_NODE, SL_PARTITION, SL_ACCOUNTING (0|1); the daemons'
# pids are in SL_PIDS ("name:pid" words; sl_pid NAME). SL_SKIP=1 when the start failed for want
# of root or packages (skip), 0 when a daemon failed (a failure).
# Everything is private: the config, munge key and socket, state, spool, logs and database live
# under $SL, the daemons listen on free loopback ports, and nothing is found or killed by name.
SL=""
SL_PIDS=""

# N free loopback TCP ports, one a line.
_sl_free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

# The pid recorded for NAME in SL_PIDS.
sl_pid() {
	local w
	for w in $SL_PIDS; do [ "${w%%:*}" = "$1" ] && { echo "${w#*:}"; return 0; }; done
	return 1
}

# _sl_alive NAME LOG: fails (with SL_WHY and the log's last lines) when NAME's daemon is gone.
_sl_alive() {
	local p
	p=$(sl_pid "$1") || return 1
	pid_dead "$p" || return 0
	SL_WHY="$1 exited: $(tail -n 5 "$2" 2>/dev/null | tr '\n' ' ')"
	return 1
}

# _sl_daemon NAME LOG CMD...: start CMD in its own session, output to LOG; its pid goes to SL_PIDS.
# The shell has no job control, so setsid execs CMD in place: $! is the daemon itself.
_sl_daemon() {
	local name=$1 log=$2
	shift 2
	setsid "$@" > "$log" 2>&1 < /dev/null &
	SL_PIDS="$SL_PIDS $name:$!"
}

# _sl_poll SECS NAME:LOG... -- CMD...: poll CMD every 0.1 s until it succeeds; fail early when a
# named daemon dies, or after SECS (SL_WHY says which).
_sl_poll() {
	local end=$((SECONDS + $1)) secs=$1 w
	shift
	local daemons=()
	while [ "$1" != -- ]; do daemons+=("$1"); shift; done
	shift
	while [ $SECONDS -lt $end ]; do
		"$@" && return 0
		for w in "${daemons[@]}"; do _sl_alive "${w%%:*}" "${w#*:}" || return 1; done
		sleep 0.1
	done
	SL_WHY="no answer in $secs s from: $* (logs in $SL/log)"
	return 1
}

# The host can run it: root and the programs (else SL_SKIP=1: a reason to skip, not a failure).
_sl_check_host() {
	SL_WHY=""
	SL_SKIP=1
	if [ "$(id -u)" != 0 ]; then SL_WHY="needs root to run a private Slurm"; return 1; fi
	local b
	for b in munged slurmctld slurmd sinfo sbatch squeue scancel scontrol python3 "$@"; do
		command -v "$b" >/dev/null || { SL_WHY="$b not found (packages: slurm-wlm munge python3 ${*:+slurmdbd mariadb-server})"; return 1; }
	done
	SL_SKIP=0
}

_sl_munge() {
	local m=$SL/munge
	mkdir -p "$m" && chmod 755 "$m" || { SL_WHY="cannot make $m"; return 1; }
	head -c 1024 /dev/urandom > "$m/munge.key" && chmod 600 "$m/munge.key" ||
		{ SL_WHY="cannot write the munge key"; return 1; }
	_sl_daemon munged "$SL/log/munged.out" munged -F --socket="$m/munge.sock" --key-file="$m/munge.key" \
		--pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed"
	_sl_poll 10 "munged:$m/munged.log" -- test -S "$m/munge.sock"
}

# _sl_conf CTLD_PORT SLURMD_PORT [DBD_PORT]: write $SL/slurm.conf (accounting through slurmdbd
# when DBD_PORT is given).
_sl_conf() {
	local acct="AccountingStorageType=accounting_storage/none" gather=jobacct_gather/none
	if [ -n "${3:-}" ]; then
		acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$3
AccountingStoragePass=$SL/munge/munge.sock"
		gather=jobacct_gather/linux
	fi
	cat > "$SL/slurm.conf" <<EOF
ClusterName=rptest
SlurmctldHost=$SL_NODE(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SL/munge/munge.sock
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$SL/log/slurmctld.log
SlurmdLogFile=$SL/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=$gather
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=$SL/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=128
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
KillWait=10
MinJobAge=600
SchedulerParameters=batch_sched_delay=0
NodeName=$SL_NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2048 State=UNKNOWN
PartitionName=$SL_PARTITION Nodes=$SL_NODE Default=YES MaxTime=INFINITE OverSubscribe=FORCE:4 State=UP
EOF
}

_sl_idle() { [ "$(timeout 5 sinfo -h -o %T 2>/dev/null)" = idle ]; }

# slurmctld and slurmd, then wait until the node is idle.
_sl_slurm() {
	_sl_daemon slurmctld "$SL/log/slurmctld.out" slurmctld -D -f "$SLURM_CONF"
	_sl_daemon slurmd "$SL/log/slurmd.out" slurmd -D -f "$SLURM_CONF" -N "$SL_NODE"
	_sl_poll 30 "slurmctld:$SL/log/slurmctld.log" "slurmd:$SL/log/slurmd.log" -- _sl_idle
}

# The temp dir, the hook and the variables shared by both variants.
_sl_setup() {
	_sl_check_host "$@" || return 1
	[ -z "$SL" ] || { SL_WHY="a private Slurm already runs in $SL"; return 1; }
	# Short, and a+x on each dir: munged checks every dir above its socket.
	SL=$(mktemp -d /tmp/rpsl.XXXXXX) || { SL_WHY="mktemp failed"; SL=""; return 1; }
	chmod 755 "$SL"
	mkdir -p "$SL/state" "$SL/spool" "$SL/log"
	case " ${rp_cleanup_hooks[*]+"${rp_cleanup_hooks[*]}"} " in
	*" sl_stop "*) ;;
	*) rp_cleanup_hooks+=("sl_stop") ;;
	esac
	SL_PIDS=""
	SL_NODE=$(hostname)
	SL_PARTITION=debug
	export SL SL_NODE SL_PARTITION SLURM_CONF=$SL/slurm.conf
}

sl_start() {
	_sl_setup || return 1
	export SL_ACCOUNTING=0
	local ports
	ports=($(_sl_free_ports 2)) || { SL_WHY="cannot find free ports"; return 1; }
	_sl_munge || return 1
	_sl_conf "${ports[0]}" "${ports[1]}"
	_sl_slurm
}

# A private MariaDB on a free loopback port, with the database and a user for slurmdbd.
_sl_mariadb() {
	local port=$1 db=$SL/db
	# Small logs, no doublewrite, no flush per commit: a throwaway database, fast to make and start.
	local fast=(--innodb-log-file-size=4M --innodb-doublewrite=0 --innodb-flush-log-at-trx-commit=0)
	mariadb-install-db --no-defaults --datadir="$db/data" --user=root --auth-root-authentication-method=normal \
		--skip-test-db "${fast[@]}" > "$SL/log/install-db.log" 2>&1 ||
		{ SL_WHY="mariadb-install-db failed: $(tail -n 5 "$SL/log/install-db.log" | tr '\n' ' ')"; return 1; }
	_sl_daemon mariadbd "$SL/log/mariadbd.out" mariadbd --no-defaults --user=root --datadir="$db/data" \
		--socket="$db/sock" --pid-file="$db/mariadbd.pid" --port="$port" --bind-address=127.0.0.1 \
		--skip-name-resolve --log-error="$SL/log/mariadbd.log" "${fast[@]}"
	_sl_poll 30 "mariadbd:$SL/log/mariadbd.log" -- \
		mariadb-admin --no-defaults --socket="$db/sock" -uroot ping >/dev/null 2>&1 || return 1
	mariadb --no-defaults --socket="$db/sock" -uroot > "$SL/log/mariadb-setup.log" 2>&1 <<'SQL' ||
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'rptest';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
		{ SL_WHY="cannot create the accounting database: $(tail -n 3 "$SL/log/mariadb-setup.log" | tr '\n' ' ')"; return 1; }
}

# slurmdbd on DBD_PORT against the database on DB_PORT.
_sl_slurmdbd() {
	# slurmdbd reads slurmdbd.conf beside $SLURM_CONF; it must be mode 600 and owned by SlurmUser.
	(umask 077 && cat > "$SL/slurmdbd.conf") <<EOF
AuthType=auth/munge
AuthInfo=socket=$SL/munge/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$1
SlurmUser=root
PidFile=$SL/slurmdbd.pid
LogFile=$SL/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$2
StorageUser=slurm
StoragePass=rptest
StorageLoc=slurm_acct_db
EOF
	chmod 600 "$SL/slurmdbd.conf"
	_sl_daemon slurmdbd "$SL/log/slurmdbd.out" slurmdbd -D
	_sl_poll 30 "slurmdbd:$SL/log/slurmdbd.log" -- \
		eval 'timeout 5 sacctmgr -n list cluster >/dev/null 2>&1'
}

# The cluster, an account and root's association, so jobs are accounted for.
_sl_associations() {
	local out
	out=$( { timeout 10 sacctmgr -i add cluster rptest &&
		timeout 10 sacctmgr -i add account rptest Cluster=rptest Description=rptest Organization=rptest &&
		timeout 10 sacctmgr -i add user root Account=rptest Cluster=rptest; } 2>&1) ||
		{ SL_WHY="sacctmgr failed: $(echo "$out" | tail -n 3 | tr '\n' ' ')"; return 1; }
}

sl_start_accounting() {
	_sl_setup slurmdbd sacctmgr sacct mariadbd mariadb-install-db mariadb mariadb-admin || return 1
	export SL_ACCOUNTING=1
	local ports
	ports=($(_sl_free_ports 4)) || { SL_WHY="cannot find free ports"; return 1; }
	_sl_munge || return 1
	_sl_conf "${ports[0]}" "${ports[1]}" "${ports[2]}"
	_sl_mariadb "${ports[3]}" || return 1
	_sl_slurmdbd "${ports[2]}" "${ports[3]}" || return 1
	_sl_associations || return 1
	_sl_slurm
}

# The pids of every descendant of the given pids (walking PPid in /proc/*/stat).
_sl_descendants() {
	local f s p pp rest
	local -A kids=()
	for f in /proc/[0-9]*/stat; do
		{ read -r s < "$f"; } 2>/dev/null || continue
		p=${f#/proc/}
		p=${p%/stat}
		rest=${s##*) }
		read -r _ pp _ <<< "$rest"
		kids[$pp]+=" $p"
	done
	local queue=("$@") out=()
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		for s in ${kids[$p]:-}; do out+=("$s"); queue+=("$s"); done
	done
	echo "${out[@]+"${out[@]}"}"
}

# Our slurmd's job steps: slurmstepd is started through a double fork, so it may have left
# slurmd's tree; it inherits slurmd's environment, with our private SLURM_CONF.
_sl_steps() {
	local f p
	for f in /proc/[0-9]*/comm; do
		p=${f#/proc/}
		p=${p%/comm}
		[ "$(cat "$f" 2>/dev/null)" = slurmstepd ] && ! pid_dead "$p" || continue
		{ tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SL/slurm.conf" && echo "$p"
	done
}

# _sl_term_wait PID...: SIGTERM them, wait up to 5 s, SIGKILL the rest, reap our children.
_sl_term_wait() {
	local p i live
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		live=0
		for p in "$@"; do pid_dead "$p" || live=1; done
		[ $live = 1 ] || break
		sleep 0.1
	done
	for p in "$@"; do pid_dead "$p" || kill -KILL "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
	return 0
}

sl_stop() {
	[ -n "$SL" ] || return 0
	local p ids i
	if p=$(sl_pid slurmctld) && ! pid_dead "$p"; then
		ids=$(timeout 5 squeue -h -o %i 2>/dev/null)
		[ -z "$ids" ] || timeout 5 scancel $ids >/dev/null 2>&1
		for ((i = 0; i < 100; i++)); do
			[ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
			pid_dead "$p" && break
			sleep 0.1
		done
	fi
	# Collected before slurmd stops: afterwards its steps are orphans.
	local left=()
	if p=$(sl_pid slurmd); then
		left=($(_sl_descendants "$p" $(_sl_steps)) $(_sl_steps))
	fi
	local name
	for name in slurmd slurmctld slurmdbd mariadbd munged; do
		p=$(sl_pid "$name") && _sl_term_wait "$p"
	done
	for p in "${left[@]+"${left[@]}"}"; do pid_dead "$p" || kill -KILL "$p" 2>/dev/null; done
	rm -rf "$SL"
	SL=""
	unset SLURM_CONF
}

# The state of job ID (its first task for an array), from scontrol.
sl_job_state() {
	timeout 5 scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2
}

# sl_wait_job ID [SECS]: wait until every task of job ID has ended (default 30 s).
sl_wait_job() {
	local end=$((SECONDS + ${2:-30})) states
	while [ $SECONDS -le $end ]; do
		states=$(timeout 5 scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*')
		[ -n "$states" ] && ! echo "$states" | grep -Eq '=(PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING)$' &&
			return 0
		sleep 0.1
	done
	return 1
}
