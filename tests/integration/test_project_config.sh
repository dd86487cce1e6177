#!/usr/bin/env bash
# Project config and user defaults: `run` without CONFIG finds runpilot.yaml here or above, up to
# the repository root; defaults: of the project's runpilot.yaml and of $RUNPILOT_HOME/config.yaml
# fill what a run config leaves out (flag > run config > project > user); run.json's
# config_sources; `config --explain`; verify sees a changed default.
. "$(dirname "$0")/lib.sh"
O=$T/outer R=$T/outer/repo
mkdir -p "$R/.git" "$R/src/deep" "$R/exp" "$T/outer/repo2/.git" "$T/outer/repo2/sub" "$T/lone"
# above the repository: never this project's
mkconfig "$O/runpilot.yaml" outside 'echo OUTSIDE' 'defaults:' '  env: {P: outside, U: outside}'
cat > "$R/runpilot.yaml" <<'Y'
name: project-job
entrypoint: 'echo "JOB U=$U P=$P R=$R"'
env:
  R: run
resources:
  timeout: 10m
defaults:
  runner: local
  resources:
    timeout: 30m
  env:
    P: project
    R: project
Y
mkdir -p "$RUNPILOT_HOME"
cat > "$RUNPILOT_HOME/config.yaml" <<'Y'
defaults:
  resources:
    timeout: 1h
    memory: 1g
  env: {U: user, P: user, R: user}
Y
runs() { ls "$RUNPILOT_HOME/runs" 2>/dev/null | grep -c '^rp_'; }
D=$RUNPILOT_HOME/runs

# --- discovery ---------------------------------------------------------------------------
out=$(cd "$R" && rp run 2>"$T/err"); rc=$?
check "run without CONFIG in the project folder" test $rc -eq 0
check "it ran ./runpilot.yaml's job" grep -qx "JOB U=user P=project R=run" <<<"$out"
check "run.json names the file found" test "$(json "$D/rp_0001/run.json" 'd["invocation"]["config_path"]')" = "$R/runpilot.yaml"
out=$(cd "$R/src/deep" && rp run 2>"$T/err"); rc=$?
check "run without CONFIG two folders below" test $rc -eq 0
check "it found the parent's runpilot.yaml" grep -qx "JOB U=user P=project R=run" <<<"$out"
check "its name is the project job's" test "$(json "$D/rp_0002/run.json" 'd["name"]')" = project-job
before=$(runs)
(cd "$T/outer/repo2/sub" && rp run >"$T/out" 2>"$T/err"); rc=$?
check "none up to the repository root: exit 2" test $rc -eq 2
check "  with the message naming the root" grep -qxF "runpilot: error: no CONFIG given and no runpilot.yaml here or up to the repository root ($T/outer/repo2)" "$T/err"
check "  the runpilot.yaml above .git is not run" sh -c "! grep -q OUTSIDE '$T/out'"
check "  and no run is made" test "$(runs)" = "$before"
echo "gitdir: /nowhere" > "$T/outer/repo2/sub/.git"
(cd "$T/outer/repo2/sub" && rp run >/dev/null 2>"$T/err"); rc=$?
check ".git as a file is a repository root too" grep -qF "repository root ($T/outer/repo2/sub)" "$T/err"

# --- precedence: flag > run config > project defaults > user config ----------------------
mkconfig "$R/exp/bare.yaml" bare 'echo "JOB U=$U P=$P R=$R"'
mkconfig "$R/exp/own.yaml" own 'echo "JOB U=$U P=$P R=$R"' 'env: {R: own}' 'resources: {timeout: 10m}'
mkconfig "$T/lone/cfg.yaml" lone 'echo "JOB U=$U P=$P R=$R"'
timeout_of() { grep -E '^  timeout: ' "$D/$1/config.yaml" | awk '{print $2}'; }
out=$(rp run "$R/exp/bare.yaml" 2>/dev/null)
check "another config in the project gets its defaults: env" grep -qx "JOB U=user P=project R=project" <<<"$out"
check "  the project's timeout over the user's" test "$(timeout_of rp_0003)" = 1800
check "  the user's memory where the project sets none" grep -qx '  memory: 1073741824' "$D/rp_0003/config.yaml"
check "  the project's runner when --runner is not given" test "$(json "$D/rp_0003/run.json" 'd["invocation"]["runner"]')" = local
check "  but not the project file's job keys" test "$(json "$D/rp_0003/run.json" '[d["name"], d["workdir"]]')" = "[\"bare\", \"$R/exp\"]"
out=$(rp run "$R/exp/own.yaml" 2>/dev/null)
check "the run config's env wins per key" grep -qx "JOB U=user P=project R=own" <<<"$out"
check "the run config's timeout wins" test "$(timeout_of rp_0004)" = 600
rp run "$R/exp/own.yaml" --timeout 5m --runner auto >/dev/null 2>&1
check "a flag wins over the run config" test "$(timeout_of rp_0005)" = 300
check "--runner wins over defaults.runner" test "$(json "$D/rp_0005/run.json" 'd["invocation"]["runner"]')" = auto
out=$(rp run "$T/lone/cfg.yaml" 2>/dev/null)
check "no project file: the user's defaults" grep -qx "JOB U=user P=user R=user" <<<"$out"
check "  the user's timeout" test "$(timeout_of rp_0006)" = 3600
check "  the built-in runner" test "$(json "$D/rp_0006/run.json" 'd["invocation"]["runner"]')" = auto

