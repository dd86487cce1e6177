#!/usr/bin/env bash
# The docker runner against a real, private Docker engine (docker_lib.sh): output and exit codes,
# the job's environment, outputs owned by the caller, limits (OOM, cpus), timeout, Ctrl-C, a
# killed runpilot, and auto's fallback when no engine answers. Skips (loudly) where no engine
# can be started.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/../integration/sandbox_common.sh"
source "$here/docker_lib.sh"

if ! dk_start; then
	echo "  NOTICE: the docker runner's tests did not run: $DK_WHY"
	skip "docker runner" "$DK_WHY"
	exit 0
fi

W=$T/work
mkdir -p "$W"
chmod 755 "$W"
IMG="image: $DK_IMAGE"
status_of() { json "$1/run.json" 'd["status"] + ("/" + d["reason"] if d.get("reason") else "")'; }
# json_has FILE EXPR REGEX: the value matches.
json_has() { json "$1" "$2" | grep -Eq "$3"; }
containers() { dk ps -aq --filter "label=runpilot.home=$RUNPILOT_HOME"; }
no_containers() { [ -z "$(containers)" ]; }
# Any per-run cgroup parent left beside the engine's cgroup.
run_cgroups_left() { find /sys/fs/cgroup -maxdepth 5 -type d -name "runpilot-rp_*" 2>/dev/null | grep -c .; }
cg_before=$(run_cgroups_left)

# ---- hello, logs, exit codes ----
mkconfig "$W/hello.yaml" hello '["sh", "-c", "echo hello from docker; echo to-stderr >&2; pwd"]' "$IMG"
D=$(next_run_dir)
(cd "$W" && rp run --runner docker hello.yaml) > "$T/hello.out" 2>&1
check "hello: exit 0" test $? = 0
check "hello: output reaches the terminal" grep -q "hello from docker" "$T/hello.out"
check "hello: logs.txt has stdout and stderr" sh -c "grep -q 'hello from docker' '$D/logs.txt' && grep -q to-stderr '$D/logs.txt'"
check "hello: the job runs in /workspace" grep -qx /workspace "$D/logs.txt"
check "hello: status success" test "$(status_of "$D")" = success
check "hello: runner.type docker" test "$(json "$D/run.json" 'd["runner"]["type"]')" = docker
check "hello: runner.container named rp_<id>-<hex>" json_has "$D/run.json" 'd["runner"]["container"]' "^$(basename "$D")-[0-9a-f]{8}\$"
check "hello: image id recorded (sha256)" json_has "$D/run.json" 'd["runner"]["image_id"]' '^sha256:[0-9a-f]{64}$' 
check "hello: the fingerprint's runtime is the image" test "$(json "$D/run.json" 'd["environment"]["components"]["runtime"]["image_id"]')" = "$(json "$D/run.json" 'd["runner"]["image_id"]')"
check "hello: engine version recorded" json_has "$D/run.json" 'd["runner"]["engine_version"]' '^[0-9]+[.]' 
check "hello: the container is removed" no_containers

mkconfig "$W/exit3.yaml" exit3 '["sh", "-c", "exit 3"]' "$IMG"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner docker exit3.yaml) >/dev/null 2>&1
rc=$?
check "exit 3: runpilot exits 3" test $rc = 3
check "exit 3: status failed" test "$(status_of "$D")" = failed
check "exit 3: exit_code 3" test "$(json "$D/run.json" 'd["exit_code"]')" = 3

mkconfig "$W/nocmd.yaml" nocmd '["no-such-program"]' "$IMG"
(cd "$W" && rp run -q --runner docker nocmd.yaml) > "$T/nocmd.out" 2>&1
rc=$?
check "missing program: fails (non-zero), the container removed" sh -c "test $rc -ne 0 && [ -z \"\$(docker ps -aq --filter label=runpilot.home=$RUNPILOT_HOME)\" ]"

# ---- environment and params ----
mkconfig "$W/env.yaml" env '["sh", "-c", "echo G=$GREETING L=$RUNPILOT_PARAM_LR O=$RUNPILOT_OUTPUT_DIR I=$RUNPILOT_RUN_ID H=${HOSTVAR:-unset}"]' \
	"$IMG" "env: {GREETING: hi}" "params: {lr: 0.5}"
