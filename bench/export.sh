#!/usr/bin/env bash
# Export and import throughput against tar doing the same work: `runpilot export` of every run
# (50 runs, BENCH_GIB of outputs in all, made by real `runpilot run`s of a job writing half
# incompressible bytes, half numbers as text) to .tar, .tar.zst and .tar.gz, next to `tar -cf`,
# `tar --zstd -cf` and `tar -czf` of the same run directories; `runpilot import` of the .tar
# into an empty home next to `tar -xf` of tar's own archive (skipped, saying so, while this
# runpilot has no import command). Then the peak RSS (GNU time) of export, import and tar.
#   bench/export.sh [RUNPILOT_BIN]     env: BENCH_GIB (1), NRUNS (50), ROUNDS (3), RUNS (2)
# Interleaved: ROUNDS rounds, each ONE hyperfine invocation of every command (RUNS runs each),
# the order reversed every other round; ratios per round, the median over rounds.
# Export syncs its archive before renaming it into place (fsync); tar does not, so `tar -cf` is
# also timed followed by `sync FILE`, like with like (shown beside the goal's ratio).
# Goals: export >= 0.8x tar's throughput at the same compression; import >= 0.5x tar -x's.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/runpilot}
for t in hyperfine python3 tar zstd gzip /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "export: $t is not installed" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "export: $bin not built (make)" >&2; exit 1; }
BENCH_GIB=${BENCH_GIB:-1}
NRUNS=${NRUNS:-50}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-2}
T=$(mktemp -d /tmp/rpbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
export RUNPILOT_HOME=$T/home

# The runs: each job writes its share, half from /dev/urandom, half random numbers as text
# (gzip and zstd shrink that to about 40%).
per_run=$(python3 -c "print(int($BENCH_GIB * 2**30 / $NRUNS))")
cat > "$T/job.yaml" <<Y
name: bench
entrypoint: |
  o=\$RUNPILOT_OUTPUT_DIR; half=\$(( $per_run / 2 ))
  head -c \$half /dev/urandom > \$o/weights.bin
  od -An -tu2 -w32 -v /dev/urandom | head -c \$half > \$o/samples.txt
  mkdir \$o/ckpt && head -c 4096 /dev/urandom > \$o/ckpt/meta.bin
Y
echo "export: making $NRUNS runs of $(python3 -c "print('%.1f MiB' % ($per_run / 2**20))") ..." >&2
for i in $(seq "$NRUNS"); do
	"$bin" run -q --runner local "$T/job.yaml" >/dev/null 2>&1 || { echo "export: runpilot run failed" >&2; exit 1; }
done
bytes=$(du -sb --apparent-size "$RUNPILOT_HOME/runs" | cut -f1)
# every run, chosen as a user would (in hyperfine's shell command lines, and here)
sel_sh="--where \"name = 'bench'\""
sel=(--where "name = 'bench'")

have_import=0
if "$bin" help import >/dev/null 2>&1; then
	have_import=1
else
	echo "export: this runpilot has no import command: the import half is skipped" >&2
fi
# The archives import and tar -x read, made once.
"$bin" export "${sel[@]}" -o "$T/in.tar" 2>/dev/null
tar -cf "$T/tin.tar" -C "$RUNPILOT_HOME" runs

names=() cmds=() preps=()
add() { names+=("$1"); cmds+=("$2"); preps+=("$3"); }
# Each command starts with its output gone and the disk's queue flushed (sync).
add "export .tar" "$bin export $sel_sh -o $T/x.tar" "rm -f $T/x.tar && sync"
add "tar -cf" "tar -cf $T/t.tar -C $RUNPILOT_HOME runs" "rm -f $T/t.tar && sync"
add "tar -cf + sync" "tar -cf $T/s.tar -C $RUNPILOT_HOME runs && sync $T/s.tar" "rm -f $T/s.tar && sync"
add "export .tar.zst" "$bin export $sel_sh -o $T/x.tar.zst" "rm -f $T/x.tar.zst && sync"
add "tar --zstd -cf" "tar --zstd -cf $T/t.tar.zst -C $RUNPILOT_HOME runs" "rm -f $T/t.tar.zst && sync"
add "export .tar.gz" "$bin export $sel_sh -o $T/x.tar.gz" "rm -f $T/x.tar.gz && sync"
add "tar -czf" "tar -czf $T/t.tar.gz -C $RUNPILOT_HOME runs" "rm -f $T/t.tar.gz && sync"
if [ $have_import = 1 ]; then
	add "import .tar" "env RUNPILOT_HOME=$T/ihome $bin import $T/in.tar" "rm -rf $T/ihome && mkdir $T/ihome && sync"
	add "tar -xf" "tar -xf $T/tin.tar -C $T/xdir" "rm -rf $T/xdir && mkdir $T/xdir && sync"
fi
for r in $(seq "$ROUNDS"); do
	args=()
	idx=$(seq 0 $((${#names[@]} - 1)))
	[ $((r % 2)) -eq 0 ] && idx=$(echo "$idx" | tac)
	for i in $idx; do args+=(-n "${names[$i]}" --prepare "${preps[$i]}" "${cmds[$i]}"); done
	echo "export: round $r of $ROUNDS ..." >&2
	hyperfine --warmup 0 --runs "$RUNS" --export-json "$T/h$r.json" "${args[@]}" > "$T/h$r.txt" 2>&1 ||
		{ cat "$T/h$r.txt"; exit 1; }
done

# Peak RSS of one export and one tar of each compression.
rss() { /usr/bin/time -f %M -o "$T/rss" "$@" >/dev/null 2>&1 && cat "$T/rss"; }
rss_line=""
for c in tar tar.zst tar.gz; do
	flag=""; case $c in tar.zst) flag=--zstd ;; tar.gz) flag=-z ;; esac
	a=$(rss "$bin" export "${sel[@]}" -o "$T/r.$c")
	b=$(rss tar $flag -cf "$T/rt.$c" -C "$RUNPILOT_HOME" runs)
	rss_line+="$c $a $b "
	rm -f "$T/r.$c" "$T/rt.$c"
done
if [ "$have_import" = 1 ] && [ -f "$T/x.tar" ] && [ -f "$T/t.tar" ]; then
	rm -rf "$T/rss-home" "$T/rss-x"; mkdir -p "$T/rss-x"
	a=$(RUNPILOT_HOME=$T/rss-home rss "$bin" import "$T/x.tar")
	b=$(rss tar -xf "$T/t.tar" -C "$T/rss-x")
	rss_line+="import $a $b "
	rm -rf "$T/rss-home" "$T/rss-x"
fi
ls -l "$T"/x.tar* "$T"/t.tar* "$T"/s.tar 2>/dev/null | awk '{print $5, $9}' > "$T/sizes"

python3 - "$T" "$ROUNDS" "$bytes" "$have_import" "$NRUNS" $rss_line <<'PY'
import json, os, statistics, sys
t, rounds, nbytes, have_import, nruns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
rss = sys.argv[6:]
per = []
for r in range(1, rounds + 1):
    res = json.load(open("%s/h%d.json" % (t, r)))["results"]
    per.append({x["command"]: statistics.median(x["times"]) for x in res})
names = list(per[0])
pairs = [("export .tar", "tar -cf"), ("export .tar.zst", "tar --zstd -cf"), ("export .tar.gz", "tar -czf")]
goals = {p[0]: 0.8 for p in pairs}
if have_import:
    pairs.append(("import .tar", "tar -xf"))
    goals["import .tar"] = 0.5
mib = nbytes / 2**20
print("%d runs, %.1f MiB of run directories; medians over %d interleaved rounds" % (nruns, mib, rounds))
print("%-18s %10s %12s" % ("command", "seconds", "MiB/s"))
for n in names:
    s = statistics.median(p[n] for p in per)
    print("%-18s %10.2f %12.1f" % (n, s, mib / s))
print("throughput ratios (runpilot / tar, per round, then the median):")
ok = lambda c: "OK" if c else "MISSED"
for a, b in pairs:
    ratios = [p[b] / p[a] for p in per]
    m = statistics.median(ratios)
    print("  %-16s / %-15s %s  median %.2fx  (goal >= %.1fx) %s" % (a, b, " ".join("%.2f" % x for x in ratios), m,
                                                                  goals[a], ok(m >= goals[a])))
    if a == "export .tar":
        like = statistics.median(p["tar -cf + sync"] / p[a] for p in per)
        print("  %-16s / %-15s %s  median %.2fx  (like with like: both synced)" % (a, "tar -cf + sync",
              " ".join("%.2f" % (p["tar -cf + sync"] / p[a]) for p in per), like))
if not have_import:
    print("  import: skipped (this runpilot has no import command)")
sizes = dict(reversed(l.split()) for l in open(t + "/sizes"))
print("archive sizes: " + ", ".join("%s %.1f MiB" % (os.path.basename(k), int(v) / 2**20) for k, v in sorted(sizes.items())))
print("peak RSS (GNU time, KiB): " + ", ".join("%s: runpilot %s, tar %s" % (rss[i], rss[i + 1], rss[i + 2])
                                               for i in range(0, len(rss), 3)))
PY
