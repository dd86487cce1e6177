# `runpilot ui`'s pieces: libmicrohttpd's soname (it is dlopened: src/web/mhd_api.c), uPlot from
# npm (the committed lockfile, `npm ci` into $(BUILD)/npm, again when the lockfile changes), and
# the page assets built into the binary ($(BUILD)/gen/web_assets.c, from mk/embed-assets.sh):
# every file of src/web/assets/ and uPlot's script and style.
NPM_DIR      := $(BUILD)/npm
NPM_STAMP    := $(NPM_DIR)/.npm-ci
UPLOT_FILES  := $(NPM_DIR)/node_modules/uplot/dist/uPlot.iife.min.js $(NPM_DIR)/node_modules/uplot/dist/uPlot.min.css
WEB_ASSET_FILES := $(sort $(wildcard src/web/assets/*))

LIBMHD_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libmicrohttpd.so 2>/dev/null | awk '/SONAME/ {print $$2}')
$(BUILD)/src/web/mhd_api.o $(BUILD)/hooks/src/web/mhd_api.o: CFLAGS += -DLIBMHD_SONAME='"$(LIBMHD_SONAME)"'

$(NPM_STAMP): src/web/package.json src/web/package-lock.json | $(DEPS_OK)
	@mkdir -p $(NPM_DIR)
	$(call say,NPM,$(NPM_DIR))
	$(Q)command -v npm >/dev/null || { echo "make: npm is needed to install the UI's uPlot (src/web/package-lock.json): install Node.js >= 18 with npm" >&2; exit 1; }
	$(Q)cp src/web/package.json src/web/package-lock.json $(NPM_DIR)/
	$(Q)cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	$(Q)touch $@

# The table is written again when an asset comes or goes (the folder's listing is in its
# recipe); the object is compiled again when one changes.
$(BUILD)/gen/web_assets.c: mk/embed-assets.sh $(NPM_STAMP) $(WEB_ASSET_FILES) src/web/assets
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh mk/embed-assets.sh $(WEB_ASSET_FILES) $(UPLOT_FILES) > $@.tmp && mv $@.tmp $@
$(WEB_ASSETS_OBJ): $(BUILD)/gen/web_assets.c $(WEB_ASSET_FILES) $(NPM_STAMP) src/web/web_int.h
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Isrc/web -c -o $@ $<
