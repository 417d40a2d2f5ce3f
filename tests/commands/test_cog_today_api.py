"""Cog 0.2x projects through the CLI: `run:` + BaseRunner built on real dockerd and run --local,
and a schema Cog refuses stopping the build before any step."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from cli_helpers import name_project_image

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
RUNNER = """
    from typing import Optional

    from cog import BaseRunner, Input, current_scope


    class Runner(BaseRunner):
        def run(self, either: int | str = Input(default=1), maybe: Optional[int] = Input(description="opt"),
                options: dict = Input(default={})) -> dict:
            current_scope().record_metric("timing.run", 1)
            return {"either": [either, type(either).__name__], "maybe": maybe, "options": options}
"""


def _project(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cog.yaml").write_text('build:\n  python_version: "3.11"\nrun: "run.py:Runner"\n')
    (root / "run.py").write_text(textwrap.dedent(source))
    name_project_image(root)
    return root


def test_run_key_project_predicts_local(tmp_path: Path, cli) -> None:
    project = _project(tmp_path / "runner", RUNNER)
    result = cli("predict", "--local", "--json", '{"either": "x", "options": {"k": 1}}', "-o", "p.json",
                 cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    prediction = json.loads((project / "p.json").read_text())
    assert prediction["output"] == {"either": ["x", "str"], "maybe": None, "options": {"k": 1}}
    assert prediction["metrics"]["timing"] == {"run": 1}


def test_run_key_project_builds_and_predicts_in_docker(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = _project(tmp_path / "runnerimg", RUNNER)
    result = cli("predict", "--json", '{"either": 2}', "-o", "p.json", cwd=project, env=build_env)
    assert result.returncode == 0, result.stderr
    assert json.loads((project / "p.json").read_text())["output"]["either"] == [2, "int"]


def test_a_schema_cog_refuses_fails_the_build_before_any_step(tmp_path: Path, cli, build_env) -> None:
    project = _project(tmp_path / "badschema", """
        from cog import BaseRunner, Input

        class Runner(BaseRunner):
            def run(self, steps: int = Input(default=1, ge=2),
                    name: str = Input(default="", accept="image/*")) -> int:
                return steps
    """)
    result = cli("build", cwd=project, env={**build_env, **NO_DOCKER})  # no engine is ever contacted
    assert result.returncode == 1
    expected = "error: parameter 'steps': default 1 is less than the minimum of 2\nhint: "
    assert result.stderr.startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 2
