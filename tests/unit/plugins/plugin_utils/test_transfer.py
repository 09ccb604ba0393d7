# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Controller side of the one-archive transfers: codec choice, the compression cache, the archive."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.airgap.k8s.plugins.plugin_utils import _transfer

BIG = _transfer.MIN_COMPRESS


def test_small_files_and_none_travel_raw():
    assert _transfer.pick_codec("auto", BIG - 1, ["zstd", "gzip", "none"]) == "none"
    assert _transfer.pick_codec("none", 10 * BIG, ["zstd", "gzip", "none"]) == "none"


def test_auto_falls_back_to_gzip_on_a_host_without_zstd():
    assert _transfer.pick_codec("auto", BIG, ["gzip", "none"]) == "gzip"


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd binary on this machine")
def test_auto_prefers_zstd_when_both_have_it():
    assert _transfer.pick_codec("auto", BIG, ["zstd", "gzip", "none"]) == "zstd"


def test_an_explicit_codec_the_host_lacks_is_an_error():
    with pytest.raises(_transfer.TransferError, match="the host has no zstd"):
        _transfer.pick_codec("zstd", BIG, ["gzip", "none"])


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_once_then_cached(tmp_path, codec, monkeypatch):
    if codec == "zstd" and not shutil.which("zstd"):
        pytest.skip("no zstd binary on this machine")
    src = tmp_path / "kubelet"
    data = bytes(range(256)) * 1000
    src.write_bytes(data)
    sha = _transfer.sha256_file(src)
    cache = tmp_path / "cache"
    first = _transfer.compressed_copy(str(src), sha, codec, str(cache))
    if codec == "gzip":
        assert gzip.decompress(first.read_bytes()) == data
    else:
        out = subprocess.run(["zstd", "-d", "-c", str(first)], capture_output=True, check=True).stdout
        assert out == data
    assert first.name.startswith(sha)
    calls = []
    monkeypatch.setattr(_transfer, "_compress", lambda *a: calls.append(a))
    assert _transfer.compressed_copy(str(src), sha, codec, str(cache)) == first
    assert calls == [], "a cached copy is not compressed again"
    other = _transfer.compressed_copy(str(src), sha, codec, str(cache), level=1)
    assert other != first and calls, "another level is another cache entry"


def test_archive_holds_files_and_bytes(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"file data")
    work = tmp_path / "work"
    work.mkdir()
    path = _transfer.build_archive([("0", f), ("1", b"rendered")], str(work))
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["0", "1"]
        assert tar.extractfile("0").read() == b"file data"
        assert tar.extractfile("1").read() == b"rendered"
        assert all(m.mode == 0o600 for m in tar.getmembers())
