#!/usr/bin/env bash
# The image store: `runpilot image import|ls|rm|pull` on images built here without Docker (a
# busybox root filesystem as a `docker save` tar and as OCI layouts), whiteouts and hard links
# across layers, every hostile case refused with one line and nothing stored, concurrent
# imports, and an unprivileged user's store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_common.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
mkimage() { python3 "$here/tests/helpers/mkimage.py" "$@"; }
W=$T/work; mkdir -p "$W"; chmod 755 "$W"
IMG=$RUNPILOT_HOME/images
snapshot() { find "$IMG" -printf '%p %y %s\n' 2>/dev/null | sort; }
ms() { date +%s%N | cut -c1-13; }

# --- busybox, three ways ------------------------------------------------------------------
sh "$here/rootfs/build-busybox.sh" "$W/bb" || { fail "busybox rootfs" "build-busybox.sh failed"; exit 0; }
id_save=$(mkimage docker-save "$W/bb.tar" --tag busybox "$W/bb")
id_oci=$(mkimage oci "$W/bb-oci" --ref docker.io/library/bbox:oci --gzip "$W/bb")
mkdir -p "$W/bb2"; cp -a "$W/bb/." "$W/bb2/"; echo two > "$W/bb2/etc/which"
id_ocitar=$(mkimage oci "$W/bb2-oci.tar" --tar --ref bbox:tar "$W/bb2")

t0=$(ms); out=$(rp image import "$W/bb.tar" 2>"$T/err"); rc=$?; t1=$(ms)
check "import a docker save tar" test "$rc:$out" = "0:imported ${id_save:0:12} busybox:latest"
echo "  figure: busybox import (verify + unpack, $(du -sh "$W/bb" | cut -f1)) $((t1 - t0)) ms"
root=$IMG/rootfs/$id_save
check "the unpacked tree runs busybox" sh -c "'$root/bin/busybox' echo hi | grep -qx hi"
check "applet symlinks kept as they are" test "$(readlink "$root/bin/sh")" = busybox
check "the tree's top is read-only" test "$(stat -c %a "$root")" = 555
check "/tmp keeps its sticky bit" test "$(stat -c %a "$root/tmp")" = 1777
check "blobs are stored by digest" test -f "$IMG/blobs/sha256/$id_save"
check "the blob is its own sha256" test "$(sha256sum < "$IMG/blobs/sha256/$id_save" | cut -c1-64)" = "$id_save"
t0=$(ms); rp image import "$W/bb-oci" >/dev/null 2>"$T/err"; rc=$?; t1=$(ms)
check "import an OCI layout directory (gzip layers)" test $rc -eq 0
echo "  figure: busybox OCI layout (gzip) import $((t1 - t0)) ms"
check "the same config is the same image id" test "$id_oci" = "$id_save"
rp image import "$W/bb2-oci.tar" --name extra/name:v1 >/dev/null 2>"$T/err"
check "import an OCI layout tar with --name" test $? -eq 0
rp image ls > "$T/ls"
check "ls header" grep -Eq '^NAME +ID +SIZE +UNPACKED +CREATED$' <(head -n1 "$T/ls")
check "ls shows busybox:latest with its id" grep -Eq "^busybox:latest +${id_save:0:12} +[0-9.]+ MiB +yes +2026-01-02" "$T/ls"
check "ls shows the OCI name, normalised" grep -Eq "^bbox:oci +${id_save:0:12} " "$T/ls"
check "ls shows both names of the tar's image" sh -c "grep -Eq '^bbox:tar +${id_ocitar:0:12} ' '$T/ls' && grep -Eq '^extra/name:v1 +${id_ocitar:0:12} ' '$T/ls'"
check "the other image has its own tree" test "$(cat "$IMG/rootfs/$id_ocitar/etc/which")" = two

ino=$(stat -c %i "$IMG/index.json"); before=$(snapshot)
rp image import "$W/bb.tar" >/dev/null 2>&1
check "a second import of the same image is a no-op" sh -c "[ $? -eq 0 ] && [ $(stat -c %i "$IMG/index.json") = $ino ] && [ '$(snapshot | md5sum)' = '$(echo "$before" | md5sum)' ]"

