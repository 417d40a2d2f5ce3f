"""`cogkit init` writes a working starter project and never clobbers one."""

from __future__ import annotations

from pathlib import Path

import yaml


def test_init_writes_the_starter_files(tmp_path: Path, cli) -> None:
    result = cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "cog.yaml").read_text())
    assert config["predict"] == "predict.py:Predictor"
    assert config["build"]["python_version"] == "3.11"
    assert config["build"]["python_requirements"] == "requirements.txt"
    compile((tmp_path / "predict.py").read_text(), "predict.py", "exec")
    assert ".git" in (tmp_path / ".dockerignore").read_text().splitlines()
    requirements = (tmp_path / "requirements.txt").read_text().splitlines()
    assert requirements and all(not line.strip() or line.startswith("#") for line in requirements)
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "push.yaml").read_text())
    assert "workflow_dispatch" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = [step.get("run", "") for step in workflow["jobs"]["push"]["steps"]]
    assert any("cogkit login" in run for run in steps) and steps[-1] == 'cogkit push "$IMAGE"'
    planned = cli("debug", cwd=tmp_path)  # the starter project plans a build as written
    assert planned.returncode == 0, planned.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, cli, snapshot) -> None:
    (tmp_path / "predict.py").write_text("# mine\n")
    result = cli("init", cwd=tmp_path)
    assert result.returncode == 1
    snapshot("init_exists", result.stderr, {str(tmp_path.resolve()): "<dir>"})
    assert (tmp_path / "predict.py").read_text() == "# mine\n"
    assert not (tmp_path / "cog.yaml").exists()
    forced = cli("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert "BasePredictor" in (tmp_path / "predict.py").read_text()
