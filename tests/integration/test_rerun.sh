#!/usr/bin/env bash
# `runpilot rerun RUN`: a new run from RUN's own config.yaml (params and overrides as it ran),
# "parent" = RUN's uid, the job's exit code; overrides on top; what changed in the environment
# named before it starts (a workdir file, an image re-imported); --strict starts nothing then.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

P=$T/proj
mkdir -p "$P"
printf 'print("train")\n' > "$P/train.py"
# Outside the workdir: editing the config is not a code change.
mkconfig "$T/cfg.yaml" base 'echo "lr=$RUNPILOT_PARAM_LR"; exit 3' "workdir: $P" 'params:' '  lr: 0.1' '  epochs: 2'
out=$T/out
runs() { ls -d "$RUNPILOT_HOME"/runs/rp_* 2>/dev/null | wc -l; }
# rerun ARGS: stderr and stdout in $out, exit code in $rc, the newest run dir in $RD
rerun() { rp rerun "$@" > "$out" 2>&1; rc=$?; RD=$(last_run_dir); }
# expect_line NAME TEXT: the rerun's output has that line
expect_line() { if grep -qxF -- "$2" "$out"; then pass "$1"; else fail "$1" "no line '$2' in: $(cat "$out")"; fi; }

rp run "$T/cfg.yaml" --runner local -q --param lr=0.3 --tag first > /dev/null 2>&1
R1=$(last_run_dir); ID1=$(basename "$R1")
UID1=$(json "$R1/run.json" 'd["uid"]')

# An unchanged run: starts, same params, parent is the original, the job's exit code.
rerun "$ID1"
check "rerun: a new run" test "$RD" != "$R1"
check "rerun: the job's exit code (3)" test "$rc" = 3
check "rerun: the job ran with the run's own --param" grep -qx "lr=0.3" "$out"
check "rerun: params.json the same as the run's" test "$(json "$RD/params.json" 'd')" = "$(json "$R1/params.json" 'd')"
check "rerun: the run's tags kept" test "$(json "$RD/run.json" 'd["tags"]')" = '["first"]'
check "rerun: parent is the run's uid" test "$(json "$RD/run.json" 'd["parent"]')" = "$UID1"
check "run: a plain run has no parent" test "$(json "$R1/run.json" '"parent" in d')" = false
check "rerun: the invocation says rerun" test "$(json "$RD/run.json" 'd["invocation"]["command"] + " " + d["invocation"]["rerun_of"]')" = "rerun $ID1"
check "run: the invocation says run" test "$(json "$R1/run.json" 'd["invocation"]["command"]')" = run
check "rerun: the runner the run ran under by default" test "$(json "$RD/run.json" 'd["runner"]["type"]')" = local
expect_line "rerun: says the environment is unchanged" "runpilot: rerun: $ID1's environment unchanged"
check "rerun: same fingerprint as the run" test "$(json "$RD/run.json" 'd["environment"]["fingerprint"]')" = "$(json "$R1/run.json" 'd["environment"]["fingerprint"]')"
rp show "$(basename "$RD")" > "$out"
check "show: names the parent by id and uid" grep -qE "^Parent +$ID1 \(uid $UID1\)$" "$out"
rp verify "$(basename "$RD")" > "$out" 2>&1
check "verify of a rerun: identical" test $? = 0

