#!/bin/sh
# remove_containers.sh BIN_DIR check|remove
# Before Docker is removed, while dockerd still runs: force-remove every
# container (cri-dockerd's pods are Docker containers). Prints their IDs
# (or the IDs it would remove); nothing when there is none.
set -eu
docker="$1/docker" mode=$2
[ -x "$docker" ] && [ -S /run/docker.sock ] || exit 0
ids=$("$docker" ps --all --quiet)
[ -n "$ids" ] || exit 0
echo "$ids"
# shellcheck disable=SC2086 # one argument per container ID
if [ "$mode" = remove ]; then "$docker" rm --force --volumes $ids >/dev/null; fi
