"""`current_scope()`: per-prediction context and metrics, routed by a ContextVar.

The cogkit worker activates a Scope around each prediction (a ContextVar, so concurrent
async predictions each see their own); outside a prediction a throwaway scope is returned.
Metric names, modes, value types and dotted nesting follow current Cog (coglet's metric scope),
so a model that records metrics behaves the same on both.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from typing import Any

_MODES = {"replace": "replace", "incr": "incr", "increment": "incr", "append": "append"}
_MAX_NAME = 128
_MAX_SEGMENTS = 4
_TYPE_NAMES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict"))


def _type_name(value: Any) -> str | None:
    for kind, name in _TYPE_NAMES:  # bool before int, as Cog checks it
        if isinstance(value, kind):
            return name
    return None


def validate_metric_name(name: Any, *, deleting: bool = False) -> list[str]:
    """The dot-separated segments of a valid metric name; ValueError with Cog's wording otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("metric name must not be empty")
    if len(name) > _MAX_NAME:
        raise ValueError(f"metric name must be {_MAX_NAME} characters or fewer (got {len(name)} characters)")
    if name.startswith("."):
        raise ValueError("metric name must not start with a dot")
    if name.endswith("."):
        raise ValueError("metric name must not end with a dot")
    segments = name.split(".")
    if "" in segments:
        raise ValueError("metric name must not contain empty segments (consecutive dots)")
    if len(segments) > _MAX_SEGMENTS:
        raise ValueError(f"metric name must have at most {_MAX_SEGMENTS} dot-separated segments "
                         f"(got {len(segments)})")
    for segment in segments:
        if not (segment[0].isascii() and segment[0].isalpha()):
            raise ValueError(f"metric name segment {segment!r} must start with a letter")
        for char in segment:
            if not (char.isascii() and (char.isalnum() or char == "_")):
                raise ValueError(f"metric name segment {segment!r} contains invalid character {char!r}")
        if "__" in segment:
            raise ValueError(f"metric name segment {segment!r} must not contain consecutive underscores")
        if not segment[-1].isalnum():
            raise ValueError(f"metric name segment {segment!r} must end with a letter or digit")
    if not deleting:
        if name == "predict_time":
            raise ValueError("'predict_time' is reserved by the runtime")
        if segments[0] == "cog":
            raise ValueError("the 'cog.' prefix is reserved for system metrics")
    return segments


class Metrics(dict):
    """The prediction's metrics: a dict (so it is sent as one), nested along dotted names."""

    def record(self, name: str, value: Any, mode: str = "replace") -> None:
        """Record `value` under `name` with mode replace (default), incr/increment or append."""
        kind = _MODES.get(mode) if isinstance(mode, str) else None
        if kind is None:
            raise TypeError(f"Invalid metric mode: {mode!r}. Expected 'replace', 'incr', or 'append'.")
        new_type = _type_name(value)
        if new_type is None:
            raise TypeError(f"Unsupported metric value type: {type(value).__name__}. "
                            "Expected bool, int, float, str, list, or dict.")
        segments = validate_metric_name(name)
        parent = self._parent(segments, create=True)
        leaf = segments[-1]
        current = parent.get(leaf)
        if kind == "incr":
            if new_type not in ("int", "float"):
                raise TypeError(f"Increment mode requires int or float, got {new_type}")
            if current is None:
                dict.__setitem__(parent, leaf, value)
                return
            if _type_name(current) not in ("int", "float"):
                raise TypeError(f"Metric {name!r} has type {_type_name(current)}, cannot increment")
            dict.__setitem__(parent, leaf, current + value)
        elif kind == "append":
            if current is None:
                dict.__setitem__(parent, leaf, [value])
            elif isinstance(current, list):
                current.append(value)
            else:
                dict.__setitem__(parent, leaf, [current, value])
        else:
            old_type = _type_name(current) if current is not None else None
            if old_type is not None and old_type != new_type:
                raise TypeError(f"Metric {name!r} has type {old_type}, cannot set to {new_type} "
                                "without deleting first")
            dict.__setitem__(parent, leaf, value)

    def delete(self, name: str) -> None:
        """Remove a metric (a missing one is not an error)."""
        segments = validate_metric_name(name, deleting=True)
        parent = self._parent(segments, create=False)
        if parent is not None:
            dict.pop(parent, segments[-1], None)

    def __setitem__(self, name: str, value: Any) -> None:
        if value is None:
            self.delete(name)
        else:
            self.record(name, value)

    def __delitem__(self, name: str) -> None:
        self.delete(name)

    def _parent(self, segments: list[str], *, create: bool) -> dict[str, Any] | None:
        node: dict[str, Any] = self
        for segment in segments[:-1]:
            child = dict.get(node, segment)
            if not isinstance(child, dict):
                if not create:
                    return None
                child = {}  # a missing or non-object intermediate becomes an object, as in Cog
                dict.__setitem__(node, segment, child)
            node = child
        return node


class Scope:
    """The running prediction's request context and the metrics it records."""

    __slots__ = ("context", "metrics")

    def __init__(self, context: dict[str, str] | None = None) -> None:
        self.context: dict[str, str] = dict(context or {})
        self.metrics: Metrics = Metrics()

    def record_metric(self, name: str, value: Any, mode: str = "replace") -> None:
        """Record a metric that ends up in the response's `metrics` (replace, incr or append)."""
        self.metrics.record(name, value, mode)


_current: ContextVar[Scope | None] = ContextVar("cog_scope", default=None)


def current_scope() -> Scope:
    """The scope of the prediction this code runs in."""
    scope = _current.get()
    return scope if scope is not None else Scope()


_warned_emit_metric = False


def emit_metric(name: str, value: Any) -> None:
    """Deprecated (Cog 0.17): `current_scope().record_metric(name, value)`, with a one-time notice."""
    global _warned_emit_metric
    if not _warned_emit_metric:
        _warned_emit_metric = True
        print("cog: emit_metric() is deprecated and will be removed in a future release. "
              "Use current_scope().record_metric(name, value) instead.", file=sys.stderr)
    current_scope().record_metric(name, value)


def _activate(scope: Scope) -> Any:
    """Runtime hook: make `scope` current; returns the token for _deactivate."""
    return _current.set(scope)


def _deactivate(token: Any) -> None:
    _current.reset(token)
