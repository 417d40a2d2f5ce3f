"""Server-Sent Events for predictions requested with `Accept: text/event-stream` (Cog 0.21+).

Wire format and semantics follow coglet (crates/coglet/src/prediction.rs `PredictionStreamEvent`,
crates/coglet/src/transport/http/routes.rs; Cog's docs/http.md "Streaming predictions"):

* events `start` ({"id", "status"}), `output` ({"chunk", "index"}), `log` ({"source", "data"}),
  `metric` ({"name", "value", "mode"}) and `completed` (the terminal prediction); a
  `:keep-alive` comment every 15 s; the stream ends after `completed`.
* Every prediction of a streaming model keeps a replay ring of its last
  `COG_STREAM_HISTORY_CAPACITY` events (default 1024; `0` keeps none, and a late subscriber then
  sees only what comes next; an invalid value warns and uses the default). When older events were
  dropped from the ring, a reconnecting client (`PUT /predictions/{id}` with SSE) gets one
  `error` event {"error": "SSE stream replay truncated; events were dropped", "skipped": N} and
  the stream closes; otherwise the ring is replayed, then the stream goes live.
* A subscriber that falls 1024 events behind gets {"error": "SSE stream lagged; events were
  dropped", "skipped": N} and is closed; more than 1024 subscribers → 429.

An SSE prediction runs on its own, as in Cog (the server "starts the prediction asynchronously"):
a dropped connection does not cancel it, so a client can come back to it by id.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cogkit.runtime.types import json_encoder

if TYPE_CHECKING:
    from aiohttp import web

    from cogkit.runtime.prediction import Prediction

log = logging.getLogger("cogkit.server")

HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DEFAULT_HISTORY_CAPACITY = 1024  # coglet prediction.rs DEFAULT_STREAM_HISTORY_CAPACITY
LIVE_CAPACITY = 1024  # coglet's broadcast channel: a subscriber this far behind has lagged
MAX_SUBSCRIBERS = 1024  # coglet MAX_STREAM_SUBSCRIBERS
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b":keep-alive\n\n"
TRUNCATED = "SSE stream replay truncated; events were dropped"
LAGGED = "SSE stream lagged; events were dropped"


def history_capacity(env: Mapping[str, str] = os.environ) -> int:
    """COG_STREAM_HISTORY_CAPACITY: a non-negative event count; anything else warns, then 1024."""
    raw = env.get("COG_STREAM_HISTORY_CAPACITY")
    if raw is None or not raw.strip():
        return DEFAULT_HISTORY_CAPACITY
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        log.warning(
            "invalid COG_STREAM_HISTORY_CAPACITY=%r (want a whole number >= 0); using %d",
            raw,
            DEFAULT_HISTORY_CAPACITY,
        )
        return DEFAULT_HISTORY_CAPACITY
    return value


def frame(event: str, data: bytes) -> bytes:
    # JSON never contains raw newlines, so one `data:` line per event is enough.
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class TooManySubscribers(Exception):
    pass


class Subscriber:
    """One open stream's queue of frames, bounded like coglet's broadcast receiver."""

    __slots__ = ("frames", "lagged", "wake")

    def __init__(self, frames: list[bytes]) -> None:
        self.frames: deque[bytes] = deque(frames)
        self.lagged = 0
        self.wake = asyncio.Event()
        if frames:
            self.wake.set()

    def push(self, data: bytes) -> None:
        if self.lagged or len(self.frames) >= LIVE_CAPACITY:
            self.lagged += 1
        else:
            self.frames.append(data)
        self.wake.set()


class StreamHub:
    """A prediction's events as SSE frames: the replay ring and the open subscribers.

    It is a Prediction listener; frames are encoded once, when the event happens.
    """

    __slots__ = ("capacity", "history", "skipped", "subscribers", "_index", "completed")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.history: deque[bytes] = deque()
        self.skipped = 0
        self.subscribers: list[Subscriber] = []
        self._index = 0
        self.completed: bytes | None = None

    def on_event(self, pred: Prediction, event: str, data: Any) -> None:
        if event == "start":
            payload = json_encoder.encode({"id": pred.id, "status": pred.response.status})
        elif event == "output":
            payload = json_encoder.encode({"chunk": data, "index": self._index})
            self._index += 1
        elif event == "log":
            text, source = data
            payload = json_encoder.encode({"source": source, "data": text})
        elif event == "metric":
            # the worker sends the value with its mode already applied: a replace of the whole value
            payload = json_encoder.encode({"name": data[0], "value": data[1], "mode": "replace"})
        elif event == "completed":
            payload = pred.encode()
        else:
            return
        out = frame(event, payload)
        if event == "completed":
            self.completed = out
        if self.capacity:
            if len(self.history) >= self.capacity:
                self.history.popleft()
                self.skipped += 1
            self.history.append(out)
        for sub in self.subscribers:
            sub.push(out)

    def subscribe(self) -> tuple[Subscriber, int]:
        """A new subscriber primed with the replay ring, and how many older events were dropped."""
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            raise TooManySubscribers
        history = list(self.history)
        if self.completed is not None and (not history or history[-1] is not self.completed):
            history.append(self.completed)  # history off (or it ended): the end is always delivered
        sub = Subscriber(history)
        self.subscribers.append(sub)
        return sub, self.skipped

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)


async def pump(stream: web.StreamResponse, sub: Subscriber, skipped: int) -> None:
    """Write a subscriber's frames until `completed` (or the truncation/lag error)."""
    if skipped:
        await stream.write(frame("error", json_encoder.encode({"error": TRUNCATED, "skipped": skipped})))
        return
    while True:
        if sub.lagged:
            await stream.write(frame("error", json_encoder.encode({"error": LAGGED, "skipped": sub.lagged})))
            return
        while sub.frames and not sub.lagged:
            data = sub.frames.popleft()
            await stream.write(data)
            if data.startswith(b"event: completed\n"):
                return
        if sub.lagged:
            continue
        sub.wake.clear()
        try:
            await asyncio.wait_for(sub.wake.wait(), KEEPALIVE_SECONDS)
        except asyncio.TimeoutError:  # noqa: UP041 (not the builtin on Python 3.10)
            await stream.write(KEEPALIVE)
