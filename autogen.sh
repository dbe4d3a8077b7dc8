#!/bin/sh
# Prepares a fresh checkout: installs the Debian and npm packages tokend
# needs to build and test, then generates ./configure.
#
# The package list lives in scripts/packages.sh so that the container image
# (docker/Dockerfile) installs exactly what this script does.
set -eu
cd "$(dirname "$0")"

. ./scripts/packages.sh

missing=$(packages_missing $TOKEND_BUILD_PACKAGES $TOKEND_TEST_PACKAGES)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "autogen.sh: missing Debian packages:$missing" >&2
		echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "autogen.sh: installing$missing"
	packages_install $missing
fi

if [ -f tests/package-lock.json ]; then
	# npm ci is skipped when node_modules was installed from this very lock file.
	stamp=tests/node_modules/.tokend-lock
	if ! cmp -s tests/package-lock.json "$stamp" 2>/dev/null; then
		(cd tests && npm ci --no-audit --no-fund --loglevel=error)
		cp tests/package-lock.json "$stamp"
	fi
fi

autoreconf -fi
