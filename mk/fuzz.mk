# Fuzz targets, built with clang's libFuzzer and AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   make fuzz                 build each target (build/fuzz/fuzz_<name> for FUZZ_NAMES) and
#                             run it for FUZZ_TIME seconds (default 60), from the seeds in
#                             tests/fuzz/corpus/<name>; what it finds new is kept in
#                             build/fuzz/corpus_<name>, a crash in build/fuzz/crash-* (run the
#                             target on that file to replay it)
#   make fuzz-<name>          one of them
#   make test-fuzz            the same for TEST_FUZZ_TIME seconds in all (default 70, an equal share each),
#                             `make test`'s step, or a loud SKIPPED notice where clang cannot
#                             build a fuzzer
#
# The target is compiled from its sources (not the gcc objects): the sanitizers and the
# fuzzer's coverage must be in the code under test.
FUZZ_CC        ?= clang
FUZZ_TIME      ?= 60
TEST_FUZZ_TIME ?= 70
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

# The config loader and what it links: the metrics patterns' check, the store's home (the user
# config's path), run.json's status names. The target names the runners itself (runner.c would
# link every runner).
FUZZ_CONFIG_SRCS := tests/fuzz/fuzz_config.c src/core/config.c src/core/metrics_parse.c src/core/store.c \
	src/core/record.c src/base/util.c src/base/err.c src/base/log.c

# The metric line parser and its PCRE2 patterns.
FUZZ_METRICS_SRCS := tests/fuzz/fuzz_metrics.c src/core/metrics_parse.c src/base/util.c src/base/err.c \
	src/base/log.c

# run.json's reader and writer, and the metrics summary read from it (with what metrics_read.c links).
FUZZ_RECORD_SRCS := tests/fuzz/fuzz_record.c src/core/record.c src/core/metrics_read.c src/core/metrics_record.c \
	src/core/metrics_parse.c src/base/util.c src/base/err.c src/base/log.c

# The image import's manifest, index and config parsing (img_import_scan) and the reference
# parser, with what import.c links (its staging and unpacking code is linked, not run).
FUZZ_IMAGE_MANIFEST_SRCS := tests/fuzz/fuzz_image_manifest.c src/image/import.c src/image/bundle.c \
	src/image/blobs.c src/image/ref.c src/image/store.c src/image/unpack.c src/image/layer.c src/image/archive.c \
	src/base/archive_api.c src/base/util.c src/base/err.c src/base/log.c

# a layer's tar applied to a tree (layer.c and what it links)
FUZZ_IMAGE_LAYER_SRCS := tests/fuzz/fuzz_image_layer.c src/image/layer.c src/image/blobs.c src/image/archive.c \
	src/image/store.c src/image/ref.c src/base/archive_api.c src/base/util.c src/base/err.c src/base/log.c

FUZZ_NAMES := where import config metrics record image_manifest image_layer

.PHONY: fuzz test-fuzz $(FUZZ_NAMES:%=fuzz-%)
$(FUZZ_DIR)/fuzz_where: $(FUZZ_WHERE_SRCS) include/where.h src/core/index_schema.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_WHERE_SRCS) -lsqlite3 -lcjson -ldl

$(FUZZ_DIR)/fuzz_import: $(FUZZ_IMPORT_SRCS) include/import.h src/core/import_int.h include/archive_api.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"' -o $@ $(FUZZ_IMPORT_SRCS) \
		-lcjson -lcrypto -ldl -lm

$(FUZZ_DIR)/fuzz_config: $(FUZZ_CONFIG_SRCS) include/config.h include/metrics.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_CONFIG_SRCS) -lcjson -lyaml -lpcre2-8 -lm

$(FUZZ_DIR)/fuzz_metrics: $(FUZZ_METRICS_SRCS) include/metrics.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_METRICS_SRCS) -lcjson -lpcre2-8 -lm

$(FUZZ_DIR)/fuzz_record: $(FUZZ_RECORD_SRCS) include/record.h include/metrics.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_RECORD_SRCS) -lcjson -lpcre2-8 -lm

$(FUZZ_DIR)/fuzz_image_manifest: $(FUZZ_IMAGE_MANIFEST_SRCS) src/image/img_int.h src/image/bundle.h include/image.h \
		mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc/image -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"' -o $@ \
		$(FUZZ_IMAGE_MANIFEST_SRCS) -lcjson -lcrypto -ldl -lm

$(FUZZ_DIR)/fuzz_image_layer: $(FUZZ_IMAGE_LAYER_SRCS) src/image/img_int.h include/image.h mk/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc/image -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"' -o $@ \
		$(FUZZ_IMAGE_LAYER_SRCS) -lcjson -lcrypto -ldl -lm

# One target for FUZZ_TIME seconds: $(1) its name (fuzz_$(1), corpus_$(1)), $(2) its extra libFuzzer
# flags. Its chatter goes to build/fuzz/fuzz_$(1).log, shown whole only when it finds something.
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/corpus_$(1)
	@echo "fuzz: fuzz_$(1) for $(FUZZ_TIME)s (log: $(FUZZ_DIR)/fuzz_$(1).log)"
	@if ! $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 $(2) \
		-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus_$(1) tests/fuzz/corpus/$(1) \
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

fuzz-config: $(FUZZ_DIR)/fuzz_config
	$(call fuzz_run,config,-max_len=4096 -dict=tests/fuzz/config.dict)

fuzz-metrics: $(FUZZ_DIR)/fuzz_metrics
	$(call fuzz_run,metrics,-max_len=4096 -dict=tests/fuzz/metrics.dict)

fuzz-record: $(FUZZ_DIR)/fuzz_record
	$(call fuzz_run,record,-max_len=8192 -dict=tests/fuzz/record.dict)

fuzz-image_manifest: $(FUZZ_DIR)/fuzz_image_manifest
	$(call fuzz_run,image_manifest,-max_len=8192 -dict=tests/fuzz/image_manifest.dict)

fuzz-image_layer: $(FUZZ_DIR)/fuzz_image_layer
	$(call fuzz_run,image_layer,-max_len=65536 -rss_limit_mb=4096)

fuzz: $(FUZZ_NAMES:%=fuzz-%)

# Whether clang can build a libFuzzer program at all (clang and its compiler-rt present).
FUZZ_PROBE = mkdir -p $(FUZZ_DIR) && printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	| $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o $(FUZZ_DIR)/probe >/dev/null 2>&1

test-fuzz:
	@if $(FUZZ_PROBE); then \
		$(MAKE) --no-print-directory fuzz FUZZ_TIME=$$(( $(TEST_FUZZ_TIME) / $(words $(FUZZ_NAMES)) )); \
	else \
		echo "##################################################################"; \
		echo "## fuzz: SKIPPED the fuzzers ($(FUZZ_NAMES)): $(FUZZ_CC) cannot build a libFuzzer"; \
		echo "## fuzz: target (install clang: apt-get install clang)"; \
		echo "##################################################################"; \
	fi
