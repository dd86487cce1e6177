#!/bin/sh
# Build a tiny root filesystem from busybox-static for sandbox.rootfs tests and examples.
#   rootfs/build-busybox.sh DIR
# DIR gets bin/ (busybox and one link per applet), etc/passwd and group, and empty mount points
# (proc dev tmp sys). Needs Debian's busybox-static (/bin/busybox). Rebuilds DIR from scratch.
set -eu
dir=${1:?usage: build-busybox.sh DIR}
bb=${BUSYBOX:-/bin/busybox}
if ! "$bb" --list >/dev/null 2>&1; then
	echo "build-busybox.sh: $bb is not a working busybox (apt-get install busybox-static)" >&2
	exit 1
fi
tmp="$dir.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/proc" "$tmp/dev" "$tmp/tmp" "$tmp/sys" "$tmp/root" "$tmp/work"
chmod 1777 "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
for a in $("$bb" --list); do
	# "busybox" itself must stay the binary, not a link to itself (ELOOP).
	[ "$a" = busybox ] || ln -sf busybox "$tmp/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$tmp/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/etc/group"
echo "runpilot busybox rootfs" > "$tmp/etc/rootfs-release"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
