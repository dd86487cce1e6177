#!/usr/bin/env bash
# runpilot export: runs into one archive. Every archive is read back with python3's tarfile:
# its entries and their order, MANIFEST.json last, every size and SHA-256 recomputed, the bytes
# equal to the run directories'; the compressions, stdout, --no-outputs, --where, what is
# refused (a running run, a terminal, a bad -o) and that a failed export leaves no file.
. "$(dirname "$0")/lib.sh"
W=$T/work O=$T/out
mkdir -p "$W" "$O"

# A job that leaves files, an executable, an empty directory, a symlink inside the run and one
# pointing outside it in outputs/.
cat > "$W/job.yaml" <<'Y'
name: alpha
entrypoint: |
  set -e; o=$RUNPILOT_OUTPUT_DIR
  mkdir -p $o/sub/empty
  head -c 300000 /dev/urandom > $o/model.bin
  seq 1 20000 > $o/sub/steps.txt
  printf '#!/bin/sh\necho hi\n' > $o/run.sh; chmod 755 $o/run.sh
  ln -s model.bin $o/latest; ln -s ../run.json $o/record
  ln -s /etc/passwd $o/escape; ln -s ../../../x $o/up
  ln -s .. $o/run; ln -s run/../.. $o/chain
  echo "step 1 loss=0.5"
Y
rp run -q --runner local "$W/job.yaml" >/dev/null 2>&1
rp run -q --runner local --name beta "$W/job.yaml" >/dev/null 2>&1
check "two runs to export" test -f "$RUNPILOT_HOME/runs/rp_0002/outputs/model.bin"

# python3 $CHECK ARCHIVE IDS [no-outputs]: the archive (a file, or - for stdin; any
# compression tarfile or zstd reads) holds exactly the runs IDS (comma-separated, in order).
CHECK=$T/check.py
cat > "$CHECK" <<'PY'
import gzip, hashlib, io, json, os, re, stat, subprocess, sys, tarfile
path, ids, no_outputs = sys.argv[1], sys.argv[2].split(","), len(sys.argv) > 3
home = os.environ["RUNPILOT_HOME"]
def die(msg):
    sys.exit("check: " + msg)
raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
if raw[:4] == b"\x28\xb5\x2f\xfd":
    raw = subprocess.run(["zstd", "-dc"], input=raw, stdout=subprocess.PIPE, check=True).stdout
elif raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
if raw[257:263] != b"ustar\x00":
    die("not a pax (POSIX ustar) archive")
tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
members = tf.getmembers()
if not members or members[-1].name != "MANIFEST.json" or not members[-1].isfile():
    die("MANIFEST.json is not the last entry")
m = json.loads(tf.extractfile(members[-1]).read())
for k, v in (("format", "runpilot-export"), ("format_version", 1), ("no_outputs", no_outputs)):
    if m.get(k) != v:
        die("manifest %s is %r" % (k, m.get(k)))
if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["created"]) or not m["host"] or not m["runpilot_version"]:
    die("manifest created/host/version")
if [r["id"] for r in m["runs"]] != ids:
    die("manifest runs %r, expected %r" % ([r["id"] for r in m["runs"]], ids))
# what the archive should hold, walked from the run directories
expect = []
for r in m["runs"]:
    d = os.path.join(home, "runs", r["id"])
    run = json.load(open(os.path.join(d, "run.json")))
    if r["uid"] != run["uid"] or r["name"] != run["name"] or r["status"] != run["status"]:
        die("manifest run %r differs from run.json" % r)
    def walk(rel):
        p = os.path.join(d, rel)
        for name in sorted(os.listdir(p), key=os.fsencode):
            sub = os.path.join(rel, name) if rel else name
            if not rel and (name == "run.lock" or re.fullmatch(r".*\.tmp\..*", name)):
                continue
            st = os.lstat(os.path.join(d, sub))
            if stat.S_ISLNK(st.st_mode):
                t = os.readlink(os.path.join(d, sub))
                real, rd = os.path.realpath(os.path.join(d, sub)), os.path.realpath(d)
                inside = (not t.startswith("/") and not os.path.normpath(os.path.join(os.path.dirname(sub), t)).startswith("..")
                          and (real == rd or real.startswith(rd + "/")))
                if inside:
                    expect.append((sub, "l", t))
            elif stat.S_ISDIR(st.st_mode):
                expect.append((sub, "d", None))
                if not (no_outputs and sub == "outputs"):
                    walk(sub)
            elif stat.S_ISREG(st.st_mode):
                expect.append((sub, "f", st.st_mode & 0o111))
    start = len(expect)
    expect.append(("", "d", None))
    walk("")
    expect[start:] = [("runs/%s/%s" % (r["uid"], e[0]) if e[0] else "runs/%s" % r["uid"], e[1], e[2], d, e[0])
                      for e in expect[start:]]
