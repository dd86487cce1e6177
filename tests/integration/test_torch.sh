#!/usr/bin/env bash
# A real torch job under the sandbox's seccomp allow list: Debian's python3-torch trains a small
# MLP with DataLoader worker processes (tests/integration/torch/train.py). Nothing it does may be
# refused; seccomp.log is on to name any refused call.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
	skip "torch under seccomp" "Debian's python3-torch is not installed (make test-deps installs it)"
	exit 0
fi
if ! sb_usable; then
	skip "torch under seccomp" "the sandbox cannot run on this host (runpilot doctor)"
	exit 0
fi
W=$T/work
mkdir -p "$W"
cp "$(dirname "$0")/torch/train.py" "$W/"
mkconfig "$W/torch.yaml" torch-mlp "[\"$PY\", \"train.py\"]" "sandbox: {seccomp: {log: true}}"
rp run --runner sandbox "$W/torch.yaml" > "$T/out" 2>&1; rc=$?
RD=$(last_run_dir)
check "torch MLP with DataLoader workers: exit 0 under the default filter" test "$rc" -eq 0
check "...trained 3 epochs" test "$(grep -c '^epoch: ' "$RD/logs.txt")" -eq 3
check "...saved its model to outputs/" test -s "$RD/outputs/model.pt"
check "...the filter was the default profile" test "$(json "$RD/run.json" "d['runner']['seccomp']")" = default
check "...and refused nothing" test "$(json "$RD/run.json" "d['runner'].get('denied_syscalls', {})")" = "{}"
[ "$rc" -eq 0 ] || tail -n 20 "$T/out"
