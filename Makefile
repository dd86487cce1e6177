# RunPilot build. `make` installs missing Debian packages (as root) and builds build/runpilot.
#   make demo      build and run the examples, then `list` and `show`
#   make test      unit + integration tests, a short fuzzing run, the same tests under ASan+UBSan,
#                  then the VM suite
#   make fuzz      the fuzz targets for FUZZ_TIME seconds (mk/fuzz.mk)
#   make install   PREFIX=/usr/local [DESTDIR=...]: the binary, its man page and the bash and zsh
#                  completion scripts
CC      ?= gcc
BUILD   ?= build
PREFIX  ?= /usr/local
VERSION := 0.1.0

# Debian packages the build needs (mk/deps.sh installs them as root, or prints the command),
# passt: pasta wires the sandbox's default network (outbound); libarchive and skopeo: the image
# store (unpacking layers, pulling from registries); libcurl: the Docker runner talks to the engine;
# PCRE2: the metrics section's patterns; SQLite: the run index and --where; libmicrohttpd: `runpilot
# ui`'s server (dlopened; npm installs the page's uPlot, mk/web.mk); libpq: `runpilot server`'s
# PostgreSQL (dlopened at first use); libargon2: the server's password hashes (argon2id).
DEB_PKGS := libyaml-dev libcjson-dev libcmocka-dev libseccomp-dev libcap-dev libssl-dev libgit2-dev pkg-config passt \
	libarchive-dev libcurl4-openssl-dev skopeo libpcre2-dev libsqlite3-dev libmicrohttpd-dev libpq-dev libargon2-dev
# Packages only the tests need (chromium: test_report.sh renders the report headless; clang: the
# fuzz targets, mk/fuzz.mk; zsh, man-db and groff-base: test_shell.sh loads the completion and
# renders the man page; slurm-wlm, munge, slurmdbd and mariadb-server: tests/slurm's private
# one-node Slurm, with accounting; valgrind: test_valgrind.sh runs the core commands under memcheck;
# wrk: bench/ui.sh loads `runpilot ui`; postgresql-15: tests/server's private PostgreSQL per test file).
DEB_TEST_PKGS := python3 hyperfine bubblewrap util-linux procps psmisc busybox-static git python3-torch iproute2 \
	docker.io docker-registry zstd chromium clang zsh man-db groff-base slurm-wlm munge slurmdbd mariadb-server valgrind wrk \
	postgresql-15

CFLAGS_BASE := -std=gnu11 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Iinclude -D_GNU_SOURCE -DRUNPILOT_VERSION='"$(VERSION)"'
ifeq ($(SAN),1)
CFLAGS_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_OPT := -O2
LDFLAGS_SAN :=
endif
CFLAGS  += $(CFLAGS_BASE) $(CFLAGS_OPT)
# libcrypto, libyaml, libseccomp and libcap statically (Debian's own .a files, from the same -dev
# packages): only the objects used are linked, and no shared object is loaded for them at each
# start (libcrypto's alone cost 0.7 ms of every run; the other three 0.3 ms together). SQLite (the
# run index) too; it needs libm, which glibc only links dynamically (+0.1 ms a start).
LDLIBS  := -lcjson -Wl,-Bstatic -lyaml -lseccomp -lcap -lcrypto -lpcre2-8 -lsqlite3 -largon2 -Wl,-Bdynamic -lm -ldl
LDFLAGS += $(LDFLAGS_SAN)

