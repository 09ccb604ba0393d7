#!/usr/bin/python3
"""listening_ports.py OWNERS PORT... : which PORTs are taken by someone else.

OWNERS is a comma-separated list of process names allowed to hold the ports
(the cluster's own components, on a re-run). Prints JSON {"taken": {port:
[process names]}} for ports listened on (TCP or UDP) by any other process.
Reads /proc only, so it works on a bare host without ss or netstat.
"""

import json
import os
import sys


def sockets(wanted):
    found = {}
    for table, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            with open(f"/proc/net/{table}") as fh:
                next(fh)
                for line in fh:
                    cols = line.split()
                    port = int(cols[1].rsplit(":", 1)[1], 16)
                    if cols[3] == listening and port in wanted:
                        found.setdefault(cols[9], set()).add(port)
        except FileNotFoundError:
            continue
    return found


def owners(inodes):
    names = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    names.setdefault(target[8:-1], set()).add(comm)
        except OSError:
            continue
    return names


def main():
    allowed = set(filter(None, sys.argv[1].split(","))) if len(sys.argv) > 1 else set()
    wanted = {int(p) for p in sys.argv[2:]}
    socks = sockets(wanted)
    procs = owners(socks)
    ports = {}
    for inode, port_set in socks.items():
        for port in port_set:
            ports.setdefault(port, set()).update(procs.get(inode, {"unknown"}))
    taken = {str(p): sorted(n) for p, n in sorted(ports.items()) if not n & allowed}
    print(json.dumps({"taken": taken}))


if __name__ == "__main__":
    main()
