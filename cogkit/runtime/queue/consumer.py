"""The queue worker: takes prediction requests from a Redis Streams consumer group and runs them.

Delivery guarantees come from Redis' pending entries list (PEL), not from this process:
- an entry is read with XREADGROUP and stays pending until the script that stores its
  terminal state acks it, so a worker that dies leaves its entries pending;
- a live worker refreshes the idle time of the entries it holds (XCLAIM JUSTID) every third
  of the visibility timeout, so only a dead or partitioned worker's entries go idle for longer
  than that, and XAUTOCLAIM hands exactly those to another worker;
- whenever a slot frees, one TAKE script adopts such entries before it reads new ones, so a
  stopped worker's entry never waits behind the backlog that arrived after it;
- the begin script refuses a prediction that already has a terminal state or that another
  live run holds the lease of, so a reclaimed or duplicated entry is never run twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from cogkit.runtime.pyversions import ASYNC_TIMEOUT
from cogkit.runtime.queue.backend import BackendUnavailable, PredictionBackend
from cogkit.runtime.queue.cancel import CancelWatcher
from cogkit.runtime.queue.protocol import (
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_GROUP,
    DEFAULT_STATE_TTL,
    Job,
    check_stream_name,
    failed_state,
    lease_key,
    parse_entry,
)
from cogkit.runtime.queue.store import TRANSIENT_ERRORS, StateStore, backoff, retrying
from cogkit.runtime.types import CANCELED, PredictionResponse, now_iso

log = logging.getLogger("cogkit.queue")


# (reclaimed entries, their delivery counts, new entries, begin verdicts of both in that order)
_Taken = tuple[list[Any], dict[str, int], list[Any], list[str | None]]


def default_consumer_name() -> str:
    """Unique per process, stable for its lifetime: the PEL records entries per consumer."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class WorkerOptions:
    stream: str
    group: str = DEFAULT_GROUP
    consumer: str = ""
    # Entries held beyond the predictor's slots (its concurrency, counted by the backend's
    # `slots`, never here). 0 suits a GPU fleet (an entry never waits behind a
    # long prediction while another worker idles); many tiny jobs want 16 or so (round trips).
    prefetch: int = 0
    visibility_timeout: float = 30.0
    state_ttl: int = DEFAULT_STATE_TTL
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    drain_timeout: float | None = None  # SIGTERM: how long to wait for in-flight predictions
    max_deliveries: int = 5  # deliveries after which an entry fails instead of running (0: no limit)
    block_ms: int = 1000
    # Standalone Redis: also write the terminal state to the first layout's `prediction:<id>`
    # and honour `prediction:<id>:cancel` (a cluster cannot: those keys hash to other slots).
    legacy_keys: bool = False

    def __post_init__(self) -> None:
        self.consumer = self.consumer or default_consumer_name()
        check_stream_name(self.stream)
        if self.prefetch < 0:
            raise ValueError("prefetch must not be negative")
        if self.visibility_timeout <= 0:
            raise ValueError("visibility timeout must be positive")


