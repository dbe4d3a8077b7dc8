#!/bin/sh
# Runs the integration tests (pytest) against the built binaries. Started by
# `make check` with TOKEND_BIN, TOKENCTL_BIN and TOKEND_SRCDIR set.
set -u
srcdir=${TOKEND_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ ! -d "$srcdir/tests/node_modules" ]; then
	echo "SKIP: $srcdir/tests/node_modules is missing (run ./autogen.sh)"
	exit 77
fi
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
exec "${PYTHON3:-python3}" -m pytest -p no:cacheprovider -q -rfEs \
	${PYTEST_ARGS:-} "$srcdir/tests/integration"
