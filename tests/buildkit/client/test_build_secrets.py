"""Build secrets: readable in the step that mounts them, absent from every layer; clear errors."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from buildkit_client_helpers import docker, on_base

from cogkit import llb
from cogkit.buildkit.client import Client
from cogkit.buildkit.exporters import MobyExporter
from cogkit.buildkit.session.secrets import SecretSource
from cogkit.errors import BuildError, CogkitError


def _uses_secrets(base: llb.State) -> tuple[llb.State, None]:
    # A unique variable keeps the step out of the cache (secret contents are not part of the key).
    step = base.with_env("RUN_ID", uuid.uuid4().hex).run(
        ["sh", "-c", "sha256sum /run/secrets/token /run/secrets/from-env | cut -d' ' -f1 > /secret-hashes"],
        mounts=[
            llb.secret("/run/secrets/token", id="token"),
            llb.secret("/run/secrets/from-env", id="envtok"),
        ],
        name="use secrets",
    )
    return step.root(), None


def test_secret_is_readable_in_the_step_and_in_no_layer(
    dockerd: Client, base_image: str, image_tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_secret = f"file-secret-{uuid.uuid4().hex}".encode()
    env_secret = f"env-secret-{uuid.uuid4().hex}"
    (tmp_path / "token.txt").write_bytes(file_secret)
    monkeypatch.setenv("COGKIT_TEST_ENV_SECRET", env_secret)
    dockerd.build(
        on_base(base_image, _uses_secrets),
        exporter=MobyExporter([image_tag]),
        secrets={
            "token": f"id=token,src={tmp_path / 'token.txt'}",
            "envtok": "id=envtok,env=COGKIT_TEST_ENV_SECRET",
        },
        progress="quiet",
    )
    hashes = docker("run", "--rm", "--entrypoint", "cat", image_tag, "/secret-hashes").stdout.decode().split()
    assert hashes == [
        hashlib.sha256(file_secret).hexdigest(),
        hashlib.sha256(env_secret.encode()).hexdigest(),
    ]
    saved = docker("save", image_tag).stdout
    assert len(saved) > 1_000_000  # the whole image, layers included
    assert file_secret not in saved and env_secret.encode() not in saved


def test_unknown_secret_id_is_a_clear_build_error(dockerd: Client, base_image: str, tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("x")
    with pytest.raises(BuildError) as info:
        dockerd.build(
            on_base(base_image, _uses_secrets),
            exporter=None,
            secrets={"token": SecretSource(id="token", src=str(tmp_path / "token.txt"))},
            progress="quiet",
        )
    assert "secret" in info.value.message and "not found" in info.value.message
    assert "envtok" in info.value.message and "\n" not in info.value.message


def test_missing_secret_source_fails_before_the_build(
    dockerd: Client, base_image: str, tmp_path: Path
) -> None:
    called = []

    def never(gw: object) -> None:
        called.append(gw)

    with pytest.raises(CogkitError, match="does not exist") as info:
        dockerd.build(never, secrets={"token": f"id=token,src={tmp_path}/nope"}, progress="quiet")
    assert info.value.hint and not called
    with pytest.raises(CogkitError, match="COGKIT_SURELY_UNSET is not set"):
        dockerd.build(never, secrets={"t": "id=t,env=COGKIT_SURELY_UNSET"}, progress="quiet")
    assert not called
