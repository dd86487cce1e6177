# Helpers shared by the test_sandbox_*.sh files (source after lib.sh).
#   sb_usable                 true when this host can build a sandbox (else the file skips)
#   sb_mount_snapshot FILE    the host's mount table, for sb_no_leftovers
#   sb_no_leftovers NAME SNAP RUN_DIR   pass/fail: no new mount, no live process of runpilot
#                             naming $T, no .overlay-work left in the run dir
#   sb_make_user              create a throwaway user (removed at exit) named $SB_USER
#   sb_root_and_user FN WHAT  FN root, then FN user as_user $SB_USER (or a skip saying why)
#   sb_workdir                $W (a world-readable work dir) and $SNAP (the mount table now)
#   sb_run NAME RUNNER ARGS   runpilot run --runner RUNNER ARGS: output in $T/NAME.out, RC, RD
#   as_user USER CMD...       run CMD as USER (setpriv), keeping the environment
#   sb_user_python USER       python3 works for USER (shared hosts may have odd python setups)

sb_usable() {
	mkdir -p "$T/.sbprobe"
	printf 'name: probe\nentrypoint: ["true"]\n' > "$T/.sbprobe/probe.yaml"
	RUNPILOT_HOME=$T/.sbprobe/home "$RUNPILOT_BIN" run --runner sandbox -q "$T/.sbprobe/probe.yaml" >/dev/null 2>&1
}

sb_mount_snapshot() { awk '{print $5, $4, $9}' /proc/self/mountinfo | sort > "$1"; }

# Live (non-zombie) processes whose command line mentions the test's temp dir, other than us.
sb_live_procs() {
	local p cmd st
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null) || continue
		case "$cmd" in *runpilot*"$T"*) ;; *) continue ;; esac
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$p $cmd"
	done
}

sb_no_leftovers() {
	local name=$1 snap=$2 rd=${3:-} now left=""
	now=$(mktemp)
	sb_mount_snapshot "$now"
	if ! cmp -s "$snap" "$now"; then left="mounts: $(diff "$snap" "$now" | head -n 5 | tr '\n' ' ')"; fi
	rm -f "$now"
	local procs
	procs=$(sb_live_procs)
	[ -z "$procs" ] || left="$left processes: $procs"
	if [ -n "$rd" ] && [ -e "$rd/.overlay-work" ]; then left="$left temp dir: $rd/.overlay-work"; fi
	if [ -z "$left" ]; then pass "$name: no leftover mount, process or temp dir"; else fail "$name: no leftovers" "$left"; fi
}

sb_make_user() {
	SB_USER="rpsb$$$RANDOM"
	useradd -M -d /nonexistent -s /bin/sh "$SB_USER" >/dev/null 2>&1 || return 1
	rp_cleanup_hooks+=("userdel '$SB_USER' >/dev/null 2>&1 || echo \"  warning: userdel $SB_USER failed\"")
}

# True when python3 (as found on PATH) runs for USER within a few seconds.
sb_user_python() { as_user "$1" timeout 3 python3 -c pass >/dev/null 2>&1; }

as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@"; }
# Start CMD in the background as USER (or as ourselves without one); $! is CMD's own pid.
bg_as() { local u=$1; shift; if [ -n "$u" ]; then setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@" & else "$@" & fi; }

sb_root_and_user() {
	local fn=$1 what=$2
	"$fn" root
	if [ "$(id -u)" != 0 ]; then
		skip "$what as an unprivileged user" "needs root to create a throwaway user"
	elif ! command -v useradd >/dev/null || ! sb_make_user; then
		skip "$what as an unprivileged user" "cannot create a user"
	else
		"$fn" user as_user "$SB_USER"
	fi
}

sb_workdir() {
	W=$T/work
	mkdir -p "$W"
	chmod 755 "$W"
	SNAP=$T/mounts
	sb_mount_snapshot "$SNAP"
}

sb_run() {
	local n=$1 runner=$2; shift 2
	timeout 120 "$RUNPILOT_BIN" run --runner "$runner" "$@" > "$T/$n.out" 2>&1
	RC=$?
	RD=$(last_run_dir)
}
