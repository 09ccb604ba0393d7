# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.paths_absent through main(): removal, mounts below a path, check mode, refusals."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.airgap.k8s.plugins.modules import paths_absent


def tree(root):
    (root / "state" / "sub").mkdir(parents=True)
    (root / "state" / "sub" / "data").write_text("x")
    (root / "unit.service").write_text("[Unit]\n")
    (root / "link").symlink_to(root / "unit.service")
    return [root / "state", root / "unit.service", root / "link", root / "missing"]


def test_removes_files_links_and_directories_and_reports_only_what_was_there(run_module, tmp_path):
    paths = tree(tmp_path)
    run = run_module(paths_absent.main, {"paths": [str(p) for p in paths]})
    assert not run.failed, run.output
    assert run.result["changed"] is True
    assert run.result["removed"] == [str(p) for p in paths[:3]]
    assert not any(os.path.lexists(p) for p in paths)
    again = run_module(paths_absent.main, {"paths": [str(p) for p in paths]})
    assert again.result["changed"] is False and again.result["removed"] == []


def test_shared_directories_go_only_when_empty(run_module, tmp_path):
    cni = tmp_path / "opt" / "cni" / "bin"
    cni.mkdir(parents=True)
    (cni / "bridge").write_text("mine")
    conf = tmp_path / "etc" / "cni" / "net.d"
    conf.mkdir(parents=True)
    (conf / "99-site.conf").write_text("not mine")
    args = {
        "paths": [str(cni / "bridge")],
        "empty_dirs": [str(cni), str(cni.parent), str(conf), str(conf.parent)],
    }
    check = run_module(paths_absent.main, args, check_mode=True)
    assert check.result["removed_dirs"] == [str(cni), str(cni.parent)]
    assert cni.exists()
    run = run_module(paths_absent.main, args)
    assert run.result["removed_dirs"] == [str(cni), str(cni.parent)]
    assert not cni.parent.exists() and (conf / "99-site.conf").exists()


def test_a_wildcard_in_the_last_component_removes_what_it_matches(run_module, tmp_path):
    netns = tmp_path / "netns"
    netns.mkdir()
    for name in ("cni-1", "cni-2", "other"):
        (netns / name).write_text("")
    run = run_module(paths_absent.main, {"paths": [str(netns / "cni-*")]})
    assert run.result["removed"] == [str(netns / "cni-1"), str(netns / "cni-2")]
    assert os.listdir(netns) == ["other"]
    refused = run_module(paths_absent.main, {"paths": [str(netns / "*")]})
    assert refused.failed and "a wildcard may only follow a literal prefix" in refused.result["msg"]


def test_check_mode_reports_and_keeps_everything(run_module, tmp_path):
    paths = tree(tmp_path)
    run = run_module(paths_absent.main, {"paths": [str(p) for p in paths]}, check_mode=True, diff=True)
    assert run.result["changed"] is True
    assert run.result["diff"]["before"]["paths"] == [str(p) for p in paths[:3]]
    assert all(os.path.lexists(p) for p in paths[:3])


def test_refuses_system_directories_before_removing_anything(run_module, tmp_path):
    paths = tree(tmp_path)
    run = run_module(paths_absent.main, {"paths": [str(paths[0]), "/var/lib", "/etc/"]})
    assert run.failed
    assert "/var/lib is a system directory" in run.result["msg"]
    assert "/etc is a system directory" in run.result["msg"]
    assert paths[0].exists(), "nothing may be removed when one path is refused"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (the test machines run as root)")
def test_unmounts_what_is_mounted_below_and_empties_a_mount_point(run_module, tmp_path):
    volume = tmp_path / "kubelet"  # like a separate volume on /var/lib/kubelet
    volume.mkdir()
    token = volume / "pods" / "p1" / "volumes" / "token"
    mounted = []
    try:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(volume)], check=True)
        mounted.append(volume)
        token.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(token)], check=True)
        mounted.append(token)
        (token / "token").write_text("secret")
        run = run_module(paths_absent.main, {"paths": [str(volume)]})
        assert not run.failed, run.output
        assert run.result["unmounted"] == [str(token)]
        assert run.result["emptied"] == [str(volume)]
        assert volume.is_dir() and os.listdir(volume) == []
        assert os.path.ismount(volume), "the path's own mount stays"
        assert not os.path.ismount(token)
        again = run_module(paths_absent.main, {"paths": [str(volume)], "empty_dirs": [str(volume)]})
        assert again.result["changed"] is False, "an empty mount point is already clean, and is never rmdir'ed"

        # A file that is a mount point (how /run/netns/cni-* network namespaces look) is unmounted and deleted.
        netns = tmp_path / "netns"
        netns.mkdir()
        target = netns / "cni-1234"
        target.write_text("")
        source = tmp_path / "source"
        source.write_text("namespace")
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        mounted.append(target)
        run = run_module(paths_absent.main, {"paths": [str(target)]})
        assert not run.failed, run.output
        assert run.result["unmounted"] == [str(target)] and not target.exists()
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(point)], check=False)


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(paths_absent)
    assert docs == spec
