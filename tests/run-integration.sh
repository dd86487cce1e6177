#!/usr/bin/env bash
# Run every tests/integration/test_*.sh (or those named) against $RUNPILOT_BIN.
# Each file runs in its own temporary RUNPILOT_HOME and reports through lib.sh; this prints the total.
# Each file has a time limit (RP_FILE_TIMEOUT, seconds): a hang fails that file, not the whole CI.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${RUNPILOT_BIN:?set RUNPILOT_BIN to the runpilot binary}"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/integration/test_*.sh)
total_p=0 total_f=0 total_s=0
results=$(mktemp)
for f in "${files[@]}"; do
	echo "== $(basename "$f")"
	RP_RESULTS=$results timeout -k 10 "${RP_FILE_TIMEOUT:-600}" bash "$f"
	rc=$?
	[ $rc -ne 124 ] && [ $rc -ne 137 ] || echo "F $(basename "$f"):timed-out" >> "$results"
	[ $rc -eq 0 ] || grep -q "^F $(basename "$f")" "$results" || echo "F $(basename "$f"):exit-$rc" >> "$results"
done
total_p=$(grep -c '^P ' "$results"); total_f=$(grep -c '^F ' "$results"); total_s=$(grep -c '^S ' "$results")
if [ "$total_f" -gt 0 ]; then echo "failed:"; grep '^F ' "$results" | sed 's/^F /  /'; fi
rm -f "$results"
echo "integration: $total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
