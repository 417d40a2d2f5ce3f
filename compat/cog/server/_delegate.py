"""Lazy hand-over to a cogkit entry point, failing with one clear line if it is missing."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence


def run(module_name: str, what: str, argv: Sequence[str] | None = None) -> None:
    """Import `module_name` only now and call its main(argv); exit 1 with a hint if unavailable."""
    try:
        module = importlib.import_module(module_name)
        entry = module.main
    except (ImportError, AttributeError) as exc:
        sys.stderr.write(
            f"error: cogkit's {what} is not available ({module_name}.main: {exc})\n"
            "hint: install cogkit in this Python environment (it provides the server behind cog.server)\n"
        )
        raise SystemExit(1) from None
    result = entry(list(sys.argv[1:] if argv is None else argv))
    if isinstance(result, int):
        raise SystemExit(result)