# Other shapes: a compressed docker save, zstd layers, a repeated layer stored as a symlink.
gzip -c "$W/bb.tar" > "$W/bb.tar.gz"
rp image rm busybox >/dev/null 2>&1; rp image import "$W/bb.tar.gz" >/dev/null 2>"$T/err"
check "import a gzip-compressed docker save" sh -c "[ $? -eq 0 ] && [ -x '$IMG/rootfs/$id_save/bin/busybox' ]"
if command -v zstd >/dev/null; then
	id_z=$(mkimage oci "$W/bb-zstd" --ref bbox:zstd --zstd "$W/bb2")
	rp image import "$W/bb-zstd" >/dev/null 2>"$T/err"
	check "import an OCI layout with zstd layers" sh -c "[ $? -eq 0 ] && [ '$id_z' = '$id_ocitar' ] && '$RUNPILOT_BIN' image ls | grep -q '^bbox:zstd '"
else
	skip "import an OCI layout with zstd layers" "no zstd to make one"
fi
mkdir -p "$W/small"; echo s > "$W/small/s"
id_dup=$(mkimage docker-save "$W/dup.tar" --tag dup:1 "$W/small" "$W/bb" "$W/small")
rp image import "$W/dup.tar" >/dev/null 2>"$T/err"
check "a repeated layer stored as a symlink in the archive" sh -c "[ $? -eq 0 ] && [ -f '$IMG/rootfs/$id_dup/s' ]"
rp image rm dup:1 >/dev/null 2>&1

# --- layers: whiteouts, an opaque directory, hard links -----------------------------------------
mkdir -p "$W/l1/d/sub" "$W/l2/d"
echo keep > "$W/l1/keep"; echo gone > "$W/l1/gone"; echo 1 > "$W/l1/d/old"; echo 2 > "$W/l1/d/sub/deep"
echo linked > "$W/l1/a"; ln "$W/l1/a" "$W/l1/b"
: > "$W/l2/.wh.gone"; : > "$W/l2/d/.wh..wh..opq"; echo new > "$W/l2/d/new"
id_wh=$(mkimage docker-save "$W/wh.tar" --tag layered:2 "$W/l1" "$W/l2")
rp image import "$W/wh.tar" >/dev/null 2>"$T/err"
check "import a two-layer image" test $? -eq 0
R=$IMG/rootfs/$id_wh
check "a file deleted in layer 2 is absent" sh -c "[ ! -e '$R/gone' ] && [ -f '$R/keep' ]"
check "an opaque directory holds only layer 2's files" test "$(cd "$R/d" && ls -A | tr '\n' ' ')" = "new "
check "no whiteout file is left" test -z "$(find "$R" -name '.wh.*')"
check "a hard link inside a layer is one inode" test "$(stat -c %i "$R/a")" = "$(stat -c %i "$R/b")"

