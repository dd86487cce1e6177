#!/usr/bin/env bash
# Environment fingerprint: run.json's "environment", `verify`, `diff`, `list --fingerprint`,
# `show --files`. Every planted change must be detected by verify (exit 1) AND named.
source "$(dirname "$0")/lib.sh"

P=$T/proj
mkdir -p "$P/data"
printf 'lr = 0.1\nprint("train")\n' > "$P/train.py"
printf 'data/\n' > "$P/.runpilotignore"
echo 1 > "$P/data/shard0"
mkconfig "$P/cfg.yaml" fp 'python3 train.py' 'params:' '  lr: 0.1' 'env:' '  MY_FLAG: "1"'
# Fake site dir on the interpreter's path holding one distribution.
SITE=$T/site
mkdir -p "$SITE/fakepkg-1.0.0.dist-info"
printf 'Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0.0\n' > "$SITE/fakepkg-1.0.0.dist-info/METADATA"
export PYTHONPATH=$SITE
unset OMP_NUM_THREADS

out=$T/out
# verify RUN [args]: output in $out, exit code in $vrc
verify() { rp verify "$@" > "$out" 2>&1; vrc=$?; }
# expect_change NAME PATTERN: verify said changed (exit 1) and named PATTERN
expect_change() {
	if [ "$vrc" = 1 ] && grep -qF -- "$2" "$out"; then pass "$1"; else fail "$1" "exit $vrc, no '$2' in: $(cat "$out")"; fi
}
expect_same() {
	[ "$vrc" = 0 ] || cat "$out" >&2
	if [ "$vrc" = 0 ] && grep -q 'environment identical' "$out"; then pass "$1"; else fail "$1" "exit $vrc: $(cat "$out")"; fi
}

rp run "$P/cfg.yaml" --runner local -q > /dev/null 2>&1
R1=$(last_run_dir)
check "run.json has a fingerprint" test "$(json "$R1/run.json" 'd["environment"]["fingerprint"][:7]')" = "sha256:"
check "components recorded" test "$(json "$R1/run.json" '",".join(sorted(d["environment"]["components"]))')" = "code,config,env,packages,runtime"
check "context recorded, outside the hash" test "$(json "$R1/run.json" 'd["environment"]["context"]["runpilot_version"] != None')" = true
check "per-run variables never recorded" test "$(json "$R1/run.json" '[k for k in d["environment"]["components"]["env"]["vars"] if k.startswith("RUNPILOT_") or k in ("PWD","SHLVL","TERM")]')" = "[]"
check "package recorded" grep -q '"fakepkg==1.0.0"' "$R1/run.json"
check "file list kept beside run.json" test "$(json "$R1/run.json" 'd["environment"]["components"]["code"]["files_list"]')" = files.json

# show --files: the counted files, not the ignored ones
rp show last --files > "$out"
if grep -qx train.py "$out" && ! grep -q shard0 "$out"; then pass "show --files lists counted files"; else fail "show --files lists counted files" "$(cat "$out")"; fi

# Determinism: a new process, a different shell state, a touched-but-unchanged file.
touch -d '2001-02-03' "$P/train.py"
(cd / && PWD=/ SHLVL=7 TERM=dumb OLDPWD=/nowhere SSH_TTY=/dev/pts/9 "$RUNPILOT_BIN" verify last) > "$out" 2>&1; vrc=$?
expect_same "same environment, other shell, touched file: identical"

# An ignored file changed: same.
echo 2 > "$P/data/shard0"
verify last
expect_same "ignored file changed: identical"

# Two copies of the workdir created in opposite orders: same code hash.
for d in A B; do mkdir -p "$T/$d/sub"; done
for f in z.py a.py sub/m.py sub/b.py; do echo "$f" > "$T/A/$f"; done
for f in sub/b.py sub/m.py a.py z.py; do echo "$f" > "$T/B/$f"; done
mkconfig "$T/A/c.yaml" same true
mkconfig "$T/B/c.yaml" same true
rp run "$T/A/c.yaml" --runner local -q > /dev/null 2>&1; RA=$(last_run_dir)
rp run "$T/B/c.yaml" --runner local -q > /dev/null 2>&1; RB=$(last_run_dir)
check "shuffled creation order: same code hash" test "$(json "$RA/run.json" 'd["environment"]["components"]["code"]["hash"]')" = "$(json "$RB/run.json" 'd["environment"]["components"]["code"]["hash"]')"

# Planted changes, each detected and named.
verify "$(basename "$R1")" --param lr=0.2
expect_change "param override named" "params.lr: 0.1 → 0.2"

cp "$P/cfg.yaml" "$T/edited.yaml"
printf 'resources:\n  timeout: 90s\n' >> "$T/edited.yaml"
sed -i "s|^name: fp|name: fp\nworkdir: $P|" "$T/edited.yaml"
verify "$(basename "$R1")" --config "$T/edited.yaml"
expect_change "config key named" "resources.timeout: added"

# By default verify re-reads the config file the run was started from, with the run's overrides.
# (outside the workdir, so deleting it later does not change the code component)
sed "s|^name: fp|name: fp\nworkdir: $P|" "$P/cfg.yaml" > "$T/orig.yaml"
rp run "$T/orig.yaml" --runner local -q --param lr=0.3 > /dev/null 2>&1; RO=$(basename "$(last_run_dir)")
verify "$RO"
expect_same "verify re-applies the run's own --param overrides"
printf 'resources:\n  pids: 64\n' >> "$T/orig.yaml"
verify "$RO"
expect_change "edited original config file named without --config" "resources.pids: added"
rm "$T/orig.yaml"
verify "$RO"
expect_same "original config gone: the run's own config.yaml stands in"

