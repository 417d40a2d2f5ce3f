"""Server-Sent Events for synchronous predictions requested with `Accept: text/event-stream`.

Event names follow coglet: `start`, `output` ({"chunk", "index"} per iterator item), `log`
({"text"}), `metric` ({"name", "value"}) and `completed` (the full terminal response).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cogkit.runtime.types import json_encoder

if TYPE_CHECKING:
    from aiohttp import web

    from cogkit.runtime.prediction import Prediction

HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(event: str, data: bytes) -> bytes:
    # JSON never contains raw newlines, so one `data:` line per event is enough.
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


async def pump(stream: web.StreamResponse, pred: Prediction, events: asyncio.Queue[tuple[str, Any]]) -> None:
    """Write events as they arrive until the prediction completes."""
    index = 0
    while True:
        event, data = await events.get()
        if event == "start":
            payload = pred.encode()
        elif event == "output":
            payload = json_encoder.encode({"chunk": data, "index": index})
            index += 1
        elif event == "log":
            payload = json_encoder.encode({"text": data})
        elif event == "metric":
            payload = json_encoder.encode({"name": data[0], "value": data[1]})
        elif event == "completed":
            await stream.write(frame("completed", pred.encode()))
            return
        else:
            continue
        await stream.write(frame(event, payload))
