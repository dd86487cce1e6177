#!/usr/bin/env bash
# `image:` under the sandbox runner, without Docker: an image imported into the store is the job's
# root filesystem (its tree never written), the image's Env and User apply under the config's, the
# run records the image's id (the same id Docker gives it) as its runtime, verify notices a
# re-import that changed the image, and a missing image fails in one line naming the fix. As root
# and as a throwaway user.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sandbox_common.sh"

MKIMAGE=$(dirname "$0")/../helpers/mkimage.py
BUILD_ROOTFS=$(dirname "$0")/../../rootfs/build-busybox.sh
if ! sb_usable; then
	skip "image runs" "no sandbox on this host (runpilot doctor)"
	exit 0
fi
if ! sh "$BUILD_ROOTFS" "$T/rootfs" >/dev/null 2>&1; then
	skip "image runs" "cannot build a busybox rootfs (busybox-static)"
	exit 0
fi
# A second version of the image: one more file.
cp -a "$T/rootfs" "$T/rootfs2"
echo v2 > "$T/rootfs2/etc/version"
# mkimage.py prints the image's id (the sha256 of its config).
ID1=sha256:$(python3 "$MKIMAGE" docker-save "$T/v1.tar" --tag rp-run:1 "$T/rootfs")
ID2=sha256:$(python3 "$MKIMAGE" docker-save "$T/v2.tar" --tag rp-run:1 "$T/rootfs2")
chmod -R a+rX "$T"