D=$(next_run_dir)
(cd "$W" && HOSTVAR=leak rp run -q --runner docker env.yaml) >/dev/null 2>&1
check "env: config env reaches the job" grep -q "G=hi " "$D/logs.txt"
check "env: params reach the job" grep -q "L=0.5 " "$D/logs.txt"
check "env: RUNPILOT_OUTPUT_DIR is the container's /outputs" grep -q "O=/outputs " "$D/logs.txt"
check "env: RUNPILOT_RUN_ID" grep -q "I=$(basename "$D") " "$D/logs.txt"
check "env: runpilot's own environment stays out" grep -q "H=unset" "$D/logs.txt"

# ---- metrics: from the output, and from the job's own file at /outputs ----
mkconfig "$W/mx.yaml" mx '["sh", "-c", "echo F=$RUNPILOT_METRICS_FILE; echo epoch: 1 loss: 0.5; echo {\\\"step\\\": 4, \\\"tput\\\": 9} >> $RUNPILOT_METRICS_FILE"]' "$IMG"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner docker mx.yaml) >/dev/null 2>&1
check "metrics: RUNPILOT_METRICS_FILE is under the container's /outputs" grep -q "F=/outputs/runpilot-metrics.jsonl" "$D/logs.txt"
check "metrics: the output's and the file's points are recorded" \
	test "$(json "$D/run.json" '[d["metrics"]["loss"]["last"], d["metrics"]["tput"]["last_step"]]')" = "[0.5, 4]"

# ---- outputs belong to the caller ----
mkconfig "$W/out.yaml" out '["sh", "-c", "echo result > $RUNPILOT_OUTPUT_DIR/r.txt; id -u"]' "$IMG"
outputs_owned() {
	local who=$1; shift
	local home=$T/home-$who D uid
	mkdir -p "$home"
	uid=$("$@" id -u)
	[ "$who" = root ] || chown "$uid" "$home"
	"$@" env RUNPILOT_HOME="$home" sh -c "cd '$W' && '$RUNPILOT_BIN' run -q --runner docker out.yaml" > "$T/out-$who.txt" 2>&1
	D=$(ls -d "$home"/runs/rp_* | tail -n1)
	check "outputs ($who): the job ran as the caller ($uid)" grep -qx "$uid" "$D/logs.txt"
	check "outputs ($who): /outputs/r.txt is on the host" grep -qx result "$D/outputs/r.txt"
	check "outputs ($who): owned by the caller" test "$(stat -c %u "$D/outputs/r.txt")" = "$uid"
}
outputs_owned root

# ---- usage without the cgroup parent: the engine's stats ----
# For a caller who is not root no per-run cgroup parent can be used: usage comes from the
# engine's stats, sampled while the container runs.
# One cpu spun for 2 s (cpus unlimited).
mkconfig "$W/spin2.yaml" spin2 '["sh", "-c", "timeout 2 sh -c \"while :; do :; done\"; exit 0"]' "$IMG"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner docker spin2.yaml) >/dev/null 2>&1
cg_cpu=$(json "$D/run.json" 'd["resources"]["usage"]["cpu_total_s"]')
src=$(json "$D/run.json" 'd["runner"].get("usage_source")')
echo "  (cgroup, root: cpu $cg_cpu s in $(json "$D/run.json" 'd["resources"]["usage"]["wall_s"]') s)"
check "spin 2 s (root): usage from the cgroup parent (runner.usage_source $src, cpu $cg_cpu s)" \
	sh -c "test '$src' = cgroup && ! grep -q usage_not_cgroup '$D/run.json' && python3 -c 'import sys; sys.exit(0 if float(\"$cg_cpu\") > 1.5 else 1)'"
