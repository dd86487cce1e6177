#!/usr/bin/env bash
# runpilot import: archives written by tests/helpers/mkexport.py (the format of
# docs/archive-format.md, independent of `runpilot export`): two runs land byte for byte with
# imported_from, a second import adds nothing, a taken id gets the next free one; every hostile
# archive is refused with exit 2 naming the problem, with runs/ unchanged and tmp/ empty; a
# killed import leaves no run; --dry-run writes nothing; gzip and zstd archives.
. "$(dirname "$0")/lib.sh"
MKEXPORT="python3 $(cd "$(dirname "$0")/../helpers" && pwd)/mkexport.py"
W=$T/work; mkdir -p "$W"
DST=$T/home             # the store imported into (lib.sh's RUNPILOT_HOME)
SRC=$T/src              # the store the runs come from

# --- two runs in the source store, with outputs, a subdirectory and symlinks ------------------
mkconfig "$W/a.yaml" alpha '"echo hello from alpha; echo loss: 0.5"' "params: {lr: 0.1}"
RUNPILOT_HOME=$SRC rp run -q --runner local "$W/a.yaml" >/dev/null 2>&1
RUNPILOT_HOME=$SRC rp run -q --runner local "$W/a.yaml" --name beta --param lr=0.2 >/dev/null 2>&1
R1=$SRC/runs/rp_0001 R2=$SRC/runs/rp_0002
head -c 70000 /dev/urandom > "$R1/outputs/model.pt"
mkdir -p "$R1/outputs/sub" "$R1/outputs/empty"
echo deep > "$R1/outputs/sub/deep.txt"
printf '#!/bin/sh\n' > "$R1/outputs/sub/tool.sh"; chmod 755 "$R1/outputs/sub/tool.sh"
ln -s model.pt "$R1/outputs/link"
ln -s ../model.pt "$R1/outputs/sub/up"
UID1=$(json "$R1/run.json" 'd["uid"]') UID2=$(json "$R2/run.json" 'd["uid"]')
$MKEXPORT "$W/two.tar" "$R1" "$R2"

# What a refused import must leave: runs/ as it was, tmp/ empty.
runs_state() { (cd "$DST" && find runs -mindepth 1 ! -name .last_id -printf '%p %y %s\n' 2>/dev/null | sort); }
tmp_empty() { [ -z "$(find "$DST/tmp" -mindepth 1 2>/dev/null)" ]; }