# --- hostile images: refused, one line, nothing stored -----------------------------------------
# hostile KIND: a layer tar made with python's tarfile.
hostile() {
	python3 - "$1" "$2" <<'P'
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w")
def f(name, data=b"x"):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def link(name, target, type):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = target; t.addfile(i)
if kind == "dotdot": f("ok"); f("a/../../escaped")
elif kind == "absolute": f("/etc/evil")
elif kind == "symlink": link("up", "../../../../etc", tarfile.SYMTYPE)
elif kind == "hardlink": link("h", "../../etc/passwd", tarfile.LNKTYPE)
elif kind == "plant": link("evil", sys.argv[2] + ".outside", tarfile.SYMTYPE)
elif kind == "through": f("evil/pwned")
elif kind == "device":
    i = tarfile.TarInfo("dev/null"); i.type = tarfile.CHRTYPE; i.devmajor, i.devminor = 1, 3; t.addfile(i); f("fine")
elif kind == "big": f("big", b"z" * 200000)
t.close()
P
}
refuse() {
	local name=$1 want=$2; shift 2
	local before after
	before=$(snapshot)
	"$@" >/dev/null 2>"$T/err"; local rc=$?
	after=$(snapshot)
	if [ $rc -eq 0 ]; then fail "$name" "import succeeded"
	elif [ "$(wc -l < "$T/err")" -ne 1 ]; then fail "$name" "not one line: $(cat "$T/err")"
	elif ! grep -q -- "$want" "$T/err"; then fail "$name" "message: $(cat "$T/err")"
	elif [ "$before" != "$after" ]; then fail "$name" "the store changed: $(diff <(echo "$before") <(echo "$after") | head -3)"
	else pass "$name"; fi
}
for k in dotdot absolute symlink hardlink device big plant through; do hostile $k "$W/$k.tar"; done
mkdir -p "$W/out.tar.outside"
mkimage docker-save "$W/h-dotdot.tar" --tag h:1 "$W/dotdot.tar" >/dev/null
refuse "refused: an entry with '..'" "entry 'a/../../escaped' has a '..' component" rp image import "$W/h-dotdot.tar"
mkimage docker-save "$W/h-abs.tar" --tag h:1 "$W/absolute.tar" >/dev/null
refuse "refused: an absolute path" "entry '/etc/evil' has an absolute path" rp image import "$W/h-abs.tar"
mkimage oci "$W/h-sym" --ref h:1 "$W/symlink.tar" >/dev/null
refuse "refused: a symlink out of the root" "symlink 'up' -> '../../../../etc' points out of the root" rp image import "$W/h-sym"
mkimage oci "$W/h-hard" --ref h:1 "$W/hardlink.tar" >/dev/null
refuse "refused: a hard link out of the root" "hard link 'h' -> '../../etc/passwd' points out of the root" rp image import "$W/h-hard"
hostile plant "$W/out.tar"; mkimage oci "$W/h-through" --ref h:1 "$W/out.tar" "$W/through.tar" >/dev/null
refuse "refused: a write through a planted symlink" "entry 'evil/pwned' is written through a symlink" rp image import "$W/h-through"
check "nothing was written outside" test -z "$(ls -A "$W/out.tar.outside")"
mkimage oci "$W/h-digest" --ref h:1 "$W/bb" >/dev/null
layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][0]["digest"][7:])' "$W/h-digest")
chmod u+w "$W/h-digest/blobs/sha256/$layer"; printf 'X' >> "$W/h-digest/blobs/sha256/$layer"
refuse "refused: a blob that does not match its digest" "does not match its digest sha256:$layer" rp image import "$W/h-digest"
mkimage oci "$W/h-big" --ref h:1 "$W/big.tar" >/dev/null
refuse "refused: over RUNPILOT_IMAGE_MAX_BYTES" "over the size limit of 100000 bytes" env RUNPILOT_IMAGE_MAX_BYTES=100000 "$RUNPILOT_BIN" image import "$W/h-big"
python3 - "$W/h-outer.tar" <<'P'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w"); i = tarfile.TarInfo("../manifest.json"); i.size = 2; t.addfile(i, io.BytesIO(b"[]")); t.close()
P
refuse "refused: an archive member with '..'" "entry '../manifest.json' has a '..' component" rp image import "$W/h-outer.tar"
refuse "refused: neither docker save nor OCI" "neither a \`docker save\` archive nor an OCI image layout" rp image import "$W/device.tar"
mkimage oci "$W/h-dev" --ref devices:1 "$W/device.tar" >/dev/null
rp image import "$W/h-dev" >/dev/null 2>"$T/err"; rc=$?
id_dev=$(rp image ls | awk '$1 == "devices:1" {print $2}')
check "device nodes are skipped, noted, not fatal" sh -c "[ $rc -eq 0 ] && grep -q 'skipped 1 device node' '$T/err' && [ -n '$id_dev' ] && [ -f '$IMG/rootfs/'$id_dev*/fine ] && [ ! -e '$IMG/rootfs/'$id_dev*/dev/null ]"

