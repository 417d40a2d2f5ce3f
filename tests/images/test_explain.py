"""Build failures reworded to name the culprit (the step names come from cogkit/layers/steps.py)."""

from __future__ import annotations

from cogkit.errors import BuildError
from cogkit.images.explain import explain


def test_build_failures_are_reworded_to_name_the_culprit() -> None:
    apt = explain(
        BuildError("step 'download system packages: x' failed", "cogkit: unknown system package: nope-pkg")
    )
    assert apt.message == "system package 'nope-pkg' does not exist in the base image's apt sources"
    uv = explain(
        BuildError(
            "step 'python packages: x' failed",
            "  × No solution found\n  ╰─▶ Because nope was not found in the package registry",
        )
    )
    assert uv.message == "Python package 'nope' was not found on the package index"
    python = explain(
        BuildError(
            "step 'python 3.12' failed with exit code 1", "error: Failed to install cpython-3.12.16-linux"
        )
    )
    assert python.message.startswith("the base image has no Python 3.12")
    assert "--base-image" in (python.hint or "")
    other = BuildError("step 'run: false' failed with exit code 1", "log")
    assert explain(other) is other


def test_an_export_that_lost_its_snapshot_is_told_from_a_failed_build() -> None:
    """containerd's GC race (the text dockerd 28.5 reports) is exported again; other failures are not."""
    from cogkit.buildkit.errors import StepFailed
    from cogkit.images.build import export_raced

    raced = StepFailed(
        "exporting to image", None, None, [],
        'failed to prepare extraction snapshot "extract-177240690-vh0P sha256:41c8": '
        "parent snapshot sha256:7296 does not exist: not found",
    )  # fmt: skip
    assert export_raced(raced)
    assert not export_raced(StepFailed("pip install", 1, "pip install x", [], "process did not complete"))
    assert not export_raced(BuildError("build failed: snapshot does not exist", "hint"))
