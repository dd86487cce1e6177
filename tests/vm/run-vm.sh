#!/bin/sh
# make test-vm: boot Debian's kernel under qemu (TCG: no KVM on the build machines) with an
# initramfs holding busybox, runpilot (+ its shared libraries), the static test helpers, the
# given cmocka test binaries and tests/vm/test_v2.sh; print the guest's console and its verdict.
#   run-vm.sh RUNPILOT HELPERS_DIR WORK_DIR [TEST_BINARY...]
# The guest reports through isa-debug-exit: qemu exits 1 when the suite passed, 3 when it failed,
# 0 (or 124 from timeout) when the guest died without a verdict.
set -eu
rp=$1 helpers=$2 work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"

kimg=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kimg" ] || { echo "vm: no kernel in /boot (install linux-image-amd64)"; exit 1; }
kver=${kimg#/boot/vmlinuz-}

# 1. The uncompressed vmlinux (its PVH entry boots directly, 2-3 s faster than the bzImage).
vmlinux=$work/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
	python3 - "$kimg" "$vmlinux.tmp" <<'PY'
import lzma, sys
d = open(sys.argv[1], "rb").read()
o = d.find(b"\xfd7zXZ\x00")
if o < 0:
    sys.exit("vm: %s is not an XZ-compressed bzImage" % sys.argv[1])
open(sys.argv[2], "wb").write(lzma.LZMADecompressor().decompress(d[o:]))
PY
	mv "$vmlinux.tmp" "$vmlinux"
fi

# 2. The initramfs.
R=$(mktemp -d /tmp/rp-vm-root.XXXXXX)
chmod 755 "$R" # the guest's / : an ordinary user must get through it
trap 'rm -rf "$R"' EXIT
trap 'exit 130' INT TERM HUP PIPE
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc" "$R/root" "$R/helpers" "$R/tests"
cp /bin/busybox "$R/bin/"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
cp "$here/init" "$R/init"
cp "${VM_TEST_SCRIPT:-$here/test_v2.sh}" "$R/tests/test_v2.sh"
cp "$rp" "$R/bin/runpilot"
cp "$helpers"/* "$R/helpers/"
libs=$(ldd "$rp" | grep -o '/[^ ]*')
for t in "$@"; do
	cp "$t" "$R/tests/"
	libs="$libs $(ldd "$t" | grep -o '/[^ ]*')"
done
for l in $(printf '%s\n' $libs | sort -u); do cp -L --parents "$l" "$R/"; done
chmod 755 "$R/init" "$R/tests/test_v2.sh"
initrd=$work/initramfs.cpio.gz
(cd "$R" && find . | cpio -o -H newc --quiet) | gzip -1 > "$initrd"

# 3. Boot. loglevel=1 keeps the OOM killer's reports off the console. A guest that ends without a
# verdict (qemu killed by the timeout, or the guest died) is booted once more: under TCG on a
# loaded build machine that was seen once in dozens of boots (the guest stalled right after it
# came up, and passed at once when booted again). A verdict, pass or fail, is never retried; the
# first attempt's console is kept beside the second's.
log=$work/console.log
boot() {
	timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp 2 -nodefaults -no-user-config \
		-display none -serial stdio -no-reboot -kernel "$vmlinux" -initrd "$initrd" \
		-append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 < /dev/null > "$log" 2>&1
}
set +e
boot
rc=$?
if [ $rc -ne 1 ] && [ $rc -ne 3 ]; then
	mv "$log" "$log.first"
	echo "vm: no verdict from the guest (qemu exit $rc; console in $log.first): booting once more"
	boot
	rc=$?
fi
set -e
tr -d '\r' < "$log" | grep -a '^vm' || true
case $rc in
1) echo "vm: cgroup v2 suite PASSED (kernel $kver)"; exit 0 ;;
3) echo "vm: cgroup v2 suite FAILED (kernel $kver; console in $log)"; exit 1 ;;
*) echo "vm: no verdict from the guest (qemu exit $rc; console in $log):"; tail -n 30 "$log"; exit 1 ;;
esac
