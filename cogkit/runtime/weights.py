"""The `weights` argument of setup(): COG_WEIGHTS (a path or URL), else ./weights, else None.

Given as the type setup() declares: a cog.Path (default), an open File, or the raw str. URLs are
downloaded with urllib so the predictor process stays free of HTTP libraries.
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from typing import Any

from cogkit.schema.signature import SchemaError, TypeSpec, type_from_annotation

WEIGHTS_DIR = "weights"


def _declared_kind(setup: Callable[..., Any]) -> str:
    """'str', 'file' or 'path' from setup()'s `weights` annotation (path when absent or odd)."""
    try:
        hints = typing.get_type_hints(setup)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to a path
        hints = {}
    annotation = hints.get("weights", inspect.Parameter.empty)
    if annotation is inspect.Parameter.empty:
        return "path"
    try:
        spec: TypeSpec = type_from_annotation(annotation, "parameter `weights` of setup()")
    except SchemaError:
        return "path"
    if spec.kind == "union":
        kinds = {arg.kind for arg in spec.args}
        return "path" if "path" in kinds else ("file" if "file" in kinds else "str")
    return spec.kind if spec.kind in ("str", "file") else "path"


def weights_for_setup(setup: Callable[..., Any]) -> Any:
    """The value to pass as setup(weights=...)."""
    source = os.environ.get("COG_WEIGHTS")
    if not source:
        if not os.path.exists(WEIGHTS_DIR):
            return None
        source = WEIGHTS_DIR
    kind = _declared_kind(setup)
    if kind == "str":
        return source
    local = fetch(source) if source.startswith(("http://", "https://", "data:")) else source
    if kind == "file":
        return open(local, "rb")  # noqa: SIM115 - handed to the predictor
    import cog  # the compat package, first on sys.path in the predictor process

    return cog.Path(local)


def fetch(url: str) -> str:
    """Download `url` (http, https or data) to a fresh temp directory; returns the file path."""
    import tempfile
    import urllib.request

    name = "weights"
    if not url.startswith("data:"):
        name = os.path.basename(url.split("?", 1)[0].rstrip("/")) or name
    target = os.path.join(tempfile.mkdtemp(prefix="cogkit-weights-"), name)
    with urllib.request.urlopen(url) as response, open(target, "wb") as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            out.write(chunk)
    return target
