#!/bin/sh
# Gives the shared socket directory to tokend before tokend starts: run as
# root in an init container (see docker/ecs-task-definition.json). Fargate
# creates a task's bind-mount volume owned by root, mode 0755, unless the
# image of a container mounting it has a VOLUME at the same path, which AWS
# documents for the Dockerfile's owner but not for a volume that several
# containers with different images share; this makes the outcome the same
# in every case. Arguments: the directory (default: that of
# $TOKEND_SOCKET); TOKEND_USER and TOKEND_GROUP override tokend:tokend.
set -eu
dir=${1:-$(dirname "${TOKEND_SOCKET:-/run/tokend/tokend.sock}")}
chown "${TOKEND_USER:-tokend}:${TOKEND_GROUP:-tokend}" "$dir"
# Group tokend (the clients) may enter; others may not.
chmod 0750 "$dir"
