#!/bin/sh
# Build the sandbox node image from Debian packages, no registry involved:
# debootstrap a bookworm rootfs, tar it, `podman import` it.
#
#   tools/sandbox/image.sh          build (if needed) and print the image ref
#   tools/sandbox/image.sh --ref    only print the ref this recipe produces
#   tools/sandbox/image.sh --force  rebuild the rootfs even if cached
#
# The tag is a hash of the recipe (this script + packages.txt), so the image
# is rebuilt only when the recipe changes. The rootfs tarball is cached under
# ${XDG_CACHE_HOME:-~/.cache}/airgap-k8s/ by the same hash: a fresh podman
# store re-imports it without running debootstrap again.
# Progress goes to stderr; stdout is the image ref only.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
repo=localhost/airgap-k8s-node
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

log() { printf 'image: %s\n' "$*" >&2; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }

recipe_hash() {
    cat "$here/image.sh" "$here/packages.txt" | sha256sum | cut -c1-12
}

# The Debian mirror apt already uses on this machine (the only one reachable
# offline), or SANDBOX_MIRROR if set.
find_mirror() {
    if [ -n "${SANDBOX_MIRROR:-}" ]; then
        printf '%s\n' "$SANDBOX_MIRROR"
        return
    fi
    apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(SITE)' 2>/dev/null |
        awk -v s="$suite" '$1 == "deb" && $2 == s { print $3; exit }'
}

tag=$(recipe_hash)
ref="$repo:$tag"
force=0
case "${1:-}" in
    --ref) printf '%s\n' "$ref"; exit 0 ;;
    --force) force=1 ;;
    "") ;;
    *) die "unknown argument '$1' (use --ref or --force)" ;;
esac

command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"

if [ "$force" = 0 ] && podman image exists "$ref"; then
    log "$ref is present"
    printf '%s\n' "$ref"
    exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/airgap-k8s"
tarball="$cache/node-rootfs-$tag.tar"
mkdir -p "$cache"

if [ "$force" = 1 ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    mirror=$(find_mirror)
    [ -n "$mirror" ] || die "no apt source for '$suite' found; set SANDBOX_MIRROR=http://<mirror>/debian"
    include=$(grep -v -e '^#' -e '^$' "$here/packages.txt" | paste -sd, -)

    rootfs=$(mktemp -d "$cache/rootfs-$tag.XXXXXX")
    trap 'rm -rf "$rootfs" "$tarball.partial"' EXIT INT TERM
    log "debootstrap $suite from $mirror (about a minute)"
    debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" >&2 ||
        die "debootstrap failed, see $rootfs/debootstrap/debootstrap.log"

    log "configuring the rootfs for systemd in a container"
    # Each node must get its own identity: machine-id and SSH host keys are
    # created at first boot, the hostname comes from podman.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/hostname" "$rootfs"/etc/ssh/ssh_host_*
    : >"$rootfs/etc/resolv.conf"
    cat >"$rootfs/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate this node's SSH host keys
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=ssh.service
EOF
    mkdir -p "$rootfs/etc/systemd/journald.conf.d"
    cat >"$rootfs/etc/systemd/journald.conf.d/sandbox.conf" <<'EOF'
[Journal]
Storage=volatile
RuntimeMaxUse=32M
EOF
    # An air-gapped host has no package mirror: a role that reaches for one
    # must fail here as it would at a customer's site.
    printf '# Air-gapped test node: no package sources.\n' >"$rootfs/etc/apt/sources.list"
    # Units that have nothing to do in a container, or would reach out.
    chroot "$rootfs" systemctl mask --quiet \
        getty.target console-getty.service systemd-remount-fs.service \
        dev-hugepages.mount sys-fs-fuse-connections.mount \
        apt-daily.timer apt-daily-upgrade.timer
    chroot "$rootfs" systemctl enable --quiet ssh.service ssh-hostkeys.service
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs/debootstrap" \
        "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/var/tmp/*

    tar --numeric-owner --xattrs --xattrs-include='security.capability' \
        -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT INT TERM
    # Rootfs tarballs of older recipes are of no further use.
    find "$cache" -maxdepth 1 -name 'node-rootfs-*.tar' ! -name "node-rootfs-$tag.tar" -delete
else
    log "re-importing cached rootfs $tarball"
fi

podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL airgap-k8s.recipe=$tag" \
    "$tarball" "$ref" >/dev/null
# Alias for running molecule by hand; the make targets pass the exact tag.
podman tag "$ref" "$repo:latest"
log "built $ref"
printf '%s\n' "$ref"
