#!/bin/sh
# stop_containers.sh BIN_DIR SOCKET check|remove
# Before containerd is removed, while it still runs: kill and delete every
# task (running container) in every namespace. Prints "task <ns>/<id>" for
# each it stopped (or would stop); nothing when there is none.
set -eu
bin=$1 socket=$2 mode=$3
[ -x "$bin/ctr" ] && [ -S "$socket" ] || exit 0
ctr() { "$bin/ctr" --address "$socket" "$@"; }
for ns in $(ctr namespaces ls -q); do
    for id in $(ctr -n "$ns" tasks ls -q); do
        echo "task $ns/$id"
        if [ "$mode" = remove ]; then ctr -n "$ns" tasks delete --force "$id" >/dev/null 2>&1 || true; fi
    done
done
