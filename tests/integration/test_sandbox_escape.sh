#!/usr/bin/env bash
# The sandbox's escape suite: tests/helpers/sb_escape.c tries to get out of
# `runpilot run --runner sandbox` in as many ways as we know (syscalls, other processes, files,
# masked credentials, /proc/sys, privileges, network). Each attempt must fail; the host then
# checks that nothing changed. The suite runs as root and as a throwaway unprivileged user.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

MIN_ATTEMPTS=50
ESC=${RP_HELPERS:?run through tests/run-integration.sh}/sb_escape
if [ ! -x "$ESC" ]; then
	skip "escape suite" "test helper $ESC not built (make build/helpers/sb_escape)"
	exit 0
fi
if ! sb_usable; then
	skip "escape suite" "the sandbox cannot run on this host (see runpilot doctor)"
	exit 0
fi
HOST_NAME=$(hostname)

# The job has the default network (outbound) where pasta is installed: the host's loopback and
# abstract sockets must still be out of reach.
NETWORK=outbound
if ! command -v pasta >/dev/null; then
	NETWORK=none
	skip "escape suite with network outbound" "pasta is not installed (Debian package passt); network none instead"
fi

# A loopback listener on the host: the job must not reach it.
PORTF=$T/port
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.close()
' "$PORTF" &
LISTENER=$!
rp_cleanup_hooks+=("kill $LISTENER 2>/dev/null")
wait_for "[ -s '$PORTF' ]" 5 || { fail "listener" "no port"; exit 1; }
PORT=$(cat "$PORTF")

# Host daemons' unix sockets, owned by root and open to everyone (0777): one under /run (hidden
# from the job), one under /var/tmp (reachable: its listener must see an unprivileged peer) and
# an abstract one (not reachable from the job's network namespace). Each connection is logged
# as "NAME UID".
SOCKLOG=$T/socket-peers
RUN_SOCK=/run/rp-esc-$$.sock VAR_SOCK=/var/tmp/rp-esc-$$.sock ABSTRACT=rp-esc-$$
python3 -c '
import os, select, socket, struct, sys
log, names = sys.argv[1], sys.argv[2:]
socks = {}
for n in names:
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0" + n[1:] if n.startswith("@") else n)
    if not n.startswith("@"): os.chmod(n, 0o777)
    s.listen(8); socks[s] = n
open(log + ".ready", "w").close()
while True:
    for s in select.select(list(socks), [], [])[0]:
        c, _ = s.accept()
        uid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        with open(log, "a") as f: f.write("%s %d\n" % (socks[s], uid))
        c.close()
' "$SOCKLOG" "$RUN_SOCK" "$VAR_SOCK" "@$ABSTRACT" &
SOCK_LISTENER=$!
rp_cleanup_hooks+=("kill $SOCK_LISTENER 2>/dev/null; rm -f $RUN_SOCK $VAR_SOCK")
wait_for "[ -e '$SOCKLOG.ready' ]" 5 || { fail "socket listeners" "not ready"; exit 1; }
# A secret in root's home (an npm token, say): /root is hidden from every job.
ROOT_SECRET=/root/.rp-esc-npmrc-$$
echo "SECRET-npmrc" > "$ROOT_SECRET"
rp_cleanup_hooks+=("rm -f $ROOT_SECRET")

