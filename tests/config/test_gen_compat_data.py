"""The regeneration script's parsers, fed with snippets shaped like the public pages (no network)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "gen_compat_data.py"


@pytest.fixture
def gen():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("gen_compat_data", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_cuda_variants_from_the_wheel_index(gen, monkeypatch) -> None:  # noqa: ANN001
    page = (
        '<a href="/whl/cu121/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl">x</a>\n'
        '<a href="/whl/cu118/torch-2.1.0%2Bcu118-cp310-cp310-linux_x86_64.whl">x</a>\n'
        '<a href="/whl/cu118/torch-2.1.0%2Bcu118-cp310-cp310-win_amd64.whl">x</a>\n'
        '<a href="/whl/cpu/torch-2.1.0%2Bcpu-cp311-cp311-linux_x86_64.whl">x</a>\n'
        '<a href="/whl/cu128/torch-2.7.0%2Bcu128-cp312-cp312-manylinux_2_28_x86_64.whl">x</a>\n'
    )
    monkeypatch.setattr(gen, "fetch", lambda url: page.encode())
    # linux_x86_64 and manylinux_2_28_x86_64 (torch >= 2.6) count; Windows and CPU wheels do not
    assert gen.torch_cuda_variants() == {"2.1.0": ["11.8", "12.1"], "2.7.0": ["12.8"]}


def test_tensorflow_table(gen, monkeypatch) -> None:  # noqa: ANN001
    page = (
        "<tr><td>tensorflow-2.15.0</td><td>3.9-3.11</td><td>Clang 16.0.0</td><td>Bazel 6.1.0</td>"
        "<td>8.9</td><td>12.2</td></tr>"
    )
    monkeypatch.setattr(gen, "fetch", lambda url: page.encode())
    assert gen.tensorflow_table() == {
        "2.15.0": {"cuda": "12.2", "cudnn": "8.9", "python": ["3.9", "3.10", "3.11"]}
    }


def test_cuda_image_tags_grouped(gen, monkeypatch) -> None:  # noqa: ANN001
    tags = {
        "results": [
            {"name": "12.4.1-cudnn-devel-ubuntu22.04"},
            {"name": "12.4.1-cudnn-runtime-ubuntu20.04"},
            {"name": "12.1.1-cudnn8-devel-ubuntu22.04"},
            {"name": "12.1.1-base-ubuntu22.04"},
        ],
        "next": None,
    }
    monkeypatch.setattr(gen, "fetch", lambda url: json.dumps(tags).encode())
    images = gen.cuda_images()
    assert images[0] == {
        "cuda": "12.4.1",
        "cudnn": "9",
        "ubuntu": ["22.04", "20.04"],
        "tag": "12.4.1-cudnn-{flavor}-ubuntu{ubuntu}",
    }
    assert images[1]["tag"] == "12.1.1-cudnn8-{flavor}-ubuntu{ubuntu}" and images[1]["cudnn"] == "8"
