#!/bin/sh
# cri_remove_pods.sh BIN_DIR SOCKET check|remove
# Stop and remove every pod sandbox (and its containers) through the CRI, as
# kubeadm reset does. Prints the IDs of the pods it removed (or would
# remove); prints nothing when the runtime is not there or has no pods.
set -eu
crictl="$1/crictl" socket=$2 mode=$3
[ -x "$crictl" ] && [ -S "$socket" ] || exit 0
endpoint="unix://$socket"
pods=$("$crictl" --runtime-endpoint "$endpoint" pods -q)
[ -n "$pods" ] || exit 0
echo "$pods"
[ "$mode" = remove ] || exit 0
# shellcheck disable=SC2086 # one argument per pod ID
"$crictl" --runtime-endpoint "$endpoint" stopp $pods >/dev/null
# shellcheck disable=SC2086
"$crictl" --runtime-endpoint "$endpoint" rmp --force $pods >/dev/null
