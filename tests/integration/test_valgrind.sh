#!/usr/bin/env bash
# The core's commands under valgrind's memcheck: a run (local runner) and everything that reads,
# changes and moves runs afterwards. Any invalid read or write, use of an uninitialised value or
# definite leak fails the command (exit 99). Skipped for the sanitizer build, which checks the same
# things itself (and cannot run under valgrind).
. "$(dirname "$0")/lib.sh"

if ! command -v valgrind >/dev/null; then
	skip "valgrind" "VALGRIND IS NOT INSTALLED (apt-get install valgrind: make deps)"
	exit 0
fi
if ldd "$RUNPILOT_BIN" | grep -q libasan; then
	skip "valgrind" "the ASan build is checked by its sanitizers"
	exit 0
fi
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
	--errors-for-leak-kinds=definite --child-silent-after-fork=yes)
W=$T/w
mkdir -p "$W"
mkconfig "$W/job.yaml" vgjob '"echo loss: 0.5; echo acc=0.9; echo done"' "params: {lr: 0.1}"
vg() { "${VG[@]}" "$RUNPILOT_BIN" "$@"; }
clean() { # NAME CMD...: the command ran and memcheck found nothing
	local name=$1 rc
	shift
	"$@" >"$T/vg.out" 2>"$T/vg.err"
	rc=$?
	if [ $rc -eq 99 ] || grep -q '^==[0-9]*==' "$T/vg.err"; then
		fail "$name" "memcheck: $(grep -m3 '^==' "$T/vg.err" | tr '\n' ' ')"
	elif [ $rc -ne 0 ]; then
		fail "$name" "exit $rc: $(head -n 2 "$T/vg.err" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

clean "run (local)" vg run "$W/job.yaml" --runner local -q
rp run "$W/job.yaml" --runner local -q --param lr=0.2 >/dev/null 2>&1
clean "list" vg list
clean "list --where" vg list --where 'params.lr > 0.1 and metrics.loss < 1'
clean "list --jsonl" vg list --jsonl
clean "show" vg show rp_0001
clean "logs" vg logs rp_0001
clean "metrics" vg metrics rp_0001
clean "compare" vg compare rp_0001 rp_0002
clean "diff" vg diff rp_0001 rp_0002
clean "tag" vg tag rp_0001 vg
clean "note" vg note rp_0001 "checked under valgrind"
clean "config --explain" vg config --explain "$W/job.yaml"
clean "export" vg export rp_0001 rp_0002 -o "$T/runs.tar"
clean "import" env RUNPILOT_HOME="$T/other" "${VG[@]}" "$RUNPILOT_BIN" import "$T/runs.tar"
clean "rm" vg rm rp_0002 --yes
clean "restore" vg restore rp_0002
clean "reindex" vg reindex
clean "wait" vg wait rp_0001
clean "gc --dry-run" vg gc --dry-run
clean "a sweep" vg run "$W/job.yaml" --runner local -q --param lr=0.3,0.4
clean "sweep status" vg sweep ls
clean "report" vg report rp_0001 rp_0002 -o "$T/report.html"
