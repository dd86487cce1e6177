# Fuzz targets, built with clang's libFuzzer and AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   make fuzz                 build build/fuzz/fuzz_where and run it for FUZZ_TIME seconds
#                             (default 60), from the seeds in tests/fuzz/corpus_where; what it
#                             finds new is kept in build/fuzz/corpus_where, a crash in
#                             build/fuzz/crash-* (run the target on that file to replay it)
#   make test-fuzz            the same for TEST_FUZZ_TIME seconds (default 25), `make test`'s
#                             step, or a loud SKIPPED notice where clang cannot build a fuzzer
#
# The target is compiled from its sources (not the gcc objects): the sanitizers and the
# fuzzer's coverage must be in the code under test.
FUZZ_CC        ?= clang
FUZZ_TIME      ?= 60
TEST_FUZZ_TIME ?= 25
FUZZ_DIR       := build/fuzz
FUZZ_CFLAGS    := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc/core -D_GNU_SOURCE
# where.c and what it links: status names (record.c), the base helpers.
FUZZ_WHERE_SRCS := tests/fuzz/fuzz_where.c src/core/where.c src/core/record.c src/base/util.c src/base/err.c \
	src/base/log.c

.PHONY: fuzz test-fuzz
$(FUZZ_DIR)/fuzz_where: $(FUZZ_WHERE_SRCS) include/where.h src/core/index_schema.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_WHERE_SRCS) -lsqlite3 -lcjson -ldl

# libFuzzer's chatter goes to build/fuzz/fuzz_where.log, shown whole only when it finds something.
fuzz: $(FUZZ_DIR)/fuzz_where
	@mkdir -p $(FUZZ_DIR)/corpus_where
	@echo "fuzz: fuzz_where for $(FUZZ_TIME)s (log: $(FUZZ_DIR)/fuzz_where.log)"
	@if ! $(FUZZ_DIR)/fuzz_where -max_total_time=$(FUZZ_TIME) -max_len=4200 -timeout=10 -print_final_stats=1 \
		-dict=tests/fuzz/where.dict -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus_where tests/fuzz/corpus_where \
		> $(FUZZ_DIR)/fuzz_where.log 2>&1; then \
		cat $(FUZZ_DIR)/fuzz_where.log; echo "fuzz: fuzz_where FAILED (the input is in $(FUZZ_DIR)/crash-*)"; exit 1; \
	fi
	@sed -n 's/^stat::number_of_executed_units: */fuzz: execs: /p; s/^stat::new_units_added: */fuzz: new inputs: /p' \
		$(FUZZ_DIR)/fuzz_where.log
	@echo "fuzz: fuzz_where ran $(FUZZ_TIME)s without a finding"

# Whether clang can build a libFuzzer program at all (clang and its compiler-rt present).
FUZZ_PROBE = mkdir -p $(FUZZ_DIR) && printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	| $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o $(FUZZ_DIR)/probe >/dev/null 2>&1

test-fuzz:
	@if $(FUZZ_PROBE); then \
		$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(TEST_FUZZ_TIME); \
	else \
		echo "##################################################################"; \
		echo "## fuzz: SKIPPED the --where fuzzer: $(FUZZ_CC) cannot build a libFuzzer"; \
		echo "## fuzz: target (install clang: apt-get install clang)"; \
		echo "##################################################################"; \
	fi