# --- usage ------------------------------------------------------------------------------------
rp image 2>"$T/err"; check "image without a command is a usage error" sh -c "[ $? -eq 2 ] && [ \$(wc -l < '$T/err') -eq 1 ]"
rp image frob 2>"$T/err"; check "unknown image command exits 2" test $? -eq 2
rp image import 2>"$T/err"; check "import without FILE exits 2" sh -c "[ $? -eq 2 ] && grep -q 'needs FILE or DIR' '$T/err'"
rp image import --bogus x 2>"$T/err"; check "unknown option exits 2" sh -c "[ $? -eq 2 ] && grep -q \"unknown option '--bogus'\" '$T/err'"
rp image import "$W/nonexistent.tar" 2>"$T/err"; check "a missing file is a usage error" sh -c "[ $? -eq 2 ] && grep -q 'cannot read' '$T/err'"
rp image import "$W/bb.tar" --name 'Bad Name' 2>"$T/err"; check "a bad --name is a usage error" test $? -eq 2
rp image rm nothere:1 2>"$T/err"; check "rm of an unknown image exits 2 naming pull and import" sh -c "[ $? -eq 2 ] && grep -q 'runpilot image pull' '$T/err'"
check "image --help" sh -c "'$RUNPILOT_BIN' image --help | grep -q 'usage: runpilot image pull REF'"
check "help lists image" sh -c "'$RUNPILOT_BIN' --help | grep -q '^  image '"

# --- pull -----------------------------------------------------------------------------------
if command -v skopeo >/dev/null; then
	timeout 60 "$RUNPILOT_BIN" image pull 127.0.0.1:1/nothing:1 >/dev/null 2>"$T/err"; rc=$?
	check "pull from no registry fails in one line from skopeo" sh -c "[ $rc -eq 1 ] && [ \$(wc -l < '$T/err') -eq 1 ] && grep -q 'cannot pull 127.0.0.1:1/nothing:1: skopeo: ' '$T/err'"
fi
timeout 10 env PATH=/nonexistent "$RUNPILOT_BIN" image pull busybox 2>"$T/err"
check "pull without skopeo names the package" grep -q 'apt-get install skopeo' "$T/err"

# --- rm ---------------------------------------------------------------------------------------
rp image rm bbox:oci >/dev/null 2>&1
check "rm of one name keeps the image" sh -c "[ -d '$IMG/rootfs/$id_save' ] && ! '$RUNPILOT_BIN' image ls | grep -q '^bbox:oci '"
rp image rm "${id_save:0:12}" >/dev/null 2>&1
check "rm by id takes the image, its tree and its blobs" sh -c "[ ! -e '$IMG/rootfs/$id_save' ] && [ ! -e '$IMG/blobs/sha256/$id_save' ] && ! '$RUNPILOT_BIN' image ls | grep -q busybox"

# --- two imports at once --------------------------------------------------------------------
rp image rm layered:2 >/dev/null 2>&1
rp image import "$W/wh.tar" >/dev/null 2>"$T/c1" & p1=$!
rp image import "$W/wh.tar" >/dev/null 2>"$T/c2" & p2=$!
rp image import "$W/bb.tar" >/dev/null 2>"$T/c3" & p3=$!
wait $p1; r1=$?; wait $p2; r2=$?; wait $p3; r3=$?
check "concurrent imports all succeed" test "$r1$r2$r3" = 000
check "concurrent imports all land in the index" sh -c "'$RUNPILOT_BIN' image ls | grep -q '^layered:2 ' && '$RUNPILOT_BIN' image ls | grep -q '^busybox:latest '"
check "two imports of one image end with one tree" test "$(ls -A "$IMG/rootfs" | grep -c "$id_wh")" = 1
check "no temporary directory is left" test -z "$(ls -A "$IMG/tmp")"
# What a killed import left (old, its flock free) goes at the next import; one in use stays.
mkdir -p "$IMG/tmp/import-dead/in" "$IMG/tmp/import-live" "$IMG/rootfs/.unpack-dead/tree/x"
touch -d '2 hours ago' "$IMG/tmp/import-dead" "$IMG/tmp/import-live" "$IMG/rootfs/.unpack-dead"
flock "$IMG/tmp/import-live" sleep 30 & holder=$!
wait_for "[ -e /proc/$holder ]" 5; sleep 0.3
rp image import "$W/bb.tar" >/dev/null 2>&1
check "a killed import's leftovers are removed" sh -c "[ ! -e '$IMG/tmp/import-dead' ] && [ ! -e '$IMG/rootfs/.unpack-dead' ]"
check "a temporary directory in use is kept" test -d "$IMG/tmp/import-live"
kill $holder 2>/dev/null; wait $holder 2>/dev/null; rmdir "$IMG/tmp/import-live"

