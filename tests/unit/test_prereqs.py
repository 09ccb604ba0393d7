"""tools/prereqs.sh: the Debian prerequisites check that make and .ci/run share.

Runs the real script with a temporary package list; `id` and `apt-get` (and
in some tests `dpkg-query`) are stand-ins on PATH, so nothing is installed
and "root" or "not root" is chosen by the test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "prereqs.sh"
UNKNOWN = "airgap-no-such-package"


def stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def fake(tmp_path):
    """A bin dir first on PATH with `id` (uid from $FAKE_UID) and an `apt-get` that logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    stub(bin_dir, "id", 'echo "${FAKE_UID:-0}"')
    stub(bin_dir, "apt-get", f'echo "$*" >> {log}')
    stub(bin_dir, "sudo", 'echo "sudo $*" >> ' + str(log) + '; exec "$@"')
    stub(bin_dir, "sysctl", f'echo "sysctl $*" >> {log}')
    # The machine-wide inotify limit, as the script reads it (enough unless a test lowers it).
    inotify = tmp_path / "max_user_instances"
    inotify.write_text("1024\n")

    def run(packages: list[str], *args: str, uid: int = 0, dpkg: str | None = None):
        listing = tmp_path / "debian.txt"
        listing.write_text("# a comment\n\n" + "\n".join(packages) + "\n")
        if dpkg is not None:
            stub(bin_dir, "dpkg-query", dpkg)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PREREQS_LIST": str(listing)}
        env.setdefault("PREREQS_INOTIFY_FILE", str(inotify))
        env["FAKE_UID"] = str(uid)
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30, check=False)
        calls = log.read_text().splitlines() if log.exists() else []
        return proc, calls

    return run


def test_nothing_missing_installs_nothing(fake):
    proc, calls = fake(["git"], dpkg="echo 'git installed'")
    assert proc.returncode == 0, proc.stderr
    assert "1 Debian packages" in proc.stdout
    assert calls == []


def test_missing_as_root_installs_exactly_the_missing_ones(fake):
    proc, calls = fake(["git", "make", "jq"], dpkg="printf 'git installed\\nmake not-installed\\n'")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["update -qq", "install -y -qq --no-install-recommends jq make"]


def test_missing_not_root_names_the_command_and_changes_nothing(fake):
    # The real dpkg-query: a package Debian does not know is missing.
    proc, calls = fake(["git", UNKNOWN], uid=1000)
    assert proc.returncode == 1
    assert "missing Debian packages" in proc.stderr and UNKNOWN in proc.stderr
    assert f"sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends {UNKNOWN}'" in proc.stderr
    assert calls == []


def test_sudo_mode_installs_through_sudo(fake):
    proc, calls = fake([UNKNOWN], "--sudo", uid=1000, dpkg="exit 1")
    assert proc.returncode == 0, proc.stderr
    assert calls[0] == "sudo apt-get update -qq"
    assert calls[-1] == f"install -y -qq --no-install-recommends {UNKNOWN}"


def test_check_mode_reports_and_never_installs(fake):
    proc, calls = fake([UNKNOWN], "--check", uid=0, dpkg="exit 1")
    assert proc.returncode == 1 and UNKNOWN in proc.stderr
    assert calls == []


def test_low_inotify_limit_is_raised_as_root(fake, tmp_path):
    (tmp_path / "max_user_instances").write_text("128\n")
    proc, calls = fake(["git"], dpkg="echo 'git installed'")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["sysctl -w fs.inotify.max_user_instances=1024"]
    assert "raised fs.inotify.max_user_instances from 128 to 1024" in proc.stdout


def test_low_inotify_limit_without_root_names_the_command(fake, tmp_path):
    (tmp_path / "max_user_instances").write_text("128\n")
    proc, calls = fake(["git"], uid=1000, dpkg="echo 'git installed'")
    assert proc.returncode == 1
    assert calls == []
    assert "sudo sysctl -w fs.inotify.max_user_instances=1024" in proc.stderr


def test_low_inotify_limit_with_sudo_raises_it(fake, tmp_path):
    (tmp_path / "max_user_instances").write_text("128\n")
    proc, calls = fake(["git"], "--sudo", uid=1000, dpkg="echo 'git installed'")
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "sudo sysctl -w fs.inotify.max_user_instances=1024",
        "sysctl -w fs.inotify.max_user_instances=1024",
    ]