class QueueWorker:
    """Consumes one stream with one consumer name until stopped; see the module docstring."""

    def __init__(self, redis: aioredis.Redis, backend: PredictionBackend, options: WorkerOptions) -> None:
        self.redis = redis
        self.backend = backend
        self.opts = options
        self.store = StateStore(
            redis,
            options.stream,
            options.group,
            state_ttl=options.state_ttl,
            events_maxlen=options.events_maxlen,
            legacy_keys=options.legacy_keys,
        )
        self.cancels = CancelWatcher(redis, backend.cancel, options.stream, legacy_keys=options.legacy_keys)
        self.lease_ms = int(options.visibility_timeout * 1000)
        self._held: dict[str, Job] = {}  # entry id -> job: every entry pending on this consumer
        self._finishing: set[str] = set()  # held entries whose terminal write is under way
        self._cursor = "0-0"  # XAUTOCLAIM's position in the pending entries list
        self._leases: dict[str, str] = {}  # prediction id -> lease token, while we run it
        self._room = asyncio.Event()  # an entry was released: maybe read more
        self._stopping = asyncio.Event()
        self._unstarted: set[str] = set()  # held entries waiting for a slot
        self._tasks: set[asyncio.Task[None]] = set()
        self.exit_code = 0
        self.completed = 0

    # ------------------------------------------------------------------ lifecycle
    def stop(self, exit_code: int | None = None) -> None:
        """Stop taking entries; in-flight predictions finish (SIGTERM handler)."""
        if exit_code is not None:
            self.exit_code = exit_code
        if not self._stopping.is_set():
            log.info("stopping: no new entries; %d prediction(s) in flight", self.backend.slots.taken)
        self._stopping.set()
        self.backend.slots.wake()  # entries waiting for a slot go back to other workers
        self._room.set()

    async def run(self) -> int:
        """Consume until stop() and return the process exit code."""
        await self._ensure_group()
        self.store.start()
        helpers = [
            asyncio.create_task(self.cancels.run(), name="queue-cancel-watcher"),
            asyncio.create_task(self._heartbeat(), name="queue-heartbeat"),
        ]
        log.info(
            "consuming stream %r as %s/%s (concurrency %d, visibility timeout %gs)",
            self.opts.stream,
            self.opts.group,
            self.opts.consumer,
            self.backend.slots.size,
            self.opts.visibility_timeout,
        )
        try:
            await self._read_loop()
            await self._drain()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        return self.exit_code

    async def _drain(self) -> None:
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            log.info("draining %d in-flight prediction(s)", self.backend.slots.taken)
            _, late = await asyncio.wait(pending, timeout=self.opts.drain_timeout)
            if late:
                log.warning("drain timeout: leaving %d entr(y/ies) pending for another worker", len(late))
                leases = dict(self._leases)
                try:
                    await asyncio.wait_for(
                        asyncio.gather(*(self.store.release_lease(p, t) for p, t in leases.items())), 5
                    )
                except (*ASYNC_TIMEOUT, *TRANSIENT_ERRORS):
                    pass  # the leases expire after the visibility timeout anyway
                await self._release(list(self._held))
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                return
        try:  # remaining non-terminal updates; never hang the exit on a Redis that went away
            await asyncio.wait_for(self.store.close(), self.opts.drain_timeout or 10.0)
        except ASYNC_TIMEOUT:
            log.warning("redis unreachable at exit: last progress updates not stored")

    # ------------------------------------------------------------------ reading
    async def _ensure_group(self) -> None:
        async for attempt in backoff():
            with attempt:
                try:
                    # From "0": entries queued before the first worker started are work too.
                    await self.redis.xgroup_create(self.opts.stream, self.opts.group, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise

    async def _read_loop(self) -> None:
        # Read again once half the prefetch window is free (or we hold nothing): one read per
        # batch of entries instead of one per finished prediction. An entry whose prediction
        # has ended no longer counts: the next read rides with its terminal write.
        capacity = self.backend.slots.size + self.opts.prefetch  # entries held at most
        low_water = max(1, (self.opts.prefetch + 1) // 2)
        while not self._stopping.is_set():
            busy = len(self._held) - len(self._finishing)
            free = capacity - busy
            if free < low_water and busy:
                self._room.clear()
                await self._room.wait()
                continue
            reclaimed, deliveries, entries, verdicts = await self._take(free)
            if not reclaimed and not entries:
                # Nothing waiting: block for new entries (reclaimable ones are looked for again
                # at the latest one block later).
                entries = await self._read(free)
                verdicts = [None] * len(entries)
            if self._stopping.is_set():
                self._dispatch_for_release(reclaimed + entries, verdicts)
                continue
            if reclaimed:
                log.info("reclaimed %d entr(y/ies) left pending by a stopped worker", len(reclaimed))
                self._dispatch(reclaimed, verdicts[: len(reclaimed)], deliveries)
            if entries:
                self._dispatch(entries, verdicts[len(reclaimed) :])

    async def _take(self, free: int, *, read: bool = True) -> _Taken:
        """One TAKE script (retried while Redis is away): (reclaimed, their deliveries, new, verdicts)."""
        while True:
            try:
                reply = await self.store.take(
                    self.opts.consumer, list(self._held), free, self._cursor, self.lease_ms, read=read
                )
                break
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("consumer group missing (Redis lost its data?); recreating it")
                await self._ensure_group()
        cursor, count, raw, delivered, raw_verdicts = reply
        self._cursor = _text(cursor)
        entries = [(eid, _pairs(fields)) for eid, fields in raw]
        verdicts = [_text(v) or None for v in raw_verdicts]
        reclaimed = entries[:count]
        deliveries = {_text(eid): int(n) for (eid, _), n in zip(reclaimed, delivered, strict=True)}
        return reclaimed, deliveries, entries[count:], verdicts

    async def _reclaim_once(self, free: int) -> list[tuple[Any, Any]]:
        """Adopt up to `free` entries idle for a visibility timeout, none of them ours.

        XAUTOCLAIM counts a delivery for every entry it returns, even one this worker already holds;
        if our heartbeat was late (a stalled loop on a busy machine), that would inflate the count
        --max-deliveries judges by. The TAKE script refreshes our own entries first, in the same
        atomic step, which makes them too fresh to be returned.
        """
        reclaimed, _, _, _ = await self._take(free, read=False)
        return reclaimed

    async def _read(self, count: int) -> list[Any]:
        return await retrying(self._read_once, count)

    async def _read_once(self, count: int) -> list[Any]:
        try:
            reply = await self.redis.xreadgroup(
                self.opts.group,
                self.opts.consumer,
                {self.opts.stream: ">"},
                count=count,
                block=self.opts.block_ms,
            )
        except ResponseError as exc:
            # NOGROUP: the group is gone; UNBLOCKED: the stream was deleted under our read.
            if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                raise
            log.warning("consumer group missing (Redis lost its data?); recreating it")
            await self._ensure_group()
            return []
        if isinstance(reply, dict):  # RESP3 shape
            return [e for entries in reply.values() for batch in entries for e in batch]
        return [e for _, entries in reply or [] for e in entries]

    def _dispatch(
        self, entries: list[Any], verdicts: list[str | None], deliveries: dict[str, int] | None = None
    ) -> None:
        limit = self.opts.max_deliveries
        for (entry_id, fields), verdict in zip(entries, verdicts, strict=True):
            job = parse_entry(self.opts.stream, entry_id, fields or {})
            delivered = (deliveries or {}).get(job.entry_id, 0)
            if limit and delivered > limit and job.error is None:
                # Every worker that took it so far died: do not let it take down the whole fleet.
                job.error = (
                    f"gave up after {delivered - 1} worker(s) stopped while holding this prediction "
                    f"(limit --max-deliveries {limit}); see those workers' logs"
                )
            self._held[job.entry_id] = job
            task = asyncio.create_task(self._handle(job, verdict))
            self._tasks.add(task)
            task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        """A job task that raised (e.g. Redis refused a script) leaves its entry pending, no longer
        refreshed: after the visibility timeout some worker reclaims it. Say so in the log."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("queue entry left pending after an error: %r", exc)

    def _dispatch_for_release(self, entries: list[Any], verdicts: list[str | None] | None = None) -> None:
        task = asyncio.create_task(self._hand_back(entries, verdicts or [None] * len(entries)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hand_back(self, entries: list[Any], verdicts: list[str | None]) -> None:
        """Stopping: give back entries just read, and the leases the TAKE script took for them,
        so the next worker can begin them at once instead of finding them `busy`."""
        for (entry_id, fields), verdict in zip(entries, verdicts, strict=True):
            if verdict in ("run", "canceled"):
                job = parse_entry(self.opts.stream, entry_id, fields or {})
                await self.store.release_lease(job.prediction_id, f"{self.opts.consumer}/{job.entry_id}")
        await self._release([_text(e) for e, _ in entries])

    # ------------------------------------------------------------------ one job
    async def _handle(self, job: Job, verdict: str | None) -> None:
        entry, pid = job.entry_id, job.prediction_id
        token = f"{self.opts.consumer}/{entry}"
        try:
            if verdict is None:
                # Not begun by the TAKE script (no `id` field, or read by a blocking read). Begin
                # before waiting for a slot: the begins of prefetched entries share round trips
                # with the running prediction's writes instead of sitting on its critical path.
                verdict = await self.store.begin(pid, token, self.lease_ms)
            if verdict == "done":
                log.info("prediction %s already finished; acking duplicate entry %s", pid, entry)
                await self.store.ack(entry, pid, token)
                return
            if verdict == "busy":
                # Another live run owns it: leave the entry pending (it is re-examined after a
                # visibility timeout, and acked once that run has stored its terminal state).
                log.info("prediction %s is running elsewhere; leaving entry %s pending", pid, entry)
                return
            self._leases[pid] = token
            if job.error is not None or job.request is None:
                log.warning("entry %s: %s", entry, job.error)
                await self.store.finish(entry, failed_state(job, job.error or "malformed entry"), token)
                return
            if verdict == "canceled":
                await self.store.finish(entry, _canceled_before_start(job), token)
                return
            if not await self._take_slot(entry):
                # Stopping: give the lease back and hand the entry to another worker now.
                await self.store.release_lease(pid, token)
                await self._release([entry])
                return
            await self._run(job, token)
        finally:
            self._leases.pop(pid, None)
            self._held.pop(entry, None)
            self._finishing.discard(entry)
            self._room.set()

    async def _run(self, job: Job, token: str) -> None:
        entry, pid = job.entry_id, job.prediction_id
        assert job.request is not None
        self.cancels.watch(pid)
        try:
            state = await self.backend.run(job.request, self.store.publish)
        except BackendUnavailable as exc:
            log.error("the predictor cannot take work (%s); stopping, entry left for others", exc)
            await self.store.release_lease(pid, token)
            await self._release([entry])
            self.stop(exit_code=1)
            return
        except Exception as exc:  # a runtime bug must fail this prediction, not wedge its entry
            log.exception("prediction %s raised in the runtime", pid)
            state = failed_state(job, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.cancels.unwatch(pid)
            # The runner freed the slot before run() returned: the next prediction starts now,
            self._finishing.add(entry)  # and the next read joins that round trip
            self._room.set()
        stored = await self.store.finish(entry, state, token)
        self.completed += 1
        if not stored:
            log.warning("prediction %s had a terminal state already; kept the first one", pid)
        if not self.backend.healthy:
            log.error("the predictor process is gone; stopping (entries left pending)")
            self.stop(exit_code=1)

    async def _take_slot(self, entry: str) -> bool:
        """Wait until the predictor has a free slot; False when stopping instead. The caller
        submits with no await in between, so the runner takes that very slot."""
        slots = self.backend.slots
        self._unstarted.add(entry)
        try:
            while slots.full and not self._stopping.is_set():
                await slots.wait_free()
            return not self._stopping.is_set()
        finally:
            self._unstarted.discard(entry)

    # ------------------------------------------------------------------ ownership upkeep
    async def _heartbeat(self) -> None:
        """Keep our entries and leases fresh so no other worker reclaims live work."""
        interval = max(0.05, self.opts.visibility_timeout / 3)
        while True:
            await asyncio.sleep(interval)
            held = list(self._held)
            leases = dict(self._leases)
            if not held and not leases:
                continue
            try:
                # Leases first: an entry then never turns reclaimable while its lease still lives.
                async with self.redis.pipeline(transaction=False) as pipe:
                    for pid in leases:
                        pipe.pexpire(lease_key(self.opts.stream, pid), self.lease_ms)
                    if held:
                        pipe.xclaim(
                            self.opts.stream, self.opts.group, self.opts.consumer, 0, held, justid=True
                        )
                    await pipe.execute(raise_on_error=False)
            except TRANSIENT_ERRORS as exc:
                log.debug("heartbeat failed: %s", exc)

    async def _release(self, entry_ids: list[str]) -> None:
        """Hand entries back: mark them idle for longer than the visibility timeout, so any
        worker's next XAUTOCLAIM takes them without waiting (there is no 'unclaim' in Redis)."""
        if not entry_ids:
            return
        try:
            await self.redis.xclaim(
                self.opts.stream,
                self.opts.group,
                self.opts.consumer,
                0,
                entry_ids,
                idle=self.lease_ms * 2,
                justid=True,
            )
            log.info("released %d unstarted entr(y/ies) for other workers", len(entry_ids))
        except (*TRANSIENT_ERRORS, ResponseError) as exc:
            log.warning("could not release entries (they are reclaimed after the timeout): %s", exc)
        for entry in entry_ids:
            self._held.pop(entry, None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(fields: Any) -> dict[Any, Any]:
    """A script returns an entry's fields as a flat [field, value, ...] list."""
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2], strict=True)) if fields else {}


def _canceled_before_start(job: Job) -> PredictionResponse:
    now = now_iso()
    request = job.request
    return PredictionResponse(
        id=job.prediction_id,
        input=request.input if request else None,
        status=CANCELED,
        created_at=(request.created_at if request else None) or now,
        completed_at=now,
    )
