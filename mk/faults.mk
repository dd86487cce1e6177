# Fault injection for tests/integration/test_faults.sh: an LD_PRELOAD shim that fails the Nth
# write, fsync, rename, open, ... under a directory (tests/helpers/faultfs.c). A shared object,
# not a static workload: it is loaded into runpilot itself, the ASan build included.
#   make build/helpers/faultfs.so
FAULT_HELPERS := build/helpers/faultfs.so

build/helpers/faultfs.so: tests/helpers/faultfs.c
	@mkdir -p build/helpers
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -shared -fPIC -o $@ $< -ldl

test-integration: $(FAULT_HELPERS)
