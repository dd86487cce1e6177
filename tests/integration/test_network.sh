#!/usr/bin/env bash
# The sandbox's network as a job sees it: outbound (the default: its own network namespace wired
# by pasta, DNS through pasta's forwarder, no way to the host's loopback or abstract sockets),
# none (only lo), host (asked for, warned about, recorded); a missing pasta is one line before
# the job. Traffic goes only to loopback or to network namespaces this test makes: the outbound
# checks run inside a network namespace of their own, whose only way out is a veth pair to a
# second namespace that plays the internet (a TCP server and a DNS server on 10.231.0.2).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

if ! sb_usable; then
	skip "sandbox network" "the sandbox cannot run on this host (see runpilot doctor)"
	exit 0
fi
sb_workdir
field() { json "$RD/run.json" "$1"; }

# The job: what it can reach and what it sees of the network.
cat > "$W/probe.py" <<'PY'
import os, socket, sys
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close(); return "ok"
    except OSError as e:
        return "refused(%s)" % e.__class__.__name__
def abstract(name):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect("\0" + name); return "ok"
    except OSError as e:
        return "refused(%s)" % e.__class__.__name__
print("loopback", tcp("127.0.0.1", int(os.environ["PROBE_PORT"])))
print("abstract", abstract(os.environ["PROBE_ABSTRACT"]))
print("interfaces", " ".join(sorted(os.listdir("/sys/class/net"))))
print("resolv", open("/etc/resolv.conf").read().split())
for extra in sys.argv[1:]:
    kind, _, arg = extra.partition("=")
    if kind == "tcp":
        host, port = arg.split(":")
        try:
            c = socket.create_connection((host, int(port)), timeout=5); print("world", c.recv(64).decode().strip())
        except OSError as e:
            print("world", "failed", e)
    if kind == "dns":
        try: print("dns", socket.gethostbyname(arg))
        except OSError as e: print("dns", "failed", e)
PY

# Host listeners the job must not reach: TCP on loopback, an abstract unix socket.
PORTF=$T/port
ABSTRACT=rp-net-test-$$
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
u = socket.socket(socket.AF_UNIX); u.bind("\0" + sys.argv[2]); u.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
import select
while True:
    for x in select.select([s, u], [], [])[0]:
        c, _ = x.accept(); c.close()
' "$PORTF" "$ABSTRACT" &
LISTENER=$!
rp_cleanup_hooks+=("kill $LISTENER 2>/dev/null")
wait_for "[ -s '$PORTF' ]" 5 || { fail "listener" "no port"; exit 1; }
PORT=$(cat "$PORTF")
ENV=("env:" "  PROBE_PORT: \"$PORT\"" "  PROBE_ABSTRACT: $ABSTRACT")
HOST_IFACES=$(ls /sys/class/net | sort | tr '\n' ' ')

# --- default: outbound -------------------------------------------------------------------
if ! command -v pasta >/dev/null; then
	skip "network outbound" "pasta is not installed (Debian package passt; make installs it)"
else
	mkconfig "$W/out.yaml" out '["python3", "probe.py"]' "${ENV[@]}"
	sb_run out sandbox "$W/out.yaml"
	check "outbound (default): the job runs (exit 0)" test "$RC" -eq 0
	check "outbound: the host's loopback is out of reach" grep -q "^loopback refused" "$RD/logs.txt"
	check "outbound: the host's abstract sockets are out of reach" grep -q "^abstract refused" "$RD/logs.txt"
	check "outbound: /sys shows the job's interfaces, not the host's ($HOST_IFACES)" \
		sh -c "grep -q '^interfaces .*lo' '$RD/logs.txt' && [ \"\$(grep '^interfaces' '$RD/logs.txt' | cut -d' ' -f2- | tr ' ' '\n' | sort | tr '\n' ' ')\" != '$HOST_IFACES' ]"
	check "outbound: DNS goes to pasta's forwarder" grep -q "^resolv \['nameserver', '169.254.1.1'\]" "$RD/logs.txt"
	check "outbound: run.json records it, with a network namespace" \
		test "$(field "[d['runner']['network'], 'net' in d['runner']['namespaces']]")" = '["outbound", true]'
	check "outbound: no warning" sh -c "! grep -q 'warning' '$T/out.out'"
	sb_no_leftovers "outbound" "$SNAP" "$RD"
	check "outbound: pasta is gone" sh -c "! pgrep -f 'pasta.*--netns /proc/self/fd/4' | xargs -r -n1 sh -c 's=\$(awk \"{print \\\$3}\" /proc/\$0/stat 2>/dev/null); [ -n \"\$s\" ] && [ \"\$s\" != Z ]' | grep -q ."
fi

# --- none ----------------------------------------------------------------------------------
mkconfig "$W/none.yaml" none '["python3", "probe.py"]' "${ENV[@]}" "sandbox:" "  network: none"
sb_run none sandbox "$W/none.yaml"
check "none: the job runs (exit 0)" test "$RC" -eq 0
check "none: loopback and abstract sockets out of reach" \
	sh -c "grep -q '^loopback refused' '$RD/logs.txt' && grep -q '^abstract refused' '$RD/logs.txt'"
