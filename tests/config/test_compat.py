"""CUDA auto-selection and base image tags against the packaged compatibility data."""

from __future__ import annotations

from cogkit.config.compat import (
    DEFAULT_CUDA,
    compat_data,
    cuda_base_image,
    cudnn_versions_for,
    select_cuda,
    torch_index_url,
)


def test_torch_picks_newest_supported_cuda() -> None:
    choice = select_cuda(True, None, None, "2.1.0", None)
    assert (choice.cuda, choice.torch_cuda, choice.cudnn) == ("12.1", "12.1", "8")
    assert choice.warnings == []


def test_torch_never_above_declared_cuda() -> None:
    choice = select_cuda(True, "12.2", None, "2.4.1", None)
    assert choice.cuda == "12.2"  # the image follows the declared CUDA
    assert choice.torch_cuda == "12.1"  # the wheels are the newest variant not above it


def test_torch_without_wheels_below_declared_cuda_warns() -> None:
    choice = select_cuda(True, "11.8", None, "2.8.0", None)
    assert choice.cuda == "11.8" and choice.torch_cuda is None
    assert "no wheels for CUDA 11.8" in choice.warnings[0]


def test_tensorflow_gets_its_cuda_and_cudnn() -> None:
    choice = select_cuda(True, None, None, None, "2.14.0")
    assert (choice.cuda, choice.cudnn) == ("11.8", "8")


def test_neither_uses_documented_default() -> None:
    assert select_cuda(True, None, None, None, None).cuda == DEFAULT_CUDA


def test_unknown_torch_warns_and_falls_back() -> None:
    choice = select_cuda(True, None, None, "99.0.0", None)
    newest = max(compat_data()["torch"], key=lambda v: tuple(int(p) for p in v.split(".")))
    assert choice.torch_cuda == compat_data()["torch"][newest]["cuda"][-1]
    assert "torch==99.0.0" in choice.warnings[0]


def test_unknown_torch_fallback_respects_declared_cuda() -> None:
    choice = select_cuda(True, "12.8", None, "99.0.0", None)
    assert choice.torch_cuda is not None and tuple(map(int, choice.torch_cuda.split("."))) <= (12, 8)


def test_cpu_build_has_no_cuda() -> None:
    assert select_cuda(False, "12.1", None, "2.1.0", None).cuda is None


def test_cuda_image_tags() -> None:
    assert cuda_base_image("12.1", "8") == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert cuda_base_image("12.4", "9", "devel") == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    assert cuda_base_image("11.8", "8", ubuntu="20.04") == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04"
    assert cudnn_versions_for("12.3") == ["9"]


def test_index_urls() -> None:
    assert torch_index_url("12.1") == "https://download.pytorch.org/whl/cu121"
    assert torch_index_url(None) == "https://download.pytorch.org/whl/cpu"
