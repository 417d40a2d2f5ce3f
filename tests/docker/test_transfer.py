"""Push, pull and load through the engine API with progress, on the real dockerd and registries."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogkit.docker import transfer

DOCKER = "/usr/bin/docker"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_mode_prints_finished_layers_and_periodic_summaries() -> None:
    clock, out = FakeClock(), io.StringIO()
    shown = transfer.TransferProgress("pushing", "r/x:1", "plain", out, clock=clock, plain_interval=5.0)
    for second in range(12):  # one layer moving 1 MB a second for 12 s
        clock.now += 1
        shown.feed({"status": "Pushing", "id": "aaa", "progressDetail": {"current": (second + 1) * 10**6,
                                                                        "total": 12 * 10**6}})
    shown.feed({"status": "Pushed", "id": "aaa"})
    shown.feed({"status": "Layer already exists", "id": "bbb"})
    shown.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "pushing r/x:1: 0/1 layers, 5.0 MB of 12.0 MB, 1.0 MB/s"
    assert lines[1] == "pushing r/x:1: 0/1 layers, 10.0 MB of 12.0 MB, 1.0 MB/s"
    assert lines[2:] == ["aaa: Pushed (12.0 MB)", "bbb: Layer already exists",
                         "pushing r/x:1: 2/2 layers, 12.0 MB of 12.0 MB in 12.0s (1.0 MB/s)"]


def test_tty_mode_redraws_in_place_and_quiet_prints_nothing() -> None:
    clock, out = FakeClock(), io.StringIO()
    shown = transfer.TransferProgress("pulling", "r/x:1", "tty", out, clock=clock)
    shown.feed({"status": "Downloading", "id": "aaa", "progressDetail": {"current": 1000, "total": 4000}})
    clock.now += 1
    shown.feed({"status": "Downloading", "id": "aaa", "progressDetail": {"current": 3000, "total": 4000}})
    text = out.getvalue()
    assert text.startswith("\r\x1b[2Kpulling r/x:1: 0/1 layers, 1.0 kB of 4.0 kB")
    assert "\x1b[1A\x1b[2K\x1b[1A\x1b[2Kpulling r/x:1: 0/1 layers, 3.0 kB of 4.0 kB, 3.0 kB/s\n" in text
    assert "  aaa  Downloading  3.0 kB / 4.0 kB\n" in text
    quiet = io.StringIO()
    silent = transfer.TransferProgress("pulling", "r/x:1", "quiet", quiet, clock=clock)
    silent.feed({"status": "Downloading", "id": "aaa", "progressDetail": {"current": 1, "total": 2}})
    silent.finish()
    assert quiet.getvalue() == ""


@pytest.fixture
def unique_image(docker_engine: str, registry: str, tmp_path: Path) -> Iterator[str]:
    """A one-layer image of 3 MB of random bytes, so no registry already has its layer."""
    (tmp_path / "blob").write_bytes(os.urandom(3_000_000))
    tag = f"{registry}/cogkit-test-transfer:{uuid.uuid4().hex[:8]}"
    tar = subprocess.run(["tar", "-C", str(tmp_path), "-c", "blob"], capture_output=True, check=True).stdout
    subprocess.run([DOCKER, "import", "-", tag], input=tar, capture_output=True, check=True)
    yield tag
    subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


def _registry_digest(tag: str) -> str:
    name, _, ref = tag.partition("/")[2].rpartition(":")
    req = urllib.request.Request(f"http://{tag.split('/')[0]}/v2/{name}/manifests/{ref}", method="HEAD",
                                 headers={"Accept": ", ".join((  # the containerd store may push OCI
                                     "application/vnd.docker.distribution.manifest.v2+json",
                                     "application/vnd.oci.image.manifest.v1+json",
                                     "application/vnd.oci.image.index.v1+json"))})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"]


def test_push_pull_and_load_show_layers_bytes_and_rate(unique_image: str, tmp_path: Path, engine) -> None:
    # dockerd 20.10 (classic store) reports byte progress for every layer it pushes, pulls and loads.
    # dockerd 28.5 with the containerd image store reports layer states only ("Pushed"), so there the
    # lines count layers and carry no byte totals.
    with_bytes = engine.name == "dockerd-20.10"
    assert transfer.available()
    out = io.StringIO()
    digest = transfer.push_image(unique_image, "plain", out)
    assert digest == _registry_digest(unique_image)
    pushed = out.getvalue().splitlines()
    assert pushed[-1].startswith(f"pushing {unique_image}: 1/1 layers"), pushed
    if with_bytes:
        assert any(line.endswith(": Pushed (3.0 MB)") for line in pushed), pushed
        assert pushed[-1].startswith(f"pushing {unique_image}: 1/1 layers, 3.0 MB of 3.0 MB in ")
        assert pushed[-1].endswith("MB/s)")

    subprocess.run([DOCKER, "rmi", unique_image], capture_output=True, check=True)
    out = io.StringIO()
    transfer.pull_image(unique_image, "plain", out)
    pulled = out.getvalue().splitlines()
    assert pulled[-1].startswith(f"pulling {unique_image}: 1/1 layers"), pulled
    if with_bytes:
        assert pulled[-1].startswith(f"pulling {unique_image}: 1/1 layers, 3.0 MB of 3.0 MB")
    assert subprocess.run([DOCKER, "image", "inspect", unique_image], capture_output=True).returncode == 0

    archive = tmp_path / "image.tar"
    subprocess.run([DOCKER, "save", "-o", str(archive), unique_image], capture_output=True, check=True)
    subprocess.run([DOCKER, "rmi", unique_image], capture_output=True, check=True)
    out = io.StringIO()
    assert transfer.load_tarball(str(archive), "plain", out) == [f"Loaded image: {unique_image}"]
    if with_bytes:
        assert "loading image.tar: 1/1 layers, 3.0 MB of 3.0 MB in " in out.getvalue()


def test_push_uses_docker_login_credentials(docker_engine: str, auth_registry: tuple[str, str, str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    address, user, password = auth_registry
    tag = f"{address}/cogkit-test-transfer:{uuid.uuid4().hex[:8]}"
    subprocess.run([DOCKER, "tag", "cogkit-base:py3.11-bookworm", tag], capture_output=True, check=True)
    try:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        with pytest.raises(transfer.TransferError) as refused:
            transfer.push_image(tag, "quiet")
        assert "no basic auth credentials" in refused.value.message or "unauthorized" in refused.value.message
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        (tmp_path / "config.json").write_text(json.dumps({"auths": {address: {"auth": token}}}))
        assert transfer.push_image(tag, "quiet", io.StringIO())
    finally:
        subprocess.run([DOCKER, "rmi", tag], capture_output=True)
