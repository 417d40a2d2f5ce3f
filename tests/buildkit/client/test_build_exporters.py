"""Exporters: file output over the session's FileSend, and refusals the engine would make anyway."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from cogkit import buildkit, llb
from cogkit.buildkit.address import TLSConfig
from cogkit.buildkit.client import Client, connect
from cogkit.buildkit.exporters import DockerTarExporter, ImageExporter, TarExporter
from cogkit.errors import BuildError, CogkitError


def _tiny(gw: buildkit.Gateway) -> buildkit.BuildResult:
    state = llb.scratch().file(llb.mkdir("/app", 0o755).mkfile("/app/model.txt", 0o640, b"weights"))
    return buildkit.BuildResult(state.marshal(caps=gw.caps))


def test_tar_export_streams_back_over_filesend(dockerd: Client, tmp_path: Path) -> None:
    out = tmp_path / "rootfs.tar"
    dockerd.build(_tiny, exporter=TarExporter(str(out)), progress="quiet")
    with tarfile.open(out) as tar:
        member = tar.getmember("app/model.txt")
        assert member.mode == 0o640
        assert tar.extractfile(member).read() == b"weights"  # type: ignore[union-attr]
    assert not (tmp_path / "rootfs.tar.partial").exists()


def test_tar_export_over_the_standalone_path(standalone_tls: tuple[str, TLSConfig], tmp_path: Path) -> None:
    address, tls = standalone_tls
    out = tmp_path / "rootfs.tar"
    with connect(address, tls=tls) as client:
        client.build(_tiny, exporter=TarExporter(str(out)), progress="quiet")
    with tarfile.open(out) as tar:
        assert tar.extractfile("app/model.txt").read() == b"weights"  # type: ignore[union-attr]


def test_dockerd_refuses_image_and_docker_exporters_up_front(dockerd: Client, tmp_path: Path) -> None:
    for exporter in (ImageExporter(["r/x:1"], push=True), DockerTarExporter(str(tmp_path / "x.tar"))):
        with pytest.raises(CogkitError, match="has no") as info:
            dockerd.build(_tiny, exporter=exporter, progress="quiet")
        assert "MobyExporter" in (info.value.hint or "")


def test_engine_without_an_exporter_says_so(standalone_unix: str) -> None:
    # Behind the fixture socket sits dockerd, which has no `image` exporter: the daemon's refusal
    # must come back as the build error, not as a gateway timeout.
    with (
        connect(standalone_unix) as client,
        pytest.raises(BuildError, match='exporter "image" could not be found'),
    ):
        client.build(_tiny, exporter=ImageExporter(["localhost:5000/x:1"]), progress="quiet")