stats_fallback() {
	local home=$T/home-user D cpu wall mem why
	"$@" env RUNPILOT_HOME="$home" sh -c "cd '$W' && '$RUNPILOT_BIN' run --runner docker spin2.yaml" > "$T/spin2.out" 2>&1
	D=$(ls -d "$home"/runs/rp_* | sort -V | tail -n1)
	cpu=$(json "$D/run.json" 'd["resources"]["usage"]["cpu_total_s"]')
	wall=$(json "$D/run.json" 'd["resources"]["usage"]["wall_s"]')
	mem=$(json "$D/run.json" 'd["resources"]["usage"]["memory_peak_bytes"]')
	echo "  (engine stats: cpu $cpu s in $wall s, memory peak $mem bytes)"
	check "stats (user): cpu seconds from the engine's stats ($cpu s in $wall s)" \
		python3 -c "import sys; c=float('$cpu'); w=float('$wall'); sys.exit(0 if 0.5 < c <= w + 0.1 else 1)"
	check "stats (user): a memory peak ($mem bytes)" python3 -c "import sys; sys.exit(0 if int('$mem') > 0 else 1)"
	check "stats (user): runner.usage_source names the engine's stats" \
		json_has "$D/run.json" 'd["runner"]["usage_source"]' '^engine stats [(]sampled about every 1 s[)]$'
	check "stats (user): runner.usage_samples counts the samples" json_has "$D/run.json" 'd["runner"]["usage_samples"]' '^[1-9][0-9]*$'
	check "stats (user): resources.source engine stats" json_has "$D/run.json" 'd["resources"]["source"]' '^engine stats$'
	why=$(json "$D/run.json" 'd["runner"].get("usage_not_cgroup")')
	check "stats (user): run.json says why not the cgroup ($why), nothing unmetered" \
		sh -c "echo '$why' | grep -q root && ! grep -q usage_not_metered '$D/run.json'"
	check "stats (user): the warning says so" grep -q "usage not metered by cgroup (.*): from the engine's stats, sampled about every 1 s" "$T/spin2.out"
	check "stats (user): unknown stays null (max_rss_bytes)" test "$(json "$D/run.json" 'd["resources"]["usage"]["max_rss_bytes"]')" = null
}
if command -v useradd >/dev/null && sb_make_user; then
	# The user reaches the private engine through its socket.
	chown "$SB_USER" "$DK/d.sock"
	outputs_owned user as_user "$SB_USER"
	check "outputs (user): run.json says why usage is not metered by cgroup" \
		sh -c "grep -Eq 'usage_not_(cgroup|metered)' '$T'/home-user/runs/rp_*/run.json"
	stats_fallback as_user "$SB_USER"
	chown root "$DK/d.sock"
else
	skip "outputs as an unprivileged user" "cannot create a user"
fi

# ---- limits ----
mkconfig "$W/oom.yaml" oom '["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]' "$IMG" \
	"resources: {memory: 64m}"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner docker oom.yaml) >/dev/null 2>&1
check "memory 64m: status failed (oom)" test "$(status_of "$D")" = failed/oom
check "memory 64m: the limit is enforced by docker" json_has "$D/run.json" 'd["resources"]["limits"]["memory"]["enforced_by"]' '^docker'
check "memory 64m: oom_kills recorded" json_has "$D/run.json" 'd["resources"]["usage"]["oom_kills"]' '^[1-9]' 

mkconfig "$W/spin.yaml" spin '["sh", "-c", "end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do :; done"]' "$IMG" \
	"resources: {cpus: 0.5}"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner docker spin.yaml) >/dev/null 2>&1
cpu=$(json "$D/run.json" 'd["resources"]["usage"]["cpu_total_s"]')
wall=$(json "$D/run.json" 'd["resources"]["usage"]["wall_s"]')
check "cpus 0.5: usage recorded from the cgroup (cpu $cpu s in $wall s)" \
	python3 -c "import sys; c=float('$cpu'); w=float('$wall'); sys.exit(0 if 0.5 < c < 0.5 * w + 0.5 else 1)"
check "cpus 0.5: usage source cgroup" json_has "$D/run.json" 'd["resources"]["source"]' '^cgroup'
src=$(json "$D/run.json" 'd["runner"].get("usage_source")')
check "cpus 0.5 (root): runner.usage_source $src, no engine stats" \
	sh -c "test '$src' = cgroup && ! grep -q usage_not_cgroup '$D/run.json'"
check "cpus 0.5: the limit is enforced by docker" json_has "$D/run.json" 'd["resources"]["limits"]["cpus"]["enforced_by"]' '^docker' 


# ---- timeout, Ctrl-C, a killed runpilot ----
mkconfig "$W/sleep.yaml" sleep '["sleep", "60"]' "$IMG"
mkconfig "$W/to.yaml" to '["sleep", "60"]' "$IMG" "resources: {timeout: 1s}"
D=$(next_run_dir)
start=$(date +%s)
(cd "$W" && rp run -q --runner docker to.yaml) >/dev/null 2>&1
check "timeout: status failed (timeout)" test "$(status_of "$D")" = failed/timeout
check "timeout: ended within a few seconds" test $(($(date +%s) - start)) -lt 8
check "timeout: the container is gone" no_containers

