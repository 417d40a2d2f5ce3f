"""Cog 0.2x command line semantics (issue 10): `run` predicts, `exec` runs commands, and the flags
Cog accepts (`--use-cog-base-image`, `--use-cuda-base-image`, `--openapi-schema`, `login --token-stdin`,
`debug --image-name`, `--no-color`, `--debug` after the command, `--json -`), on real dockerd."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_helpers import DOCKER, copy_example, name_project_image

from cogkit.commands.predict import PREDICT_DEPRECATED
from cogkit.commands.run import seed_style_run

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
NOTICE = '"cogkit run <command>" is deprecated, use "cogkit exec <command>"'


def test_seed_style_run_is_told_apart_from_a_prediction() -> None:
    not_a_model = lambda name: False  # noqa: E731
    is_model = lambda name: True  # noqa: E731
    # predictions: no positional, -i / --json anywhere, or IMAGE -i k=v (Cog's flags are interspersed)
    predictions = [
        ["run"],
        ["run", "-i", "x=1"],
        ["--debug", "run", "--json", "{}"],
        ["run", "img", "-i", "a=b"],
        ["run", "-o", "out.png", "-i", "x=1"],
        ["run", "text=hi"],
    ]
    for argv in predictions:
        assert seed_style_run(argv, not_a_model) == argv, argv
    assert seed_style_run(["run", "my-model"], is_model) == ["run", "my-model"]
    # the old command: a word that is not a model image, or published ports
    assert seed_style_run(["run", "python"], not_a_model) == ["exec", "python"]
    assert seed_style_run(["--progress", "plain", "run", "-e", "A=1", "python", "-c", "1"], not_a_model) == [
        "--progress", "plain", "exec", "-e", "A=1", "python", "-c", "1"]  # fmt: skip
    assert seed_style_run(["run", "-p", "8888", "jupyter", "lab"], is_model)[0] == "exec"
    assert seed_style_run(["predict", "python"], not_a_model) == ["predict", "python"]
    # a registry ref is an image to pull and predict with, never a command
    assert seed_style_run(["run", "127.0.0.1:5000/me/model"]) == ["run", "127.0.0.1:5000/me/model"]


def test_run_predicts_exec_runs_and_seed_style_run_still_works(
    tmp_path: Path, cli, build_env, docker_engine
) -> None:
    project = copy_example("hello-world", tmp_path)
    name_project_image(project)
    predicted = cli("run", "-i", "text=run", cwd=project, env=build_env)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == "hello run\n" and NOTICE not in predicted.stderr
    executed = cli("exec", "python", "-c", "print(6 * 7)", cwd=project, env=build_env)
    assert executed.returncode == 0, executed.stderr
    assert executed.stdout == "42\n" and NOTICE not in executed.stderr
    seed = cli("run", "python", "-c", "print('seed')", cwd=project, env=build_env)
    assert seed.returncode == 0, seed.stderr
    assert seed.stdout == "seed\n"
    assert seed.stderr.count(NOTICE) == 1


def test_predict_still_predicts_with_cogs_deprecation_line(tmp_path: Path, cli) -> None:
    # Cog 0.20+: `cog predict` is a hidden alias of `cog run` and warns once; `run` does not warn
    project = copy_example("hello-world", tmp_path)
    old = cli("predict", "--local", "-i", "text=old", cwd=project, env=NO_DOCKER)
    assert old.returncode == 0, old.stderr
    assert old.stdout == "hello old\n"
    assert old.stderr.splitlines()[0] == PREDICT_DEPRECATED and old.stderr.count("deprecated") == 1
    assert PREDICT_DEPRECATED.startswith('warning: "cogkit predict" is deprecated, use "cogkit run"')
    new = cli("run", "--local", "-i", "text=new", cwd=project, env=NO_DOCKER)
    assert new.returncode == 0 and new.stdout == "hello new\n" and "deprecated" not in new.stderr
    quiet = cli("predict", "--local", "--progress", "quiet", "-i", "text=q", cwd=project, env=NO_DOCKER)
    assert quiet.stdout == "hello q\n" and quiet.stderr == ""


def test_no_predictor_reference_fails_the_build_before_any_step(
    tmp_path: Path, cli, build_env, docker_engine
) -> None:
    # Cog: static schema generation needs the ref, so build/push/run/serve stop at once
    project = copy_example("hello-world", tmp_path)
    config = project / "cog.yaml"
    config.write_text(config.read_text().replace('predict: "predict.py:Predictor"\n', ""))
    for argv in (["build"], ["push", "127.0.0.1:5000/cog10-nopred"], ["run", "-i", "text=x"], ["serve"]):
        result = cli(*argv, cwd=project, env=build_env)
        assert result.returncode == 1, (argv, result.stderr)
        first = result.stderr.splitlines()[0]
        assert first == "error: cog.yaml: no predict or train reference found in cog.yaml"
        assert result.stderr.splitlines()[1].startswith('hint: add `run: "run.py:Runner"`')
        assert "base image" not in result.stderr and "Traceback" not in result.stderr, argv  # no step ran
    # a command in the environment needs no model
    executed = cli("exec", "python", "-c", "print(6 * 7)", cwd=project, env=build_env)
    assert executed.returncode == 0, executed.stderr
    assert executed.stdout == "42\n"


def test_run_with_a_model_image_predicts(example_image, cli) -> None:
    tag, _ = example_image("hello-world")
    result = cli("run", tag, "-i", "text=img")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello img\n"


def test_json_dash_reads_stdin(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli("predict", "--local", "--json", "-", cwd=project, env=NO_DOCKER, stdin='{"text": "stdin"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == "hello stdin"


def test_debug_and_no_color_after_the_command(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    for args in (["predict", "--local", "--debug", "--no-color"], ["--no-color", "predict", "--local"]):
        result = cli(*args, "-i", "text=x", cwd=project, env={**NO_DOCKER, "NO_COLOR": ""})
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hello x\n" and "\x1b[" not in result.stderr
    # --debug after the command still shows tracebacks only for internal errors
    bad = cli("predict", "--local", "--debug", "-i", "novalue", cwd=project, env=NO_DOCKER)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_base_image_flags_are_accepted_with_cogs_meaning(
    tmp_path: Path, cli, build_env, docker_engine
) -> None:
    project = copy_example("hello-world", tmp_path)
    tag = name_project_image(project)
    built = cli("build", "--use-cog-base-image", "--use-cuda-base-image", "auto", cwd=project, env=build_env)
    assert built.returncode == 0, built.stderr
    notes = [line for line in built.stderr.splitlines() if "--use-cog-base-image" in line]
    assert notes == [
        "warning: --use-cog-base-image: Cog's r8.im/cog-base images are not reachable from here; "
        "continuing without base image support"
    ]
    assert f"Image built as {tag}" in built.stderr.splitlines()
    off = cli("build", "--use-cog-base-image=false", cwd=project, env=build_env)
    assert off.returncode == 0, off.stderr
    assert "--use-cog-base-image" not in off.stderr
    # predict / run / exec / serve take them too (Cog's newPredictionCommand and exec)
    ran = cli("run", "--use-cog-base-image=true", "-i", "text=flags", cwd=project, env=build_env)
    assert ran.returncode == 0 and ran.stdout == "hello flags\n", ran.stderr
    bad = cli("build", "--use-cog-base-image=maybe", cwd=project, env=build_env)
    assert bad.returncode == 2 and "invalid boolean 'maybe'" in bad.stderr


def test_use_cuda_base_image_false_builds_gpu_models_on_python_slim(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    (project / "cog.yaml").write_text(
        'build:\n  gpu: true\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
    )
    cuda = cli("debug", cwd=project, env={"COGKIT_BASE_IMAGE": ""})
    assert cuda.returncode == 0, cuda.stderr
    assert "nvidia/cuda" in cuda.stdout
    slim = cli("debug", "--use-cuda-base-image", "false", cwd=project, env={"COGKIT_BASE_IMAGE": ""})
    assert slim.returncode == 0, slim.stderr
    assert "nvidia/cuda" not in slim.stdout and "python:3.11-slim" in slim.stdout
    named = cli("debug", "--image-name", "my-model", cwd=project, env={"COGKIT_BASE_IMAGE": ""})
    assert named.returncode == 0 and named.stdout == cuda.stdout
    assert named.stderr.count("my-model-weights") == 1


def test_openapi_schema_file_becomes_the_image_schema(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("hello-world", tmp_path)
    tag = name_project_image(project)
    generated = cli("build", cwd=project, env=build_env)
    assert generated.returncode == 0, generated.stderr
    schema = json.loads(_label(tag))
    schema["components"]["schemas"]["Input"]["properties"]["text"]["description"] = "from the file"
    (project / "schema.json").write_text(json.dumps(schema))
    built = cli("build", "--openapi-schema", "schema.json", cwd=project, env=build_env)
    assert built.returncode == 0, built.stderr
    assert "Validating model schema from schema.json..." in built.stderr
    labelled = json.loads(_label(tag))
    assert labelled["components"]["schemas"]["Input"]["properties"]["text"]["description"] == "from the file"
    (project / "broken.json").write_text('{"paths": {}}')
    broken = cli("build", "--openapi-schema", "broken.json", cwd=project, env=build_env)
    assert broken.returncode == 1
    assert (
        broken.stderr.splitlines()[-2]
        == 'error: Model schema is invalid: missing "openapi": "3.x" version field'
    )
    missing = cli("build", "--openapi-schema", "nope.json", cwd=project, env=build_env)
    assert missing.returncode == 1 and "error: Failed to read schema file: nope.json" in missing.stderr


def _label(tag: str) -> str:
    done = subprocess.run(
        [DOCKER, "image", "inspect", "-f", '{{index .Config.Labels "run.cog.openapi_schema"}}', tag],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_login_token_stdin(tmp_path: Path, auth_registry, cli) -> None:
    address, user, password = auth_registry
    env = {"DOCKER_CONFIG": str(tmp_path)}
    result = cli("login", address, "--token-stdin", "-u", user, stdin=f"  {password}\n", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Login succeeded for {address}")
    assert address in json.loads((tmp_path / "config.json").read_text())["auths"]
    wrong = cli(
        "login",
        address,
        "--token-stdin",
        "-u",
        user,
        stdin="not-it\n",
        env={"DOCKER_CONFIG": str(tmp_path / "x")},
    )
    assert wrong.returncode == 1 and not (tmp_path / "x" / "config.json").exists()
    empty = cli("login", address, "--token-stdin", stdin="\n", env=env)
    assert empty.returncode == 1 and empty.stderr.startswith("error: token is empty")
