# Shared helpers for integration tests. Source it first; it creates a private RUNPILOT_HOME and a
# scratch dir ($T) that are removed at exit.
#   rp ARGS...            run the runpilot binary under test
#   pass NAME / fail NAME MSG / skip NAME WHY   record one result
#   check NAME CMD...     pass when CMD succeeds, else fail
#   json FILE EXPR        print a value from a JSON file (python3 expression on `d`)
#   wait_for CMD [secs]   poll until CMD succeeds
set -u
RP_FILE=$(basename "$0")
T=$(mktemp -d /tmp/rptest.XXXXXX)
chmod 755 "$T"
export RUNPILOT_HOME=$T/home
export RUNPILOT_KILL_GRACE=${RUNPILOT_KILL_GRACE:-2}
: "${RP_RESULTS:=/dev/null}"
trap 'rp_cleanup' EXIT
rp_cleanup_hooks=()
rp_cleanup() {
	local h
	for h in "${rp_cleanup_hooks[@]+"${rp_cleanup_hooks[@]}"}"; do eval "$h"; done
	rm -rf "$T"
}
rp() { "$RUNPILOT_BIN" "$@"; }
pass() { echo "  ok    $1"; echo "P $RP_FILE:$1" >> "$RP_RESULTS"; }
fail() { echo "  FAIL  $1: ${2:-}"; echo "F $RP_FILE:$1" >> "$RP_RESULTS"; }
skip() { echo "  skip  $1: ${2:-}"; echo "S $RP_FILE:$1" >> "$RP_RESULTS"; }
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list)) or v is None or isinstance(v,bool) else v)' "$1" "$2"; }
wait_for() { local i n=$(( ${2:-10} * 10 )); for ((i = 0; i < n; i++)); do eval "$1" && return 0; sleep 0.1; done; return 1; }
# The run directory of the newest run.
last_run_dir() { ls -d "$RUNPILOT_HOME"/runs/rp_* 2>/dev/null | sort -V | tail -n1; }
# The run directory the next run will get (call it before starting that run).
next_run_dir() {
	local last n=0
	last=$(last_run_dir)
	[ -n "$last" ] && n=$((10#${last##*_}))
	printf '%s/runs/rp_%04d\n' "$RUNPILOT_HOME" $((n + 1))
}
# Write a config file: mkconfig PATH NAME ENTRYPOINT [extra yaml lines...]
mkconfig() {
	local p=$1 n=$2 e=$3; shift 3
	mkdir -p "$(dirname "$p")"
	{ echo "name: $n"; echo "entrypoint: $e"; for l in "$@"; do echo "$l"; done; } > "$p"
}
# True when a pid is gone or a zombie (PID 1 here does not reap orphans).
pid_dead() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0; [ -z "$s" ] || [ "$s" = Z ]; }
# The cgroup directories of a run (any hierarchy), by the name its leaves carry (its run.lock
# says the uid).
run_cgroups() {
	local id uid
	id=$(basename "$1")
	uid=$(sed -n 's/^uid //p' "$1/run.lock" 2>/dev/null)
	[ -n "$uid" ] || return 0
	find /sys/fs/cgroup -maxdepth 8 -type d -name "runpilot-$id-${uid:0:8}*" 2>/dev/null
}
# python3 "$PTY" OUT CMD...: run CMD in a new session on a fresh pty (its controlling terminal);
# what it prints lands in OUT, and the exit status is CMD's. INPUT, when set, is typed at the
# terminal once READY_RE shows.
PTY=$T/in_pty.py
cat > "$PTY" <<'PY'
import os, pty, re, select, sys, time
out, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
buf, typed = b"", False
ready, keys = os.environ.get("READY_RE"), os.environ.get("INPUT")
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
    if keys and not typed and ready and re.search(ready.encode(), buf):
        time.sleep(0.3)
        os.write(fd, keys.encode().decode("unicode_escape").encode())
        typed = True
_, status = os.waitpid(pid, 0)
open(out, "wb").write(buf)
sys.exit(os.waitstatus_to_exitcode(status))
PY
