"""The narrow seam between the queue (transport) and the prediction runtime (execution).

The queue worker only needs: run this request to a terminal state, tell me every update, and
stop when this event is set. Keeping the seam this small is what lets the HTTP server and the
queue share one implementation of predict, cancel, logs, files and webhooks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from cogkit.runtime.types import PredictionRequest, PredictionResponse

# (live state, event name: "start" | "output" | "logs")
UpdateCallback = Callable[[PredictionResponse, str], None]


class PredictionBackend(Protocol):
    """Runs predictions for the queue worker."""

    async def start(self) -> None:
        """Start the predictor and run its setup; raise if setup failed."""

    async def run(
        self, request: PredictionRequest, on_update: UpdateCallback, cancel: asyncio.Event
    ) -> PredictionResponse:
        """Run one prediction to its terminal state.

        Prediction errors (bad input, predictor exceptions) come back as a `failed` state, never
        as an exception. Setting `cancel` ends the prediction as `canceled`.
        """
        ...

    @property
    def healthy(self) -> bool:
        """False once the predictor process is gone: the worker must stop taking work."""
        ...

    async def stop(self) -> None:
        """Stop the predictor process."""
