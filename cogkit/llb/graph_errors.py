"""Errors raised while building or marshalling an LLB graph (bad refs, paths, missing engine caps)."""

from __future__ import annotations

from cogkit.errors import CogkitError


class GraphError(CogkitError):
    """The build graph cannot be expressed: invalid input to the builder, or a feature the engine lacks."""
