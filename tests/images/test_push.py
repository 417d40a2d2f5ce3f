"""`cogkit push` to the local registry: pull by digest, and a code-only edit uploads only the code layer."""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request
import uuid
from pathlib import Path

from cogkit.images.build import BuildRequest
from cogkit.images.push import push

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PREDICT = (
    "from cog import BasePredictor\n\n\n"
    "class Predictor(BasePredictor):\n    def predict(self) -> str:\n        return 'hi'\n"
)
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
)


def manifest_layers(registry: str, repository: str, digest: str) -> list[str]:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [layer["digest"] for layer in json.load(response)["layers"]]


def test_push_pull_by_digest_and_code_only_repush(
    base_image: str, registry: str, docker_cli: str, tmp_path: Path
) -> None:
    project = tmp_path / "pushed"
    project.mkdir()
    (project / "cog.yaml").write_text("build:\n  python_version: '3.11'\npredict: predict.py:Predictor\n")
    (project / "predict.py").write_text(PREDICT)
    with (project / "weights.bin").open("wb") as fh:
        fh.write(uuid.uuid4().bytes * (12 * 1024 * 1024 // 16))
    repository = f"cogkit-test/push-{uuid.uuid4().hex[:8]}"
    image = f"{registry}/{repository}"
    request = BuildRequest(
        cwd=project, tag=image, base_image=base_image, ca_cert=CA_BUNDLE, separate_weights=True,
        progress="quiet", out=io.StringIO(),
    )  # fmt: skip
    first = push(request)
    assert first.digest and first.digest.startswith("sha256:")

    subprocess.run([docker_cli, "rmi", "-f", image], capture_output=True, check=True)
    pulled = subprocess.run([docker_cli, "pull", f"{image}@{first.digest}"], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    before = manifest_layers(registry, repository, first.digest)

    (project / "predict.py").write_text(PREDICT.replace("'hi'", "'hello'"))
    second = push(request)
    after = manifest_layers(registry, repository, second.digest)
    assert second.digest != first.digest
    new_blobs = [layer for layer in after if layer not in before]
    assert new_blobs == [after[-1]], "a code-only edit must upload only the code layer"
    assert after[:-1] == before[:-1]


def test_push_uses_docker_config_credentials(
    base_image: str, auth_registry: tuple[str, str, str], tmp_path: Path, monkeypatch
) -> None:
    import base64

    import pytest

    from cogkit.errors import CogkitError

    address, user, password = auth_registry
    project = tmp_path / "auth"
    project.mkdir()
    (project / "cog.yaml").write_text("build:\n  python_version: '3.11'\npredict: predict.py:Predictor\n")
    (project / "predict.py").write_text(PREDICT)
    image = f"{address}/cogkit-test/auth-{uuid.uuid4().hex[:8]}"
    request = BuildRequest(
        cwd=project, tag=image, base_image=base_image, ca_cert=CA_BUNDLE, progress="quiet", out=io.StringIO()
    )

    anonymous = tmp_path / "no-creds"
    anonymous.mkdir()
    (anonymous / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(anonymous))
    with pytest.raises(CogkitError) as caught:
        push(request)
    assert "refused" in caught.value.message and "login" in (caught.value.hint or "")

    with_creds = tmp_path / "creds"
    with_creds.mkdir()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    (with_creds / "config.json").write_text(json.dumps({"auths": {address: {"auth": token}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(with_creds))
    pushed = push(request)
    assert pushed.digest and pushed.digest.startswith("sha256:")
