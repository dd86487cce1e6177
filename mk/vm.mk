# Test helpers (static C workloads) and the pure-cgroup-v2 VM suite.
#
#   make test-vm              boot Debian's kernel under qemu (TCG) with an initramfs of busybox,
#                             build/runpilot and the helpers, run tests/vm/test_v2.sh inside
#   make test-vm-if-possible  the same, or a loud SKIPPED notice where qemu or the kernel package
#                             cannot be installed (not root, no apt)
#
# The helpers are built static so the same binaries run on the host and in the VM, and always
# into build/helpers (also for BUILD=build/asan: they are workloads, not code under test).

HELPER_NAMES := memhog spin forkbomb daemonize spew
TEST_HELPERS := $(HELPER_NAMES:%=build/helpers/%)
# Debian packages the VM suite needs: the emulator, a distribution kernel (/boot/vmlinuz-*),
# busybox for the guest's userland, cpio for the initramfs, python3 to unpack the kernel.
VM_DEB_PKGS := qemu-system-x86 linux-image-amd64 busybox-static cpio python3

.PHONY: helpers test-vm test-vm-if-possible vm-deps
helpers: $(TEST_HELPERS)

build/helpers/%: tests/helpers/%.c
	@mkdir -p build/helpers
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

vm-deps:
	@sh mk/deps.sh $(VM_DEB_PKGS)

# The cmocka cgroup tests also run inside the VM (against the v2 code paths).
VM_UNIT_BINS := build/tests/test_cgroup

test-vm: vm-deps build/runpilot $(TEST_HELPERS) $(VM_UNIT_BINS)
	@sh tests/vm/run-vm.sh build/runpilot build/helpers build/vm $(VM_UNIT_BINS)

test-vm-if-possible:
	@if sh mk/deps.sh $(VM_DEB_PKGS) && ls /boot/vmlinuz-* >/dev/null 2>&1 && \
	    command -v qemu-system-x86_64 >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-vm; \
	else \
		echo "##################################################################"; \
		echo "## vm: SKIPPED the cgroup v2 VM suite: cannot install $(VM_DEB_PKGS)"; \
		echo "## vm: (needs root and apt); cgroup v2 limits were NOT tested"; \
		echo "##################################################################"; \
	fi
