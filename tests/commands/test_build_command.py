"""The build/debug/push command lines as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def cogkit(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cogkit", *args] if (ROOT / "cogkit" / "__main__.py").exists()
        else [str(Path(sys.executable).with_name("cogkit")), *args],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=600,
    )  # fmt: skip


def test_build_prints_image_name_and_layer_times(base_image: str, tmp_path: Path) -> None:
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-world", project)
    result = cogkit(
        project, "build", "-t", "cogkit-test/cli-build", "--progress", "quiet",
        COGKIT_BASE_IMAGE=base_image, COGKIT_CA_CERT=CA_BUNDLE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "cogkit-test/cli-build"
    assert "code → /src" in result.stderr and "built cogkit-test/cli-build in" in result.stderr


def test_bad_config_is_one_line_with_position(tmp_path: Path) -> None:
    project = tmp_path / "My Model"
    project.mkdir()
    (project / "cog.yaml").write_text("build:\n  gpu: maybe\n")
    result = cogkit(project, "build")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cog.yaml:2:3: build.gpu must be true or false, got 'maybe'",
        "hint: change build.gpu to true or false",
    ]


def test_debug_formats(tmp_path: Path) -> None:
    project = tmp_path / "dbg"
    shutil.copytree(ROOT / "examples" / "hello-world", project)
    text = cogkit(project, "debug", "--base-image", "cogkit-base:py3.11-bookworm")
    assert text.returncode == 0, text.stderr
    assert "[layer: code → /src]" in text.stdout
    vertices = json.loads(cogkit(project, "debug", "--format", "json").stdout)
    assert vertices[0]["layer"] == "base" and vertices[0]["name"] == "base: python:3.11-slim"
    assert cogkit(project, "debug", "--format", "dot", "--merge").stdout.startswith("digraph")


def test_debug_takes_the_builds_package_sources(tmp_path: Path) -> None:
    """debug shows the graph build would send: --find-links mounts the wheelhouse into the install
    steps, --torch-index changes the torch step, and a bad choice is the build's one-line error."""
    project = tmp_path / "torchy"
    (project / "wheelhouse").mkdir(parents=True)
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  python_requirements: requirements.txt\npredict: "predict.py:P"\n'
    )
    (project / "requirements.txt").write_text("torch==2.13.0\nsix==1.16.0\n")
    (project / "predict.py").write_text("from cog import BasePredictor\nclass P(BasePredictor):\n    pass\n")

    def graph(*args: str) -> list[dict]:
        result = cogkit(project, "debug", "--format", "json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def torch_step(vertices: list[dict]) -> str:
        torch_first = "python packages (torch first)"
        (step,) = [v for v in vertices if v["kind"] == "exec" and v["name"].startswith(torch_first)]
        return step["digest"]

    with_links = graph("--torch-index", "pypi", "--find-links", "wheelhouse")
    plain = graph("--torch-index", "pypi")
    assert any(v["name"] == "local://find-links" for v in with_links)
    assert not any(v["name"] == "local://find-links" for v in plain)
    elsewhere = graph("--torch-index", "http://127.0.0.1:9/whl")
    assert torch_step(elsewhere) != torch_step(plain)
    assert torch_step(graph("--torch-index", "pypi")) == torch_step(plain)  # the same choice, the same step
    bad = cogkit(project, "debug", "--torch-index", "nightly")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: unknown torch index 'nightly'")


def test_missing_secret_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cog.yaml").write_text(
        "build:\n  run:\n    - command: cat /run/secrets/k\n"
        "      mounts: [{type: secret, id: k, target: /run/secrets/k}]\n"
    )
    result = cogkit(tmp_path, "build")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cog.yaml mounts secret 'k' in build.run but it was not supplied")


def test_default_image_name(tmp_path: Path) -> None:
    from cogkit.config import load_config
    from cogkit.images.build import default_image_name

    project = tmp_path / "My Model"
    project.mkdir()
    (project / "cog.yaml").write_text("build: {}\n")
    assert default_image_name(load_config(project / "cog.yaml")) == "cogkit-my-model"
    (project / "cog.yaml").write_text("image: r8.im/me/thing\n")
    assert default_image_name(load_config(project / "cog.yaml")) == "r8.im/me/thing"


def test_a_failing_file_step_exits_1(base_image: str, engine, tmp_path: Path) -> None:  # noqa: ANN001
    """A FileOp failure has no exit code of its own; the build must still exit 1 (it once exited 0).

    The FileOp: with `-f other.yaml` the code copy writes the config as /src/cog.yaml, and here the
    project has a directory of that name (on both engines, whose layouts share no other FileOp that a
    project can break: on dockerd 28.5 the runtime and the code are merged scratch layers)."""
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-world", project)
    (project / "cog.yaml").rename(project / "other.yaml")
    (project / "cog.yaml").mkdir()
    (project / "cog.yaml" / "notes.txt").write_text("not a config\n")
    result = cogkit(
        project, "build", "-f", "other.yaml", "-t", "cogkit-test/cli-file-step", "--progress", "plain",
        COGKIT_BASE_IMAGE=base_image, COGKIT_CA_CERT=CA_BUNDLE,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "error: step 'code → /src' failed" in result.stderr and "is a directory" in result.stderr
    assert "exit code" not in result.stderr.split("error:", 1)[1].splitlines()[0]


def test_a_failed_step_exits_1_whatever_its_own_exit_code(base_image: str, tmp_path: Path) -> None:
    """README: exit status 1 for any reported error; the step's own code is in the message, not the status."""
    (tmp_path / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  run:\n    - exit 3\npredict: "predict.py:Predictor"\n'
    )
    (tmp_path / "predict.py").write_text(
        "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
        "    def predict(self) -> str:\n        return 'x'\n"
    )
    result = cogkit(tmp_path, "build", "--progress", "quiet", COGKIT_BASE_IMAGE=base_image)
    assert "failed with exit code 3" in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 1, result.stderr


def test_the_engine_is_reached_while_the_config_is_checked_and_config_mistakes_still_come_first(
    tmp_path: Path,
) -> None:
    """`cogkit build` connects in a background thread while it loads and plans: an unreachable
    builder is still one line, and a broken cog.yaml is reported before it (as when it connected
    after planning)."""
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-world", project)
    gone = f"docker://{tmp_path}/no-such-docker.sock"
    unreachable = cogkit(project, "build", "--builder", gone, "--progress", "quiet", COGKIT_CA_CERT=CA_BUNDLE)
    assert unreachable.returncode != 0
    first = unreachable.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and "no-such-docker.sock" in first, unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    (project / "cog.yaml").write_text("build:\n  gpu: maybe\n")
    broken = cogkit(project, "build", "--builder", gone, "--progress", "quiet")
    assert broken.returncode != 0
    assert broken.stderr.startswith("error: cog.yaml:2:3: build.gpu"), broken.stderr