# --- run.json: config_sources -----------------------------------------------------------
check "config_sources: run, project defaults, user" test "$(json "$D/rp_0003/run.json" 'd["config_sources"]')" = \
	"[{\"path\": \"$R/exp/bare.yaml\", \"role\": \"run\"}, {\"path\": \"$R/runpilot.yaml\", \"role\": \"project defaults\"}, {\"path\": \"$RUNPILOT_HOME/config.yaml\", \"role\": \"user\"}]"
check "config_sources of runpilot.yaml itself" test "$(json "$D/rp_0001/run.json" '[s["role"] for s in d["config_sources"] if s["path"] == "'"$R"'/runpilot.yaml"]')" = '["run", "project defaults"]'
check "config_sources without a project file" test "$(json "$D/rp_0006/run.json" '[s["role"] for s in d["config_sources"]]')" = '["run", "user"]'

# --- config --explain --------------------------------------------------------------------
(cd "$R/exp" && rp config --explain bare.yaml) >"$T/explain" 2>&1
check "explain: a project default and its line" grep -qE "^resources\.timeout +30m +$R/runpilot\.yaml:10 \(project defaults\)$" "$T/explain"
check "explain: a user default and its line" grep -qE "^resources\.memory +1g +$RUNPILOT_HOME/config\.yaml:4 \(user config\)$" "$T/explain"
check "explain: the run config's own setting, relative here" grep -qE "^name +bare +bare\.yaml:1 \(run config\)$" "$T/explain"
check "explain: a built-in default" grep -qE "^sandbox\.network +outbound +built-in default$" "$T/explain"
check "explain: env per key" grep -qE "^env\.U +user +$RUNPILOT_HOME/config\.yaml:5 \(user config\)$" "$T/explain"
check "explain: the files first" sh -c "head -n3 '$T/explain' | grep -qx 'project defaults: $R/runpilot.yaml'"
(cd "$R/src" && rp config --explain --json) >"$T/explain.json" 2>&1
check "explain --json without CONFIG finds runpilot.yaml" test "$(json "$T/explain.json" 'd["config"]')" = "$R/runpilot.yaml"
check "explain --json: a setting's source, path and line" test "$(json "$T/explain.json" '[(s["value"], s["source"], s["line"]) for s in d["settings"] if s["setting"] == "env.P"]')" = '[["project", "project defaults", 12]]'
check "explain --json: sources" test "$(json "$T/explain.json" '[s["role"] for s in d["sources"]]')" = '["run", "project defaults", "user"]'
rp config "$R/exp/bare.yaml" >/dev/null 2>&1
check "config without --explain is a usage error" test $? -eq 2

# --- errors ------------------------------------------------------------------------------
before=$(runs)
mkconfig "$T/bad/bad.yaml" bad 'echo x' 'defaults:' '  runner: local'
rp run "$T/bad/bad.yaml" >/dev/null 2>"$T/err"; rc=$?
check "defaults: in another run config: exit 2" test $rc -eq 2
check "  with its line:col" grep -qF "runpilot: error: $T/bad/bad.yaml:3:1: 'defaults' is only allowed in a project's runpilot.yaml" "$T/err"
cp "$RUNPILOT_HOME/config.yaml" "$T/user.saved"
printf 'defaults:\n  resources:\n    memroy: 1g\n' > "$RUNPILOT_HOME/config.yaml"
rp run "$T/lone/cfg.yaml" >/dev/null 2>"$T/err"; rc=$?
check "a mistake in the user config: exit 2" test $rc -eq 2
check "  at its line:col" grep -qxF "runpilot: error: $RUNPILOT_HOME/config.yaml:3:5: unknown key 'memroy' in 'resources' (did you mean 'memory'?)" "$T/err"
check "  and no run is made" test "$(runs)" = "$before"
cp "$T/user.saved" "$RUNPILOT_HOME/config.yaml"

# --- verify: a changed default is a config change ----------------------------------------
rp verify rp_0006 >/dev/null 2>&1
check "verify: same defaults, same environment" test $? -eq 0
sed -i 's/memory: 1g/memory: 2g/' "$RUNPILOT_HOME/config.yaml"
out=$(rp verify rp_0006 2>&1); rc=$?
check "verify: a changed user default changes the config" test $rc -eq 1
check "  named as resources.memory" grep -q 'resources.memory' <<<"$out"
