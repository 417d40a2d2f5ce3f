"""Helpers for CLI tests: run the real `cogkit` CLI in a subprocess; compare errors with snapshots.

Snapshots live in tests/commands/snapshots/<name>.txt. Set UPDATE_SNAPSHOTS=1 to (re)write them;
otherwise a missing or different snapshot fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DOCKER = "/usr/bin/docker"
# Every engine the tests may build on (tests/conftest.py ENGINES); a run's images are removed from each.
ENGINE_HOSTS = (
    "unix:///var/run/docker.sock",
    "unix://" + os.environ.get("COGKIT_ENGINE_SOCK", "/var/run/cogkit-docker28.sock"),
)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cogkit(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> Result:
    full_env = {**os.environ, "NO_COLOR": "1", "COGKIT_PROGRESS": "plain", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "cogkit", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_snapshot(name: str, text: str, replacements: dict[str, str] | None = None) -> None:
    """Compare `text` (with run-specific values such as temp paths replaced) to snapshots/<name>.txt."""
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    text = re.sub(r"cogkit-[0-9a-f]{12}", "cogkit-<id>", text)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path}; run with UPDATE_SNAPSHOTS=1 to create it"
    assert text == path.read_text(), f"output differs from snapshot {path.name}:\n{text}"
    assert "Traceback" not in text


# Images built from project directories are named cogkit-test-<name>:<RUN_ID>, so the session can remove
# exactly its own images afterwards (see remove_run_images).
RUN_ID = f"run{os.getpid()}"


def test_image_name(name: str) -> str:
    return f"cogkit-test-{re.sub(r'[^a-z0-9-]+', '-', name.lower())}:{RUN_ID}"


def name_project_image(project: Path) -> str:
    """Give the project's builds a per-run name (`image:` in cog.yaml) and return it."""
    config = project / "cog.yaml"
    text = config.read_text()
    tag = test_image_name(project.name)
    if not re.search(r"^image:", text, re.M):
        config.write_text(text.rstrip("\n") + f"\nimage: {tag}\n")
        return tag
    return re.search(r"^image:\s*(\S+)", text, re.M).group(1)  # type: ignore[union-attr]


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(
        EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", "output.*", "weights")
    )
    name_project_image(target)
    return target


def remove_run_images() -> None:
    for host in ENGINE_HOSTS:
        listed = subprocess.run(
            [DOCKER, "-H", host, "images", "--format", "{{.Repository}}:{{.Tag}}",
             "--filter", "reference=cogkit-test-*"],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        mine = [ref for ref in listed if ref.endswith(f":{RUN_ID}")]
        if mine:
            subprocess.run([DOCKER, "-H", host, "rmi", "-f", *mine], capture_output=True)


def containers_labelled(purpose: str | None = None) -> list[str]:
    """IDs of containers (running or not) that cogkit started, optionally for one command."""
    label = "run.cogkit.cli" + (f"={purpose}" if purpose else "")
    out = subprocess.run([DOCKER, "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True)
    return out.stdout.split()
