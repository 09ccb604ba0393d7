#!/usr/bin/env bash
# The Debian packages the sandbox, the bundle builders and the tests need
# (requirements/debian.txt, the one list): checked in a second with
# dpkg-query before anything heavy starts. Used by make and .ci/run.
#
#   tools/prereqs.sh          install what is missing when run as root;
#                             otherwise print the command to run and fail
#   tools/prereqs.sh --sudo   as a non-root user, install with sudo (.ci/run)
#   tools/prereqs.sh --check  only report what is missing (exit 1 if anything)
#
# PREREQS_LIST=<file> checks another list (the tests use it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
list=${PREREQS_LIST:-$here/../requirements/debian.txt}
mode=install
case "${1:-}" in
    "") ;;
    --sudo) mode=sudo ;;
    --check) mode=check ;;
    *) echo "usage: $0 [--sudo|--check]" >&2; exit 2 ;;
esac

[ -r "$list" ] || { echo "prereqs: cannot read the package list $list" >&2; exit 2; }
want=$(grep -vE '^[[:space:]]*(#|$)' "$list" | sort -u)
if ! command -v dpkg-query >/dev/null; then
    echo "prereqs: dpkg-query not found: this project's tooling expects Debian 12 (see README.md)." >&2
    exit 1
fi
# Unknown names make dpkg-query exit 1; they count as missing like the rest.
have=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $want 2>/dev/null | awk '$2 == "installed" {print $1}' | sort -u || true)
missing=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have") | paste -sd' ' -)

# Every sandbox node (a systemd container: systemd, journald, containerd,
# the kubelet) holds 20-25 inotify instances, and the kernel counts them for
# the whole machine against fs.inotify.max_user_instances (often 128: about
# five nodes). The end-to-end sandbox runs six, molecule and `make sandbox`
# more beside it. Symptoms when it runs out: containerd "failed to create
# fsnotify watcher: too many open files", kubelet "inotify_init: too many
# open files" (docs/sandbox.md).
inotify_want=${PREREQS_INOTIFY_INSTANCES:-1024}
inotify_file=${PREREQS_INOTIFY_FILE:-/proc/sys/fs/inotify/max_user_instances}
inotify_have=$(cat "$inotify_file" 2>/dev/null || echo "$inotify_want")
if [ "$inotify_have" -lt "$inotify_want" ]; then
    raise="sysctl -w fs.inotify.max_user_instances=$inotify_want"
    if [ "$mode" = check ]; then
        echo "prereqs: fs.inotify.max_user_instances is $inotify_have, the sandboxes need $inotify_want" >&2
        exit 1
    elif [ "$(id -u)" = 0 ]; then
        $raise >/dev/null || { echo "prereqs: could not raise fs.inotify.max_user_instances ($raise)" >&2; exit 1; }
    elif [ "$mode" = sudo ]; then
        sudo $raise >/dev/null || { echo "prereqs: could not raise fs.inotify.max_user_instances (sudo $raise)" >&2; exit 1; }
    else
        echo "prereqs: fs.inotify.max_user_instances is $inotify_have; the sandbox nodes need $inotify_want (docs/sandbox.md)." >&2
        echo "Raise it as root (until the next boot; a file in /etc/sysctl.d/ keeps it), then run make again:" >&2
        echo "" >&2
        echo "    sudo $raise" >&2
        exit 1
    fi
    echo "prereqs: raised fs.inotify.max_user_instances from $inotify_have to $inotify_want"
fi

if [ -z "$missing" ]; then
    echo "prereqs: the $(printf '%s\n' "$want" | wc -l) Debian packages of ${list#"$here/../"} are installed"
    exit 0
fi
command="apt-get update && apt-get install -y --no-install-recommends $missing"
if [ "$mode" = check ]; then
    echo "prereqs: missing Debian packages: $missing" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ] && [ "$mode" != sudo ]; then
    cat >&2 <<EOF
prereqs: missing Debian packages (${list#"$here/../"}): $missing
Install them as root, then run make again:

    sudo sh -c '$command'
EOF
    exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "prereqs: installing $missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086  # one word per package
$sudo apt-get install -y -qq --no-install-recommends $missing
