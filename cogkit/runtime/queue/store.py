"""Prediction state in Redis, written by one group-commit writer that never drops a write.

Every state transition of every in-flight prediction goes through one queue of operations.
A single task drains it into one pipeline per round trip, so N concurrent predictions cost
one round trip, not N (this is what makes >1,000 jobs/s possible from one Python process).
When Redis is unreachable the batch is retried with backoff until it is stored: a computed
result is never lost, and its entry is acked only by the same atomic script that stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, NoScriptError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from cogkit.runtime.queue import scripts
from cogkit.runtime.queue.protocol import (
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_STATE_TTL,
    cancel_key,
    encode_state,
    events_key,
    key_prefix,
    lease_key,
    legacy_cancel_key,
    legacy_state_key,
    state_key,
)
from cogkit.runtime.types import TERMINAL_STATUSES, PredictionResponse

log = logging.getLogger("cogkit.queue")
T = TypeVar("T")

# Errors that mean "Redis is (temporarily) not there": retry. Anything else is a bug or a
# server-side refusal and goes to the caller. On a cluster, a master that died or is failing
# over answers CLUSTERDOWN / TRYAGAIN (or not at all) for its slots until it is back.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterDownError,
    TryAgainError,
)

# How long a batch holding only non-terminal updates waits for more operations: a prediction
# that ends within it costs one write (its terminal state) instead of two.
UPDATE_LINGER = 0.005

# A batch that gets no complete answer within this long is sent again on a new connection
# (the same bound the pooled connections' socket timeout sets; see connection.py).
BATCH_TIMEOUT = 10.0


# asyncio.timeout is 3.11+ and the image's Python may be 3.10: looked up, never named directly
_ASYNC_TIMEOUT: Any = getattr(asyncio, "timeout", None)


def _deadline(seconds: float) -> contextlib.AbstractAsyncContextManager[Any]:
    """asyncio.timeout where there is one (a timer, no extra task), else no deadline here: on
    3.10 the writer's own connection keeps its socket timeout instead (see _own_connection)."""
    if _ASYNC_TIMEOUT is not None:
        return _ASYNC_TIMEOUT(seconds)
    return contextlib.nullcontext()


def backoff(max_wait: float = 2.0) -> AsyncRetrying:
    """Reconnect policy shared by every Redis call of the worker: jittered exponential, forever."""
    return AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT_ERRORS),
        wait=wait_exponential_jitter(multiplier=0.05, max=max_wait),
        before_sleep=lambda rs: log.warning(
            "redis unavailable (%s); retrying (attempt %d)", rs.outcome.exception(), rs.attempt_number
        ),
        reraise=True,
    )