got = members[:-1]
if [g.name for g in got] != [e[0] for e in expect]:
    die("entries differ:\n got  %s\n want %s" % ([g.name for g in got], [e[0] for e in expect]))
files = [g for g in got if not g.isdir()]
if len(files) != len(m["files"]):
    die("manifest lists %d files, the archive has %d" % (len(m["files"]), len(files)))
total = 0
for g, e in zip(got, expect):
    if g.uid or g.gid or g.uname or g.gname:
        die("%s: owner %d:%d %r:%r" % (g.name, g.uid, g.gid, g.uname, g.gname))
    if e[1] == "d":
        if not g.isdir() or g.mode != 0o755:
            die("%s: not a 0755 directory" % g.name)
        continue
    f = m["files"][files.index(g)]
    if f["path"] != g.name:
        die("manifest order: %s where %s is" % (f["path"], g.name))
    if e[1] == "l":
        if not g.issym() or g.linkname != e[2] or f.get("symlink") != e[2] or "sha256" in f:
            die("%s: symlink %r, manifest %r" % (g.name, g.linkname, f))
        continue
    data = tf.extractfile(g).read()
    if not g.isfile() or g.mode != (0o755 if e[2] else 0o644):
        die("%s: mode %o" % (g.name, g.mode))
    if data != open(os.path.join(e[3], e[4]), "rb").read():
        die("%s: content differs from the run directory" % g.name)
    if f["size"] != len(data) or g.size != len(data) or f["sha256"] != hashlib.sha256(data).hexdigest():
        die("%s: size or sha256 wrong in the manifest" % g.name)
    if int(g.mtime) != int(os.lstat(os.path.join(e[3], e[4])).st_mtime):
        die("%s: mtime not kept" % g.name)
    total += len(data)
if m["total_bytes"] != total:
    die("total_bytes %d, files sum to %d" % (m["total_bytes"], total))
print("ok %d entries" % len(members))
PY
arch() { python3 "$CHECK" "$@" > "$T/check.out" 2>&1 || { cat "$T/check.out" >&2; return 1; }; }
magic() { head -c 4 "$1" | od -An -tx1 | tr -d ' \n'; }
no_temp() { ! ls -a "$O" | grep -q '\.tmp\.'; }

# --- the three compressions and stdout ----------------------------------------------------
rp export rp_0001 beta -o "$O/x.tar" 2>"$T/err"; rc=$?
check "export .tar exits 0" test $rc -eq 0
check ".tar: entries, order, manifest, hashes and sizes right" arch "$O/x.tar" rp_0001,rp_0002
check ".tar is an uncompressed tar" sh -c "tar -tf '$O/x.tar' | grep -qx MANIFEST.json && [ \$(head -c 262 '$O/x.tar' | tail -c 5) = ustar ]"
check "a run line per run on stderr" grep -Eq '^rp_0002  beta +[0-9.]+ KiB$' "$T/err"
check "the total line" grep -Eq '^exported 2 runs, [0-9.]+ KiB \(archive [0-9.]+ KiB\) to .*/x\.tar$' "$T/err"
check "the symlink leaving the run is skipped with a warning" grep -q 'warning: rp_0001: outputs/escape is a symbolic link to /etc/passwd, outside the run: not exported' "$T/err"
check "so is one climbing out with .." grep -q 'warning: rp_0002: outputs/up is a symbolic link to ../../../x' "$T/err"
check "no progress line off a terminal" sh -c "! grep -q \$'\\r' '$T/err'"
check "the symlinks inside the run travel" sh -c "tar -tvf '$O/x.tar' | grep -q 'outputs/latest -> model.bin' && tar -tvf '$O/x.tar' | grep -q 'outputs/record -> ../run.json' && tar -tvf '$O/x.tar' | grep -q 'outputs/run -> ..\$'"
check "a link leaving the run through another link is skipped" sh -c "grep -q 'warning: rp_0001: outputs/chain is a symbolic link to run/../.., outside the run' '$T/err' && ! tar -tf '$O/x.tar' | grep -q chain"
check "the empty directory travels" sh -c "tar -tf '$O/x.tar' | grep -q 'outputs/sub/empty/$'"

