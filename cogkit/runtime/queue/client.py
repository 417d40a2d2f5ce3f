"""Client side of the queue protocol: submit, read state, follow updates live, cancel.

Used by `cogkit queue ...`, the tests and the benchmark; other languages only need the key
names in protocol.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from redis.asyncio import Redis

from cogkit.runtime.queue.protocol import (
    CANCEL_TTL,
    EVENT_FIELD,
    ID_FIELD,
    REQUEST_FIELD,
    STATE_FIELD,
    TERMINAL_STATUSES,
    cancel_key,
    encode_request,
    events_key,
    legacy_state_key,
    schema_key,
    state_key,
)
from cogkit.runtime.types import PredictionRequest, now_iso


def new_prediction_id() -> str:
    return uuid.uuid4().hex


class QueueClient:
    """Talks to one queue stream and its predictions' keys (they carry the stream's hash tag).

    `redis` is a `redis.asyncio.Redis` or a `redis.asyncio.cluster.RedisCluster`: every call
    here touches one key, or keys of one slot.
    """

    def __init__(self, redis: Redis | Any, stream: str) -> None:
        self.redis = redis
        self.stream = stream

    @classmethod
    async def from_url(cls, url: str, stream: str) -> QueueClient:
        """Connects to a standalone Redis or a cluster, whichever `url` points at."""
        from cogkit.runtime.queue.connection import open_redis

        return cls(await open_redis(url), stream)

    async def close(self) -> None:
        await self.redis.aclose()

    async def submit(
        self,
        input: dict[str, Any],
        *,
        prediction_id: str | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        output_file_prefix: str | None = None,
    ) -> str:
        """Queue one prediction and return its id."""
        pid = prediction_id or new_prediction_id()
        request = PredictionRequest(
            id=pid,
            created_at=now_iso(),  # so the state shows the time spent queued (started_at - created_at)
            input=input,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,  # type: ignore[arg-type]
            output_file_prefix=output_file_prefix,
        )
        await self.submit_raw(encode_request(request), prediction_id=pid)
        return pid

    async def submit_raw(self, body: bytes | str, *, prediction_id: str | None = None) -> str:
        """Queue an already-encoded request body as is (tests use it for malformed entries)."""
        fields: dict[str, bytes | str] = {REQUEST_FIELD: body}
        if prediction_id:
            fields[ID_FIELD] = prediction_id
        entry = await self.redis.xadd(self.stream, fields)  # type: ignore[arg-type]
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    async def schema(self) -> dict[str, Any] | None:
        """The model's OpenAPI schema as the workers published it (None before any worker ran)."""
        raw = await self.redis.get(schema_key(self.stream))
        return msgspec.json.decode(raw) if raw else None

    async def status(self, prediction_id: str) -> dict[str, Any] | None:
        """The stored state (the HTTP response JSON), or None if unknown or expired.

        A terminal state that a standalone Redis also holds under the first layout's name
        `prediction:<id>` is found even when the stream given here is not the one it ran on.
        """
        raw = await self.redis.get(state_key(self.stream, prediction_id))
        if raw is None:
            raw = await self.redis.get(legacy_state_key(prediction_id))
        return msgspec.json.decode(raw) if raw else None

    async def cancel(self, prediction_id: str) -> None:
        """Ask whichever worker holds the prediction to cancel it (also before it starts)."""
        await self.redis.set(cancel_key(self.stream, prediction_id), b"1", ex=CANCEL_TTL)

    async def follow(
        self, prediction_id: str, *, block_ms: int = 5000
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (event, state) for every update, from the first, until the terminal one."""
        cursor = "0-0"
        key = events_key(self.stream, prediction_id)
        while True:
            reply = await self.redis.xread({key: cursor}, block=block_ms, count=100)
            if not reply:
                # Nothing new: maybe it finished long ago and its events were trimmed or expired.
                state = await self.status(prediction_id)
                if state is not None and state.get("status") in TERMINAL_STATUSES:
                    yield "completed", state
                    return
                continue
            for entry_id, fields in reply[0][1]:
                cursor = entry_id
                event = fields[EVENT_FIELD.encode()].decode()
                state = msgspec.json.decode(fields[STATE_FIELD.encode()])
                yield event, state
                if state.get("status") in TERMINAL_STATUSES:
                    return

    async def wait(self, prediction_id: str, *, block_ms: int = 5000) -> dict[str, Any]:
        """Block until the prediction has a terminal state and return it."""
        last: dict[str, Any] = {}
        async for _, state in self.follow(prediction_id, block_ms=block_ms):
            last = state
        return last