async def retrying(call: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`call(*args)`, retried with backoff while Redis is unreachable.

    The first attempt runs outside tenacity: setting up a retry loop costs more than a whole
    pipelined round trip, and almost every call succeeds the first time.
    """
    try:
        return await call(*args)
    except TRANSIENT_ERRORS as exc:
        log.warning("redis unavailable (%s); retrying", exc)
    async for attempt in backoff():
        with attempt:
            return await call(*args)
    raise AssertionError("unreachable")


# When several updates of one prediction are coalesced into one write, the published event
# name is the highest-ranked of them.
_EVENT_RANK = {"logs": 1, "output": 2, "start": 3}


@dataclass(slots=True, eq=False)
class _Op:
    kind: str  # begin | take | update | finish | ack | release
    prediction_id: str
    keys: list[str]
    args: list[Any]
    future: asyncio.Future[Any] | None = None
    dropped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class StateStore:
    """Atomic state transitions of predictions, batched across predictions, retried until stored."""

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        group: str,
        *,
        state_ttl: int = DEFAULT_STATE_TTL,
        events_maxlen: int = DEFAULT_EVENTS_MAXLEN,
        legacy_keys: bool = False,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.state_ttl = state_ttl
        self.events_maxlen = events_maxlen
        self.legacy_keys = legacy_keys  # standalone Redis: keep prediction:<id> readable too
        self._scripts = {
            "begin": scripts.BEGIN,
            "take": scripts.TAKE,
            "update": scripts.UPDATE,
            "finish": scripts.FINISH,
            "ack": scripts.ACK,
            "release": scripts.RELEASE,
        }
        self._shas = {kind: hashlib.sha1(text.encode()).hexdigest() for kind, text in self._scripts.items()}
        self._ops: list[_Op] = []
        self._unflushed_update: dict[str, _Op] = {}
        self._wakeup = asyncio.Event()  # write a batch now
        self._linger: asyncio.TimerHandle | None = None  # write queued updates soon
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # Standalone Redis: the writer keeps one connection of its own and writes each batch
        # straight to it (redis-py's Pipeline costs more CPU than the round trip it saves).
        # A cluster goes through the cluster pipeline, which routes and follows failovers.
        self._direct = not isinstance(redis, RedisCluster)
        self._conn: Any = None

    # ------------------------------------------------------------------ operations
    async def begin(self, prediction_id: str, token: str, lease_ms: int) -> str:
        """Take the run lease unless the prediction is finished, leased elsewhere or cancelled."""
        st, pid = self.stream, prediction_id
        keys = [state_key(st, pid), lease_key(st, pid), cancel_key(st, pid)]
        if self.legacy_keys:
            keys += [legacy_state_key(pid), legacy_cancel_key(pid)]
        result = await self._submit(_Op("begin", pid, keys, [token, lease_ms]))
        return result.decode() if isinstance(result, bytes) else str(result)

    async def take(
        self, consumer: str, held: list[str], count: int, cursor: str, min_idle_ms: int, *, read: bool = True
    ) -> list[Any]:
        """One TAKE script: reclaimed entries first, then new ones (see scripts.TAKE).

        It rides in the same pipeline as the terminal writes of the predictions that just
        ended, so a job costs one round trip from the last one's end to its own start.
        """
        args = [
            self.group,
            consumer,
            min_idle_ms,
            cursor,
            count,
            1 if read else 0,
            min_idle_ms,
            key_prefix(self.stream),
            1 if self.legacy_keys else 0,
            *held,
        ]
        return await self._submit(_Op("take", "", [self.stream], args))

    def publish(
        self, state: PredictionResponse, event: str, encode: Callable[[], bytes] | None = None
    ) -> None:
        """Store and publish a non-terminal update, without waiting.

        The state is encoded when the batch is written, not now: a burst of log lines costs
        one encode and one write per round trip, not one per line.
        """
        pid = state.id or ""
        pending = self._unflushed_update.get(pid)
        if pending is not None:
            pending.extra["encode"] = encode or (lambda: encode_state(state))
            pending.extra["state"] = state
            # Coalesced updates keep the most telling name: a batch that started the prediction
            # or added output must not be published as a mere log update.
            if _EVENT_RANK.get(event, 0) >= _EVENT_RANK.get(pending.args[3], 0):
                pending.args[3] = event
            return
        keys = [state_key(self.stream, pid), events_key(self.stream, pid)]
        op = _Op("update", pid, keys, [b"", self.state_ttl, self.events_maxlen, event])
        op.extra["encode"] = encode or (lambda: encode_state(state))
        op.extra["state"] = state
        self._unflushed_update[pid] = op
        self._enqueue(op)

    async def finish(self, entry_id: str, state: PredictionResponse, token: str) -> bool:
        """Store the terminal state and ack the entry in one step; returns False if another won."""
        pid = state.id or ""
        superseded = self._unflushed_update.pop(pid, None)
        if superseded is not None:
            superseded.dropped = True  # the terminal state carries everything it had
        st = self.stream
        keys = [state_key(st, pid), events_key(st, pid), lease_key(st, pid), st]
        if self.legacy_keys:
            keys.append(legacy_state_key(pid))
        args = [encode_state(state), self.state_ttl, self.events_maxlen, self.group, entry_id, token]
        return bool(await self._submit(_Op("finish", pid, keys, args)))

    async def ack(self, entry_id: str, prediction_id: str, token: str) -> None:
        """Ack an entry whose prediction is already terminal."""
        keys = [lease_key(self.stream, prediction_id), self.stream]
        await self._submit(_Op("ack", prediction_id, keys, [self.group, entry_id, token]))

    async def release_lease(self, prediction_id: str, token: str) -> None:
        """Give up a lease without a terminal state (the prediction was not run)."""
        keys = [lease_key(self.stream, prediction_id)]
        await self._submit(_Op("release", prediction_id, keys, [token]))

    async def flush(self) -> None:
        """Wait until every queued operation is stored."""
        while self._ops or not self._idle.is_set():
            self._wakeup.set()
            await self._idle.wait()
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ writer
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="queue-state-writer")

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.disconnect()

    def _enqueue(self, op: _Op) -> None:
        """A progress update: written within UPDATE_LINGER, so that the prediction can end (or
        log more) first and they share one write. Anything someone waits for cuts this short.
        (One timer per batch, not a wake-up of the writer per update.)"""
        self._ops.append(op)
        self._idle.clear()
        if self._linger is None and not self._wakeup.is_set():
            self._linger = asyncio.get_running_loop().call_later(UPDATE_LINGER, self._wakeup.set)

    def _submit(self, op: _Op) -> asyncio.Future[Any]:
        """An operation someone waits for: written in the next batch."""
        op.future = asyncio.get_running_loop().create_future()
        self._ops.append(op)
        self._idle.clear()
        self._wakeup.set()
        return op.future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            # One more turn of the event loop lets operations issued by the same wake-up (a
            # prediction's finish and the next one's read) join this round trip.
            await asyncio.sleep(0)
            self._wakeup.clear()
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
            if not self._ops:
                self._idle.set()
                continue
            batch, self._ops = self._ops, []
            self._unflushed_update.clear()
            for op in batch:
                if op.kind == "update":
                    # The live state may have gone terminal meanwhile: only finish() writes that.
                    if op.extra["state"].status in TERMINAL_STATUSES:
                        op.dropped = True
                    else:
                        op.args[0] = op.extra["encode"]()
            batch = [op for op in batch if not op.dropped]
            if not batch:  # only updates that a terminal state superseded
                if not self._ops:
                    self._idle.set()
                continue
            try:
                results = await self._execute(batch)
            except Exception as exc:  # not transient: fail the waiters, keep the writer alive
                log.exception("state write failed")
                for op in batch:
                    if op.future is not None and not op.future.done():
                        op.future.set_exception(exc)
            else:
                for op, result in zip(batch, results, strict=True):
                    if op.future is None or op.future.done():
                        if isinstance(result, Exception):
                            log.error("state %s for %s failed: %s", op.kind, op.prediction_id, result)
                        continue
                    if isinstance(result, Exception):
                        op.future.set_exception(result)
                    else:
                        op.future.set_result(result)
            if not self._ops:
                self._idle.set()

    async def _execute(self, batch: list[_Op]) -> list[Any]:
        """One pipeline of EVALSHAs; scripts are (re)loaded when Redis lost them (e.g. a restart).

        Every script is idempotent, so re-running a batch after a dropped connection is safe.
        """
        return await retrying(self._store_batch, batch)

    async def _store_batch(self, batch: list[_Op]) -> list[Any]:
        results = await self._pipeline(batch)
        for result in results:
            # A cluster pipeline hands a node's connection error back as a result: the whole
            # batch is sent again (the scripts are idempotent), never failed to its waiters.
            if isinstance(result, TRANSIENT_ERRORS):
                raise result
        if any(isinstance(r, NoScriptError) for r in results):
            for kind, text in self._scripts.items():
                self._shas[kind] = await self.redis.script_load(text)
            results = await self._pipeline(batch)
        return results

    async def _pipeline(self, batch: list[_Op]) -> list[Any]:
        if self._direct:
            return await self._write_direct(batch)
        async with self.redis.pipeline(transaction=False) as pipe:
            for op in batch:
                # execute_command: redis-py's cluster pipeline refuses its evalsha() helper,
                # though every script here keeps to one slot (the stream's hash tag).
                pipe.execute_command("EVALSHA", self._shas[op.kind], len(op.keys), *op.keys, *op.args)
            return await pipe.execute(raise_on_error=False)

    def _own_connection(self) -> Any:
        """A connection like the pool's, kept by the writer alone. On 3.11+ it has no socket
        timeout (each batch has one deadline instead of a timer per read and a task per send)."""
        pool = self.redis.connection_pool
        kwargs = dict(pool.connection_kwargs)
        if _ASYNC_TIMEOUT is not None:
            kwargs["socket_timeout"] = None
        return pool.connection_class(**kwargs)

    async def _write_direct(self, batch: list[_Op]) -> list[Any]:
        """The batch as one write of EVALSHAs on the writer's connection, then one reply each:
        a refused script comes back as its error (like a pipeline with raise_on_error=False)."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._own_connection()
        shas = self._shas
        packed = b"".join(
            [_resp_command(("EVALSHA", shas[op.kind], len(op.keys), *op.keys, *op.args)) for op in batch]
        )
        results: list[Any] = []
        try:
            async with _deadline(BATCH_TIMEOUT):
                await conn.send_packed_command(packed, check_health=False)
                for _ in batch:
                    try:
                        results.append(await conn.read_response())
                    except ResponseError as exc:
                        results.append(exc)
        except BaseException:
            # A half-read batch leaves replies on the wire: start the next on a new connection.
            await conn.disconnect(nowait=True)
            raise
        return results


def _resp_command(args: tuple[Any, ...]) -> bytes:
    """One command in Redis' wire format (RESP): what redis-py's pack_command writes, for the
    few argument types the scripts take, without its per-argument dispatch."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif not isinstance(arg, (bytes, bytearray, memoryview)):
            arg = repr(arg).encode()  # floats, as redis-py's encoder writes them
        parts.append(b"$%d\r\n" % len(arg))
        parts.append(bytes(arg) if isinstance(arg, memoryview) else arg)
        parts.append(b"\r\n")
    return b"".join(parts)