# Exit code 0 propagates too; a rerun of a rerun names its own parent.
R2=$RD
rerun "$(basename "$R2")" --param 'lr=0.5' -q
check "rerun of a rerun: parent is the rerun" test "$(json "$RD/run.json" 'd["parent"]')" = "$(json "$R2/run.json" 'd["uid"]')"
check "rerun --param: lands in params.json" test "$(json "$RD/params.json" 'd["lr"]')" = 0.5
check "rerun --param: the other params kept" test "$(json "$RD/params.json" 'd["epochs"]')" = 2
check "rerun --param: the job sees it" grep -qx "lr=0.5" "$RD/logs.txt"
check "rerun -q: the job's output not streamed" sh -c "! grep -q '^lr=' '$out'"
check "rerun --param: recorded in the invocation" test "$(json "$RD/run.json" 'd["invocation"]["overrides"]["params"]')" = '["lr=0.5"]'
check "rerun --param: an override asked for is not a change" sh -c "! grep -q 'rerun: config' '$out'"
rerun "$ID1" --name renamed --tag again -q
check "rerun --name, --tag" test "$(json "$RD/run.json" 'd["name"] + " " + ",".join(d["tags"])')" = "renamed first,again"
mkconfig "$T/ok.yaml" ok 'exit 0' "workdir: $P"
rp run "$T/ok.yaml" --runner local -q > /dev/null 2>&1
rerun last -q
check "rerun: exit 0 propagates" test "$rc" = 0

# A file of the workdir changed: named, and the rerun still runs.
echo '# tuned' >> "$P/train.py"
n=$(runs)
rerun "$ID1" -q
expect_line "changed code: named" "runpilot: rerun: code: 1 file changed"
check "changed code: still runs" test "$(runs)" = $((n + 1)) -a "$rc" = 3
check "changed code: the new run has the new code" test "$(json "$RD/run.json" 'd["environment"]["components"]["code"]["hash"]')" != "$(json "$R1/run.json" 'd["environment"]["components"]["code"]["hash"]')"

# --strict: nothing starts, exit 2, naming what changed.
n=$(runs)
rerun "$ID1" --strict -q
check "--strict: refused (exit 2)" test "$rc" = 2
check "--strict: the error names code" grep -q "runpilot: error: rerun --strict: $ID1's environment changed (code)" "$out"
check "--strict: no run directory made" test "$(runs)" = "$n"
rerun "$(basename "$(last_run_dir)")" --strict -q
check "--strict: an unchanged environment starts" test "$rc" = 3 -a "$(runs)" = $((n + 1))

# A run without a fingerprint (an older runpilot's): said, and run; --strict refuses.
rp run "$T/ok.yaml" --runner local -q > /dev/null 2>&1
RN=$(last_run_dir)
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); del d["environment"]; json.dump(d, open(p, "w"))' "$RN/run.json"
rerun "$(basename "$RN")" -q
check "no fingerprint: said" grep -q "runpilot: rerun: environment not checked: run $(basename "$RN") has no environment fingerprint" "$out"
check "no fingerprint: still runs" test "$rc" = 0 -a "$RD" != "$RN"
n=$(runs)
rerun "$(basename "$RN")" --strict -q
check "no fingerprint, --strict: refused" test "$rc" = 2 -a "$(runs)" = "$n"
check "no fingerprint, --strict: says why" grep -q "environment cannot be checked" "$out"

# Errors: an unknown run, a bad option, a runner that does not exist: exit 2, nothing made.
n=$(runs)
rerun rp_9999
check "unknown run: exit 2" test "$rc" = 2
check "unknown run: one error line" grep -q "runpilot: error: no run 'rp_9999'" "$out"
rerun "$ID1" --bogus
check "unknown option: exit 2" test "$rc" = 2
rerun
check "no RUN: exit 2" test "$rc" = 2
rerun "$ID1" --runner nosuch
check "unknown runner: exit 2" test "$rc" = 2
check "errors: no run directory made" test "$(runs)" = "$n"
rp rerun --help > "$out"
for opt in --param --runner --strict --name --tag --quiet; do
	check "usage names $opt" grep -q -- "$opt" "$out"
done

# --runner: the run's own by default, another when asked.
SANDBOX=no
sb_usable && SANDBOX=yes
if [ $SANDBOX = yes ]; then
	rp run "$T/ok.yaml" --runner sandbox -q > /dev/null 2>&1
	RS=$(basename "$(last_run_dir)")
	rerun "$RS" -q
	check "rerun of a sandbox run: the sandbox runner" test "$(json "$RD/run.json" 'd["runner"]["type"]')" = sandbox
	rerun "$RS" --runner local -q
	check "rerun --runner local" test "$(json "$RD/run.json" 'd["runner"]["type"] + " " + d["invocation"]["runner"]')" = "local local"
