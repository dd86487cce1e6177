#!/bin/sh
# Run each cmocka test binary given; print cmocka's own summaries and one total line.
# Each binary runs under a time limit with its output in a file (not a pipe), so a hung test or a
# stray child that keeps stdout open fails that binary instead of stalling the whole suite.
limit=${RP_UNIT_TIMEOUT:-300}
passed=0 failed=0
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
for t in "$@"; do
	echo "== $(basename "$t")"
	timeout -k 10 "$limit" "$t" >"$out" 2>&1; rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		failed=$((failed + 1)); echo "unit: $t timed out after ${limit}s (hung test above)"
	elif [ $rc -ne 0 ] && [ -z "$f" ]; then
		failed=$((failed + 1)); echo "unit: $t exited $rc"
	fi
done
echo "unit: $passed passed, $failed failed"
[ $failed -eq 0 ]
