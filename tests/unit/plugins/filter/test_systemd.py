"""The systemd_show filter on recorded `systemctl show` output."""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.filter.systemd import FilterModule

systemd_show = FilterModule().filters()["systemd_show"]

# systemctl show --property=Id,LoadState,ActiveState,UnitFileState kubelet.service gone.service etcd.service
OUTPUT = """\
Id=kubelet.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=gone.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=etcd.service
LoadState=loaded
ActiveState=failed
UnitFileState=disabled
"""


def test_one_dict_per_unit_in_order():
    units = systemd_show(OUTPUT)
    assert [u["Id"] for u in units] == ["kubelet.service", "gone.service", "etcd.service"]
    assert units[1] == {"Id": "gone.service", "LoadState": "not-found", "ActiveState": "inactive", "UnitFileState": ""}
    assert [u["Id"] for u in units if u["LoadState"] != "not-found"] == ["kubelet.service", "etcd.service"]


def test_empty_output():
    assert systemd_show("") == []
