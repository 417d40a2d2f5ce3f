"""The seam between a Worker (predictor side) and the PredictionRunner: states, setup, events.

`WorkerAPI` is what the runner and the transports may rely on; `Worker` (worker.py) implements
it. Events form one tagged union (msgspec Structs, created on the hot path of every prediction)
that consumers dispatch with `match`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, Protocol

import msgspec

from cogkit.runtime.slots import Slots


class WorkerState:
    """A worker's states, as /health-check reports them (not a prediction's `status`)."""

    STARTING: Final = "STARTING"
    READY: Final = "READY"
    BUSY: Final = "BUSY"
    SETUP_FAILED: Final = "SETUP_FAILED"
    DEFUNCT: Final = "DEFUNCT"
    SERVING: Final = frozenset(("READY", "BUSY"))  # states that take predictions


class SetupResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Outcome of the predictor's setup(), and the `setup` object of /health-check.

    Times are ISO-8601 UTC strings like Cog's; status "succeeded" | "failed" ("starting" while it
    runs). `error` says why setup failed; it is left out of the JSON when there is none.
    """

    started_at: str | None
    completed_at: str | None
    logs: str
    status: str | None
    error: str | None = None


class Log(msgspec.Struct, tag="log"):
    """Text the predictor wrote to stdout/stderr (fd level) while this prediction ran."""

    text: str
    source: str = "stdout"


class Output(msgspec.Struct, tag="output"):
    """The whole return value of a non-iterator predict(); files appear as pathlib.Path objects."""

    value: Any


class OutputChunk(msgspec.Struct, tag="output_chunk"):
    """One item yielded by an iterator predict(), in order."""

    value: Any


class Metric(msgspec.Struct, tag="metric"):
    """A metric recorded with current_scope().record_metric() (final value, mode already applied)."""

    name: str
    value: Any


class Done(msgspec.Struct, kw_only=True, tag="done"):
    """Terminal event: status is "succeeded", "failed" or "canceled"; predict_time in seconds."""

    status: str
    error: str | None = None
    predict_time: float = 0.0


Event = Log | Output | OutputChunk | Metric | Done

class WorkerAPI(Protocol):
    """What the runner and the transports use of a worker (see cogkit.runtime.worker.Worker)."""

    concurrency: int
    slots: Slots  # the one count of capacity: the runner takes one per admitted prediction
    setup: SetupResult | None
    schema: dict[str, Any] | None
    has_healthcheck: bool

    async def healthcheck(self, timeout: float = 10.0) -> str | None: ...

    @property
    def state(self) -> str: ...

    @property
    def setup_snapshot(self) -> SetupResult | None: ...

    async def start(self) -> SetupResult: ...

    async def stop(self, timeout: float = 5.0) -> None: ...

    def predict(self, prediction_id: str, inputs: dict[str, Any], context: dict[str, str] | None = None,
                *, slot_held: bool = False) -> AsyncIterator[Event]: ...

    def cancel(self, prediction_id: str) -> bool: ...
