"""The narrow seam between the queue (transport) and the prediction runtime (execution).

The queue worker only needs: run this request to a terminal state, tell me every update, and
stop when this event is set. Keeping the seam this small is what lets the HTTP server and the
queue share one implementation of predict, cancel, logs, files and webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cogkit.runtime.slots import Slots
from cogkit.runtime.types import PredictionRequest, PredictionResponse

# (live state, event name: "start" | "output" | "logs", optional encoder of the live state).
# The state object stays live: it is encoded when written, so it must not be replaced.
UpdateCallback = Callable[[PredictionResponse, str, Callable[[], bytes] | None], None]


class BackendUnavailable(Exception):
    """The predictor cannot take work (setup failed, process gone): leave the entry for others."""


class PredictionBackend(Protocol):
    """Runs predictions for the queue worker."""

    @property
    def slots(self) -> Slots:
        """The predictor's one count of capacity: the worker waits for a free slot, then calls
        run() with no await in between, and run() takes that slot."""
        ...

    async def run(self, request: PredictionRequest, on_update: UpdateCallback) -> PredictionResponse:
        """Run one prediction to its terminal state.

        Prediction errors (bad input, predictor exceptions, a crashed predictor) come back as a
        `failed` state, never as an exception; BackendUnavailable means "not run at all".
        """
        ...

    async def cancel(self, prediction_id: str) -> None:
        """Cancel a prediction that run() is running; it then ends as `canceled`."""

    @property
    def healthy(self) -> bool:
        """False once the predictor process is gone: the worker must stop taking work."""
        ...
