"""The standalone-buildkitd code path (direct gRPC + Control.Session), over unix:// and tcp:// + TLS.

The fixtures put dockerd's real BuildKit behind a plain unix socket and a mutual-TLS terminator, so
this is the same client code a real buildkitd would see; dockerd's moby exporter still exports.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from buildkit_client_helpers import docker, on_base

from cogkit import llb
from cogkit.buildkit.address import TLSConfig
from cogkit.buildkit.client import Client, connect
from cogkit.buildkit.exporters import MobyExporter
from cogkit.errors import EngineError


def _build_with_context_and_secret(client: Client, base_image: str, tag: str, tmp_path: Path) -> None:
    ctx_dir = tmp_path / "ctx"
    (ctx_dir / "src").mkdir(parents=True)
    (ctx_dir / "src" / "predict.py").write_text("print('hi')\n")
    (ctx_dir / "weights.bin").write_bytes(bytes(range(256)) * 4096)
    secret = tmp_path / "secret"
    secret.write_text(f"s-{uuid.uuid4().hex}")

    def make(base: llb.State) -> tuple[llb.State, dict[str, object]]:
        ctx = llb.local("context")
        state = base.file(llb.copy(ctx, "/", "/src/"), name="copy code")
        state = state.run(
            ["sh", "-c", "sha256sum /src/weights.bin | cut -c1-64 > /weights.sha && test -s /run/secrets/s"],
            mounts=[llb.secret("/run/secrets/s", id="s")],
            name="check",
        ).root()
        return state, {"Cmd": ["python", "/src/src/predict.py"], "Labels": {"path": "standalone"}}

    report = client.build(
        on_base(base_image, make),
        exporter=MobyExporter([tag]),
        local_dirs={"context": ctx_dir},
        secrets={"s": f"id=s,src={secret}"},
        progress="quiet",
    )
    assert sorted(report.sync["context"].files_sent) == ["src/predict.py", "weights.bin"]
    inspect = json.loads(docker("image", "inspect", tag).stdout)[0]
    assert inspect["Id"] == report.image_id
    assert inspect["Config"]["Labels"] == {"path": "standalone"}
    assert inspect["Config"]["Cmd"] == ["python", "/src/src/predict.py"]
    out = docker("run", "--rm", tag).stdout.decode()
    assert out == "hi\n"


def test_unix_socket_builder(standalone_unix: str, base_image: str, image_tag: str, tmp_path: Path) -> None:
    with connect(standalone_unix) as client:
        assert client.address.kind == "unix" and not client.is_docker
        _build_with_context_and_secret(client, base_image, image_tag, tmp_path)


def test_tcp_builder_with_mutual_tls(
    standalone_tls: tuple[str, TLSConfig], base_image: str, image_tag: str, tmp_path: Path
) -> None:
    address, tls = standalone_tls
    with connect(address, tls=tls) as client:
        assert client.address.kind == "tcp" and client.address.tls == tls
        _build_with_context_and_secret(client, base_image, image_tag, tmp_path)


def test_tls_without_client_cert_or_with_wrong_ca_is_refused(
    standalone_tls: tuple[str, TLSConfig], tmp_path: Path
) -> None:
    address, tls = standalone_tls
    with pytest.raises(EngineError, match="cannot reach buildkitd at tcp://127.0.0.1") as info:
        connect(address, tls=TLSConfig(ca=tls.ca, server_name=tls.server_name), timeout=3)
    assert info.value.hint
    with pytest.raises(EngineError, match="cannot reach"):
        connect(address, tls=TLSConfig(ca=tls.cert, cert=tls.cert, key=tls.key, server_name="x"), timeout=3)


def test_tls_options_in_the_address(standalone_tls: tuple[str, TLSConfig], docker_engine: str) -> None:
    address, tls = standalone_tls
    url = f"{address}?ca={tls.ca}&cert={tls.cert}&key={tls.key}&servername={tls.server_name}"
    with connect(f"docker://{docker_engine}") as direct:
        behind = [w.ID for w in direct.workers()]  # `moby` on dockerd 20.10, a random id on 28.5
    with connect(url) as client:
        assert [w.ID for w in client.workers()] == behind
