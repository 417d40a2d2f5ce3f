"""Early export of a big lower layer on dockerd's real BuildKit (cogkit/buildkit/early_export.py).

The layer is registered by a second solve while the step above it runs; the final image is the
same as without it, the throwaway image is gone afterwards, and a cached rebuild starts nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from buildkit_client_helpers import docker

from cogkit import llb
from cogkit.buildkit.client import Client
from cogkit.buildkit.exporters import MobyExporter
from cogkit.buildkit.gateway import BuildResult, Gateway
from cogkit.errors import BuildError


def _image_ids() -> set[str]:
    return set(docker("images", "-aq", "--no-trunc").stdout.decode().split())


def _graph(base_image: str, above: str) -> tuple[Callable[[Gateway], BuildResult], list[str]]:
    """base → weights (a local file) → one exec step; the weights state offered for early export."""
    heads: list[str] = []

    def build(gw: Gateway) -> BuildResult:
        _, config = gw.resolve_image_config(base_image)
        base = llb.image(base_image).with_image_config(config)
        weights = base.file(llb.copy(llb.local("weights"), "/", "/weights/"), name="weights")
        top = weights.run(["sh", "-c", above], name="above the weights").root()
        early = weights.marshal(caps=gw.caps)
        heads.append(early.head)
        return BuildResult(top.marshal(caps=gw.caps), image_config=config, early_layers=[early])

    return build, heads


@pytest.fixture
def weights_dir(tmp_path: Path) -> Path:
    """20 MB nobody has built before, so the weights layer is freshly made."""
    (tmp_path / "model.bin").write_bytes(os.urandom(20 << 20))
    return tmp_path


def test_weights_layer_is_exported_early_and_the_throwaway_image_removed(
    dockerd: Client, base_image: str, image_tag: str, weights_dir: Path
) -> None:
    before = _image_ids()
    build, heads = _graph(base_image, "sleep 1; echo top > /top")
    report = dockerd.build(
        build, exporter=MobyExporter([image_tag]), local_dirs={"weights": weights_dir}, progress="quiet"
    )
    assert report.early_exported == heads[-1:]
    shown = [v for v in report.vertices if v.name == "weights → Docker layer, while the steps above run"]
    assert len(shown) == 1 and shown[0].started and shown[0].completed  # a step in the progress display
    after = _image_ids()
    assert after - before == {report.image_id}  # the final image only: the early one was removed
    layers = json.loads(docker("image", "inspect", image_tag).stdout)[0]["RootFS"]["Layers"]
    base_layers = json.loads(docker("image", "inspect", base_image).stdout)[0]["RootFS"]["Layers"]
    assert layers[: len(base_layers)] == base_layers and len(layers) == len(base_layers) + 2

    again = dockerd.build(
        build, exporter=MobyExporter([image_tag]), local_dirs={"weights": weights_dir}, progress="quiet"
    )
    assert again.fully_cached
    assert again.early_exported == []  # a cached layer was registered when it was built
    assert again.image_id == report.image_id


def test_a_failing_step_above_leaves_no_throwaway_image(
    dockerd: Client, base_image: str, weights_dir: Path
) -> None:
    before = _image_ids()
    build, _ = _graph(base_image, "sleep 2; exit 3")  # the early export has finished by then
    with pytest.raises(BuildError) as err:
        dockerd.build(build, exporter=MobyExporter(), local_dirs={"weights": weights_dir}, progress="quiet")
    assert "above the weights" in err.value.message and "exit code 3" in err.value.message
    assert _image_ids() == before
