# A private Docker engine for the docker runner's tests (source after tests/integration/lib.sh).
#   dk_start        start dockerd under a short temp dir ($DK), export DOCKER_HOST, import the
#                   busybox image $DK_IMAGE; returns non-zero (with $DK_WHY) when it cannot
#   dk_stop         (an EXIT hook) remove containers, SIGTERM dockerd by its pid and wait, remove
#                   the test's cgroup dirs and the temp dir
#   dk              the docker CLI against the private engine (only for checks, never by runpilot)
# Everything is private: --data-root, --exec-root, pidfile and socket under $DK; the engine's
# cgroups under rp-test-<pid> in each hierarchy (removed at the end, deepest first).
DK_IMAGE=rp-busybox:test
DK_CG=rp-test-$$

dk() { docker "$@"; }

dk_start() {
	DK_WHY=""
	if [ "$(id -u)" != 0 ]; then DK_WHY="needs root to run a private dockerd"; return 1; fi
	if [ ! -x /usr/sbin/dockerd ] || ! command -v docker >/dev/null; then
		DK_WHY="docker.io is not installed (/usr/sbin/dockerd, docker)"; return 1
	fi
	if [ ! -x /bin/busybox ]; then DK_WHY="busybox-static is not installed"; return 1; fi
	# Short: a unix socket path has at most 108 bytes.
	DK=$(mktemp -d /tmp/rpdk.XXXXXX) || { DK_WHY="mktemp failed"; return 1; }
	chmod 755 "$DK"
	mkdir -p "$DK/data" "$DK/exec"
	rp_cleanup_hooks+=("dk_stop")
	/usr/sbin/dockerd --host "unix://$DK/d.sock" --data-root "$DK/data" --exec-root "$DK/exec" \
		--pidfile "$DK/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
		--exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$DK_CG" --shutdown-timeout 3 \
		> "$DK/dockerd.log" 2>&1 &
	DK_PID=$!
	export DOCKER_HOST=unix://$DK/d.sock
	local i
	for ((i = 0; i < 150; i++)); do
		timeout 5 docker info >/dev/null 2>&1 && break
		if ! kill -0 "$DK_PID" 2>/dev/null; then DK_WHY="dockerd exited: $(tail -n 3 "$DK/dockerd.log" | tr '\n' ' ')"; return 1; fi
		sleep 0.2
	done
	[ $i -lt 150 ] || { DK_WHY="dockerd did not answer in 30 s"; return 1; }
	bash "$(dirname "${BASH_SOURCE[0]}")/../../rootfs/build-busybox.sh" "$DK/rootfs" >/dev/null 2>&1 ||
		{ DK_WHY="cannot build the busybox rootfs"; return 1; }
	tar -C "$DK/rootfs" -c . | docker import - "$DK_IMAGE" >/dev/null 2>&1 ||
		{ DK_WHY="docker import failed"; return 1; }
	return 0
}

# The test cgroup dirs of every hierarchy, deepest first.
dk_cgroup_dirs() {
	find /sys/fs/cgroup -type d \( -name "$DK_CG" -o -path "*/$DK_CG/*" \) 2>/dev/null | awk '{print length, $0}' |
		sort -rn | cut -d' ' -f2-
}

dk_stop() {
	[ -n "${DK:-}" ] || return 0
	if [ -n "${DK_PID:-}" ] && kill -0 "$DK_PID" 2>/dev/null; then
		local ids
		ids=$(timeout 10 docker ps -aq 2>/dev/null)
		[ -z "$ids" ] || timeout 20 docker rm -f $ids >/dev/null 2>&1
		kill -TERM "$DK_PID"
		local i
		for ((i = 0; i < 150; i++)); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DK_PID" 2>/dev/null && echo "  warning: dockerd $DK_PID still runs after 15 s"
		wait "$DK_PID" 2>/dev/null
	fi
	local d
	for d in $(dk_cgroup_dirs); do rmdir "$d" 2>/dev/null; done
	# The runs' own cgroup parents (runpilot-<run>) live beside the engine's: any left is a bug,
	# reported by the tests; remove them so the host stays clean.
	rm -rf "$DK"
	DK=""
}

# Stop the engine (SIGTERM, wait), keeping $DK for dk_stop.
dk_stop_engine() {
	[ -n "${DK_PID:-}" ] || return 0
	kill -TERM "$DK_PID" 2>/dev/null
	local i
	for ((i = 0; i < 150; i++)); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$DK_PID" 2>/dev/null
}
