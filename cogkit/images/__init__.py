"""Images: build one from a project (plan → LLB → BuildKit), push it, and explain build failures.

The top of the build side: it composes cogkit.layers (what to build), cogkit.buildkit (building it)
and cogkit.docker (loading and pushing), and is called by cogkit.commands and cogkit.model.
"""

from cogkit.images.build import BuildOutcome, BuildRequest, LayerTime, build, default_image_name, prepare
from cogkit.images.explain import explain
from cogkit.images.push import PushOutcome, push

__all__ = [
    "BuildOutcome",
    "BuildRequest",
    "LayerTime",
    "PushOutcome",
    "build",
    "default_image_name",
    "explain",
    "prepare",
    "push",
]
