"""What a Worker reports: setup results and per-prediction events.

These are the seam between the worker (predictor side) and the PredictionRunner; msgspec
Structs because they are created on the hot path of every prediction.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Worker states, as /health-check reports them.
STARTING = "STARTING"
READY = "READY"
BUSY = "BUSY"
SETUP_FAILED = "SETUP_FAILED"
DEFUNCT = "DEFUNCT"


class SetupResult(msgspec.Struct, kw_only=True):
    """Outcome of the predictor's setup(); times are ISO-8601 UTC strings like Cog's."""

    status: str  # "succeeded" | "failed"
    logs: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None


class Log(msgspec.Struct):
    """Text the predictor wrote to stdout/stderr (fd level) while this prediction ran."""

    text: str
    source: str = "stdout"


class Output(msgspec.Struct):
    """The whole return value of a non-iterator predict(); files appear as pathlib.Path objects."""

    value: Any


class OutputChunk(msgspec.Struct):
    """One item yielded by an iterator predict(), in order."""

    value: Any


class Metric(msgspec.Struct):
    """A metric recorded with current_scope().record_metric() (final value, mode already applied)."""

    name: str
    value: Any


class Done(msgspec.Struct, kw_only=True):
    """Terminal event: status is "succeeded", "failed" or "canceled"; predict_time in seconds."""

    status: str
    error: str | None = None
    predict_time: float = 0.0


Event = Log | Output | OutputChunk | Metric | Done