rp export 1 2 -o "$O/x.tar.gz" 2>/dev/null
check ".tar.gz is gzip" test "$(magic "$O/x.tar.gz")" = 1f8b0800
check ".tar.gz: entries, hashes and sizes right" arch "$O/x.tar.gz" rp_0001,rp_0002
rp export 1 2 -o "$O/x.tgz" 2>/dev/null
check ".tgz is gzip" test "$(magic "$O/x.tgz")" = 1f8b0800
rp export 1 2 -o "$O/x.tar.zst" 2>/dev/null
check ".tar.zst is zstd" test "$(magic "$O/x.tar.zst")" = 28b52ffd
check ".tar.zst: entries, hashes and sizes right" arch "$O/x.tar.zst" rp_0001,rp_0002
rp export 1 2 -o "$O/x.tar" --compress zstd 2>/dev/null
check "--compress overrides the name" test "$(magic "$O/x.tar")" = 28b52ffd
rp export 2 1 last -o - 2>"$T/err" > "$O/stdout.tar"; rc=$?
check "-o - writes a plain tar to stdout" sh -c "[ $rc -eq 0 ] && tar -tf '$O/stdout.tar' >/dev/null"
check "-o -: runs in the order given, once each" arch "$O/stdout.tar" rp_0002,rp_0001
check "-o -: the total line names stdout" grep -q '^exported 2 runs, .* to stdout$' "$T/err"
check "-o - | python3 (a pipe)" sh -c "'$RUNPILOT_BIN' export 1 -o - 2>/dev/null | python3 '$CHECK' - rp_0001 >/dev/null"
check "-o - --compress gzip" sh -c "'$RUNPILOT_BIN' export 1 -o - --compress gzip 2>/dev/null | head -c 2 | od -An -tx1 | grep -q '1f 8b'"
check "no temporary file left" no_temp

# --- selections -------------------------------------------------------------------------
rp export --no-outputs 1 2 -o "$O/noout.tar" 2>/dev/null
check "--no-outputs: outputs/ stays, empty; manifest says so" arch "$O/noout.tar" rp_0001,rp_0002 no-outputs
check "--no-outputs is smaller" test "$(stat -c %s "$O/noout.tar")" -lt 100000
rp export --where "name = 'beta'" -o "$O/where.tar" 2>/dev/null
check "--where selects the runs" arch "$O/where.tar" rp_0002
rp export --status success --name 'alp*' -o "$O/name.tar" 2>/dev/null
check "--status and --name select too" arch "$O/name.tar" rp_0001
rp export --where "name = 'nothing'" -o "$O/none.tar" 2>"$T/err"; rc=$?
check "an empty selection is a usage error, no file" sh -c "[ $rc -eq 2 ] && grep -q 'no run matches' '$T/err' && [ ! -e '$O/none.tar' ]"

# --- refusals ----------------------------------------------------------------------------
mkconfig "$W/sleep.yaml" sleeper '["sleep", "60"]'
"$RUNPILOT_BIN" run -q --runner local "$W/sleep.yaml" >/dev/null 2>&1 &
sleeper=$!
rp_cleanup_hooks+=("kill $sleeper 2>/dev/null; wait $sleeper 2>/dev/null")
wait_for "[ \"\$(json '$RUNPILOT_HOME/runs/rp_0003/run.json' 'd[\"status\"]' 2>/dev/null)\" = running ]" 10
rp export 1 rp_0003 -o "$O/busy.tar" 2>"$T/err"; rc=$?
check "a running run is refused (exit 2, naming it)" sh -c "[ $rc -eq 2 ] && grep -q 'error: rp_0003 is running' '$T/err'"
check "... and nothing is written" sh -c "[ ! -e '$O/busy.tar' ] && ! ls -a '$O' | grep -q busy"
rp export --status running -o "$O/busy.tar" 2>"$T/err"; rc=$?
check "a running run selected by --status is refused too" sh -c "[ $rc -eq 2 ] && grep -q 'rp_0003 is running' '$T/err'"
kill -TERM $sleeper; wait $sleeper 2>/dev/null
check "the sleeper is gone" pid_dead $sleeper

