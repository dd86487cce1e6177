#!/usr/bin/env bash
# The job never reaches the user's terminal (bubblewrap's CVE-2017-5226): runpilot runs under a
# pty, as in an interactive shell; the job (sb_escape --terminal) tries to type a command into
# it with TIOCSTI and TIOCLINUX, through /dev/tty and its own stdio; the shell that started
# runpilot then reads what is waiting on the terminal, which must be nothing. Every runner, as
# root and as an unprivileged user. Ctrl-C typed at that terminal still cancels the run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

ESC=${RP_HELPERS:?run through tests/run-integration.sh}/sb_escape
if [ ! -x "$ESC" ]; then
	skip "terminal" "test helper $ESC not built"
	exit 0
fi

W=$T/work
mkdir -p "$W"
cp "$ESC" "$W/sb_escape"
chmod -R a+rX "$T"
mkconfig "$W/tty.yaml" tty '["./sb_escape", "--terminal"]'
mkconfig "$W/wait.yaml" wait '["sh", "-c", "echo waiting; sleep 30"]'

# One run under a pty, then the shell reads for a second what waits on the terminal.
check_runner() {
	local who=$1 runner=$2; shift 2
	local out=$T/tty-$who-$runner.out H=$T/home-$who
	mkdir -p "$H"
	[ $# -gt 0 ] && chown "${*: -1}" "$H" "$W" "$T"
	"$@" env RUNPILOT_HOME="$H" python3 "$PTY" "$out.tmp" bash -c "'$RUNPILOT_BIN' run --runner $runner \
		'$W/tty.yaml'; read -t 1 line; echo \"AFTER:[\$line]\""
	cp "$out.tmp" "$out" 2>/dev/null
	check "$who/$runner: the job's terminal attempts were all made" grep -q '^DONE' "$out"
	check "$who/$runner: no terminal attempt succeeded" sh -c "! grep -q '^ESCAPED' '$out'"
	check "$who/$runner: the shell reads nothing the job typed" grep -q 'AFTER:\[\]' "$out"
	check "$who/$runner: nothing injected ran" sh -c "! grep -q '^INJECTED-BY-JOB' '$out'"
}

runners=(local)
sb_usable && runners+=(sandbox)
for r in "${runners[@]}"; do
	check_runner root "$r"
done
if [ "$(id -u)" = 0 ] && sb_make_user; then
	for r in "${runners[@]}"; do
		check_runner user "$r" as_user "$SB_USER"
	done
else
	skip "terminal: unprivileged user" "needs root and useradd"
fi

# Ctrl-C typed at the terminal still cancels the run (runpilot forwards it to the job).
for r in "${runners[@]}"; do
	out=$T/ctrlc-$r.out
	READY_RE=waiting INPUT='\x03' RUNPILOT_HOME=$T/home-ctrlc python3 "$PTY" "$out" \
		"$RUNPILOT_BIN" run --runner "$r" "$W/wait.yaml"
	check "$r: Ctrl-C at the terminal cancels the run" grep -q 'cancelled' "$out"
done
