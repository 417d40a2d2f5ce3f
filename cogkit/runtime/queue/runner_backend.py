"""The queue's PredictionBackend on top of the HTTP server's PredictionRunner and Worker.

This is the "one implementation" requirement in code: the queue hands the runner the same
PredictionRequest the HTTP server would, so input validation, file handling, uploads,
cancellation, logs, metrics and webhooks are exactly the server's. The adapter only
translates the runner's listener events into queue updates.
"""

from __future__ import annotations

import logging
from typing import Any

from cogkit.runtime.events import WorkerState
from cogkit.runtime.queue.backend import BackendUnavailable, UpdateCallback
from cogkit.runtime.queue.protocol import Job, failed_state
from cogkit.runtime.runner import (
    Busy,
    InputValidationError,
    Prediction,
    PredictionRunner,
    RunnerUnavailable,
)
from cogkit.runtime.slots import Slots
from cogkit.runtime.types import PredictionRequest, PredictionResponse

log = logging.getLogger("cogkit.queue")

# runner listener event -> queue update event (Cog's webhook event names)
_EVENTS = {"start": "start", "log": "logs", "output": "output", "metric": "output"}

_DEFUNCT_STATES = frozenset((WorkerState.DEFUNCT, WorkerState.SETUP_FAILED))


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One readable line from Cog's 422 detail items, e.g. "input.text: Field required"."""
    parts = []
    for item in errors:
        loc = [str(p) for p in item.get("loc", []) if p != "body"]
        where = ".".join(loc) or "input"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid input: " + "; ".join(parts)


class RunnerBackend:
    """Runs queue jobs through a PredictionRunner (and so through its Worker child process)."""

    def __init__(self, runner: PredictionRunner) -> None:
        self.runner = runner

    @property
    def slots(self) -> Slots:
        return self.runner.slots

    @property
    def healthy(self) -> bool:
        return self.runner.worker.state not in _DEFUNCT_STATES

    async def run(self, request: PredictionRequest, on_update: UpdateCallback) -> PredictionResponse:
        try:
            inputs = self.runner.validate(request)
        except InputValidationError as exc:
            job = Job("", request.id or "", request)
            return failed_state(job, describe_validation_errors(exc.errors))

        def listener(pred: Prediction, event: str, data: Any) -> None:
            kind = _EVENTS.get(event)
            if kind is not None:
                on_update(pred.response, kind, pred.encode)

        try:
            pred = self.runner.submit(request, inputs=inputs, on_update=listener, respond_async=True)
        except (RunnerUnavailable, Busy) as exc:
            raise BackendUnavailable(str(exc)) from None
        return await pred.wait()

    async def cancel(self, prediction_id: str) -> None:
        await self.runner.cancel(prediction_id)
