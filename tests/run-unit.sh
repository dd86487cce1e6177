#!/bin/sh
# Run each cmocka test binary given; print cmocka's own summaries and one total line, with the
# skipped tests counted and each one's reason (tests say why with skip_because, skip_util.h).
# Each binary runs under a time limit with its output in a file (not a pipe), so a hung test or a
# stray child that keeps stdout open fails that binary instead of stalling the whole suite.
limit=${RP_UNIT_TIMEOUT:-300}
passed=0 failed=0 skipped=0
out=$(mktemp) || exit 1
reasons=$(mktemp) || exit 1
trap 'rm -f "$out" "$reasons"' EXIT
for t in "$@"; do
	echo "== $(basename "$t")"
	timeout -k 10 "$limit" "$t" >"$out" 2>&1; rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	sed -n "s/^skipped: /  $(basename "$t"): /p" "$out" >> "$reasons"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		failed=$((failed + 1)); echo "unit: $t timed out after ${limit}s (hung test above)"
	elif [ $rc -ne 0 ] && [ -z "$f" ]; then
		failed=$((failed + 1)); echo "unit: $t exited $rc"
	fi
done
if [ $skipped -gt 0 ]; then
	echo "unit: skipped, and why:"
	cat "$reasons"
fi
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
