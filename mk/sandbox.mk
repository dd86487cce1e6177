# Sandbox: the escape-attempt helper for tests/integration/test_sandbox_escape.sh, built
# static into build/helpers like the other workloads, and a busybox rootfs for examples.
#   make build/helpers/sb_escape
#   make rootfs-busybox        -> build/rootfs-busybox (rootfs/build-busybox.sh)
SANDBOX_HELPERS := build/helpers/sb_escape

build/helpers/sb_escape: tests/helpers/sb_escape.c
	@mkdir -p build/helpers
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

test-integration: $(SANDBOX_HELPERS)

.PHONY: rootfs-busybox
rootfs-busybox:
	@sh rootfs/build-busybox.sh build/rootfs-busybox
