"""Examples that need more than predict: build secrets (private-deps)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from cli_helpers import DOCKER, copy_example


def test_private_deps_secret_not_in_image(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("private-deps", tmp_path)
    marker = f"token-{uuid.uuid4().hex}"  # stands in for a private index credential
    (project / "pip.conf").write_text(f"# {marker}\n[global]\nindex-url = https://pypi.org/simple\n")
    tag = f"cogkit-test-private-deps:{uuid.uuid4().hex[:8]}"
    try:
        missing = cli("build", "-t", tag, cwd=project, env=build_env)
        assert missing.returncode == 1
        assert "secret 'pipconf'" in missing.stderr and "Traceback" not in missing.stderr
        built = cli("build", "-t", tag, "--secret", "id=pipconf,src=pip.conf", cwd=project, env=build_env)
        assert built.returncode == 0, built.stderr[-2000:]
        result = cli("predict", tag, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "six 1.16.0; pip.conf in image: False\n"
        saved = subprocess.run([DOCKER, "save", tag], capture_output=True, check=True).stdout
        assert marker.encode() not in saved, "the pip config leaked into an image layer"
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)
