"""Prediction: one prediction's live response, and the only code that changes it.

The runner drives a prediction (admission, slots, the worker's events); it changes the response
only through these methods, so the response's invariants (logs kept as parts and joined lazily,
the log cap, output list vs value, metrics, the terminal fields) live in one place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from cogkit.runtime.types import (
    FAILED,
    PROCESSING,
    STARTING,
    SUCCEEDED,
    PredictionRequest,
    PredictionResponse,
    json_encoder,
    now_iso,
)
from cogkit.runtime.webhooks import WebhookChannel

log = logging.getLogger("cogkit.runner")

UpdateCallback = Callable[["Prediction", str, Any], None]

# A log flood must not exhaust the server's memory (or every webhook's size): keep the newest part.
MAX_LOG_CHARS = int(os.environ.get("COG_MAX_LOG_SIZE", str(16 << 20)))

_WEBHOOK_EVENT = {"start": "start", "log": "logs", "output": "output", "metric": None,
                  "completed": "completed"}


class Prediction:
    """One prediction: its live response plus what the runner needs to drive and observe it.

    `slot_waiter` is the runner's: set while the prediction waits for a free slot.
    """

    __slots__ = ("request", "response", "_log_parts", "_logs_joined", "_log_size", "_done", "_listeners",
                 "_webhook", "slot_waiter", "cancel_requested", "respond_async", "_started_mono",
                 "_started_ns", "_iterator_output", "_id", "inputs", "stream")

    def __init__(self, request: PredictionRequest, pid: str, inputs: dict[str, Any],
                 shown_inputs: dict[str, Any] | None = None, *, respond_async: bool = False,
                 on_update: UpdateCallback | None = None) -> None:
        self.request = request
        self._id = pid
        self.inputs = inputs  # what the predictor gets; the response shows secrets redacted
        self.response = PredictionResponse(
            id=pid, input=inputs if shown_inputs is None else shown_inputs, status=STARTING,
            created_at=request.created_at or now_iso(),
        )
        self._log_parts: list[str] = []
        self._logs_joined = 0
        self._log_size = 0
        self._done: asyncio.Future[PredictionResponse] = asyncio.get_running_loop().create_future()
        self._listeners: list[UpdateCallback] = [on_update] if on_update is not None else []
        self._webhook: WebhookChannel | None = None
        self.slot_waiter: asyncio.Future[None] | None = None
        self.cancel_requested = False
        self.respond_async = respond_async
        self._started_mono = 0.0
        self._started_ns = 0
        self._iterator_output = False
        self.stream: Any = None  # sse.StreamHub of a streaming model's prediction (the runner sets it)

    # ------------------------------------------------------------------------------ reading
    @property
    def id(self) -> str:
        return self._id

    @property
    def done(self) -> bool:
        return self._done.done()

    @property
    def started_ns(self) -> int:
        """time.time_ns() when it got its slot (0 before): output files older than this are kept."""
        return self._started_ns

    @property
    def iterator_output(self) -> bool:
        return self._iterator_output

    @property
    def finished(self) -> asyncio.Future[PredictionResponse]:
        """Resolved with the terminal response (for drain(); clients use wait())."""
        return self._done

    def attach_webhook(self, channel: WebhookChannel) -> None:
        """Deliver this prediction's events to a webhook (the channel encodes it when it sends)."""
        self._webhook = channel

    def add_listener(self, callback: UpdateCallback) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: UpdateCallback) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def wait(self) -> PredictionResponse:
        """The terminal response (shielded: a cancelled waiter does not cancel the prediction)."""
        return await asyncio.shield(self._done)

    def snapshot(self) -> PredictionResponse:
        """The live response with logs materialised (logs are kept as parts to stay O(n))."""
        parts = self._log_parts
        if self._logs_joined != len(parts):
            joined = "".join(parts)
            parts[:] = [joined]
            self._logs_joined = 1
            self.response.logs = joined
        return self.response

    def encode(self) -> bytes:
        return json_encoder.encode(self.snapshot())

    # ------------------------------------------------------------------------------ changes
    def mark_started(self) -> None:
        """It holds a slot now: "processing", and the clock for predict_time starts."""
        self.response.status = PROCESSING
        self.response.started_at = now_iso()
        self._started_mono = time.perf_counter()
        self._started_ns = time.time_ns()

    def begin(self) -> None:
        """The worker is about to get it: tell listeners and the webhook ("start")."""
        self._emit("start", None)

    def add_log(self, text: str, source: str = "stdout") -> None:
        self._log_parts.append(text)
        self._log_size += len(text)
        if self._log_size > MAX_LOG_CHARS:
            self._truncate_logs()
        self._emit("log", (text, source))

    def add_output_item(self, value: Any) -> None:
        """One item of an iterator predict(); the output becomes a list of them."""
        if not self._iterator_output:
            self._iterator_output = True
            self.response.output = []
        self.response.output.append(value)
        self._emit("output", value)

    def set_output(self, value: Any) -> None:
        self.response.output = value

    def record_metric(self, name: str, value: Any) -> None:
        if self.response.metrics is None:
            self.response.metrics = {}
        self.response.metrics[name] = value
        self._emit("metric", (name, value))

    def settle(self, status: str, error: str | None, predict_time: float | None) -> None:
        """Write the terminal fields; complete() then tells everyone (the runner frees the slot
        in between, so a woken waiter can start its next prediction at once)."""
        resp = self.response
        if status == FAILED and error is None:
            error = "prediction failed"
        if status == SUCCEEDED:
            error = None
        resp.status = status
        resp.error = error
        resp.completed_at = now_iso()
        if predict_time is None and self._started_mono:
            predict_time = time.perf_counter() - self._started_mono
        if predict_time is not None:
            if resp.metrics is None:
                resp.metrics = {"predict_time": predict_time}
            else:
                resp.metrics["predict_time"] = predict_time
        self.snapshot()

    def complete(self) -> None:
        self._emit("completed", None)
        if not self._done.done():
            self._done.set_result(self.response)

    # ------------------------------------------------------------------------------ internals
    def _truncate_logs(self) -> None:
        joined = "".join(self._log_parts)
        keep = joined[-(MAX_LOG_CHARS // 2):]
        dropped = len(joined) - len(keep)
        marker = f"[cogkit: {dropped} earlier characters of logs truncated]\n"
        self._log_parts[:] = [marker, keep]
        self._logs_joined = 0
        self._log_size = len(marker) + len(keep)

    def _emit(self, event: str, data: Any) -> None:
        for cb in self._listeners:
            try:
                cb(self, event, data)
            except Exception:
                log.exception("prediction listener failed")
        if self._webhook is not None and (hook_event := _WEBHOOK_EVENT[event]) is not None:
            self._webhook.notify(hook_event)
