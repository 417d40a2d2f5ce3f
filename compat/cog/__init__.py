"""Cog's Python API, served by cogkit: `from cog import BasePredictor, Input, Path` works unchanged.

Standard library only: importing it never loads pydantic, aiohttp or cogkit's server.
"""

from __future__ import annotations

from .base_model import BaseModel
from .base_predictor import BasePredictor, BaseRunner
from .decorators import concurrent, streaming
from .exceptions import CancelationException, ExperimentalFeatureWarning
from .scope import Scope, current_scope, emit_metric
from .types import (
    AsyncConcatenateIterator,
    ConcatenateIterator,
    FieldInfo,
    File,
    Input,
    Opaque,
    Path,
    Secret,
    URLFile,
    URLPath,
)

__version__ = "0.16.8"

__all__ = [
    "AsyncConcatenateIterator",
    "BaseModel",
    "BasePredictor",
    "BaseRunner",
    "CancelationException",
    "ConcatenateIterator",
    "ExperimentalFeatureWarning",
    "FieldInfo",
    "File",
    "Input",
    "Opaque",
    "Path",
    "Scope",
    "Secret",
    "URLFile",
    "URLPath",
    "__version__",
    "concurrent",
    "current_scope",
    "emit_metric",
    "streaming",
]
