"""Delivers cancel requests written by clients to the predictions running in this worker.

A client cancels by creating the prediction's cancel key (`prediction:{<tag>}:<id>:cancel`;
on standalone Redis the first layout's `prediction:<id>:cancel` too). Polling the keys of the (few) running
predictions every 200 ms meets the 1 s budget with one pipelined round trip per tick, keeps
working across reconnects with no subscription state to rebuild, and also catches a cancel
written before the prediction started (the begin script checks the same key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from cogkit.runtime.queue.protocol import cancel_key, legacy_cancel_key
from cogkit.runtime.queue.store import TRANSIENT_ERRORS

log = logging.getLogger("cogkit.queue")

POLL_INTERVAL = 0.2


class CancelWatcher:
    """Calls `on_cancel(prediction_id)` once a client has asked to cancel a watched prediction."""

    def __init__(
        self,
        redis: aioredis.Redis,
        on_cancel: Callable[[str], Awaitable[None]],
        stream: str,
        *,
        legacy_keys: bool = False,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.redis = redis
        self.on_cancel = on_cancel
        self.stream = stream
        self.legacy_keys = legacy_keys
        self.interval = interval
        self._watched: dict[str, bool] = {}  # prediction id -> cancel already delivered

    def watch(self, prediction_id: str) -> None:
        self._watched[prediction_id] = False

    def unwatch(self, prediction_id: str) -> None:
        self._watched.pop(prediction_id, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._watched:
                await self.poll_once()

    async def poll_once(self) -> None:
        ids = [pid for pid, delivered in self._watched.items() if not delivered]
        if not ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for pid in ids:
                    pipe.exists(cancel_key(self.stream, pid))
                    if self.legacy_keys:  # one key per command: EXISTS a b would span slots
                        pipe.exists(legacy_cancel_key(pid))
                replies = await pipe.execute()
            if self.legacy_keys:
                found = [a or b for a, b in zip(replies[::2], replies[1::2], strict=True)]
            else:
                found = replies
        except TRANSIENT_ERRORS as exc:  # the next tick tries again; the store handles reconnects
            log.debug("cancel poll failed: %s", exc)
            return
        for pid, exists in zip(ids, found, strict=True):
            if exists and pid in self._watched:
                log.info("cancel requested for %s", pid)
                self._watched[pid] = True
                try:
                    await self.on_cancel(pid)
                except Exception:
                    log.exception("cancelling %s failed", pid)