rp export 1 -o "$T/no/such/dir/x.tar" 2>"$T/err"; rc=$?
check "a bad -o directory: one error line, exit 1" sh -c "[ $rc -eq 1 ] && [ \$(wc -l < '$T/err') -eq 1 ] && grep -q '^runpilot: error: cannot create $T/no/such/dir/x.tar' '$T/err'"
check "... and no file" test ! -e "$T/no"
rp export 1 -o "$O" 2>"$T/err"; rc=$?
check "-o a directory is a usage error" sh -c "[ $rc -eq 2 ] && grep -q 'is a directory' '$T/err'"
rp export 1 -o "$O/x.zip" 2>"$T/err"; rc=$?
check "an unknown archive name is a usage error" sh -c "[ $rc -eq 2 ] && grep -q 'name the archive .tar' '$T/err' && [ ! -e '$O/x.zip' ]"
rp export 1 -o "$O/y.tar" --compress bzip2 2>"$T/err"; rc=$?
check "--compress checks its value" sh -c "[ $rc -eq 2 ] && grep -q 'use gzip, zstd or none' '$T/err'"
rp export 1 2>"$T/err"; rc=$?
check "-o is required" sh -c "[ $rc -eq 2 ] && grep -q 'missing -o FILE' '$T/err'"
rp export -o "$O/z.tar" 2>"$T/err"; rc=$?
check "a run is required" sh -c "[ $rc -eq 2 ] && grep -q 'missing RUN' '$T/err'"
rp export rp_0099 -o "$O/z.tar" 2>"$T/err"; rc=$?
check "an unknown run is a usage error, no file" sh -c "[ $rc -eq 2 ] && [ ! -e '$O/z.tar' ]"
check "help export lists every option" sh -c "'$RUNPILOT_BIN' help export | grep -q -- --no-outputs && '$RUNPILOT_BIN' export --help | grep -q -- '--compress' && '$RUNPILOT_BIN' export --help | grep -q -- '--where'"

# A write failing half-way (the file size limit: write(2) fails with EFBIG) leaves neither the
# archive nor its temporary file, and says why in one line.
cp "$O/x.tar" "$O/keep.tar"
(trap '' XFSZ; ulimit -f 200; exec "$RUNPILOT_BIN" export 1 2 -o "$O/keep.tar") 2>"$T/err"; rc=$?
check "a failed write: exit 1, one error line" sh -c "[ $rc -eq 1 ] && [ \$(grep -vc warning '$T/err') -eq 1 ] && grep -q 'error: cannot write $O/keep.tar: File too large' '$T/err'"
check "... the existing FILE untouched" cmp -s "$O/x.tar" "$O/keep.tar"
check "... no temporary file" no_temp

# On a terminal: -o - is refused; a progress line is drawn on stderr.
python3 "$PTY" "$T/tty.out" "$RUNPILOT_BIN" export 1 -o -; rc=$?
check "-o - on a terminal is refused" sh -c "[ $rc -eq 2 ] && grep -q 'not writing an archive to a terminal' '$T/tty.out'"
python3 "$PTY" "$T/tty.out" "$RUNPILOT_BIN" export 1 -o "$O/tty.tar"; rc=$?
check "on a terminal, a progress line" sh -c "[ $rc -eq 0 ] && grep -aq 'export *100%' '$T/tty.out'"
check "... and the archive is whole" arch "$O/tty.tar" rp_0001

# SIGTERM (or Ctrl-C) during an export (a run with a 3 GiB sparse file, gzip: seconds of work,
# little disk) stops it between chunks: no archive, no temporary file.
mkconfig "$W/sparse.yaml" sparse '["sh", "-c", "truncate -s 3G $RUNPILOT_OUTPUT_DIR/sparse.bin"]'
rp run -q --runner local "$W/sparse.yaml" >/dev/null 2>&1
"$RUNPILOT_BIN" export sparse -o "$O/big.tar.gz" 2>"$T/err" &
exporter=$!
rp_cleanup_hooks+=("kill $exporter 2>/dev/null; wait $exporter 2>/dev/null")
wait_for "ls '$O' | grep -q 'big.tar.gz.tmp.'" 10
sleep 0.3
kill -TERM $exporter; wait $exporter; rc=$?
check "SIGTERM stops an export: exit 1, 'interrupted'" sh -c "[ $rc -eq 1 ] && grep -q 'error: interrupted' '$T/err'"
check "... leaving no archive and no temporary file" sh -c "[ ! -e '$O/big.tar.gz' ] && ! ls -a '$O' | grep -q 'big.tar.gz'"
