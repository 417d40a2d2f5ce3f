"""`cogkit predict` end to end: real builds, real containers, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from cli_helpers import containers_labelled, copy_example, name_project_image

from cogkit.commands.predict import PREDICT_DEPRECATED


def _png(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> None:
    """A valid RGB PNG written with the stdlib (the test env has no Pillow)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    )


def _png_header(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type); colour type 0 = grayscale, 2 = RGB."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def _project(root: Path, predict_py: str, extra_yaml: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cog.yaml").write_text(
        f'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n{extra_yaml}'
    )
    (root / "predict.py").write_text(textwrap.dedent(predict_py))
    name_project_image(root)
    return root


def test_init_build_predict(tmp_path: Path, cli, build_env, docker_engine) -> None:
    """The files `cogkit init` writes build and answer a prediction unchanged."""
    assert cli("init", cwd=tmp_path).returncode == 0
    tag = f"cogkit-test-init:{os.getpid()}"
    try:
        built = cli("build", "-t", tag, cwd=tmp_path, env=build_env)
        assert built.returncode == 0, built.stderr[-2000:]
        _png(tmp_path / "in.png", 5, 4, (10, 20, 30))
        result = cli("predict", tag, "-i", "image=@in.png", "-i", "scale=2", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Written output to: output.png" in result.stderr
        assert (tmp_path / "output.png").read_bytes() == (tmp_path / "in.png").read_bytes()
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True)


