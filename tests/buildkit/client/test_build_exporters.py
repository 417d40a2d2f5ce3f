"""Exporters: file output over the session's FileSend, and refusals the engine would make anyway."""

from __future__ import annotations

import tarfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from cogkit import buildkit, llb
from cogkit.buildkit.address import TLSConfig
from cogkit.buildkit.client import Client, connect
from cogkit.buildkit.exporters import DockerTarExporter, ImageExporter, OciTarExporter, TarExporter
from cogkit.errors import BuildError, CogkitError

MANIFEST_TYPES = ", ".join(
    ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"]
)


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


def test_dockerd_exporters_follow_its_image_store(dockerd: Client, registry: str, tmp_path: Path) -> None:
    """dockerd's classic image store (20.10) has only moby, refused up front; with the containerd
    image store (28.5) BuildKit's own exporters run: a push from the builder, docker and OCI tarballs."""
    exporters = (
        ImageExporter([f"{registry}/cogkit-test/x:1"], push=True),
        DockerTarExporter(str(tmp_path / "x.tar")),
    )
    if not dockerd.exports_images:
        for exporter in exporters:
            with pytest.raises(CogkitError, match="has no") as info:
                dockerd.build(_tiny, exporter=exporter, progress="quiet")
            assert "MobyExporter" in (info.value.hint or "")
        return
    repo = f"cogkit-test/exporters-{uuid.uuid4().hex[:8]}"
    pushed = dockerd.build(
        _tiny, exporter=ImageExporter([f"{registry}/{repo}:1"], push=True), progress="quiet"
    )
    digest = pushed.exporter_response["containerimage.digest"]
    manifest = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/1",
        headers={"Accept": MANIFEST_TYPES},
    )
    with urllib.request.urlopen(manifest, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == digest  # in the registry, no `docker push`
    for kind, exporter in (
        ("docker", DockerTarExporter(str(tmp_path / "d.tar"), names=[f"{repo}:1"])),
        ("oci", OciTarExporter(str(tmp_path / "o.tar"), names=[f"{repo}:1"])),
    ):
        dockerd.build(_tiny, exporter=exporter, progress="quiet")
        with tarfile.open(exporter.path) as tar:
            names = tar.getnames()
            config = pushed.exporter_response["containerimage.config.digest"]  # the same image config
            assert "index.json" in names and f"blobs/sha256/{config.split(':')[1]}" in names, kind
            if kind == "docker":
                assert "manifest.json" in names  # `docker load`-able as well


def test_engine_without_an_exporter_says_so(standalone_unix: str, docker_engine: str) -> None:
    # Behind the fixture socket sits dockerd: with the classic image store (20.10) it has no `image`
    # exporter, and the daemon's refusal must come back as the build error, not as a gateway timeout.
    with connect(f"docker://{docker_engine}") as direct:
        has_it = direct.exports_images  # dockerd 28.5 with the containerd store: it exports
    with connect(standalone_unix) as client:
        if has_it:
            report = client.build(_tiny, exporter=ImageExporter(["localhost:5000/x:1"]), progress="quiet")
            assert report.exporter_response["containerimage.digest"].startswith("sha256:")
            return
        with pytest.raises(BuildError, match='exporter "image" could not be found'):
            client.build(_tiny, exporter=ImageExporter(["localhost:5000/x:1"]), progress="quiet")