D=$(next_run_dir)
(cd "$W" && exec "$RUNPILOT_BIN" run -q --runner docker sleep.yaml) >/dev/null 2>&1 &
P=$!
wait_for "[ -n \"\$(containers)\" ] && [ \"\$(json $D/run.json 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
kill -INT $P
wait $P
check "Ctrl-C: status cancelled" test "$(status_of "$D")" = cancelled/cancelled
check "Ctrl-C: the container is gone" no_containers

D=$(next_run_dir)
(cd "$W" && exec "$RUNPILOT_BIN" run -q --runner docker sleep.yaml) >/dev/null 2>&1 &
P=$!
wait_for "[ -n \"\$(containers)\" ] && [ \"\$(json $D/run.json 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
kill -9 $P
wait $P 2>/dev/null
check "kill -9: the container does not live on" wait_for no_containers 10
rp list > "$T/list" 2>&1
check "kill -9: list shows the run lost" grep -Eq "^$(basename "$D") +sleep +lost" "$T/list"
(cd "$W" && rp run -q --runner docker hello.yaml) >/dev/null 2>&1
check "kill -9: the next run removes its leftovers (active/ entry)" test ! -e "$RUNPILOT_HOME/active/$(basename "$D")"
check "kill -9: ...and its cgroup parent" test "$(run_cgroups_left)" -le "$cg_before"

# A container a killed runpilot left (its helper killed too) is removed by the claim's leftover.
D=$(next_run_dir)
(cd "$W" && exec "$RUNPILOT_BIN" run -q --runner docker sleep.yaml) >/dev/null 2>&1 &
P=$!
wait_for "[ -n \"\$(containers)\" ] && [ \"\$(json $D/run.json 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
# The attach helper (runpilot's one child) first: only the claim is left to say.
for c in $(cat "/proc/$P/task/$P/children" 2>/dev/null); do kill -9 "$c"; done
kill -9 $P
wait $P 2>/dev/null
check "leftover: the container outlived runpilot and its helper" test -n "$(containers)"
(cd "$W" && rp run -q --runner docker hello.yaml) >/dev/null 2>&1
check "leftover: the next run removes it" wait_for no_containers 5
check "leftover: the run shows lost" test "$(status_of "$D")" = lost/"supervisor died"

check "no per-run cgroup parent left" test "$(run_cgroups_left)" -le "$cg_before"

# gc: a container whose runpilot is gone is found by its labels and removed; a running run's stays.
D=$(next_run_dir)
(cd "$W" && exec "$RUNPILOT_BIN" run -q --runner docker sleep.yaml) >/dev/null 2>&1 &
P=$!
wait_for "[ -n \"\$(containers)\" ] && [ \"\$(json $D/run.json 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
rp gc > "$T/gc-live" 2>&1
check "gc: a running run's container stays" test -n "$(containers)"
check "gc: ...and is not named" sh -c "! grep -q container '$T/gc-live'"
for c in $(cat "/proc/$P/task/$P/children" 2>/dev/null); do kill -9 "$c"; done
kill -9 $P
wait $P 2>/dev/null
rp gc --dry-run > "$T/gc-dry" 2>&1
check "gc --dry-run: names the dead run's container" grep -q "^would remove container $(basename "$D")-[0-9a-f]* ($(basename "$D"))" "$T/gc-dry"
check "gc --dry-run: ...and leaves it" test -n "$(containers)"
rp gc > "$T/gc" 2>&1
check "gc: removes it" grep -q "^removed container $(basename "$D")-" "$T/gc"
check "gc: ...from the engine" no_containers
check "gc: the run is marked lost" test "$(status_of "$D")" = lost/"supervisor died"
check "gc: its active/ entry is gone" test ! -e "$RUNPILOT_HOME/active/$(basename "$D")"
check "gc: no per-run cgroup parent left" test "$(run_cgroups_left)" -le "$cg_before"

