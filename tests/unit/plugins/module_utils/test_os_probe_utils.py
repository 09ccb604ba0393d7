# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""os_prepare's one-call probe, on fixture roots that look like /proc, /sys and /etc."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from ansible_collections.airgap.k8s.plugins.module_utils import _os_probe

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def write(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def tcp_line(port: int, state: str, inode: int) -> str:
    return f"   0: 00000000:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 {inode}\n"


def test_module_states(tmp_path):
    write(tmp_path, "/proc/modules", "overlay 151552 0 - Live 0x0\n")
    (tmp_path / "sys/module/br_netfilter").mkdir(parents=True)
    write(tmp_path, "/lib/modules/6.1/modules.builtin", "kernel/net/netfilter/nf_conntrack.ko\n")
    with gzip.open(tmp_path / "proc/config.gz", "wt") as handle:
        handle.write("CONFIG_IP_VS=y\nCONFIG_IP_VS_RR=m\n")
    states = _os_probe.module_states(
        str(tmp_path), "6.1",
        {"overlay": "CONFIG_OVERLAY_FS", "br_netfilter": "CONFIG_BRIDGE_NETFILTER", "nf_conntrack": "CONFIG_NF_CONNTRACK",
         "ip_vs": "CONFIG_IP_VS", "ip_vs_rr": "CONFIG_IP_VS_RR"},
    )  # fmt: skip
    assert states == {
        "overlay": "loaded", "br_netfilter": "builtin", "nf_conntrack": "builtin", "ip_vs": "builtin",
        "ip_vs_rr": "absent",
    }  # fmt: skip


def test_taken_ports_names_the_other_program(tmp_path):
    write(tmp_path, "/proc/net/tcp", TCP_HEADER + tcp_line(6443, "0A", 111) + tcp_line(10250, "0A", 222)
          + tcp_line(2379, "01", 333))  # fmt: skip
    write(tmp_path, "/proc/net/udp", TCP_HEADER)
    for pid, comm, inode in (("10", "nginx", 111), ("20", "kubelet", 222)):
        write(tmp_path, f"/proc/{pid}/comm", comm + "\n")
        (tmp_path / "proc" / pid / "fd").mkdir()
        os.symlink(f"socket:[{inode}]", tmp_path / "proc" / pid / "fd" / "3")
    taken = _os_probe.taken_ports(str(tmp_path), [6443, 10250, 2379], ["kubelet", "kube-apiserver"])
    assert taken == {"6443": ["nginx"]}, "kubelet is allowed; 2379 is not listening (state 01)"


def test_swap_and_fstab(tmp_path):
    write(tmp_path, "/proc/swaps", "Filename Type Size Used Priority\n/dev/sda2 partition 1 0 -2\n")
    write(tmp_path, "/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n/dev/sda2 none swap sw 0 0\n"
          "# /dev/sda3 none swap sw 0 0  # disabled by airgap.k8s\n")  # fmt: skip
    assert _os_probe.active_swaps(str(tmp_path)) == ["/dev/sda2"]
    assert _os_probe.fstab_swap_lines(str(tmp_path)) == ["/dev/sda2 none swap sw 0 0"]


def test_no_swap(tmp_path):
    write(tmp_path, "/proc/swaps", "Filename Type Size Used Priority\n")
    assert _os_probe.active_swaps(str(tmp_path)) == []
    assert _os_probe.fstab_swap_lines(str(tmp_path)) == []


def test_sysctls(tmp_path):
    write(tmp_path, "/proc/sys/net/ipv4/ip_forward", "1\n")
    write(tmp_path, "/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n")
    assert _os_probe.sysctls(str(tmp_path), ["net.ipv4.ip_forward", "net.ipv4.ip_local_port_range", "vm.nope"]) == {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ip_local_port_range": "32768 60999",
        "vm.nope": None,
    }


def test_unit_files(tmp_path):
    write(tmp_path, "/lib/systemd/system/ufw.service", "[Unit]\n")
    assert _os_probe.unit_files(str(tmp_path), ["firewalld", "ufw"]) == ["ufw"]
