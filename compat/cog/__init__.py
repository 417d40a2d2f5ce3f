"""Cog's Python API, served by cogkit: `from cog import BasePredictor, Input, Path` works unchanged.

Standard library only: importing it never loads pydantic, aiohttp or cogkit's server.
"""

from __future__ import annotations

from .base_model import BaseModel
from .base_predictor import BasePredictor, BaseRunner
from .exceptions import CancelationException, ExperimentalFeatureWarning
from .scope import Scope, current_scope
from .types import AsyncConcatenateIterator, ConcatenateIterator, File, Input, Path, Secret

__version__ = "0.16.8"

__all__ = [
    "AsyncConcatenateIterator",
    "BaseModel",
    "BasePredictor",
    "BaseRunner",
    "CancelationException",
    "ConcatenateIterator",
    "ExperimentalFeatureWarning",
    "File",
    "Input",
    "Path",
    "Scope",
    "Secret",
    "__version__",
    "current_scope",
]