# ---- doctor, usage errors, fallback ----
rp doctor > "$T/doctor" 2>&1
check "doctor: the docker engine answers" grep -Eq "^docker engine +OK +unix://$DK/d.sock .*Docker [0-9]" "$T/doctor"
check "doctor: limits enforced by the engine" grep -Eq "^docker limits +OK +memory yes, cpus yes, pids yes" "$T/doctor"

mkconfig "$W/noimg.yaml" noimg '["true"]'
(cd "$W" && rp run -q --runner docker noimg.yaml) > "$T/noimg.out" 2>&1
rc=$?
check "no image: usage error (exit 2) naming image:" sh -c "test $rc = 2 && grep -q 'image: NAME' '$T/noimg.out'"
mkconfig "$W/missing.yaml" missing '["true"]' "image: rp-nothing:here"
(cd "$W" && rp run -q --runner docker missing.yaml) > "$T/missing.out" 2>&1
check "missing image: the error names docker pull" grep -q "docker pull rp-nothing:here" "$T/missing.out"

before=$(ls "$RUNPILOT_HOME/runs" | wc -l)
(cd "$W" && DOCKER_HOST=unix:///nowhere rp run -q --runner docker hello.yaml) > "$T/nowhere.out" 2>&1
rc=$?
check "no engine, --runner docker: exit 1, one line" sh -c "test $rc = 1 && test \$(wc -l < '$T/nowhere.out') = 1 && grep -q 'daemon not reachable at unix:///nowhere' '$T/nowhere.out'"
check "no engine, --runner docker: no run directory" test "$(ls "$RUNPILOT_HOME/runs" | wc -l)" = "$before"

# ---- the same image without Docker: docker save -> runpilot image import -> the sandbox ----
dk save "$DK_IMAGE" > "$T/saved.tar"
rp image import "$T/saved.tar" > "$T/import.out" 2>&1
check "docker save of the test image imports into the image store" test $? = 0
mkconfig "$W/same.yaml" same '["sh", "-c", "id -u; echo PATH=$PATH HOME=$HOME; ls /bin/busybox"]' "$IMG" \
	"sandbox: {network: none}"
D1=$(next_run_dir)
(cd "$W" && rp run -q --runner docker same.yaml) >/dev/null 2>&1
check "same image: runs under docker" test "$(status_of "$D1")" = success
D2=$(next_run_dir)
(cd "$W" && rp run -q --runner sandbox same.yaml) >/dev/null 2>&1
check "same image: runs under the sandbox, without the engine's help" test "$(status_of "$D2")" = success
check "same image: both record the same image id" \
	test "$(json "$D1/run.json" 'd["runner"]["image_id"]')" = "$(json "$D2/run.json" 'd["runner"]["image_id"]')"
check "same image: the engine's id" test "$(json "$D2/run.json" 'd["runner"]["image_id"]')" = "$(dk image inspect -f '{{.Id}}' "$DK_IMAGE")"
check "same image: the same runtime in the fingerprint" \
	test "$(json "$D1/run.json" 'd["environment"]["components"]["runtime"]["hash"]')" = \
	"$(json "$D2/run.json" 'd["environment"]["components"]["runtime"]["hash"]')"
check "same image: the job sees the same ids, PATH and HOME under both" cmp -s "$D1/logs.txt" "$D2/logs.txt"

fallback() {
	local name=$1 D
	D=$(next_run_dir)
	(cd "$W" && rp run -q --runner auto hello.yaml) >/dev/null 2>&1
	check "$name: auto runs it anyway (not in docker)" json_has "$D/run.json" 'd["runner"]["type"]' '^(sandbox|local)$'
	check "$name: the job ran" grep -q 'hello from docker' "$D/logs.txt"
	check "$name: runner.fallback_reason says why" json_has "$D/run.json" 'd["runner"]["fallback_reason"]' '^docker: daemon not reachable at unix://' 
	check "$name: the sandbox ran the same image, from the image store" \
		test "$(json "$D/run.json" 'd["runner"].get("image_id")')" = "$(json "$D2/run.json" 'd["runner"]["image_id"]')"
}
DOCKER_HOST=unix:///nowhere fallback "DOCKER_HOST=unix:///nowhere"
D=$(next_run_dir)
(cd "$W" && rp run -q --runner auto hello.yaml) >/dev/null 2>&1
check "engine up: auto picks docker for a config with an image" test "$(json "$D/run.json" 'd["runner"]["type"]')" = docker
dk_stop_engine
fallback "engine stopped"
