#!/usr/bin/env bash
# Nothing a cloned repository controls runs on the host before (or instead of) the sandbox: the
# fingerprint reads git with libgit2 (no fsmonitor, filter driver or hook of the repository's
# runs), and the interpreter's probe (a venv's python with a .pth file, a sitecustomize.py on
# PYTHONPATH) runs inside the sandbox. Each trap would create a marker on the host; `run` under
# the sandbox, and `verify` and `diff` always, create none. Under the local runner, which trusts
# its job, git is still read without running anything.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

PY=/usr/bin/python3
for t in git "$PY"; do
	if ! command -v "$t" >/dev/null; then
		skip "workdir code" "$t is not installed"
		exit 0
	fi
done
# traps WHO [as_user USER]: the whole check, as root or as a throwaway user who owns the repository.
traps() {
local who=$1; shift
local M=$T/$who/markers   # on the host, outside the workdir: a sandboxed job cannot write here
local W=$T/$who/repo RH=$T/$who/home
mkdir -p "$M" "$W" "$RH"
# --- a repository with traps --------------------------------------------------------------
git -C "$W" init -q -b main .
cat > "$W/train.py" <<'PY'
print("trained")
PY
printf '*.py filter=trap\n' > "$W/.gitattributes"
mkdir -p "$W/hooks"
for h in pre-commit post-index-change post-checkout reference-transaction; do
	printf '#!/bin/sh\ntouch %s/hook-%s\n' "$M" "$h" > "$W/hooks/$h"
	chmod +x "$W/hooks/$h"
done
printf '#!/bin/sh\ntouch %s/fsmonitor\n' "$M" > "$W/fsmonitor.sh"
chmod +x "$W/fsmonitor.sh"
# a venv whose python is the system's, with a .pth that runs code at start-up
mkdir -p "$W/.venv/bin" "$W/.venv/lib/python3/site-packages"
ln -s "$PY" "$W/.venv/bin/python3"
printf 'home = /usr/bin\ninclude-system-site-packages = true\n' > "$W/.venv/pyvenv.cfg"
ver=$("$PY" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
mkdir -p "$W/.venv/lib/$ver/site-packages"
printf 'import os; open("%s/pth", "w").close()\n' "$M" > "$W/.venv/lib/$ver/site-packages/trap.pth"
printf 'import os\nopen("%s/sitecustomize", "w").close()\n' "$M" > "$W/sitecustomize.py"
git -C "$W" add -A
git -C "$W" -c user.email=t@t -c user.name=t -c core.hooksPath=/nonexistent commit -qm traps
# the traps armed only now (git itself, above, must not trip them)
git -C "$W" config core.fsmonitor "$W/fsmonitor.sh"
git -C "$W" config filter.trap.clean "sh -c 'touch $M/clean-filter; cat'"
git -C "$W" config filter.trap.smudge "sh -c 'touch $M/smudge-filter; cat'"
git -C "$W" config core.hooksPath "$W/hooks"
echo 'print("changed")' >> "$W/train.py"     # dirty: a status must look at its content
mkconfig "$W/run.yaml" traps '["python3", "train.py"]' \
	"env:" "  PATH: $W/.venv/bin:/usr/bin:/bin" "  PYTHONPATH: ." \
	"sandbox: {network: none}"
chmod -R a+rX "$T"
[ $# -gt 0 ] && chown -R "${*: -1}:${*: -1}" "$T/$who"
rpx() { RUNPILOT_HOME=$RH HOME=$RH "$@"; }
last() { ls -d "$RH"/runs/rp_* 2>/dev/null | sort -V | tail -n1; }
markers() { ls -A "$M" | tr '\n' ' '; }

if sb_usable; then
	rpx "$@" "$RUNPILOT_BIN" run --runner sandbox -q "$W/run.yaml" > "$T/$who.run.out" 2>&1
	RD=$(last)
	check "$who: sandbox run: the job ran" grep -q changed "$RD/logs.txt"
	check "$who: sandbox run: no marker on the host (got: $(markers))" test -z "$(markers)"
	check "$who: sandbox run: the fingerprint read git (dirty, the changed file named)" \
		test "$(json "$RD/run.json" "[d['environment']['components']['code']['kind'], 'train.py' in d['environment']['components']['code']['dirty_files']]")" = '["git", true]'
	check "$who: sandbox run: the interpreter's probe ran, in the sandbox (its version is known)" \
		test "$(json "$RD/run.json" "d['environment']['components']['runtime']['interpreter'].get('version') is not None")" = true
	rm -rf "$RH/cache"  # the probe's answer is cached: verify must ask again
	rpx "$@" "$RUNPILOT_BIN" verify last > "$T/$who.verify.out" 2>&1; vrc=$?
	check "$who: verify: answers (0 or 1)" test "$vrc" -le 1
	check "$who: verify: no marker on the host (got: $(markers))" test -z "$(markers)"
	local first
	first=$(basename "$RD")
else
	skip "$who: workdir code: sandbox run" "the sandbox cannot run on this host"
fi

# The local runner trusts its job (the job, and so its .pth and sitecustomize.py, run on the host),
# but git is read the same way: no fsmonitor, filter or hook.
rpx "$@" "$RUNPILOT_BIN" run --runner local -q "$W/run.yaml" > "$T/$who.local.out" 2>&1
check "$who: local run: the job ran" grep -q changed "$(last)/logs.txt"
check "$who: local run: no git trap ran (got: $(markers))" sh -c "! ls '$M' | grep -qE 'fsmonitor|filter|hook'"
rm -f "$M"/*
rm -rf "$RH/cache"
rpx "$@" "$RUNPILOT_BIN" verify last > /dev/null 2>&1
check "$who: verify of a local run: no marker on the host (got: $(markers))" test -z "$(markers)"
rpx "$@" "$RUNPILOT_BIN" diff "${first:-1}" last > /dev/null 2>&1
check "$who: diff: no marker on the host (got: $(markers))" test -z "$(markers)"
}

sb_root_and_user traps "workdir code"