@pytest.mark.parametrize("example", ["hello-world", "image-io"])
def test_init_then_example_code_build_predict(
    example: str, tmp_path: Path, cli, build_env, docker_engine
) -> None:
    """The path a new user takes: `cogkit init`, write the model (the example's files), build, predict."""
    assert cli("init", cwd=tmp_path).returncode == 0
    source = copy_example(example, tmp_path / "src")
    for item in source.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    tag = f"cogkit-test-init-{example}:{os.getpid()}"
    try:
        built = cli("build", "-t", tag, cwd=tmp_path, env=build_env)
        assert built.returncode == 0, built.stderr[-2000:]
        if example == "hello-world":
            result = cli("predict", tag, "-i", "text=init", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert result.stdout == "hello init\n"
        else:
            _png(tmp_path / "in.png", 3, 3, (1, 2, 3))
            result = cli("predict", tag, "-i", "image=@in.png", "-i", "scale=3", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert _png_header(tmp_path / "output.png") == (9, 9, 0)
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True)


def test_hello_world_build_then_predict(example_image, cli, tmp_path: Path) -> None:
    tag, _ = example_image("hello-world")
    result = cli("predict", tag, "-i", "text=world", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello world\n"
    assert containers_labelled("predict") == [], "predict left a container behind"


def test_predict_without_image_builds_the_project(tmp_path: Path, cli, build_env, docker_engine) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli("predict", "-i", "text=from source", cwd=project, env=build_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from source\n"


def test_image_io_file_in_and_out(example_image, cli, tmp_path: Path) -> None:
    tag, _ = example_image("image-io")
    _png(tmp_path / "in.png", 8, 6, (200, 100, 50))
    result = cli("predict", tag, "-i", "image=@in.png", "-i", "scale=2", "-i", "grayscale=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert _png_header(tmp_path / "output.png") == (16, 12, 0)  # scaled ×2 and grayscale, by Pillow
    named = cli(
        "predict", tag, "-i", "image=@in.png", "-i", "grayscale=false", "-o", "out/rgb.png", cwd=tmp_path
    )
    assert named.returncode == 0, named.stderr
    assert _png_header(tmp_path / "out" / "rgb.png") == (8, 6, 2)


def test_bad_input_is_rejected_before_the_container_starts(example_image, cli, tmp_path: Path) -> None:
    tag, _ = example_image("image-io")
    _png(tmp_path / "in.png", 2, 2, (0, 0, 0))
    started = time.monotonic()
    result = cli("predict", tag, "-i", "image=@in.png", "-i", "scale=9", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr == (
        f"{PREDICT_DEPRECATED}\n"
        "error: input 'scale' must be at most 4.0, got 9\nhint: pass a value between 0.1 and 4.0\n"
    )
    assert "Starting" not in result.stderr and elapsed < 5


TYPES_PREDICTOR = """
    import json
    from typing import Literal

    from cog import BasePredictor, Input, Path


    class Predictor(BasePredictor):
        def predict(
            self,
            count: int,
            ratio: float,
            flag: bool,
            names: list[str],
            sizes: list[int],
            mode: str = Input(default="fast", choices=["fast", "slow"]),
            doc: Path = Input(default=None),
        ) -> str:
            got = {"count": count, "ratio": ratio, "flag": flag, "names": names, "sizes": sizes, "mode": mode,
                   "doc": doc.read_text() if doc else None}
            return json.dumps({k: [type(v).__name__, v] for k, v in got.items()})
"""


@pytest.fixture(scope="module")
def types_image(build_env, tmp_path_factory, docker_engine):
    from cli_helpers import cogkit

    project = _project(tmp_path_factory.mktemp("types"), TYPES_PREDICTOR)
    tag = f"cogkit-test-types:{os.getpid()}"
    built = cogkit("build", "-t", tag, cwd=project, env=build_env)
    assert built.returncode == 0, built.stderr[-2000:]
    yield tag
    subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True)


def test_inputs_are_coerced_by_the_schema(types_image: str, cli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("file contents")
    result = cli(
        "predict", types_image,
        "-i", "count=3", "-i", "ratio=0.5", "-i", "flag=false",
        "-i", "names=a", "-i", "names=b c",   # repeated -i builds a list
        "-i", "sizes=[4, 5]",                 # or a JSON array
        "-i", "mode=slow", "-i", "doc=@notes.txt",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "count": ["int", 3],
        "ratio": ["float", 0.5],
        "flag": ["bool", False],
        "names": ["list", ["a", "b c"]],
        "sizes": ["list", [4, 5]],
        "mode": ["str", "slow"],
        "doc": ["str", "file contents"],
    }


def test_json_inputs_from_stdin(types_image: str, cli, tmp_path: Path) -> None:
    body = {"count": 1, "ratio": 2, "flag": True, "names": ["x"], "sizes": []}
    result = cli("predict", types_image, "--json", "@-", stdin=json.dumps(body), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)  # --json prints the whole prediction, as Cog does
    assert prediction["status"] == "succeeded"
    assert json.loads(prediction["output"])["count"] == ["int", 1]


def test_unknown_input_lists_valid_names_from_the_image_label(types_image: str, cli, snapshot) -> None:
    result = cli("predict", types_image, "-i", "cuont=3")
    assert result.returncode == 1
    snapshot("unknown_input_image", result.stderr)


def test_invalid_choice_and_missing_required(types_image: str, cli) -> None:
    result = cli("run", types_image, "-i", "count=1", "-i", "mode=medium")
    assert result.returncode == 1
    assert result.stderr.startswith("error: missing required inputs: ratio, flag, names, sizes")
    args = [
        "-i",
        "count=1",
        "-i",
        "ratio=1",
        "-i",
        "flag=1",
        "-i",
        "names=a",
        "-i",
        "sizes=1",
        "-i",
        "mode=medium",
    ]
    result = cli("run", types_image, *args)
    assert result.stderr.startswith('error: input \'mode\' must be one of "fast", "slow"; got "medium"')


FILES_PREDICTOR = """
    import tempfile
    from cog import BasePredictor, Path


    class Predictor(BasePredictor):
        def predict(self, n: int = 3) -> list[Path]:
            out = []
            for i in range(n):
                p = Path(tempfile.mkdtemp()) / f"part{i}.txt"
                p.write_text(f"part {i}")
                out.append(p)
            return out
"""


def test_list_of_files_written_as_output_n(build_env, cli, tmp_path: Path, docker_engine) -> None:
    project = _project(tmp_path / "files", FILES_PREDICTOR)
    result = cli("predict", "-i", "n=3", cwd=project, env=build_env)
    assert result.returncode == 0, result.stderr
    for i in range(3):
        assert (project / f"output.{i}.txt").read_text() == f"part {i}"
    named = cli("predict", "-i", "n=2", "-o", "result.txt", cwd=project, env=build_env)
    assert named.returncode == 0, named.stderr
    assert (project / "result.0.txt").read_text() == "part 0"
    assert (project / "result.1.txt").read_text() == "part 1"


def test_streaming_output_is_cogs_json_list_when_piped(example_image, cli) -> None:
    """Not on a terminal (a pipe, a script): ConcatenateIterator output is Cog's JSON list."""
    tag, _ = example_image("streaming")
    result = cli("predict", tag, "-i", "prompt=the quick brown fox", "-i", "delay=0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["the", " quick", " brown", " fox"]
    as_json = cli("predict", tag, "--json", '{"prompt": "a b", "delay": 0}')
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["output"] == ["a", " b"]


def test_failed_prediction_prints_error_and_logs(build_env, cli, tmp_path: Path, docker_engine) -> None:
    project = _project(tmp_path / "fails", """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def predict(self, text: str) -> str:
                print("working on", text)
                raise ValueError("no good: " + text)
    """)  # fmt: skip
    result = cli("predict", "-i", "text=abc", cwd=project, env=build_env)
    assert result.returncode == 1
    error = result.stderr[result.stderr.index("error:") :]
    assert error.startswith("error: prediction failed: no good: abc\n")
    assert "working on abc" in error
    assert result.stdout == ""


def test_setup_failure_in_container_shows_logs(build_env, cli, tmp_path: Path, docker_engine) -> None:
    project = _project(tmp_path / "badsetup", """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def setup(self) -> None:
                print("opening model.bin")
                raise FileNotFoundError("model.bin")

            def predict(self, text: str) -> str:
                return text
    """)  # fmt: skip
    result = cli("predict", "-i", "text=abc", cwd=project, env=build_env)
    assert result.returncode == 1
    error = result.stderr[result.stderr.index("error:") :]
    assert error.startswith("error: model setup failed\nhint: fix setup() in your predictor and retry")
    assert "opening model.bin" in error
    assert containers_labelled("predict") == []


def test_ctrl_c_stops_and_removes_the_container(build_env, cli, tmp_path: Path, docker_engine) -> None:
    project = _project(tmp_path / "slow", """
        import time
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def setup(self) -> None:
                time.sleep(120)

            def predict(self, text: str) -> str:
                return text
    """)  # fmt: skip
    tag = f"cogkit-test-slow:{os.getpid()}"
    assert cli("build", "-t", tag, cwd=project, env=build_env).returncode == 0
    before = set(containers_labelled("predict"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "plain", "predict", tag, "-i", "text=x"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (set(containers_labelled("predict")) - before):
            time.sleep(0.2)
        assert set(containers_labelled("predict")) - before, "the container never started"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "Traceback" not in stderr
        assert set(containers_labelled("predict")) - before == set(), stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True)


def test_separate_weights(example_image, cli) -> None:
    def make_weights(project: Path) -> None:
        subprocess.run([sys.executable, "make_weights.py"], cwd=project, check=True, capture_output=True)
        assert (project / "weights" / "model.bin").stat().st_size >= 50 * 1024 * 1024

    tag, _ = example_image("separate-weights", "--separate-weights", prepare=make_weights)
    result = cli("predict", tag, "-i", "text=hi")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["weights_bytes"] == 64 * 1024 * 1024 and out["text"] == "hi"


def test_gpu_model_without_gpu_retries_on_cpu_with_one_warning(
    build_env, cli, tmp_path: Path, docker_engine, snapshot
) -> None:
    """build.gpu: true on a machine with no GPU: docker refuses --gpus all, Cog's retry on the CPU
    follows, announced by one warning line (never silently, Cog's #2247). An explicit --gpus still fails."""
    from cogkit.docker.containers import CPU_FALLBACK_WARNING, gpu_available

    if gpu_available():
        pytest.skip("this machine has a GPU")
    project = copy_example("hello-world", tmp_path)
    (project / "cog.yaml").write_text(
        'build:\n  gpu: true\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
    )
    tag = name_project_image(project)  # what `cogkit run`/`exec` without IMAGE build, too
    built = cli("build", "-t", tag, cwd=project, env=build_env)
    if built.returncode != 0:
        pytest.fail(f"a gpu: true project must build with an explicit base image:\n{built.stderr[-1500:]}")
    try:
        result = cli("predict", tag, "-i", "text=x")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hello x\n"
        assert result.stderr.splitlines().count(CPU_FALLBACK_WARNING) == 1
        # the project flow (`cogkit run` without IMAGE) and exec fall back the same way
        ran = cli("run", "-i", "text=y", cwd=project, env=build_env)
        assert ran.returncode == 0 and ran.stdout == "hello y\n", ran.stderr
        assert ran.stderr.splitlines().count(CPU_FALLBACK_WARNING) == 1
        executed = cli("exec", "python", "-c", "print('cpu')", cwd=project, env=build_env)
        assert executed.returncode == 0 and executed.stdout == "cpu\n", executed.stderr
        assert executed.stderr.splitlines().count(CPU_FALLBACK_WARNING) == 1
        explicit = cli("predict", tag, "--gpus", "all", "-i", "text=x")
        assert explicit.returncode == 1
        snapshot("gpu_unavailable", explicit.stderr, {tag: "<image>"})
        cpu = cli("predict", tag, "--gpus", "", "-i", "text=x")
        assert cpu.returncode == 0 and cpu.stdout == "hello x\n", cpu.stderr
        assert CPU_FALLBACK_WARNING not in cpu.stderr
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", tag], capture_output=True)
