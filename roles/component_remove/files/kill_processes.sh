#!/bin/sh
# kill_processes.sh check|kill EXE_PREFIX...
# Kill (SIGKILL) every process whose executable path starts with one of the
# prefixes: what outlives a stopped unit, such as containerd's shims
# (KillMode=process). Prints "<pid> <exe>" for each (or each it would kill).
set -eu
mode=$1
shift
for exe in /proc/[0-9]*/exe; do
    target=$(readlink "$exe" 2>/dev/null) || continue
    for prefix in "$@"; do
        case "$target" in
            "$prefix"*)
                pid=${exe#/proc/}
                pid=${pid%/exe}
                echo "$pid $target"
                if [ "$mode" = kill ]; then kill -9 "$pid" 2>/dev/null || true; fi
                break
                ;;
        esac
    done
done
