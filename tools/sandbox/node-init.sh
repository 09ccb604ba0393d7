#!/bin/sh
# PID 1 of a sandbox node: make the cgroup v1 paths the node's processes see
# in /proc/self/cgroup resolvable under /sys/fs/cgroup, add the sealed
# network's dead-end default route, then boot systemd.
#
# Podman mounts each cgroup v1 hierarchy rooted at the node's own cgroup
# (e.g. /libpod_parent/libpod-<id>) while /proc/self/cgroup shows the full
# path. systemd, the kubelet and runc join the two; without this they create
# or look for cgroups at paths that do not exist ("cgroup [kubepods] has some
# missing paths", "stat /sys/fs/kubepods/...: no such file or directory").
# kind's node entrypoint does the same. Nothing to do on cgroup v2.
set -eu
if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  # mountinfo: 4 = root within the hierarchy, 5 = mount point; the fs type
  # follows the "-" that ends the variable list of optional fields. Read it
  # all before mounting anything.
  mounts=$(awk '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) == "cgroup" && $4 != "/") print $4, $5 }' /proc/self/mountinfo)
  echo "$mounts" | while read -r root point; do
    [ -n "$root" ] || continue
    [ -d "$point$root" ] || mkdir -p "$point$root"
    mountpoint -q "$point$root" || mount --bind "$point" "$point$root"
  done
fi
# The sandbox network is internal (no route off the bridge). Give the node
# what a host at an isolated site has: a default route, to a gateway that
# forwards nowhere (an address nobody holds). Kubernetes needs it: the
# service network is reached by routing first, then DNAT (docs/sandbox.md).
if [ -n "${AIRGAP_SANDBOX_GATEWAY:-}" ]; then
  ip route replace default via "$AIRGAP_SANDBOX_GATEWAY" dev eth0
fi
# /etc/hosts is the node's own file (podman --no-hosts), so what the roles
# write there survives a restart, as on a real host; name the node in it
# once, as an installer does.
name=$(cat /proc/sys/kernel/hostname)
if ! grep -q "[[:space:]]$name\$" /etc/hosts; then
  ip=$(ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1]; exit }')
  printf '%s\t%s\n' "$ip" "$name" >> /etc/hosts
fi
exec /sbin/init "$@"
