#!/usr/bin/env bash
# The map's rules (docs/architecture.md), checked on the tree; `make test` runs this first.
#   tests/check-layers.sh [ROOT]      check the tree at ROOT (default: the checkout)
#   tests/check-layers.sh --self-test break each rule in a copy and check that it is caught
# Rules:
#   1. Each header in include/ belongs to a layer (listed below); a new one must be added here.
#   2. A file includes only headers of its own layer and the layers it may use:
#        base (src/base)            base
#        sandbox (sandbox/)         base, sandbox
#        fingerprint                base, fingerprint
#        image (src/image)          base, image
#        runners (src/runners)      base, sandbox, image, runner, the config (config.h)
#        core (src/core)            base, fingerprint, image, core, runner, and the sandbox's
#                                   plain structs (cgroup.h, meter.h), never its machinery
#        web (src/web)              base, core, web (the UI's server: it reads through ui_source.h)
#        server (src/server)        base, core, web, server (the team server on PostgreSQL)
#        face (src/cli)             anything
#      so nothing in sandbox/ sees a core header, nothing below the face a face header, and
#      nothing below the web layer a web header, nothing below the server a server header.
#   3. Below the face, nothing writes to stdout or stderr but the one logging hook
#      (src/base/log.c).
#   4. cJSON does not appear in sandbox/.
set -u

base_h="err.h util.h log.h testhooks.h archive_api.h"
sandbox_h="sandbox.h cgroup.h meter.h sb_init.h"
fingerprint_h="fingerprint.h"
image_h="image.h"
core_h="config.h record.h store.h runs.h run.h sections.h environment.h metrics.h where.h index.h annotations.h verify.h rerun.h gc.h fsck.h import.h export.h sweep.h ui_source.h sync.h ui_parts.h"
runner_h="runner.h slurm.h"
web_h="web.h"
server_h="server.h pgdb.h server_push.h sync_client.h"

# The layer of a header named in an #include "..." (a public header, one next to the file, or
# one inside another folder of the tree).
layer_of_header() {
	local h=$1 dir=$2 l d
	for l in base sandbox fingerprint image core runner web server; do
		local var=${l}_h
		case " ${!var} " in *" $h "*) echo "$l"; return ;; esac
	done
	if [ -f "$dir/$h" ]; then layer_of_dir "$dir"; return; fi
	for d in "$ROOT"/src/* "$ROOT"/sandbox; do
		if [ -f "$d/$h" ]; then layer_of_dir "$d"; return; fi
	done
	echo unknown
}

layer_of_dir() {
	case "$1" in
	*/src/base | */src/base/*) echo base ;;
	*/sandbox | */sandbox/*) echo sandbox ;;
	*/src/fingerprint | */src/fingerprint/*) echo fingerprint ;;
	*/src/image | */src/image/*) echo image ;;
	*/src/runners | */src/runners/*) echo runner ;;
	*/src/core | */src/core/*) echo core ;;
	*/src/web | */src/web/*) echo web ;;
	*/src/server | */src/server/*) echo server ;;
	*/src/cli | */src/cli/*) echo face ;;
	*/include) echo include ;;
	*) echo other ;;
	esac
}

# May a file of layer $1 include header $2 (of layer $3)?
allowed() {
	local from=$1 h=$2 to=$3
	[ "$to" = base ] && return 0
	[ "$from" = "$to" ] && return 0
	case "$from" in
	face) return 0 ;;
	sandbox | base) return 1 ;;
	fingerprint | image) return 1 ;;
	runner) [ "$to" = sandbox ] || [ "$to" = image ] || [ "$h" = config.h ] ;;
	core) [ "$to" = fingerprint ] || [ "$to" = image ] || [ "$to" = runner ] || [ "$h" = cgroup.h ] || [ "$h" = meter.h ] ;;
	web) [ "$to" = core ] ;;
	server) [ "$to" = core ] || [ "$to" = web ] ;;
	*) return 1 ;;
	esac
}

