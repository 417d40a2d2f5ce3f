"""`cogkit push` to the local registries, and `cogkit login` credentials used by that push."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

from cli_helpers import DOCKER, copy_example


def _tags(registry: str, repo: str, auth: tuple[str, str] | None = None) -> list[str]:
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/tags/list")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()).get("tags") or []


def test_push_then_predict_the_pulled_image(tmp_path: Path, cli, build_env, registry, engine) -> None:
    project = copy_example("hello-world", tmp_path)
    tag = uuid.uuid4().hex[:10]
    image = f"{registry}/cogkit-test/hello-world:{tag}"
    pushed = cli("push", image, cwd=project, env=build_env)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert tag in _tags(registry, "cogkit-test/hello-world")
    if engine.name == "dockerd-20.10":
        # dockerd pushes (BuildKit v0.8 has no image exporter): cogkit's own transfer summary
        summary = [line for line in pushed.stderr.splitlines() if line.startswith(f"pushing {image}: ")]
        last = summary[-1] if summary else ""
        assert " layers" in last and "s" in last.rsplit(" in ", 1)[-1], pushed.stderr
    else:
        # dockerd 28.5: BuildKit's image exporter pushes from the build, shown as its own step
        assert "exporting to image" in pushed.stderr, pushed.stderr
    # Drop the local copy: predict pulls it back from the registry before running it.
    subprocess.run([DOCKER, "rmi", "-f", image], capture_output=True, check=True)
    result = cli("predict", image, "-i", "text=registry", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello registry\n"
    pulled = [line for line in result.stderr.splitlines() if line.startswith(f"pulling {image}: ")]
    assert pulled and pulled[-1].split(": ", 1)[1].split(" layers")[0].count("/") == 1, result.stderr
    subprocess.run([DOCKER, "rmi", "-f", image], capture_output=True)


def _image_labels(registry: str, repo: str, reference: str) -> dict[str, str]:
    accept = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
    base = f"http://{registry}/v2/{repo}"
    request = urllib.request.Request(f"{base}/manifests/{reference}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.loads(response.read())
    with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}", timeout=10) as response:
        return json.loads(response.read())["config"]["Labels"]


def test_every_push_labels_the_image_with_a_fresh_push_id(
    tmp_path: Path, cli, build_env, registry, engine
) -> None:
    # Cog: every push adds run.cog.push_id, a UUIDv7; a plain build has none
    project = copy_example("hello-world", tmp_path)
    tag = uuid.uuid4().hex[:10]
    image = f"{registry}/cogkit-test/push-id:{tag}"
    try:
        ids = []
        for _ in range(2):
            pushed = cli("push", image, cwd=project, env=build_env)
            assert pushed.returncode == 0, pushed.stderr[-2000:]
            push_id = _image_labels(registry, "cogkit-test/push-id", tag)["run.cog.push_id"]
            parsed = uuid.UUID(push_id)
            assert parsed.version == 7 and str(parsed) == push_id
            ids.append(push_id)
        assert ids[0] != ids[1], "each push gets its own id"
        built = cli("build", "-t", f"cogkit-test-push-id:{tag}", cwd=project, env=build_env)
        assert built.returncode == 0, built.stderr
        labels = json.loads(engine.docker("image", "inspect", "-f", "{{json .Config.Labels}}",
                                          f"cogkit-test-push-id:{tag}").stdout)
        assert "run.cog.push_id" not in labels and "run.cog.config" in labels
    finally:
        engine.docker("rmi", "-f", image, f"cogkit-test-push-id:{tag}")


def test_login_then_push_to_the_authenticated_registry(
    tmp_path: Path, cli, build_env, auth_registry, docker_engine
) -> None:
    address, user, password = auth_registry
    docker_config = tmp_path / "docker-config"
    env = {**build_env, "DOCKER_CONFIG": str(docker_config)}
    project = copy_example("hello-world", tmp_path)
    tag = uuid.uuid4().hex[:10]
    image = f"{address}/cogkit-test/private-hello:{tag}"
    denied = cli("push", image, cwd=project, env=env)
    assert denied.returncode != 0, "push without login must fail against the htpasswd registry"
    assert "Traceback" not in denied.stderr
    logged_in = cli("login", address, "-u", user, "--password-stdin", stdin=password, env=env)
    assert logged_in.returncode == 0, logged_in.stderr
    pushed = cli("push", image, cwd=project, env=env)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert tag in _tags(address, "cogkit-test/private-hello", (user, password))
    subprocess.run([DOCKER, "rmi", "-f", image], capture_output=True, env={**os.environ, **env})
