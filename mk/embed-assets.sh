#!/bin/sh
# embed-assets.sh FILE...: a C file (on stdout) that builds each FILE into the binary with the
# assembler's .incbin, and the table web_assets[] of their base names (src/web/assets.c).
set -eu
i=0
for f in "$@"; do
	case "$f" in *'"'* | *'\'*) echo "embed-assets.sh: odd file name: $f" >&2; exit 1 ;; esac
	abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
	printf '__asm__(".section .rodata\\n.balign 16\\nrp_asset_%d:\\n.incbin \\"%s\\"\\nrp_asset_%d_end:\\n.byte 0\\n.previous\\n");\n' \
		"$i" "$abs" "$i"
	printf 'extern const unsigned char rp_asset_%d[] __attribute__((visibility("hidden")));\n' "$i"
	printf 'extern const unsigned char rp_asset_%d_end[] __attribute__((visibility("hidden")));\n' "$i"
	i=$((i + 1))
done
echo '#include "web_int.h"'
echo 'const struct web_asset web_assets[] = {'
i=0
for f in "$@"; do
	printf '\t{"%s", rp_asset_%d, rp_asset_%d_end},\n' "$(basename "$f")" "$i" "$i"
	i=$((i + 1))
done
echo '	{0, 0, 0}'
echo '};'
echo "const size_t web_nassets = $i;"
