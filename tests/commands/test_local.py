"""`--local`: predict and train in the current Python environment, with Docker made unusable."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import copy_example

from cogkit.commands.predict import PREDICT_DEPRECATED

# A dead engine address and a docker CLI that always fails: any Docker use would break the run.
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}


def test_predict_local(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli("predict", "--local", "-i", "text=local", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello local\n"


def test_predict_local_streaming_and_json(tmp_path: Path, cli) -> None:
    project = copy_example("streaming", tmp_path)
    result = cli("predict", "--local", "-i", "prompt=a b c", "-i", "delay=0", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["a", " b", " c"]  # not a terminal: Cog's JSON list
    body = '{"prompt": "a b c", "delay": 0}'
    as_json = cli("predict", "--local", "--json", body, "-o", "p.json", cwd=project, env=NO_DOCKER)
    assert as_json.returncode == 0, as_json.stderr
    prediction = json.loads((project / "p.json").read_text())  # the whole prediction, as Cog's --json
    assert prediction["status"] == "succeeded" and prediction["output"] == ["a", " b", " c"]
    failed = cli("predict", "--local", "--json", '{"prompt": "x", "delay": 9}', cwd=project, env=NO_DOCKER)
    assert failed.returncode == 1  # rejected before the model starts, like -i


def test_predict_local_validates_before_starting(tmp_path: Path, cli) -> None:
    project = copy_example("streaming", tmp_path)
    result = cli("predict", "--local", "-i", "prompt=x", "-i", "delay=5", cwd=project, env=NO_DOCKER)
    assert result.returncode == 1
    assert (
        result.stderr == f"{PREDICT_DEPRECATED}\n"
        "error: input 'delay' must be at most 2, got 5\nhint: pass a value between 0 and 2\n"
    )


def test_train_local_writes_weights_and_predict_local_uses_them(tmp_path: Path, cli) -> None:
    project = copy_example("training", tmp_path)
    trained = cli("train", "--local", "-i", "offset=7", cwd=project, env=NO_DOCKER)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((project / "weights").read_text())["offset"] == 7
    predicted = cli("predict", "--local", "-i", "x=1", cwd=project, env=NO_DOCKER)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == "8\n"
    via_env = cli("predict", "--local", "-e", "COG_WEIGHTS=weights", "-i", "x=2", cwd=project, env=NO_DOCKER)
    assert via_env.stdout == "9\n", via_env.stderr


def test_predict_local_file_output(tmp_path: Path, cli) -> None:
    project = tmp_path / "fileout"
    project.mkdir()
    (project / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (project / "predict.py").write_text(
        "import tempfile\n"
        "from cog import BasePredictor, Path\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, text: str) -> Path:\n"
        "        p = Path(tempfile.mkdtemp()) / 'out.txt'\n"
        "        p.write_text(text.upper())\n"
        "        return p\n"
    )
    result = cli("predict", "--local", "-i", "text=shout", "-o", "said.txt", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert (project / "said.txt").read_text() == "SHOUT"


def test_streaming_tokens_are_printed_as_they_are_made(tmp_path: Path) -> None:
    """On a terminal, ConcatenateIterator output reaches stdout token by token, not only at the end."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    project = copy_example("streaming", tmp_path)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "quiet", "predict", "--local",
         "-i", "prompt=one two three four", "-i", "delay=0.4"],
        cwd=project, env={**os.environ, **NO_DOCKER}, stdout=secondary, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    first_at = done_at = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # until the child closes the terminal
            ready, _, _ = select.select([primary], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(primary, 4096)
            except OSError:
                break
            if not data:
                break
            if first_at is None:
                first_at = time.monotonic()
            seen += data
            if b"four" in seen:
                done_at = time.monotonic()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert seen.replace(b"\r\n", b"\n") == b"one two three four\n"
    assert first_at is not None and done_at is not None
    assert done_at - first_at > 0.8, "the first token only arrived with the last one"


def test_predict_local_file_input_is_a_link_in_the_runs_own_dir(tmp_path: Path, cli) -> None:
    """`-i f=@file` under --local: no copy, no data URL; the server accepts that one directory only."""
    project = tmp_path / "filein"
    project.mkdir()
    (project / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (project / "predict.py").write_text(
        "import os\n"
        "from typing import List\n"
        "from cog import BasePredictor, Input, Path\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, f: Path, more: List[Path] = Input(default=None)) -> str:\n"
        "        where = os.path.dirname(os.path.dirname(str(f)))\n"
        "        same = where == os.environ['COGKIT_INPUT_DIR']\n"
        "        names = [os.path.basename(str(p)) for p in [f, *(more or [])]]\n"
        "        return f'{same} {os.path.islink(f)} {f.read_text()} {names}'\n"
    )
    big = tmp_path / "big.bin"
    big.write_text("payload")
    (tmp_path / "b.txt").write_text("b")
    result = cli("predict", "--local", "-i", f"f=@{big}", "-i", "more=@../b.txt", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True payload ['big.bin', 'b.txt']\n"
    assert big.read_text() == "payload", "the user's file is left alone"
    leftovers = [p for p in Path("/tmp").glob("cogkit-run-inputs-*")
                 if p.stat().st_mtime > big.stat().st_mtime]
    assert not leftovers, leftovers
    missing = cli("run", "--local", "-i", "f=@nope.bin", cwd=project, env=NO_DOCKER)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: file not found: nope.bin\n")
    # a path the user typed (no @) is not trusted: the server only takes URLs or its run dir
    typed = cli("predict", "--local", "-i", f"f={big}", cwd=project, env=NO_DOCKER)
    assert typed.returncode == 1
    assert "input 'f'" in typed.stderr and "data:, http: or https:" in typed.stderr, typed.stderr
