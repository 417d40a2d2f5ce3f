"""Async client-side helpers shared by the queue tests."""

from __future__ import annotations

import asyncio
import functools
import os
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import redis

from cogkit.runtime.queue import connection
from cogkit.runtime.queue.client import QueueClient
from cogkit.runtime.queue.protocol import events_key, state_key

TERMINAL = {"succeeded", "failed", "canceled"}


@functools.cache
def is_cluster(url: str) -> bool:
    r = redis.Redis.from_url(url)
    try:
        return bool(r.info("cluster").get("cluster_enabled"))
    finally:
        r.close()


def async_redis(url: str) -> Any:
    """A standalone or cluster asyncio client, as the worker would pick for `url`."""
    return connection.cluster(url) if is_cluster(url) else connection.standalone(url)


def client(url: str, stream: str) -> QueueClient:
    return QueueClient(async_redis(url), stream)


async def wait_terminal(c: QueueClient, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll until every id has a terminal state; fail with the stragglers after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        missing = [pid for pid in ids if pid not in done]
        if not missing:
            return done
        async with c.redis.pipeline(transaction=False) as pipe:
            for pid in missing:
                pipe.get(state_key(c.stream, pid))
            raw = await pipe.execute()
        for pid, value in zip(missing, raw, strict=True):
            if value:
                state = msgspec.json.decode(value)
                if state["status"] in TERMINAL:
                    done[pid] = state
        if asyncio.get_running_loop().time() > deadline:
            still = [pid for pid in ids if pid not in done]
            raise AssertionError(f"{len(still)} prediction(s) without a terminal state: {still[:5]}")
        await asyncio.sleep(0.05)


async def terminal_events(c: QueueClient, pid: str) -> int:
    """How many terminal states were ever published for a prediction (must be exactly 1)."""
    entries = await c.redis.xrange(events_key(c.stream, pid))
    return sum(1 for _, f in entries if msgspec.json.decode(f[b"state"])["status"] in TERMINAL)


async def pending_count(c: QueueClient, group: str = "cogkit") -> int:
    info = await c.redis.xpending(c.stream, group)
    return int(info["pending"])


def runs_per_prediction(runs_dir: Path) -> Counter[str]:
    """The predictor writes one file per run named `<text>.<random>`."""
    return Counter(name.rsplit(".", 1)[0] for name in os.listdir(runs_dir))
