"""`current_scope()`: per-prediction context and metrics, routed by a ContextVar.

The cogkit worker activates a Scope around each prediction (a ContextVar, so concurrent
async predictions each see their own); outside a prediction a throwaway scope is returned.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_MODES = ("replace", "incr", "append")


class Scope:
    """The running prediction's request context and the metrics it records."""

    __slots__ = ("context", "metrics")

    def __init__(self, context: dict[str, str] | None = None) -> None:
        self.context: dict[str, str] = dict(context or {})
        self.metrics: dict[str, Any] = {}

    def record_metric(self, name: str, value: Any, mode: str = "replace") -> None:
        """Record a metric that ends up in the response's `metrics` (replace, incr or append)."""
        if mode not in _MODES:
            raise ValueError(f"record_metric mode must be one of {_MODES}, not {mode!r}")
        if name == "predict_time":
            raise ValueError("the metric name 'predict_time' is reserved")
        if mode == "replace":
            self.metrics[name] = value
        elif mode == "incr":
            self.metrics[name] = self.metrics.get(name, 0) + value
        else:
            current = self.metrics.get(name)
            if not isinstance(current, list):
                current = [] if current is None else [current]
            current.append(value)
            self.metrics[name] = current


_current: ContextVar[Scope | None] = ContextVar("cog_scope", default=None)


def current_scope() -> Scope:
    """The scope of the prediction this code runs in."""
    scope = _current.get()
    return scope if scope is not None else Scope()


def _activate(scope: Scope) -> Any:
    """Runtime hook: make `scope` current; returns the token for _deactivate."""
    return _current.set(scope)


def _deactivate(token: Any) -> None:
    _current.reset(token)
