"""`@cog.streaming` and `@cog.concurrent(max=N)`: markers read from the source at build time.

Both return the function itself, as in Cog, marked for the runtime's schema (`__cog_streaming__`,
`__cog_concurrent_max__`); `concurrent` also checks its argument the way Cog does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def streaming(fn: Callable[..., Any] | None = None) -> Any:
    """Opt run()/predict() into SSE (`Accept: text/event-stream`): `@streaming` or `@streaming()`."""
    def mark(inner: Callable[..., Any]) -> Callable[..., Any]:
        inner.__cog_streaming__ = True  # type: ignore[attr-defined] - read by cogkit's runtime schema
        return inner

    return mark(fn) if fn is not None else mark


def concurrent(fn: Callable[..., Any] | None = None, *, max: int = 1) -> Any:  # noqa: A002 - Cog's name
    """Allow `max` concurrent predictions of an async run(): `@concurrent(max=4)`."""
    if isinstance(max, bool) or not isinstance(max, int):
        raise TypeError("concurrent max must be an integer")
    if max < 1:
        raise ValueError("concurrent max must be at least 1")

    def mark(inner: Callable[..., Any]) -> Callable[..., Any]:
        if max > 1 and not (inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner)):
            raise TypeError("concurrent max greater than 1 requires an async function")
        inner.__cog_concurrent_max__ = max  # type: ignore[attr-defined]
        return inner

    return mark(fn) if fn is not None else mark