check "none: only lo" grep -qx "interfaces lo" "$RD/logs.txt"
check "none: recorded" test "$(field "d['runner']['network']")" = none

# --- host: asked for, warned about, recorded -------------------------------------------------
mkconfig "$W/host.yaml" host '["python3", "probe.py"]' "${ENV[@]}" "sandbox:" "  network: host"
sb_run host sandbox "$W/host.yaml"
check "host: the job runs (exit 0)" test "$RC" -eq 0
check "host: the host's loopback is reachable, as asked" grep -q "^loopback ok" "$RD/logs.txt"
check "host: one warning line says so" test "$(grep -c 'warning: network: host: the job shares this host.s network' "$T/host.out")" = 1
check "host: recorded in run.json" test "$(field "d['runner']['network']")" = host

# --- pasta missing: one line before the job ------------------------------------------------------
mkdir -p "$T/nopasta-bin"
timeout 60 env PATH="$T/nopasta-bin" "$RUNPILOT_BIN" run --runner sandbox "$W/out.yaml" > "$T/nopasta.out" 2>&1
RC=$?
check "no pasta: fails (exit 1)" test "$RC" -eq 1
check "no pasta: one error line naming the package and network: none|host" \
	test "$(grep -c "runpilot: error:.*needs pasta, from Debian's passt package.*network: none.*host" "$T/nopasta.out")" = 1
check "no pasta: the job never ran" sh -c "! grep -q '^loopback' '$(last_run_dir)/logs.txt' 2>/dev/null"
check "network: bridge is a config error (exit 2)" sh -c \
	"printf 'name: b\nentrypoint: [\"true\"]\nsandbox: {network: bridge}\n' > '$W/bridge.yaml'; '$RUNPILOT_BIN' run --runner sandbox '$W/bridge.yaml' > '$T/bridge.out' 2>&1; [ \$? = 2 ] && grep -q \"network must be 'outbound', 'none' or 'host'\" '$T/bridge.out'"

# --- outbound reaches the outside: in a network namespace of the test's own -----------------------
if ! command -v pasta >/dev/null || ! command -v ip >/dev/null || [ "$(id -u)" != 0 ]; then
	skip "outbound to the outside" "needs root, pasta and ip (iproute2)"
	exit 0
fi
cat > "$T/world.py" <<'PY'
# The outside world on 10.231.0.2: a TCP server saying hello, a DNS server answering A queries.
import socket, struct, threading, sys
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.231.0.2", 8080)); s.listen(8)
    while True:
        c, _ = s.accept(); c.sendall(b"hello-from-the-world\n"); c.close()
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.231.0.2", 53))
    while True:
        q, a = s.recvfrom(512)
        qid, end = q[:2], 12
        while q[end]: end += q[end] + 1
        question = q[12:end + 5]
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("10.231.0.2")
        s.sendto(qid + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0) + question + ans, a)
threading.Thread(target=tcp, daemon=True).start()
open(sys.argv[1], "w").close()
dns()
PY
cat > "$T/inside-ns.sh" <<'SH'
# Runs in a new network and mount namespace (private propagation): the test's own "host".
set -e
T=$1 BIN=$2 W=$3
ip link set lo up
ip link add rpv0 type veth peer name rpv1
ip link add rpdummy0 type veth peer name rpdummy1
unshare -n sh -c 'sleep 120' &
WORLD=$!
sleep 0.2
ip link set rpv1 netns "$WORLD"
ip addr add 10.231.0.1/24 dev rpv0 && ip link set rpv0 up
ip route add default via 10.231.0.2
nsenter -t "$WORLD" -n sh -c 'ip link set lo up; ip addr add 10.231.0.2/24 dev rpv1; ip link set rpv1 up'
nsenter -t "$WORLD" -n python3 "$T/world.py" "$T/world.ready" &
for i in $(seq 50); do [ -e "$T/world.ready" ] && break; sleep 0.1; done
echo "nameserver 10.231.0.2" > "$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf
RUNPILOT_HOME=$T/world-home timeout 120 "$BIN" run --runner sandbox "$W/world.yaml" > "$T/world.out" 2>&1
echo $? > "$T/world.rc"
kill "$WORLD" %2 2>/dev/null || true
SH
mkconfig "$W/world.yaml" world '["python3", "probe.py", "tcp=10.231.0.2:8080", "dns=data.rp-test.invalid"]' "${ENV[@]}"
unshare -n -m --propagation private bash "$T/inside-ns.sh" "$T" "$RUNPILOT_BIN" "$W"
RD=$(ls -d "$T"/world-home/runs/rp_* 2>/dev/null | tail -n1)
check "outbound: the job runs in the test's namespace (exit 0)" test "$(cat "$T/world.rc" 2>/dev/null)" = 0
check "outbound: TCP to the outside works" grep -qx "world hello-from-the-world" "$RD/logs.txt"
check "outbound: DNS through pasta's forwarder works" grep -qx "dns 10.231.0.2" "$RD/logs.txt"
check "outbound: that host's other interfaces (rpdummy0) are not the job's" sh -c "! grep -q '^interfaces.*rpdummy0' '$RD/logs.txt'"
check "outbound: that host's loopback is still out of reach" grep -q "^loopback refused" "$RD/logs.txt"
