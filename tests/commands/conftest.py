"""Fixtures for CLI tests (helpers live in cli_helpers.py so test modules can import them)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import CA_BUNDLE, DOCKER, assert_snapshot, cogkit, copy_example, remove_run_images


@pytest.fixture
def cli():
    """`cli("predict", "-i", ...)` runs the CLI in a subprocess and returns a Result."""
    return cogkit


@pytest.fixture
def snapshot():
    """`snapshot(name, text, replacements)` compares against tests/commands/snapshots/<name>.txt."""
    return assert_snapshot


@pytest.fixture(scope="session")
def build_env(base_image: str, engine: Any) -> dict[str, str]:  # engine: tests/conftest.py Engine
    """Environment that lets builds on this machine start offline and reach PyPI from build steps,
    on the engine (session fixtures build before a test's DOCKER_HOST is set)."""
    return {"COGKIT_BASE_IMAGE": base_image, "COGKIT_CA_CERT": CA_BUNDLE, **engine.env}


@pytest.fixture(scope="session")
def example_image(
    build_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., tuple[str, Path]]]:
    """`example_image("hello-world")` → (image tag, project copy): built once per session via the CLI."""
    built: dict[str, tuple[str, Path]] = {}
    run_id = uuid.uuid4().hex[:8]

    def get(name: str, *build_args: str, prepare: Callable[[Path], None] | None = None) -> tuple[str, Path]:
        key = name + " ".join(build_args)
        if key not in built:
            project = copy_example(name, tmp_path_factory.mktemp("example"))
            if prepare is not None:
                prepare(project)
            tag = f"cogkit-test-{name}:{run_id}"
            result = cogkit("build", "-t", tag, *build_args, cwd=project, env=build_env)
            assert result.returncode == 0, f"build of {name} failed:\n{result.stderr[-3000:]}"
            built[key] = (tag, project)
        return built[key]

    yield get
    for tag, _ in built.values():
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True, env={**os.environ, **build_env})


@pytest.fixture(scope="session", autouse=True)
def _remove_images_built_by_this_run() -> Iterator[None]:
    yield
    remove_run_images()