check_tree() {
	local root=$1 bad=0 f h dir from to line
	ROOT=$root
	# 1. every public header has a layer
	for f in "$root"/include/*.h; do
		h=$(basename "$f")
		to=$(layer_of_header "$h" /nonexistent)
		if [ "$to" = unknown ]; then
			echo "layers: include/$h belongs to no layer: add it to tests/check-layers.sh"
			bad=1
		fi
	done
	# 2. includes
	while IFS= read -r f; do
		dir=$(dirname "$f")
		from=$(layer_of_dir "$dir")
		[ "$from" = include ] && from=$(layer_of_header "$(basename "$f")" /nonexistent)
		while IFS=: read -r line h; do
			to=$(layer_of_header "$h" "$dir")
			if [ "$to" = unknown ]; then
				echo "layers: ${f#"$root"/}:$line: includes \"$h\", which is no header of this tree"
				bad=1
			elif ! allowed "$from" "$h" "$to"; then
				echo "layers: ${f#"$root"/}:$line: the $from layer includes \"$h\" ($to layer)"
				bad=1
			fi
		done < <(grep -no '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*"' "$f" | sed 's/:.*"\(.*\)"$/:\1/')
	done < <(find "$root/src" "$root/sandbox" "$root/include" -name '*.[ch]' | sort)
	# 3. output below the face
	local out='\b(printf|vprintf|puts|putchar|perror)[[:space:]]*\(|\bf(printf|puts|putc|write)[[:space:]]*\([^;]*\b(stdout|stderr)\b|\b(v?dprintf|write)[[:space:]]*\([[:space:]]*(1|2|STDOUT_FILENO|STDERR_FILENO)[[:space:]]*,'
	while IFS= read -r hit; do
		case "$hit" in "$root/src/base/log.c:"*) continue ;; esac
		echo "layers: ${hit#"$root"/}: writes to the terminal below the face (use log.h or an event)"
		bad=1
	done < <(grep -rnE "$out" "$root/src/base" "$root/src/core" "$root/src/runners" "$root/src/fingerprint" \
		"$root/src/image" "$root/src/web" "$root/src/server" "$root/sandbox" --include='*.[ch]' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
	# 4. cJSON in the sandbox
	while IFS= read -r hit; do
		echo "layers: ${hit#"$root"/}: cJSON in sandbox/ (run.json is built in the core)"
		bad=1
	done < <(grep -rn 'cJSON' "$root/sandbox")
	return $bad
}

self_test() {
	local here=$1 tmp fails=0
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' RETURN
	copy() { rm -rf "$tmp/t"; mkdir -p "$tmp/t"; cp -r "$here/src" "$here/sandbox" "$here/include" "$tmp/t/"; }
	expect_caught() {
		local what=$1
		if check_tree "$tmp/t" > "$tmp/out" 2>&1; then
			echo "layers self-test: not caught: $what"
			fails=1
		else
			echo "layers self-test: caught: $what ($(head -n1 "$tmp/out"))"
		fi
	}
	copy
	if ! check_tree "$tmp/t" > "$tmp/out"; then
		echo "layers self-test: the unchanged copy fails:"; cat "$tmp/out"; return 1
	fi
	copy; sed -i '1i #include "config.h"' "$tmp/t/sandbox/ns.c"
	expect_caught "a sandbox file includes a core header"
	copy; sed -i '1i #include "record.h"' "$tmp/t/include/cgroup.h"
	expect_caught "a sandbox header includes a core header"
	copy; sed -i '1i #include "print.h"' "$tmp/t/src/core/run.c"
	expect_caught "a core file includes a face header"
	copy; sed -i '1i #include "cmds.h"' "$tmp/t/src/runners/runner_local.c"
	expect_caught "a runner file includes a face header"
	copy; sed -i '1i #include "sandbox.h"' "$tmp/t/src/core/store.c"
	expect_caught "the core reaches into the sandbox's machinery"
	copy; printf 'static void f(void) { fprintf(stderr, "x"); }\n' >> "$tmp/t/src/core/store.c"
	expect_caught "the core prints to stderr"
	copy; printf 'static void f(void) { dprintf(2, "x"); }\n' >> "$tmp/t/sandbox/ns.c"
	expect_caught "the sandbox writes to fd 2"
	copy; printf 'static void f(void) { puts("x"); }\n' >> "$tmp/t/src/fingerprint/hash.c"
	expect_caught "the fingerprint prints to stdout"
	copy; printf '/* cJSON */\n' >> "$tmp/t/sandbox/meter.c"
	expect_caught "cJSON in sandbox/"
	copy; sed -i '1i #include "runner.h"' "$(ls "$tmp"/t/src/image/*.c | head -n1)"
	expect_caught "the image store includes a runner header"
	copy; sed -i '1i #include "image.h"' "$tmp/t/src/fingerprint/hash.c"
	expect_caught "the fingerprint includes the image store"
	copy; sed -i '1i #include "web.h"' "$tmp/t/src/core/store.c"
	expect_caught "the core includes the web layer"
	copy; sed -i '1i #include "print.h"' "$tmp/t/src/web/routes.c"
	expect_caught "the web layer includes a face header"
	copy; sed -i '1i #include "runner.h"' "$tmp/t/src/web/routes.c"
	expect_caught "the web layer includes a runner header"
	copy; printf 'static void f(void) { fprintf(stderr, "x"); }\n' >> "$tmp/t/src/web/server.c"
	expect_caught "the web layer prints to stderr"
	copy; sed -i '1i #include "server.h"' "$tmp/t/src/core/store.c"
	expect_caught "the core includes the server layer"
	copy; sed -i '1i #include "pgdb.h"' "$tmp/t/src/web/routes.c"
	expect_caught "the web layer includes the server layer"
	copy; sed -i '1i #include "runner.h"' "$tmp/t/src/server/db.c"
	expect_caught "the server layer includes a runner header"
	copy; sed -i '1i #include "print.h"' "$tmp/t/src/server/audit.c"
	expect_caught "the server layer includes a face header"
	copy; printf 'static void f(void) { fputs("x", stdout); }\n' >> "$tmp/t/src/server/migrate.c"
	expect_caught "the server layer prints to stdout"
	copy; printf '#define RP_NEW_H\n' > "$tmp/t/include/new.h"
	expect_caught "a public header of no layer"
	return $fails
}

here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --self-test ]; then
	self_test "$here"
	exit $?
fi
root=${1:-$here}
if check_tree "$root"; then
	echo "layers: ok (includes follow the map; nothing below the face prints; no cJSON in sandbox/)"
else
	exit 1
fi
