#!/bin/sh
# Container entrypoint: tokend in the foreground as PID 1 (it handles
# SIGTERM itself and starts no children). Extra arguments pass through,
# e.g. `docker run IMAGE --check-config`.
set -eu
exec tokend -c "${TOKEND_CONFIG:-/etc/tokend/tokend.conf}" "$@"