OMP_NUM_THREADS=3 verify "$(basename "$R1")"
expect_change "env var named" "OMP_NUM_THREADS: added"

printf 'Metadata-Version: 2.1\nName: fakepkg\nVersion: 2.0.0\n' > "$SITE/fakepkg-1.0.0.dist-info/METADATA"
verify "$(basename "$R1")"
expect_change "package version named" "fakepkg 1.0.0 → 2.0.0"
printf 'Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0.0\n' > "$SITE/fakepkg-1.0.0.dist-info/METADATA"

mkdir -p "$T/bin"
printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" > "$T/bin/python3"
chmod +x "$T/bin/python3"
PATH=$T/bin:$PATH verify "$(basename "$R1")"
expect_change "different interpreter named" "interpreter.path"

sed -i 's/lr = 0.1/lr = 0.2/' "$P/train.py"
verify "$(basename "$R1")"
expect_change "edited code line named" "modified: train.py"
# files.json only names files: emptied (as a power loss may leave it), verify still finds the
# change from run.json's hashes and reports it, without an error.
cp "$R1/files.json" "$T/files.json.bak"
: > "$R1/files.json"
verify "$(basename "$R1")"
expect_change "empty files.json: the code change is still found" "code"
check "empty files.json: no error line" sh -c "! grep -q 'runpilot: error' '$out'"
cp "$T/files.json.bak" "$R1/files.json"
sed -i 's/lr = 0.2/lr = 0.1/' "$P/train.py"
verify "$(basename "$R1")"
expect_same "edit reverted: identical again"

# A git workdir: untracked file, staged change.
if command -v git > /dev/null; then
	G=$T/repo
	mkdir -p "$G"
	printf 'print(1)\n' > "$G/train.py"
	printf '*.log\n' > "$G/.gitignore"
	mkconfig "$G/cfg.yaml" gitrun 'python3 train.py'
	(cd "$G" && git init -q . && git add -A && git -c user.email=t@t -c user.name=t commit -qm init)
	rp run "$G/cfg.yaml" --runner local -q > /dev/null 2>&1
	RG=$(basename "$(last_run_dir)")
	check "git commit recorded" test "$(json "$RUNPILOT_HOME/runs/$RG/run.json" 'len(d["environment"]["components"]["code"]["commit"])')" = 40
	echo noise > "$G/x.log"
	verify "$RG"
	expect_same "git-ignored file: identical"
	echo note > "$G/notes.md"
	verify "$RG"
	expect_change "untracked file named" "added: notes.md"
	rm "$G/notes.md"
	printf 'print(2)\n' > "$G/train.py"
	(cd "$G" && git add train.py)
	verify "$RG"
	expect_change "staged change named" "modified: train.py"
	rp verify "$RG" --json > "$out"
	check "verify --json names the dirty tree" test "$(json "$out" '[c["new"] for c in d["components"]["code"]["changes"] if c["field"] == "dirty"]')" = '["true"]'
else
	skip "git workdir" "git not installed"
fi

# A sandbox rootfs: a file changed in it is named (needs the sandbox runner).
RF=$T/rootfs
mkdir -p "$RF/etc" "$RF/bin"
echo 'ID=fake' > "$RF/etc/os-release"
mkconfig "$T/rf/cfg.yaml" rootfs true 'sandbox:' "  rootfs: $RF"
rp run "$T/rf/cfg.yaml" --runner sandbox -q > /dev/null 2>&1
RR=$(last_run_dir)
if [ "$(json "$RR/run.json" 'd.get("environment",{}).get("components",{}).get("runtime",{}).get("kind")' 2>/dev/null)" = rootfs ]; then
	echo changed > "$RF/etc/extra.conf"
	verify "$(basename "$RR")"
	expect_change "rootfs file named" "rootfs added: etc/extra.conf"
else
	skip "rootfs file named" "the sandbox runner is not available here"
fi

# Metadata only above fingerprint.max_bytes, and run.json says so.
mkdir -p "$T/big"
head -c 4096 /dev/zero > "$T/big/blob"
mkconfig "$T/big/cfg.yaml" big true 'fingerprint:' '  max_bytes: 1k'
rp run "$T/big/cfg.yaml" --runner local -q > /dev/null 2>&1
check "over max_bytes: hashed by metadata" test "$(json "$(last_run_dir)/run.json" 'd["environment"]["components"]["code"]["hashed_by"]')" = metadata

# Errors are exit 2; list and diff.
rp verify rp_9999 > /dev/null 2>&1; check "verify unknown run exits 2" test $? = 2
rp list --fingerprint > "$out"
if grep -q FINGERPRINT "$out" && grep -q "$(json "$R1/run.json" 'd["environment"]["fingerprint"][7:19]')" "$out"; then
	pass "list --fingerprint column"
else
	fail "list --fingerprint column" "$(cat "$out")"
fi
rp run "$P/cfg.yaml" --runner local --param lr=0.5 -q > /dev/null 2>&1
rp diff "$(basename "$R1")" last > "$out"
if grep -q 'params.lr' "$out" && grep -qF 'params.lr: 0.1 → 0.5' "$out" && ! grep -q 'runtime' "$out"; then
	pass "diff shows only differences"
else
	fail "diff shows only differences" "$(cat "$out")"
fi
rp diff "$(basename "$R1")" last --all > "$out"
check "diff --all shows same components" grep -q 'runtime    same' "$out"
rp diff "$(basename "$R1")" last --json > "$out"
check "diff --json" test "$(json "$out" 'd["environment"]["components"]["config"]["status"]')" = changed