else
	rerun "$ID1" --runner local -q
	check "rerun --runner local" test "$(json "$RD/run.json" 'd["invocation"]["runner"]')" = local
	skip "rerun of a sandbox run" "no sandbox on this host"
fi

# A secret-looking env value is redacted in config.yaml: taken from our environment.
mkconfig "$T/sec.yaml" sec 'echo "tok=$API_TOKEN"' "workdir: $P" 'env:' '  API_TOKEN: s3cret'
rp run "$T/sec.yaml" --runner local -q > /dev/null 2>&1
RSEC=$(basename "$(last_run_dir)")
check "config.yaml keeps the secret redacted" grep -q "<redacted>" "$RUNPILOT_HOME/runs/$RSEC/config.yaml"
n=$(runs)
(unset API_TOKEN; rp rerun "$RSEC" -q > "$out" 2>&1); rc=$?
check "redacted env, not given: exit 2" test "$rc" = 2
check "redacted env, not given: named" grep -q "env API_TOKEN redacted: set API_TOKEN" "$out"
check "redacted env, not given: nothing made" test "$(runs)" = "$n"
API_TOKEN=s3cret rerun "$RSEC" -q
check "redacted env: the job gets our value" grep -qx "tok=s3cret" "$RD/logs.txt"
expect_line "redacted env, the same value: unchanged" "runpilot: rerun: $RSEC's environment unchanged"
API_TOKEN=s3cret rp verify "$(basename "$RD")" > "$out" 2>&1
check "redacted env: verify of the rerun, the same value: identical" test $? = 0
API_TOKEN=other rerun "$RSEC" -q
expect_line "redacted env, another value: named" "runpilot: rerun: env: 1 variable changed"

# An image re-imported under the same name: "image: digest changed".
MKIMAGE=$(dirname "$0")/../helpers/mkimage.py
if [ $SANDBOX = no ]; then
	skip "image digest changed" "no sandbox on this host"
elif ! sh "$(dirname "$0")/../../rootfs/build-busybox.sh" "$T/rootfs" > /dev/null 2>&1; then
	skip "image digest changed" "cannot build a busybox rootfs (busybox-static)"
else
	cp -a "$T/rootfs" "$T/rootfs2"
	echo v2 > "$T/rootfs2/etc/version"
	python3 "$MKIMAGE" docker-save "$T/v1.tar" --tag rp-rerun:1 "$T/rootfs" > /dev/null
	python3 "$MKIMAGE" docker-save "$T/v2.tar" --tag rp-rerun:1 "$T/rootfs2" > /dev/null
	rp image import "$T/v1.tar" > /dev/null 2>&1
	mkdir -p "$T/img"
	mkconfig "$T/img/job.yaml" img '["true"]' 'image: rp-rerun:1' 'sandbox: {network: none}'
	rp run "$T/img/job.yaml" --runner sandbox -q > /dev/null 2>&1
	RI=$(basename "$(last_run_dir)")
	rerun "$RI" -q
	expect_line "same image: unchanged" "runpilot: rerun: $RI's environment unchanged"
	rp image import "$T/v2.tar" > /dev/null 2>&1
	rerun "$RI" -q
	expect_line "image re-imported: digest changed" "runpilot: rerun: image: digest changed"
	check "image re-imported: the rerun runs the new image" test "$(json "$RD/run.json" 'd["runner"]["image_id"]')" != "$(json "$RUNPILOT_HOME/runs/$RI/run.json" 'd["runner"]["image_id"]')"
	n=$(runs)
	rerun "$RI" --strict -q
	check "image re-imported, --strict: refused naming the image" test "$rc" = 2 -a "$(runs)" = "$n"
	check "image re-imported, --strict: names it" grep -q "changed (image)" "$out"
fi
