"""`cogkit train`: /trainings in a container (and --local), weights written, then used by predict."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import copy_example


def test_train_writes_weights_then_predict_loads_them(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("training", tmp_path)
    trained = cli("train", "-i", "offset=10", "-i", "epochs=2", cwd=project, env=build_env)
    assert trained.returncode == 0, trained.stderr
    assert "Written output to: weights" in trained.stderr
    assert json.loads((project / "weights").read_text()) == {"offset": 10, "epochs": 2}
    # Without IMAGE the project is mounted at /src, so setup() finds ./weights.
    predicted = cli("predict", "-i", "x=5", cwd=project, env=build_env)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == "15\n"


def test_train_to_a_named_file_and_cog_weights(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("training", tmp_path)
    trained = cli("train", "-i", "offset=3", "-o", "trained.json", cwd=project, env=build_env)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((project / "trained.json").read_text())["offset"] == 3
    assert not (project / "weights").exists()
    predicted = cli("predict", "-e", "COG_WEIGHTS=/src/trained.json", "-i", "x=1", cwd=project, env=build_env)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == "4\n"


def test_train_rejects_unknown_training_inputs(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("training", tmp_path)
    result = cli("train", "-i", "ofset=1", cwd=project, env=build_env)
    assert result.returncode == 1
    assert "error: unknown input \"ofset\"; valid inputs are: offset, epochs" in result.stderr
