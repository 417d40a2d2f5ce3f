"""Registry auth through the session: the daemon asks us (Auth.Credentials) when a pull needs a login."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from buildkit_client_helpers import DOCKER_CLI, docker, on_base

from cogkit import buildkit, llb
from cogkit.buildkit.client import Client
from cogkit.buildkit.exporters import MobyExporter
from cogkit.errors import BuildError


def _docker_as(config_dir: Path, *args: str, input: bytes | None = None) -> None:
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir)}
    proc = subprocess.run([DOCKER_CLI, *args], env=env, input=input, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()


def test_pull_from_a_registry_that_needs_login(
    dockerd: Client,
    base_image: str,
    image_tag: str,
    auth_registry: tuple[str, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, user, password = auth_registry
    token = uuid.uuid4().hex
    private = f"{host}/cogkit-auth-test:{token[:12]}"
    logged_in = tmp_path / "logged-in"
    _docker_as(logged_in, "login", host, "-u", user, "--password-stdin", input=password.encode())

    # A tiny private image, pushed with the CLI's login, then removed locally so a build must pull it.
    dockerd.build(
        lambda gw: buildkit.BuildResult(
            llb.scratch().file(llb.mkfile("/hello", 0o644, token)).marshal(caps=gw.caps)
        ),
        exporter=MobyExporter([private]),
        progress="quiet",
    )
    _docker_as(logged_in, "push", private)
    docker("rmi", private)

    def uses_private(base: llb.State) -> tuple[llb.State, None]:
        pulled = llb.image(private, resolve_mode="pull")
        return base.file(llb.copy(pulled, "/hello", "/hello"), name="copy from private image"), None

    build = on_base(base_image, uses_private)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "anonymous"))
    with pytest.raises(BuildError):
        dockerd.build(build, exporter=None, progress="quiet")

    monkeypatch.setenv("DOCKER_CONFIG", str(logged_in))
    report = dockerd.build(build, exporter=MobyExporter([image_tag]), progress="quiet")
    assert host in report.credential_requests
    assert docker("run", "--rm", "--entrypoint", "cat", image_tag, "/hello").stdout.decode() == token
    docker("rmi", "-f", private, check=False)
