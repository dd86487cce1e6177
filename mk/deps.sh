#!/bin/sh
# Install the Debian packages named on the command line if any is missing.
# As root: apt-get install (apt-get update first when the package lists are empty or stale).
# Not as root: print the exact command and fail.
missing=""
for p in "$@"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "runpilot build: missing Debian packages:$missing" >&2
	echo "runpilot build: install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "runpilot build: installing$missing" >&2
APT="apt-get -o DPkg::Lock::Timeout=300 -y -q"
export DEBIAN_FRONTEND=noninteractive
# An install from empty or old lists fails: update once, then retry.
if ! $APT install $missing >/dev/null 2>&1; then
	$APT update >/dev/null 2>&1 || { echo "runpilot build: apt-get update failed" >&2; exit 1; }
	$APT install $missing >/dev/null || { echo "runpilot build: apt-get install$missing failed" >&2; exit 1; }
fi
