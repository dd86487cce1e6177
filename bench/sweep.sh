#!/usr/bin/env bash
# A local sweep against a shell loop: 16 runs of a short CPU job (spin, ~0.5 s of busy loop each),
# once as `runpilot run --param i=1,...,16 --parallel 2` and once as 16 `runpilot run` started one
# after another by a shell loop, in interleaved rounds. Prints each round's wall seconds and the
# median ratio sweep / loop (goal: <= 0.6 on a host with 2 CPUs or more).
#   bench/sweep.sh [RUNPILOT_BIN]     env: N (runs, 16), SECS (0.5), PARALLEL (2), ROUNDS (3),
#                                     RUNNER (auto)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
spin=$here/build/helpers/spin
[ -x "$bin" ] || { echo "sweep: $bin not built (make)" >&2; exit 1; }
[ -x "$spin" ] || { echo "sweep: $spin not built (make helpers)" >&2; exit 1; }
N=${N:-16} SECS=${SECS:-0.5} PARALLEL=${PARALLEL:-2} ROUNDS=${ROUNDS:-3} RUNNER=${RUNNER:-auto}
T=$(mktemp -d /tmp/rpbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
export RUNPILOT_HOME=$T/home
printf 'name: spin\nentrypoint: ["%s", "%s"]\n' "$spin" "$SECS" > "$T/job.yaml"
list=$(seq -s, 1 "$N")

now() { date +%s.%N; }
sweep_once() {
	local t0; t0=$(now)
	"$bin" run "$T/job.yaml" -q --runner "$RUNNER" --param "i=$list" --parallel "$PARALLEL" 2>/dev/null ||
		{ echo "sweep: the sweep failed" >&2; exit 1; }
	echo "$(now) - $t0" | bc
}
loop_once() {
	local t0 i; t0=$(now)
	for i in $(seq 1 "$N"); do
		"$bin" run "$T/job.yaml" -q --runner "$RUNNER" --param "i=$i" 2>/dev/null ||
			{ echo "sweep: run $i failed" >&2; exit 1; }
	done
	echo "$(now) - $t0" | bc
}

echo "sweep: $N runs of spin $SECS s, --parallel $PARALLEL, runner $RUNNER, $(nproc) CPUs"
ratios=()
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then s=$(sweep_once); l=$(loop_once); else l=$(loop_once); s=$(sweep_once); fi
	ratio=$(printf "%.3f" "$(echo "scale=4; $s / $l" | bc)")
	ratios+=("$ratio")
	printf 'round %d: sweep %.2f s, loop %.2f s, ratio %s\n' "$r" "$s" "$l" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "median ratio sweep / loop: $median (goal <= 0.6)"
