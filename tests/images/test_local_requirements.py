"""requirements.txt lines naming the project's own packages, built on each engine and imported by the
model: a wheel (`./dist/pkg.whl`, as Cog 0.2x accepts), a package directory (`./pkg`) and an
editable one (`-e ./pkg`, installed as a regular package), a `--find-links ./wheels` directory of the
project, and the --find-links wheelhouse flag. A bad path fails in one line before any step runs."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from test_build import docker, predict_over_http

from cogkit.images.build import BuildRequest, build

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PREDICT = """from cog import BasePredictor

import dirpkg
import editpkg
import linked
import tiny
import wheelhoused


class Predictor(BasePredictor):
    def predict(self) -> str:
        return " ".join(m.WHO for m in (tiny, dirpkg, editpkg, linked, wheelhoused))
"""


def make_wheel(directory: Path, name: str, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel with module `name` holding WHO = name (RECORD with real hashes)."""
    files = {
        f"{name}.py": f"WHO = {name!r}\n".encode(),
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: cogkit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = f"{name}-{version}.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{record},,")
    files[record] = ("\n".join(lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def make_package_dir(directory: Path, name: str) -> None:
    """A source package built by setuptools in the install step (its backend comes from PyPI)."""
    (directory / name).mkdir(parents=True)
    (directory / name / "__init__.py").write_text(f"WHO = {name!r}\n")
    (directory / "pyproject.toml").write_text(
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
        f"[project]\nname = '{name}'\nversion = '1.0'\n"
        f"[tool.setuptools]\npackages = ['{name}']\n"
    )


def write_project(root: Path) -> Path:
    root.mkdir(parents=True)
    make_wheel(root / "dist", "tiny")
    make_package_dir(root / "packages" / "dirpkg", "dirpkg")
    make_package_dir(root / "editpkg", "editpkg")
    make_wheel(root / "wheels", "linked")
    (root / "requirements.txt").write_text(
        "--find-links ./wheels\n"
        "./dist/tiny-1.0-py3-none-any.whl\n"
        "./packages/dirpkg\n"
        "-e ./editpkg\n"
        "linked==1.0\n"
        "wheelhoused==1.0\n"
    )
    (root / "cog.yaml").write_text(
        "build:\n  python_version: '3.11'\n  python_requirements: requirements.txt\n"
        "predict: predict.py:Predictor\n"
    )
    (root / "predict.py").write_text(PREDICT)
    return root


def test_local_wheels_and_package_dirs_are_installed_and_imported(
    engine,
    base_image: str,
    docker_cli: str,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    project = write_project(tmp_path / "proj")
    wheelhouse = tmp_path / "wheelhouse"  # outside the project: only the flag brings it in
    make_wheel(wheelhouse, "wheelhoused")
    out = io.StringIO()
    tag = f"t13build-localreqs-{engine.name}:{uuid.uuid4().hex[:8]}"
    request = BuildRequest(
        cwd=project, tag=tag, base_image=base_image, ca_cert=CA_BUNDLE, progress="plain", out=out,
        find_links=str(wheelhouse),
    )  # fmt: skip
    try:
        outcome = build(request)
        log = out.getvalue()
        assert "warning: requirements.txt: -e ./editpkg is installed as a regular package" in log
        assert f"find-links {wheelhouse}: 1 files (wheelhoused-1.0-py3-none-any.whl)" in log
        assert (
            "project packages from requirements: "
            "wheels, dist/tiny-1.0-py3-none-any.whl, packages/dirpkg, editpkg" in log
        )
        answer = predict_over_http(docker_cli, outcome.image, {"input": {}})
        assert answer["status"] == "succeeded", answer
        assert answer["output"] == "tiny dirpkg editpkg linked wheelhoused"
        # A new wheel in the wheelhouse (same names otherwise) re-runs the install: its content is the key.
        make_wheel(wheelhouse, "wheelhoused", "1.0")
        (wheelhouse / "extra-2.0-py3-none-any.whl").write_bytes(
            make_wheel(tmp_path / "spare", "extra", "2.0").read_bytes()
        )
        again = build(BuildRequest(**{**request.__dict__, "progress": "quiet", "out": io.StringIO()}))
        install = next(t for t in again.layer_times if t.name.startswith("python packages"))
        assert not install.cached
        unchanged = build(BuildRequest(**{**request.__dict__, "progress": "quiet", "out": io.StringIO()}))
        install = next(t for t in unchanged.layer_times if t.name.startswith("python packages"))
        assert install.cached
    finally:
        docker(docker_cli, "rmi", "-f", tag, check=False)


def test_a_missing_local_wheel_is_one_line_before_any_step(tmp_path: Path) -> None:
    (tmp_path / "cog.yaml").write_text("build:\n  python_requirements: requirements.txt\n")
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n./dist/gone-1.0-py3-none-any.whl\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}  # no step may run: no engine needed
    result = subprocess.run(
        [sys.executable, "-m", "cogkit", "build"], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: cog.yaml:2:3: requirements.txt: ./dist/gone-1.0-py3-none-any.whl does not exist",
        "hint: paths in a requirements file are relative to the directory holding cog.yaml",
    ]


def test_a_missing_wheelhouse_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cog.yaml").write_text("build:\n  python_packages: [six==1.16.0]\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", "COGKIT_FIND_LINKS": str(tmp_path / "no")}
    result = subprocess.run(
        [sys.executable, "-m", "cogkit", "build"], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        f"error: --find-links {tmp_path / 'no'} is not a directory",
        "hint: pass a directory of wheels (--find-links DIR or COGKIT_FIND_LINKS)",
    ]


@pytest.mark.parametrize("value", ["conda"])
def test_a_bad_torch_index_is_one_line(tmp_path: Path, value: str) -> None:
    (tmp_path / "cog.yaml").write_text("build:\n  python_packages: [torch==2.13.0]\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "cogkit", "build", "--torch-index", value], cwd=tmp_path,
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        f"error: unknown torch index '{value}'",
        "hint: use --torch-index auto|pytorch|pypi or a URL of a PyTorch-style index (or COGKIT_TORCH_INDEX)",
    ]
