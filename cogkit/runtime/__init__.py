"""Prediction runtime: worker process, schema, runner and transports.

Kept import-light on purpose: the predictor child imports `cogkit.runtime.*` too, and must
not drag the HTTP stack (aiohttp) or pydantic into the model's process.
"""

from __future__ import annotations

import os


def compat_path() -> str:
    """The directory to put first on sys.path so `import cog` finds cogkit's Cog API.

    Ships inside the package as `cogkit/_compat` (a symlink to the repo's `compat/` in a
    checkout, a copied tree in a wheel), so no top-level `cog` distribution is installed.
    """
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_compat")
