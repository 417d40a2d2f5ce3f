"""Rough edges a new user hit, each fixed and kept fixed (real CLI in a subprocess, --local, no Docker)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from cli_helpers import copy_example

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def _project(root: Path, predict_py: str, python: str = RUNNING, files: dict[str, str] | None = None) -> Path:
    project = root / "model"
    project.mkdir(parents=True)
    config = f'build:\n  python_version: "{python}"\npredict: "predict.py:Predictor"\n'
    (project / "cog.yaml").write_text(config)
    (project / "predict.py").write_text(predict_py)
    for name, text in (files or {}).items():
        (project / name).write_text(text)
    return project


FILE_OUT = (
    "import tempfile\n"
    "from cog import BasePredictor, Path\n\n"
    "class Predictor(BasePredictor):\n"
    "    def predict(self, text: str) -> Path:\n"
    "        p = Path(tempfile.mkdtemp()) / 'out.txt'\n"
    "        p.write_text(text.upper())\n"
    "        return p\n"
)


def test_dash_o_an_existing_directory_writes_into_it(tmp_path: Path, cli) -> None:
    project = _project(tmp_path, FILE_OUT)
    (project / "results").mkdir()
    result = cli("predict", "--local", "-i", "text=shout", "-o", "results", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert (project / "results" / "output.txt").read_text() == "SHOUT"
    assert "Written output to: results/output.txt" in result.stderr
    hello = copy_example("hello-world", tmp_path)
    (hello / "out").mkdir()
    text = cli("predict", "--local", "-i", "text=dir", "-o", "out", cwd=hello, env=NO_DOCKER)
    assert text.returncode == 0, text.stderr
    assert (hello / "out" / "output.txt").read_text() == "hello dir\n"


def test_negative_setup_timeout_is_a_usage_error(cli) -> None:
    result = cli("predict", "--setup-timeout", "-5", "-i", "x=1")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "cogkit predict: error: argument --setup-timeout: must be a positive number of seconds, "
        "got '-5' (for example: --setup-timeout 600)"
    )


def test_import_error_names_the_import_and_shows_only_user_frames(tmp_path: Path, cli) -> None:
    project = _project(
        tmp_path,
        "import helper\nfrom cog import BasePredictor\n\n"
        "class Predictor(BasePredictor):\n    def predict(self, x: int) -> int:\n        return x\n",
        files={"helper.py": "import package_that_is_not_installed\n",
               "requirements.txt": "package_that_is_not_installed\n"},
    )
    config = yaml.safe_load((project / "cog.yaml").read_text())
    config["build"]["python_requirements"] = "requirements.txt"
    (project / "cog.yaml").write_text(yaml.safe_dump(config))
    result = cli("predict", "--local", "-i", "x=1", cwd=project, env=NO_DOCKER)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    error = next(line for line in lines if line.startswith("error:"))
    assert error == ("error: importing predict.py failed: ModuleNotFoundError: "
                     "No module named 'package_that_is_not_installed'")
    hint = next(line for line in lines if line.startswith("hint:"))
    assert hint == (f"hint: --local imports the model with this Python: install its requirements here "
                    f"({sys.executable} -m pip install -r requirements.txt)")
    frames = [line.split('"')[1] for line in lines if line.lstrip().startswith('File "')]
    assert [Path(f).resolve() for f in frames] == [(project / "predict.py").resolve(),
                                                    (project / "helper.py").resolve()]
    assert "cogkit/runtime" not in result.stderr and "importlib" not in result.stderr
    assert "fix setup()" not in result.stderr


def test_local_with_another_python_version_warns_once(tmp_path: Path, cli) -> None:
    other = "3.10" if RUNNING != "3.10" else "3.12"
    project = _project(
        tmp_path,
        "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
        "    def predict(self, x: int) -> int:\n        return x + 1\n",
        python=other,
    )
    result = cli("run", "--local", "-i", "x=1", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2\n"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: cog.yaml asks for Python {other}; --local runs with this Python {RUNNING} "
                        f"({sys.executable})"]
    same = _project(tmp_path / "same", "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
                    "    def predict(self, x: int) -> int:\n        return x\n")
    quiet = cli("run", "--local", "-i", "x=1", cwd=same, env=NO_DOCKER)
    assert quiet.returncode == 0 and "warning:" not in quiet.stderr


def test_failed_url_download_does_not_promise_logs(tmp_path: Path, cli) -> None:
    project = _project(
        tmp_path,
        "from cog import BasePredictor, Path\n\nclass Predictor(BasePredictor):\n"
        "    def predict(self, doc: Path) -> str:\n        return doc.read_text()\n",
    )
    result = cli("predict", "--local", "-i", "doc=http://127.0.0.1:9/missing.txt", cwd=project, env=NO_DOCKER)
    assert result.returncode == 1
    assert "error: prediction failed: could not download http://127.0.0.1:9/missing.txt" in result.stderr
    assert "logs are below" not in result.stderr and "--- logs" not in result.stderr
    assert "hint: the model server could not fetch that URL" in result.stderr


def test_at_file_for_a_text_input(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    missing = cli("run", "--local", "-i", "text=@missing.txt", cwd=project, env=NO_DOCKER)
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: input 'text': file not found: missing.txt\n"
        "hint: a value starting with @ names a file (relative to the current directory)\n"
    )
    (project / "name.txt").write_text("from a file")
    found = cli("predict", "--local", "-i", "text=@name.txt", cwd=project, env=NO_DOCKER)
    assert found.returncode == 0, found.stderr
    assert found.stdout == "hello from a file\n"


def test_help_texts(cli) -> None:
    debug = cli("debug", "--help")
    assert "Print the layer plan and the LLB graph" in debug.stdout
    worker = cli("queue-worker", "--help")
    options = " ".join(worker.stdout.split())
    assert "--x-mode {predict,train}, --mode {predict,train} run the model's predict: entry" in options