# image_runs WHO [as_user USER]
image_runs() {
	local who=$1; shift
	local W=$T/$who/work RH=$T/$who/home
	mkdir -p "$W" "$RH"
	[ $# -gt 0 ] && chown -R "${*: -1}:${*: -1}" "$T/$who"
	run_as() { if [ $# -gt 0 ]; then as_user "${*: -1}" env RUNPILOT_HOME="$RH" HOME="$RH" "$RUNPILOT_BIN" "${ARGS[@]}"; else env RUNPILOT_HOME="$RH" HOME="$RH" "$RUNPILOT_BIN" "${ARGS[@]}"; fi; }
	last() { ls -d "$RH"/runs/rp_* 2>/dev/null | sort -V | tail -n1; }

	ARGS=(image import "$T/v1.tar")
	run_as "$@" > "$T/$who.import" 2>&1
	check "$who: image import" grep -q "rp-run:1" "$T/$who.import"

	cat > "$W/job.yaml" <<'EOF'
name: image-job
image: rp-run:1
entrypoint: "id -u; echo PATH=$PATH; echo IV=$IMAGE_VAR; echo CV=$CONFIG_VAR; cat /etc/version 2>/dev/null || echo no-version; touch /planted && echo planted; echo out > $RUNPILOT_OUTPUT_DIR/o.txt; echo wd > written.txt"
env: {CONFIG_VAR: from-config}
sandbox: {network: none}
EOF
	[ $# -gt 0 ] && chown "${*: -1}:${*: -1}" "$W/job.yaml"
	ARGS=(run --runner sandbox -q "$W/job.yaml")
	(cd "$W" && run_as "$@") > "$T/$who.run" 2>&1
	local rc=$? rd
	rd=$(last)
	check "$who: the job ran in the image" test "$rc" = 0
	local log=$rd/logs.txt
	check "$who: the job is the image's user inside (65534)" test "$(head -n1 "$log")" = 65534
	check "$who: PATH is the image's" grep -qx "PATH=/bin" "$log"
	check "$who: the image's Env reaches the job" grep -qx "IV=from-image" "$log"
	check "$who: the config's env too" grep -qx "CV=from-config" "$log"
	check "$who: the root is the image's tree" grep -qx "no-version" "$log"
	check "$who: the job may write its root, as in a container (a throw-away layer)" grep -qx "planted" "$log"
	local tree
	tree=$(json "$rd/run.json" 'd["runner"]["rootfs"]')
	check "$who: the image's tree is in the store" test -d "$tree/bin"
	check "$who: the image's tree is never written" test ! -e "$tree/planted"
	check "$who: run.json records the image's id" test "$(json "$rd/run.json" 'd["runner"]["image_id"]')" = "$ID1"
	check "$who: the runtime is the image" test "$(json "$rd/run.json" 'd["environment"]["components"]["runtime"]["kind"]')" = image
	check "$who: the runtime's image id" test "$(json "$rd/run.json" 'd["environment"]["components"]["runtime"]["image_id"]')" = "$ID1"
	check "$who: env_sources names the image's variables" \
		test "$(json "$rd/run.json" '"IMAGE_VAR" in d["env_sources"]["image"] and "PATH" in d["env_sources"]["image"]')" = true
	local owner=${*: -1}
	[ $# -gt 0 ] || owner=root
	check "$who: outputs are the caller's" test "$(stat -c %U "$rd/outputs/o.txt")" = "$owner"
	check "$who: what the job wrote in its workdir is the caller's" test "$(stat -c %U "$rd/changes/written.txt")" = "$owner"

	ARGS=(show "$(basename "$rd")")
	run_as "$@" > "$T/$who.show" 2>&1
	check "$who: show names the image and its id" grep -qE "^Image +rp-run:1 \(${ID1:7:12}\)$" "$T/$who.show"
	ARGS=(verify "$(basename "$rd")")
	run_as "$@" > "$T/$who.verify1" 2>&1
	check "$who: verify: the same image is the same environment" test $? = 0
	ARGS=(image import "$T/v2.tar")
	run_as "$@" > /dev/null 2>&1
	ARGS=(verify "$(basename "$rd")")
	run_as "$@" > "$T/$who.verify2" 2>&1
	rc=$?
	check "$who: verify: a re-import that changed the image is a change (exit 1)" test "$rc" = 1
	check "$who: verify names the runtime" grep -q "runtime *changed" "$T/$who.verify2"
	ARGS=(run --runner sandbox -q "$W/job.yaml")
	(cd "$W" && run_as "$@") > /dev/null 2>&1
	check "$who: the next run has the new image" test "$(json "$(last)/run.json" 'd["runner"]["image_id"]')" = "$ID2"
	check "$who: ... and its files" grep -qx v2 "$(last)/logs.txt"

	sed 's/rp-run:1/rp-nosuch:9/' "$W/job.yaml" > "$W/missing.yaml"
	[ $# -gt 0 ] && chown "${*: -1}:${*: -1}" "$W/missing.yaml"
	ARGS=(run --runner sandbox -q "$W/missing.yaml")
	run_as "$@" > "$T/$who.missing" 2>&1
	rc=$?
	check "$who: a missing image fails the run" test "$rc" -ne 0
	check "$who: ... in one line" test "$(wc -l < "$T/$who.missing")" = 1
	check "$who: ... naming image pull and image import" \
		grep -q "runpilot image import FILE.*runpilot image pull rp-nosuch:9" "$T/$who.missing"
}
sb_root_and_user image_runs "image runs"

# Config errors and the local runner.
W=$T/cfg
mkdir -p "$W"
mkconfig "$W/both.yaml" both '["true"]' "image: rp-run:1" "sandbox: {rootfs: /}"
rp run --runner sandbox "$W/both.yaml" > "$T/both.out" 2>&1
check "image with sandbox.rootfs: a config error (exit 2)" test $? = 2
check "... saying to keep one" grep -q "image and sandbox.rootfs both name the job's root filesystem: keep one" "$T/both.out"
check "... and no run" test ! -d "$RUNPILOT_HOME/runs/rp_0001"
mkconfig "$W/local.yaml" local '["true"]' "image: rp-run:1"
rp run --runner local "$W/local.yaml" > "$T/local.out" 2>&1
check "the local runner runs an image config on the host" test $? = 0
check "... and says the image is not used" grep -q "image: rp-run:1 is not used by the local runner" "$T/local.out"