# --- --dry-run writes nothing ------------------------------------------------------------------
out=$(rp import "$W/two.tar" --dry-run 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "would import rp_0001 -> rp_0001  alpha" <<<"$out" && grep -q "would import 2 runs" <<<"$out" &&
	[ -z "$(find "$DST/runs" -mindepth 1 2>/dev/null)" ] && tmp_empty; then
	pass "--dry-run: shows the plan, writes nothing"
else
	fail "--dry-run: shows the plan, writes nothing" "rc=$rc $out; $(find "$DST" | head)"
fi

# --- a valid archive of two runs ---------------------------------------------------------------
out=$(rp import "$W/two.tar" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "^rp_0001 -> rp_0001  alpha$" <<<"$out" && grep -q "^rp_0002 -> rp_0002  beta$" <<<"$out" &&
	grep -q "^imported 2 runs (0 already present)$" <<<"$out"; then
	pass "two runs import"
else
	fail "two runs import" "rc=$rc $out"
fi
check "list shows them" test "$(rp list | awk 'NR > 1 {print $1, $2}' | tr '\n' ' ')" = "rp_0001 alpha rp_0002 beta "
# every file but run.json byte-identical, symlinks the same, the exec bit kept, no run.lock
same_tree() {
	local a=$1 b=$2
	diff <(cd "$a" && find . ! -name run.json ! -name run.lock -printf '%p %y %l %m\n' | sort) \
		<(cd "$b" && find . ! -name run.json -printf '%p %y %l %m\n' | sort) >/dev/null &&
		diff -r --no-dereference -x run.json -x run.lock "$a" "$b" >/dev/null
}
check "run 1: files byte-identical (outputs, subdirs, symlinks, modes)" same_tree "$R1" "$DST/runs/rp_0001"
check "run 2: files byte-identical" same_tree "$R2" "$DST/runs/rp_0002"
check "the exec bit travels" test -x "$DST/runs/rp_0001/outputs/sub/tool.sh"
check "an empty directory travels" test -d "$DST/runs/rp_0001/outputs/empty"
same_record() { # run.json equal but for id and imported_from
	python3 - "$1" "$2" <<'P'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
b.pop("imported_from"); b["id"] = a["id"]
sys.exit(a != b)
P
}
check "run.json equal but for id and imported_from" same_record "$R1/run.json" "$DST/runs/rp_0001/run.json"
check "imported_from: id, host, time, archive_created" python3 - "$DST/runs/rp_0002/run.json" <<'P'
import json, socket, sys
f = json.load(open(sys.argv[1]))["imported_from"]
assert f["id"] == "rp_0002" and f["host"] == socket.gethostname(), f
assert f["archive_created"] == "2026-12-03T12:00:00Z" and f["time"].endswith("Z") and f["time"][:2] == "20", f
P
check "tmp/ is empty after an import" tmp_empty

# --- twice adds nothing ------------------------------------------------------------------------
before=$(runs_state)
out=$(rp import "$W/two.tar" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "^rp_0001  already present$" <<<"$out" && grep -q "^imported 0 runs (2 already present)$" <<<"$out" &&
	[ "$(runs_state)" = "$before" ]; then
	pass "importing twice adds nothing"
else
	fail "importing twice adds nothing" "rc=$rc $out"
fi
rp rm --yes rp_0002 >/dev/null 2>&1
out=$(rp import "$W/two.tar" 2>&1)
check "a run in the trash counts as present" grep -q "^imported 0 runs (2 already present)$" <<<"$out"
rp restore rp_0002 >/dev/null 2>&1

# --- a taken id gets the next free one ----------------------------------------------------------
OTHER=$T/other; mkdir -p "$OTHER"
RUNPILOT_HOME=$OTHER rp run -q --runner local "$W/a.yaml" --name gamma >/dev/null 2>&1   # also rp_0001 there
$MKEXPORT "$W/gamma.tar" "$OTHER/runs/rp_0001"
out=$(rp import "$W/gamma.tar" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "^rp_0001 -> rp_0003  gamma$" <<<"$out" && [ "$(json "$DST/runs/rp_0003/run.json" 'd["id"]')" = rp_0003 ] &&
	[ "$(json "$DST/runs/rp_0003/run.json" 'd["imported_from"]["id"]')" = rp_0001 ]; then
	pass "a taken id gets the next free one"
else
	fail "a taken id gets the next free one" "rc=$rc $out"
fi
check "list shows the renumbered run" sh -c "'$RUNPILOT_BIN' list | grep -q '^rp_0003  gamma'"

# --- hostile archives: exit 2, one line naming the problem, nothing written ---------------------
refused() { # NAME VARIANT PATTERN [import args...]
	local name=$1 variant=$2 pattern=$3; shift 3
	local before out rc
	[ -n "$variant" ] && $MKEXPORT "$W/bad.tar" "$R1" "$R2" --variant "$variant"
	before=$(runs_state)
	out=$(rp import "$W/bad.tar" "$@" 2>&1); rc=$?
	if [ $rc -ne 2 ]; then fail "$name" "exit $rc, not 2: $out"
	elif [ "$(wc -l <<<"$out")" -ne 1 ] || ! grep -qE "^runpilot: error: .*$pattern" <<<"$out"; then fail "$name" "message: $out"
	elif [ "$(runs_state)" != "$before" ]; then fail "$name" "runs/ changed"
	elif ! tmp_empty; then fail "$name" "tmp/ not empty: $(find "$DST/tmp" -mindepth 1 | head -3)"
	else pass "$name"; fi
}
refused "absolute path refused" abs-path "/tmp/runpilot-import-evil: absolute path"
check "nothing written at the absolute path" test ! -e /tmp/runpilot-import-evil
refused "'..' refused" dotdot "runs/$UID1/\.\./\.\./evil: a '\.\.' component"
check "nothing written above the store" test ! -e "$DST/evil" -a ! -e "$T/evil"
refused "an empty path component refused" empty-component "an empty path component"
refused "a symlink leaving the run refused" symlink-out "outputs/escape: a symlink whose target leaves the run"
refused "an absolute symlink refused" symlink-abs "outputs/passwd: a symlink with an absolute target"
refused "a hard link refused" hardlink "outputs/hard: a hard link"
refused "a device file refused" device "outputs/null: a device file"
refused "a FIFO refused" fifo "outputs/fifo: a FIFO"
refused "a duplicate entry refused" duplicate "runs/$UID1/logs.txt: a duplicate entry"
refused "data larger than the manifest's size refused" larger "runs/$UID1/logs.txt: [0-9]+ bytes in the archive, larger than the manifest's size"
refused "an entry after the manifest refused" after-manifest "runs/$UID1/late.txt: an entry after MANIFEST.json"
refused "a manifest lying about a hash refused" bad-hash "runs/$UID1/logs.txt: SHA-256 differs from the manifest"
refused "a tampered file caught, naming it" tamper "runs/$UID1/logs.txt: SHA-256 differs from the manifest"
refused "a file not in the manifest refused" extra-file "outputs/unlisted.bin: not in the manifest"
refused "a manifest file missing from the archive refused" missing-file "outputs/gone.bin: listed in the manifest but missing from the archive"
refused "a missing manifest refused" no-manifest "no MANIFEST.json in the archive"
refused "an invalid manifest refused" bad-manifest "MANIFEST.json: \"files\" is missing or not an array"
refused "a run.json whose uid differs refused" uid-mismatch "runs/$UID1/run.json: its uid differs"
refused "a run without run.json refused" no-run-json "runs/$UID1/run.json: missing"
refused "a run not in the manifest refused" unlisted-run "runs/11111111-2222-4333-8444-555555555555: run .* is not listed"
$MKEXPORT "$W/bad.tar" "$R1" "$R2"
refused "total over --max-size refused" "" "more than the limit of 1024 bytes \(--max-size\)" --max-size 1k
RUNPILOT_IMPORT_MAX_SIZE=2k refused "\$RUNPILOT_IMPORT_MAX_SIZE is the limit too" "" "more than the limit of 2048 bytes"
head -c 100000 /dev/urandom > "$W/bad.tar"
refused "a garbage file refused" "" "not a valid archive"
: > "$W/bad.tar"
refused "an empty file refused" "" "not a valid archive|no MANIFEST.json"
out=$(rp import "$W/nothing-here.tar" 2>&1); rc=$?
check "a missing FILE is a usage error" test "$rc" = 2 -a "$out" = "runpilot: error: no file '$W/nothing-here.tar'"

# --- gzip and zstd, from a file and from stdin --------------------------------------------------
fresh() { rm -rf "$DST"; }
fresh; $MKEXPORT "$W/two.tar.gz" "$R1" "$R2" --gzip
imported_whole() { grep -q '^imported 2 runs' <<<"$1" && diff -r --no-dereference -x run.json -x run.lock "$R1" "$DST/runs/rp_0001"; }
out=$(rp import "$W/two.tar.gz" 2>&1)
check "a gzip archive imports" imported_whole "$out"
fresh; zstd -q -c "$W/two.tar" > "$W/two.tar.zst"
out=$(rp import "$W/two.tar.zst" 2>&1)
check "a zstd archive imports" imported_whole "$out"
fresh
out=$(gzip -c "$W/two.tar" | rp import - 2>&1)
check "an archive on stdin (-) imports" grep -q '^imported 2 runs' <<<"$out"

# --- a killed import leaves no run ---------------------------------------------------------------
fresh; mkdir -p "$DST/runs"
head -c 30000000 /dev/urandom > "$R2/outputs/big.bin"
$MKEXPORT "$W/big.tar" "$R1" "$R2"
rm -f "$R2/outputs/big.bin"
mkfifo "$W/pipe"
# the writer sends 20 MB (the big file's start) and then waits: the import is halfway in
python3 -c '
import sys, time
data = open(sys.argv[1], "rb").read(20000000)
with open(sys.argv[2], "wb") as f:
    f.write(data); f.flush(); time.sleep(60)' "$W/big.tar" "$W/pipe" &
writer=$!
"$RUNPILOT_BIN" import - < "$W/pipe" >/dev/null 2>&1 &
importer=$!
staged() { local mb; mb=$(du -sm "$DST/tmp" 2>/dev/null | cut -f1); [ "${mb:-0}" -ge 10 ]; }
if wait_for staged 20; then
	kill -9 $importer; wait $importer 2>/dev/null
	if [ -z "$(find "$DST/runs" -mindepth 1 ! -name .last_id)" ] && [ -n "$(find "$DST/tmp" -maxdepth 1 -name 'import-*')" ] &&
		[ -z "$(find "$DST" -mindepth 1 -maxdepth 1 ! -name runs ! -name tmp)" ]; then
		pass "a killed import leaves no run, its staging only under tmp/"
	else
		fail "a killed import leaves no run, its staging only under tmp/" "$(find "$DST" -maxdepth 3 | head)"
	fi
else
	kill -9 $importer 2>/dev/null; wait $importer 2>/dev/null
	fail "a killed import leaves no run, its staging only under tmp/" "the import never staged 10 MB"
fi
kill $writer 2>/dev/null; wait $writer 2>/dev/null
# the next import is not disturbed by the leftover staging
out=$(rp import "$W/two.tar" 2>&1)
check "an import after a killed one works" grep -q '^imported 2 runs' <<<"$out"

# Progress: on a terminal one line that reaches 100%; off a terminal none.
RUNPILOT_HOME=$T/home-tty python3 "$PTY" "$T/tty.out" "$RUNPILOT_BIN" import "$W/two.tar"; rc=$?
check "on a terminal: a progress line that reaches 100%" sh -c "[ $rc = 0 ] && grep -aq 'import *100%' '$T/tty.out'"
RUNPILOT_HOME=$T/home-pipe "$RUNPILOT_BIN" import "$W/two.tar" > "$T/pipe.out" 2>&1
check "off a terminal: imported, with no progress line" sh -c "grep -q '^imported 2 runs' '$T/pipe.out' && [ \$(tr -cd '\r' < '$T/pipe.out' | wc -c) = 0 ]"
