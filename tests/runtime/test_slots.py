"""Slots: the one count of a predictor's capacity, shared by the worker, the runner and the queue.

The unit tests pin Slots' own rules; the others check that the worker, the runner and the queue
consumer all read and write that one object (a real Worker child process where it matters).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from cogkit.runtime.queue.consumer import QueueWorker, WorkerOptions
from cogkit.runtime.runner import PredictionRunner
from cogkit.runtime.slots import BUSY_DETAIL, Busy, Slots
from cogkit.runtime.types import PredictionRequest
from cogkit.runtime.worker import Worker

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


# --- Slots on its own ---------------------------------------------------------------------------


def test_take_until_full_then_busy_with_cog_s_409_detail() -> None:
    slots = Slots(2)
    slots.take()
    assert not slots.full
    slots.take()
    assert slots.full and slots.taken == 2
    with pytest.raises(Busy) as refused:
        slots.take()
    assert str(refused.value) == BUSY_DETAIL == "Already running a prediction"
    slots.release()
    assert not slots.full and slots.taken == 1


def test_a_slot_needs_a_positive_size() -> None:
    with pytest.raises(ValueError):
        Slots(0)


def test_waiters_are_served_in_order_and_the_slot_never_becomes_free_in_between() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        assert slots.take_or_wait(max_waiting=2) is None  # taken at once
        first = slots.take_or_wait(max_waiting=2)
        second = slots.take_or_wait(max_waiting=2)
        assert first is not None and second is not None and slots.waiting == 2
        with pytest.raises(Busy):
            slots.take_or_wait(max_waiting=2)  # the wait queue is full too
        slots.release()
        assert first.done() and not second.done()
        assert slots.full and slots.taken == 1  # handed over: nobody else could grab it
        slots.release()
        assert second.done() and slots.taken == 1
        slots.release()
        assert slots.taken == 0 and slots.waiting == 0

    run(scenario)


def test_a_withdrawn_or_abandoned_waiter_is_skipped() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        slots.take()
        gone = slots.take_or_wait(max_waiting=3)
        canceled = slots.take_or_wait(max_waiting=3)
        last = slots.take_or_wait(max_waiting=3)
        assert gone is not None and canceled is not None and last is not None
        slots.withdraw(gone)
        canceled.cancel()
        slots.release()
        assert last.done() and slots.waiting == 0 and slots.taken == 1
        slots.withdraw(gone)  # twice is harmless

    run(scenario)


def test_wait_free_returns_on_release_and_on_wake() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        await asyncio.wait_for(slots.wait_free(), 1)  # free already: returns at once
        slots.take()
        waiting = asyncio.ensure_future(slots.wait_free())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        slots.release()
        await asyncio.wait_for(waiting, 1)
        slots.take()
        woken = asyncio.ensure_future(slots.wait_free())
        await asyncio.sleep(0.05)
        slots.wake()
        await asyncio.wait_for(woken, 1)
        assert slots.full  # woken, but still no slot: the caller re-checks

    run(scenario)


# --- one owner: the worker's slots are the runner's and the queue consumer's --------------------


def test_the_runner_takes_the_worker_s_own_slots() -> None:
    """A prediction the runner admitted fills the real Worker's slot: the worker says BUSY and
    refuses a direct predict(); the runner refuses the next with Busy; all are free again after."""

    async def scenario() -> None:
        worker = Worker("sleepers.py:AsyncSleep", cwd=FIXTURES, concurrency=2)
        await worker.start()
        try:
            runner = PredictionRunner(worker, schema=worker.schema)
            assert runner.slots is worker.slots
            preds = [runner.submit(PredictionRequest(id=f"p{i}", input={"seconds": 0.5})) for i in range(2)]
            assert worker.slots.taken == 2 and worker.state == "BUSY" and runner.busy
            with pytest.raises(Busy):
                worker.predict("direct", {"seconds": 0})
            with pytest.raises(Busy):
                runner.submit(PredictionRequest(id="p3", input={"seconds": 0}))
            finals = await asyncio.gather(*(p.wait() for p in preds))
            assert [f.status for f in finals] == ["succeeded", "succeeded"]
            assert worker.slots.taken == 0 and worker.state == "READY"
            # a direct predict() takes and frees a slot of its own
            events = worker.predict("direct", {"seconds": 0})
            assert worker.slots.taken == 1
            async for _ in events:
                pass
            assert worker.slots.taken == 0
        finally:
            await worker.stop()

    run(scenario)


class _SlotsOnly:
    """A backend that only has slots: the consumer's wait for one never runs a prediction."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots

    async def cancel(self, prediction_id: str) -> None:  # pragma: no cover - never called
        raise AssertionError("no prediction runs here")


def test_the_queue_consumer_waits_on_the_backend_s_slots_and_gives_up_when_stopping() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        client = aioredis.Redis()  # never used: waiting for a slot talks to no one
        consumer = QueueWorker(client, _SlotsOnly(slots), WorkerOptions(stream="slots-unit"))  # type: ignore[arg-type]
        assert await consumer._take_slot("1-0")  # free: at once, and it takes nothing itself
        assert slots.taken == 0
        slots.take()
        waiting = asyncio.ensure_future(consumer._take_slot("2-0"))
        await asyncio.sleep(0.05)
        assert not waiting.done() and "2-0" in consumer._unstarted
        slots.release()
        assert await asyncio.wait_for(waiting, 1)
        slots.take()
        stopped = asyncio.ensure_future(consumer._take_slot("3-0"))
        await asyncio.sleep(0.05)
        consumer.stop()
        assert await asyncio.wait_for(stopped, 1) is False  # handed back, not run
        await client.aclose()

    run(scenario)