# --- pull from a registry ---------------------------------------------------------------------
# A registry of our own (Debian's docker-registry) on a random port: push with skopeo, pull back.
registry_pull() {
	local R=$T/registry port rpid
	mkdir -p "$R/home/.config/containers"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$R" "$port" > "$R/config.yml"
	# skopeo 1.9 reads the user's registries.conf (not CONTAINERS_REGISTRIES_CONF): a HOME of our own.
	printf '[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$port" > "$R/home/.config/containers/registries.conf"
	docker-registry serve "$R/config.yml" > "$R/log" 2>&1 & rpid=$!
	rp_cleanup_hooks+=("kill $rpid 2>/dev/null; wait $rpid 2>/dev/null")
	wait_for "curl -sf http://127.0.0.1:$port/v2/ >/dev/null 2>&1 || (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" 10
	if ! skopeo copy --quiet --dest-tls-verify=false "oci:$W/bb-oci" "docker://127.0.0.1:$port/test/bb:1" 2>"$T/err"; then
		fail "push a test image to a local registry" "$(head -n1 "$T/err")"; return
	fi
	local want t0 t1 out
	want=$(HOME=$R/home skopeo inspect --raw "docker://127.0.0.1:$port/test/bb:1" | sha256sum | cut -c1-64)
	t0=$(ms); out=$(HOME=$R/home timeout 60 "$RUNPILOT_BIN" image pull "127.0.0.1:$port/test/bb:1" 2>"$T/err"); rc=$?; t1=$(ms)
	check "pull from a local registry" test "$rc:$out" = "0:pulled ${id_save:0:12} 127.0.0.1:$port/test/bb:1"
	echo "  figure: busybox pull from a local registry $((t1 - t0)) ms"
	check "pull records the registry's manifest digest" grep -q "\"127.0.0.1:$port/test/bb@sha256:$want\"" "$IMG/index.json"
	check "found by repo@digest" sh -c "'$RUNPILOT_BIN' image rm '127.0.0.1:$port/test/bb@sha256:$want' >/dev/null"
	HOME=$R/home timeout 60 "$RUNPILOT_BIN" image pull "127.0.0.1:$port/test/none:1" >/dev/null 2>"$T/err"
	check "pull of a missing image: one line from skopeo" sh -c "[ \$(wc -l < '$T/err') -eq 1 ] && grep -q 'cannot pull 127.0.0.1:$port/test/none:1: skopeo: .*manifest unknown' '$T/err'"
	kill "$rpid"; wait "$rpid" 2>/dev/null
}
if ! command -v skopeo >/dev/null; then
	skip "pull from a local registry" "skopeo is not installed"
elif ! command -v docker-registry >/dev/null; then
	skip "pull from a local registry" "Debian's docker-registry is not installed (make test-deps)"
else
	registry_pull
fi

# --- an unprivileged user ------------------------------------------------------------------------
as_user_store() {
	local mode=$1; shift
	local H=$T/home-$mode
	mkdir -p "$H"; chmod 777 "$H"
	"$@" env RUNPILOT_HOME="$H" "$RUNPILOT_BIN" image import "$W/wh.tar" >/dev/null 2>"$T/u.err"
	check "import as $mode" test $? -eq 0
	check "the tree as $mode is theirs" test "$(stat -c %u "$H/images/rootfs/$id_wh/keep")" = "$("$@" id -u)"
	"$@" env RUNPILOT_HOME="$H" "$RUNPILOT_BIN" image rm layered:2 >/dev/null 2>&1
	check "rm as $mode removes the read-only tree" test ! -e "$H/images/rootfs/$id_wh"
}
sb_root_and_user as_user_store "the store"
