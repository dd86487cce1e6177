#!/usr/bin/env bash
# Run every tests/integration/test_*.sh, tests/ui/test_*.sh, tests/docker/test_*.sh and tests/slurm/test_*.sh and tests/server/test_*.sh (or those named) against the binaries of a build:
#   tests/run-integration.sh BUILD_DIR [TEST_FILE...]
# BUILD_DIR holds runpilot and runpilot-test (the test build, with the hooks of testhooks.h);
# the workloads are in build/helpers. Both are copied into a temporary directory anyone can
# read, so tests that run runpilot as an unprivileged user work from any checkout, a home of
# mode 0700 included. Each file runs in its own temporary RUNPILOT_HOME and reports through
# lib.sh; this prints the total. Each file has a time limit (RP_FILE_TIMEOUT, seconds): a hang
# fails that file, not the whole CI.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/run-integration.sh BUILD_DIR [TEST_FILE...]}
shift
bin=$(mktemp -d /tmp/rp-bin.XXXXXX) || exit 1
results=$(mktemp)
trap 'rm -rf "$bin" "$results"' EXIT
chmod 755 "$bin"
mkdir "$bin/helpers"
cp "$build/runpilot" "$build/runpilot-test" "$bin/" || exit 1
cp "$here/../build/helpers/"* "$bin/helpers/" 2>/dev/null
chmod -R a+rX "$bin"
export RUNPILOT_BIN=$bin/runpilot RUNPILOT_TEST_BIN=$bin/runpilot-test RP_HELPERS=$bin/helpers
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/integration/test_*.sh "$here"/ui/test_*.sh "$here"/docker/test_*.sh "$here"/slurm/test_*.sh "$here"/server/test_*.sh)
for f in "${files[@]}"; do
	echo "== $(basename "$f")"
	RP_RESULTS=$results timeout -k 10 "${RP_FILE_TIMEOUT:-600}" bash "$f"
	rc=$?
	[ $rc -ne 124 ] && [ $rc -ne 137 ] || echo "F $(basename "$f"):timed-out" >> "$results"
	[ $rc -eq 0 ] || grep -q "^F $(basename "$f")" "$results" || echo "F $(basename "$f"):exit-$rc" >> "$results"
done
total_p=$(grep -c '^P ' "$results"); total_f=$(grep -c '^F ' "$results"); total_s=$(grep -c '^S ' "$results")
if [ "$total_f" -gt 0 ]; then echo "failed:"; grep '^F ' "$results" | sed 's/^F /  /'; fi
if [ "$total_s" -gt 0 ]; then echo "skipped:"; grep '^S ' "$results" | sed 's/^S /  /'; fi
echo "integration: $total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
