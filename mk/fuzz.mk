# Fuzz targets, built with clang's libFuzzer and AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   make fuzz                 build each target (build/fuzz/fuzz_where, build/fuzz/fuzz_import) and
#                             run it for FUZZ_TIME seconds (default 60), from the seeds in
#                             tests/fuzz/corpus_<name>; what it finds new is kept in
#                             build/fuzz/corpus_<name>, a crash in build/fuzz/crash-* (run the
#                             target on that file to replay it)
#   make test-fuzz            the same for TEST_FUZZ_TIME seconds in all (default 26, half each),
#                             `make test`'s step, or a loud SKIPPED notice where clang cannot
#                             build a fuzzer
#
# The target is compiled from its sources (not the gcc objects): the sanitizers and the
# fuzzer's coverage must be in the code under test.
FUZZ_CC        ?= clang
FUZZ_TIME      ?= 60
TEST_FUZZ_TIME ?= 26
FUZZ_DIR       := build/fuzz
FUZZ_CFLAGS    := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc/core -D_GNU_SOURCE
# where.c and what it links: status names (record.c), the base helpers.
FUZZ_WHERE_SRCS := tests/fuzz/fuzz_where.c src/core/where.c src/core/record.c src/base/util.c src/base/err.c \
	src/base/log.c

# import's reader and checks (import_verify.c) and what they link; libarchive is dlopened as in
# runpilot (not instrumented: the fuzzer covers our checks of what it returns).
FUZZ_IMPORT_SRCS := tests/fuzz/fuzz_import.c src/core/import_verify.c src/core/store.c src/core/record.c \
	src/base/archive_api.c src/base/util.c src/base/err.c src/base/log.c

.PHONY: fuzz test-fuzz fuzz-where fuzz-import
$(FUZZ_DIR)/fuzz_where: $(FUZZ_WHERE_SRCS) include/where.h src/core/index_schema.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_WHERE_SRCS) -lsqlite3 -lcjson -ldl

$(FUZZ_DIR)/fuzz_import: $(FUZZ_IMPORT_SRCS) include/import.h src/core/import_int.h include/archive_api.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"' -o $@ $(FUZZ_IMPORT_SRCS) \
		-lcjson -lcrypto -ldl -lm

# One target for FUZZ_TIME seconds: $(1) its name (fuzz_$(1), corpus_$(1)), $(2) its extra libFuzzer
# flags. Its chatter goes to build/fuzz/fuzz_$(1).log, shown whole only when it finds something.
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/corpus_$(1)
	@echo "fuzz: fuzz_$(1) for $(FUZZ_TIME)s (log: $(FUZZ_DIR)/fuzz_$(1).log)"
	@if ! $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 $(2) \
		-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus_$(1) tests/fuzz/corpus_$(1) \
		> $(FUZZ_DIR)/fuzz_$(1).log 2>&1; then \
		cat $(FUZZ_DIR)/fuzz_$(1).log; echo "fuzz: fuzz_$(1) FAILED (the input is in $(FUZZ_DIR)/crash-*)"; exit 1; \
	fi
	@sed -n 's/^stat::number_of_executed_units: */fuzz: execs: /p; s/^stat::new_units_added: */fuzz: new inputs: /p' \
		$(FUZZ_DIR)/fuzz_$(1).log
	@echo "fuzz: fuzz_$(1) ran $(FUZZ_TIME)s without a finding"
endef

fuzz-where: $(FUZZ_DIR)/fuzz_where
	$(call fuzz_run,where,-max_len=4200 -dict=tests/fuzz/where.dict)

fuzz-import: $(FUZZ_DIR)/fuzz_import
	$(call fuzz_run,import,-max_len=65536 -rss_limit_mb=4096)

fuzz: fuzz-where fuzz-import

# Whether clang can build a libFuzzer program at all (clang and its compiler-rt present).
FUZZ_PROBE = mkdir -p $(FUZZ_DIR) && printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	| $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o $(FUZZ_DIR)/probe >/dev/null 2>&1

test-fuzz:
	@if $(FUZZ_PROBE); then \
		$(MAKE) --no-print-directory fuzz FUZZ_TIME=$$(( $(TEST_FUZZ_TIME) / 2 )); \
	else \
		echo "##################################################################"; \
		echo "## fuzz: SKIPPED the fuzzers (--where, import): $(FUZZ_CC) cannot build a libFuzzer"; \
		echo "## fuzz: target (install clang: apt-get install clang)"; \
		echo "##################################################################"; \
	fi