# Layers as folders (docs/architecture.md): src/base, src/cli, src/server, src/web, src/core,
# src/runners, src/fingerprint, src/image, sandbox. Public headers are in include/; a header used only inside one
# folder sits next to its files.
SRCS      := $(sort $(wildcard src/*/*.c sandbox/*.c))
# The UI's page assets, built in (mk/web.mk).
WEB_ASSETS_OBJ := $(BUILD)/gen/web_assets.o
OBJS      := $(SRCS:%.c=$(BUILD)/%.o) $(WEB_ASSETS_OBJ)
LIB_OBJS  := $(filter-out $(BUILD)/src/cli/main.o,$(OBJS))
GEN_OBJ   := $(BUILD)/gen/seccomp_prebuilt.o
# Unit tests also reach the headers internal to a folder.
TEST_INC  := -Itests -Isrc/core -Isrc/fingerprint -Isrc/runners -Isrc/image -Isrc/web -Isrc/server -Isandbox
# The test build (runpilot-test): the same program with the hooks of include/testhooks.h, which
# only the files that use them are compiled again for.
HOOK_SRCS := $(shell grep -l '"testhooks.h"' $(SRCS))
HOOK_OBJS := $(HOOK_SRCS:%.c=$(BUILD)/hooks/%.o)
TEST_BIN_OBJS := $(filter-out $(HOOK_SRCS:%.c=$(BUILD)/%.o),$(OBJS)) $(HOOK_OBJS)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
DEPS_OK   := build/.deps-ok

# Written by the binary from its own command table and help texts (src/cli/man.c, complete.c).
MAN_PAGE    := $(BUILD)/man/runpilot.1
COMPLETIONS := $(BUILD)/completions/runpilot.bash $(BUILD)/completions/_runpilot

.PHONY: all deps test test-unit test-integration test-asan check-layers demo install clean
all: $(BUILD)/runpilot $(MAN_PAGE) $(COMPLETIONS)

deps: $(DEPS_OK)
$(DEPS_OK): mk/deps.sh Makefile
	@mkdir -p build
	@sh mk/deps.sh $(DEB_PKGS)
	@touch $@

# V=1 shows the full command lines.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @echo "  $(1)	$(2)"
endif

$(BUILD)/runpilot: $(OBJS) $(GEN_OBJ) | $(DEPS_OK)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The seccomp profiles compiled at build time (GEN_OBJ), so a start does not spend milliseconds
# in libseccomp (mk/seccomp-prebuild.c: the generator is runpilot's own code, linked without them).
$(BUILD)/gen/seccomp-prebuild: mk/seccomp-prebuild.c $(LIB_OBJS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Isandbox -o $@ $^ $(LDFLAGS) $(LDLIBS)
$(BUILD)/gen/seccomp_prebuilt.c: $(BUILD)/gen/seccomp-prebuild
	$(call say,GEN,$@)
	$(Q)$< > $@.tmp && mv $@.tmp $@
$(GEN_OBJ): $(BUILD)/gen/seccomp_prebuilt.c
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Isandbox -c -o $@ $<

$(MAN_PAGE): $(BUILD)/runpilot
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)$< help --man > $@.tmp && mv $@.tmp $@
$(BUILD)/completions/runpilot.bash: $(BUILD)/runpilot
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)$< completion bash > $@.tmp && mv $@.tmp $@
$(BUILD)/completions/_runpilot: $(BUILD)/runpilot
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)$< completion zsh > $@.tmp && mv $@.tmp $@

$(BUILD)/runpilot-test: $(TEST_BIN_OBJS) $(GEN_OBJ) | $(DEPS_OK)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/hooks/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS) -DRUNPILOT_TEST_HOOKS -MMD -MP -c -o $@ $<

# libgit2 is loaded at run time, by the name its package installs (src/fingerprint/git.c).
$(BUILD)/src/fingerprint/git.o: CFLAGS += -DLIBGIT2_SONAME='"$(LIBGIT2_SONAME)"'
LIBGIT2_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libgit2.so 2>/dev/null | awk '/SONAME/ {print $$2}')

# libarchive likewise, only when an image is imported or unpacked (src/base/archive_api.c).
$(BUILD)/src/base/archive_api.o: CFLAGS += -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"'
LIBARCHIVE_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libarchive.so 2>/dev/null | awk '/SONAME/ {print $$2}')
# The image unit test writes its hostile tars with libarchive.
$(BUILD)/tests/test_image: LDLIBS += -larchive
# libcurl likewise, for the docker runner only (src/runners/docker_api.c).
$(BUILD)/src/runners/docker_api.o $(BUILD)/hooks/src/runners/docker_api.o: CFLAGS += -DLIBCURL_SONAME='"$(LIBCURL_SONAME)"'
LIBCURL_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libcurl.so 2>/dev/null | awk '/SONAME/ {print $$2}')

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(GEN_OBJ) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -o $@ $(filter %.c %.o,$^) $(LDFLAGS) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d) $(HOOK_OBJS:.o=.d) $(UNIT_BINS:=.d)

# Extra build/test pieces live in mk/*.mk (helpers, VM suite, benches).
-include $(filter-out mk/deps.mk,$(wildcard mk/*.mk))

test-deps: $(DEPS_OK)
	@sh mk/deps.sh $(DEB_TEST_PKGS)

test-unit: $(UNIT_BINS) $(BUILD)/runpilot
	@sh tests/run-unit.sh $(UNIT_BINS)

test-integration: $(BUILD)/runpilot $(BUILD)/runpilot-test test-deps $(TEST_HELPERS)
	@bash tests/run-integration.sh $(BUILD)

# The map's rules (docs/architecture.md) on the tree, and a check that each rule is caught.
check-layers:
	@bash tests/check-layers.sh
	@bash tests/check-layers.sh --self-test >/dev/null || bash tests/check-layers.sh --self-test

# The layer rules, then the whole suite once normally, the fuzzers for a short while (mk/fuzz.mk),
# the suite once more under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# pure-cgroup-v2 VM suite (mk/vm.mk). Every step prints its counts.
test: test-deps check-layers
	$(MAKE) --no-print-directory test-unit test-integration
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 test-unit test-integration
	$(MAKE) --no-print-directory test-vm-if-possible
	@echo "make test: all suites passed"

demo: $(BUILD)/runpilot test-deps
	@sh examples/demo.sh $(CURDIR)/$(BUILD)/runpilot

install: $(BUILD)/runpilot $(MAN_PAGE) $(COMPLETIONS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
	install -m 0755 $(BUILD)/runpilot $(DESTDIR)$(PREFIX)/bin/runpilot
	install -m 0644 $(MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/runpilot.1
	install -m 0644 $(BUILD)/completions/runpilot.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/runpilot
	install -m 0644 $(BUILD)/completions/_runpilot $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_runpilot

clean:
	rm -rf build
