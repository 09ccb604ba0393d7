#!/usr/bin/env python3
"""Ask one DNS server for the A records of a name, retrying until a deadline.

    dns_query.py NAME SERVER TIMEOUT

Prints JSON {"name", "server", "addresses", "error"}; exits 0 when an answer
with at least one address came back. Standard library only: the nodes have
python3 but no dig/nslookup.
"""

import json
import random
import socket
import struct
import sys
import time


def query(name: str, server: str) -> list[str]:
    qid = random.randint(0, 0xFFFF)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, (server, 53))
        data, _ = sock.recvfrom(4096)
    rid, flags, qdcount, ancount = struct.unpack(">HHHH", data[:8])
    if rid != qid:
        raise OSError("answer for another query")
    if flags & 0xF:
        raise OSError(f"rcode {flags & 0xF} ({'NXDOMAIN' if flags & 0xF == 3 else 'error'})")
    pos = 12
    for _ in range(qdcount):
        pos = skip_name(data, pos) + 4
    addresses = []
    for _ in range(ancount):
        pos = skip_name(data, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addresses.append(socket.inet_ntoa(data[pos : pos + 4]))
        pos += rdlen
    return addresses


def skip_name(data: bytes, pos: int) -> int:
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:  # compression pointer
            return pos + 2
        pos += 1 + length


def main() -> int:
    name, server, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.monotonic() + timeout
    error = None
    while True:
        try:
            addresses = query(name, server)
            if addresses:
                print(json.dumps({"name": name, "server": server, "addresses": addresses, "error": None}))
                return 0
            error = "no A record in the answer"
        except (OSError, IndexError, struct.error) as exc:
            error = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            print(json.dumps({"name": name, "server": server, "addresses": [], "error": error}))
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
