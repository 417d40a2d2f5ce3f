"""Every error a user is likely to hit: one line, a hint, no traceback (snapshots committed).

The container-free ones run everywhere; the ones that need dockerd take the `docker_engine`
fixture (a failure in CI when it is missing).
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from cogkit.commands.predict import PREDICT_DEPRECATED

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello-world"


def _project(tmp_path: Path, predict_py: str) -> Path:
    (tmp_path / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text(textwrap.dedent(predict_py))
    return tmp_path


def test_no_cog_yaml(tmp_path: Path, cli, snapshot) -> None:
    result = cli("predict", "--local", "-i", "text=x", cwd=tmp_path)
    assert result.returncode == 1
    snapshot("no_cog_yaml", result.stderr, {str(tmp_path.resolve()): "<dir>"})


def test_input_without_equals(cli, snapshot) -> None:
    result = cli("predict", "--local", "-i", "text", cwd=HELLO)
    assert result.returncode == 1
    snapshot("input_without_equals", result.stderr)


def test_unknown_input_lists_valid_names(tmp_path: Path, cli, snapshot) -> None:
    project = _project(
        tmp_path,
        """
        from cog import BasePredictor, Input

        class Predictor(BasePredictor):
            def predict(self, prompt: str, steps: int = 10, scale: float = 1.5) -> str:
                return prompt
    """,
    )
    result = cli("predict", "--local", "-i", "prompt=a", "-i", "step=3", cwd=project)
    assert result.returncode == 1
    snapshot("unknown_input", result.stderr)


def test_bad_value_for_typed_input(tmp_path: Path, cli, snapshot) -> None:
    project = _project(
        tmp_path,
        """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def predict(self, steps: int) -> int:
                return steps
    """,
    )
    result = cli("predict", "--local", "-i", "steps=many", cwd=project)
    assert result.returncode == 1
    snapshot("bad_integer_input", result.stderr)


def test_setup_failed_shows_its_logs(tmp_path: Path, cli, snapshot) -> None:
    project = _project(
        tmp_path,
        """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def setup(self) -> None:
                print("loading weights from /nowhere")
                raise RuntimeError("weights file missing")

            def predict(self, text: str) -> str:
                return text
    """,
    )
    result = cli("predict", "--local", "-i", "text=x", cwd=project)
    assert result.returncode == 1
    error = result.stderr[result.stderr.index("error:") :]
    assert error.startswith("error: model setup failed\nhint: fix setup() in your predictor and retry")
    assert "loading weights from /nowhere" in result.stderr
    assert "RuntimeError: weights file missing" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr.split("--- logs")[0]
    # Snapshot the message, the hint and the ends of the log tail (the middle has runtime line numbers).
    lines = error.rstrip("\n").splitlines()
    snapshot("setup_failed", "\n".join([*lines[:4], "...", lines[-1]]) + "\n")


def test_setup_timed_out(tmp_path: Path, cli, snapshot) -> None:
    project = _project(
        tmp_path,
        """
        import time
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def setup(self) -> None:
                time.sleep(60)

            def predict(self, text: str) -> str:
                return text
    """,
    )
    result = cli("predict", "--local", "--setup-timeout", "1", "-i", "text=x", cwd=project, timeout=30)
    assert result.returncode == 1
    snapshot("setup_timed_out", result.stderr)


def test_prediction_error_prints_error_and_log_tail(tmp_path: Path, cli, snapshot) -> None:
    project = _project(
        tmp_path,
        """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def predict(self, text: str) -> str:
                print("about to fail on", text)
                raise ValueError("cannot handle " + text)
    """,
    )
    result = cli("predict", "--local", "-i", "text=this", cwd=project)
    assert result.returncode == 1
    assert result.stderr[result.stderr.index("error:") :].startswith(
        "error: prediction failed: cannot handle this\n"
    )
    assert "about to fail on this" in result.stderr
    assert result.stdout == ""


def test_port_in_use(cli, snapshot) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--local", "-p", str(port), cwd=HELLO, timeout=60)
    assert result.returncode == 1
    snapshot(
        "port_in_use",
        result.stderr.split("\n", 2)[0] + "\n" + result.stderr.split("\n", 2)[1] + "\n",
        {str(port): "<port>", str(port + 1): "<port+1>"},
    )


def test_no_engine_reachable(cli, snapshot) -> None:
    result = cli(
        "predict", "hello-world", "-i", "text=x", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    )
    assert result.returncode == 1
    snapshot("no_engine", result.stderr)


def test_image_not_found(docker_engine, cli, snapshot) -> None:
    result = cli("predict", "cogkit-test-no-such-image:latest", "-i", "text=x")
    assert result.returncode == 1
    snapshot("image_not_found", result.stderr)


def test_image_name_that_looks_like_an_input(cli, snapshot) -> None:
    result = cli("predict", "text=hello")
    assert result.returncode == 1
    snapshot("image_looks_like_input", result.stderr)


@pytest.mark.parametrize("command", ["predict", "serve", "run", "exec"])
def test_every_command_reports_missing_cog_yaml_the_same_way(tmp_path: Path, cli, command: str) -> None:
    args = {
        "predict": ["predict", "-i", "a=b"],
        "serve": ["serve"],
        "run": ["run", "-i", "a=b"],
        "exec": ["exec", "python"],
    }[command]
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    notice = f"{PREDICT_DEPRECATED}\n" if command == "predict" else ""  # Cog's line for the old name
    assert result.stderr.startswith(f"{notice}error: cog.yaml does not exist in")
    assert "Traceback" not in result.stderr


def test_no_engine_reachable_when_building_the_project(cli, snapshot) -> None:
    result = cli("predict", "-i", "text=x", cwd=HELLO, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    snapshot("no_engine_build", result.stderr)


def test_image_that_is_not_a_model(base_image, cli, snapshot) -> None:
    result = cli("predict", base_image, "-i", "text=x")
    assert result.returncode == 1
    snapshot("not_a_model_image", result.stderr, {base_image: "<base-image>"})