# run_suite WHO RUNAS...: one escape run; RUNAS is empty (root) or "as_user USER".
run_suite() {
	local who=$1; shift
	local W=$T/work-$who H=$T/home-$who
	mkdir -p "$W/fakehome/.ssh" "$W/fakehome/.aws" "$H"
	cp "$ESC" "$W/sb_escape"
	echo "SECRET-ssh" > "$W/fakehome/.ssh/id_rsa"
	echo "SECRET-aws" > "$W/fakehome/.aws/credentials"
	echo "SECRET-netrc" > "$W/fakehome/.netrc"
	echo "SECRET-private" > "$W/private.txt"
	echo "original" > "$W/data.txt"
	chmod -R a+rX "$W"
	# The user's own workdir and home (the last word of RUNAS is the user).
	[ $# -gt 0 ] && chown -R "${*: -1}:${*: -1}" "$W" "$H"
	cp /bin/cat "$W/suidcat" && chown root "$W/suidcat" && chmod 4755 "$W/suidcat"
	# Copies of /dev/zero in the workdir (seen through the overlay) and on the host's tree (the
	# read-only root): the sandbox mounts both nodev.
	local nodes="$W/zero-node:/var/tmp/rp-esc-zero-$who-$$"
	mknod -m 666 "$W/zero-node" c 1 5 && mknod -m 666 "/var/tmp/rp-esc-zero-$who-$$" c 1 5
	rp_cleanup_hooks+=("rm -f /var/tmp/rp-esc-zero-$who-$$")
	mkconfig "$W/esc.yaml" "escape-$who" '["./sb_escape"]' \
		"env:" \
		"  ESC_PORT: \"$PORT\"" \
		"  ESC_WORKDIR_FILE: $W/data.txt" \
		"  ESC_SECRETS: $W/fakehome/.ssh/id_rsa:$W/fakehome/.aws/credentials:$W/fakehome/.netrc:$W/private.txt:$ROOT_SECRET" \
		"  ESC_HOST_SOCKETS: $RUN_SOCK" \
		"  ESC_PEER_SOCKETS: $VAR_SOCK" \
		"  ESC_ABSTRACT: $ABSTRACT" \
		"  ESC_SUID: $W/suidcat" \
		"  ESC_DEVNODES: $nodes" \
		"sandbox:" \
		"  network: $NETWORK" \
		"  seccomp: {log: true}" \
		"  env_pass: [ESC_HOST_*]" \
		"  mask: [$W/private.txt]"
	# A process of the same user on the host, for the kill/ptrace attempts.
	bg_as "${2:-}" sleep 300
	local victim=$!
	rp_cleanup_hooks+=("kill $victim 2>/dev/null")
	local snap=$T/mounts-$who
	sb_mount_snapshot "$snap"
	HOME=$W/fakehome RUNPILOT_HOME=$H ESC_HOST_PID=$victim AWS_SECRET_ACCESS_KEY=esc-leak PROBE_SECRET=esc-leak \
		"$@" timeout 120 "$RUNPILOT_BIN" run --runner sandbox "$W/esc.yaml" > "$T/esc-$who.out" 2>&1
	local rc=$? out=$T/esc-$who.out
	# ESC_HOST_PID reaches the job through sandbox.env_pass; the secrets must not.
	check "$who: escape run finished (exit 0)" test "$rc" -eq 0
	check "$who: every attempt reported" grep -q '^DONE' "$out"
	local n esc
	n=$(grep -c '^BLOCKED ' "$out")
	esc=$(grep '^ESCAPED ' "$out")
	if [ "$n" -ge "$MIN_ATTEMPTS" ] && [ -z "$esc" ]; then
		pass "$who: all $n escape attempts blocked"
	else
		fail "$who: escape attempts blocked" "$n blocked; escaped: ${esc:-none}; $(tail -n 3 "$out" | tr '\n' ' ')"
	fi
	echo "        blocked: $(grep '^BLOCKED ' "$out" | cut -d: -f1 | sed 's/^BLOCKED //' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
	check "$who: host process still alive" kill -0 "$victim"
	check "$who: host hostname unchanged" test "$(hostname)" = "$HOST_NAME"
	check "$who: real workdir file untouched" test "$(cat "$W/data.txt")" = original
	local rd
	rd=$(ls -d "$H"/runs/rp_* | tail -n1)
	check "$who: the job's write kept in changes/" grep -q "changed inside" "$rd/changes/data.txt"
	check "$who: run.json says where the job's variables came from" \
		test "$(json "$rd/run.json" "[d['env_sources']['env_pass'], 'PATH' in d['env_sources']['inherited'], 'ESC_PORT' in d['env_sources']['config'], 'RUNPILOT_RUN_ID' in d['env_sources']['runpilot']]")" = '[["ESC_HOST_PID"], true, true, true]'
	check "$who: the caller's secrets are not even in run.json's env" \
		test "$(json "$rd/run.json" "[k for k in d['env'] if k in ('AWS_SECRET_ACCESS_KEY', 'PROBE_SECRET')]")" = '[]'
	check "$who: the setuid file the job left in outputs/ is no longer setuid" \
		sh -c "[ -f '$rd/outputs/suid-left' ] && [ ! -u '$rd/outputs/suid-left' ] && [ ! -g '$rd/outputs/suid-left' ]"
	check "$who: nor the one it left in its workdir (changes/)" \
		sh -c "[ -f '$rd/changes/suid-left' ] && [ ! -u '$rd/changes/suid-left' ] && [ ! -g '$rd/changes/suid-left' ]"
	check "$who: run.json lists both" \
		test "$(json "$rd/run.json" "sorted((x['path'], x['action']) for x in d.get('sanitized', []))")" = \
		'[["changes/suid-left", "cleared setuid and setgid"], ["outputs/suid-left", "cleared setuid and setgid"]]'
	check "$who: run.json says network $NETWORK" test "$(json "$rd/run.json" "d['runner']['network']")" = "$NETWORK"
	check "$who: the seccomp log still records a call refused after the job tried to kill its listener" \
		test "$(json "$rd/run.json" "d['runner']['denied_syscalls'].get('swapoff', 0)")" -ge 1
	check "$who: nothing written to /" test ! -e /escape-test -a ! -e /etc/escape-test -a ! -e /usr/escape-test
	# Who the job is on the host: the user, or for root an unprivileged id; its files are the caller's.
	local uid=${2:+$(id -u "${*: -1}")} host_uid
	uid=${uid:-0}
	host_uid=$( [ "$uid" = 0 ] && id -u nobody || echo "$uid")
	check "$who: a root daemon's socket under /run: no connection" sh -c "! grep -q '^$RUN_SOCK ' '$SOCKLOG'"
	check "$who: a host abstract socket: no connection" sh -c "! grep -q '^@$ABSTRACT ' '$SOCKLOG'"
	check "$who: a reachable host socket sees the job as host uid $host_uid, not root" \
		test "$(grep "^$VAR_SOCK " "$SOCKLOG" | cut -d' ' -f2 | sort -u | tr '\n' ' ')" = "$host_uid "
	: > "$SOCKLOG"
	check "$who: run.json gives the uid mapping (inside $uid, host $host_uid)" \
		test "$(json "$rd/run.json" "d['runner']['uid_map']")" = "$uid $host_uid 1"
	check "$who: the files the job left in outputs/ and changes/ are the caller's" \
		test "$(stat -c %u "$rd/outputs/suid-left" "$rd/changes/suid-left" "$rd/changes/data.txt" | sort -u)" = "$uid"
	kill "$victim" 2>/dev/null
	wait "$victim" 2>/dev/null
	sb_no_leftovers "$who" "$snap" "$rd"
}

sb_root_and_user run_suite "escape suite"

# Canary: the detector itself works. With seccomp off and CAP_SYS_ADMIN kept (in a user
# namespace, so only the sandbox's own namespaces are at stake) some attempts must now succeed.
W=$T/work-canary
mkdir -p "$W"
cp "$ESC" "$W/sb_escape"
mkconfig "$W/canary.yaml" canary '["./sb_escape"]' "env:" "  ESC_HOST_PID: \"1\"" \
	"sandbox:" "  userns: true" "  seccomp: unconfined" "  capabilities: [CAP_SYS_ADMIN]"
snap=$T/mounts-canary
sb_mount_snapshot "$snap"
RUNPILOT_HOME=$T/home-canary timeout 120 "$RUNPILOT_BIN" run --runner sandbox "$W/canary.yaml" > "$T/canary.out" 2>&1
for a in "mount tmpfs" "unshare mount" "sethostname" "keyctl"; do
	check "canary: '$a' is reported as ESCAPED when allowed" grep -q "^ESCAPED $a:" "$T/canary.out"
done
check "canary: host hostname unchanged" test "$(hostname)" = "$HOST_NAME"
sb_no_leftovers "canary" "$snap"
