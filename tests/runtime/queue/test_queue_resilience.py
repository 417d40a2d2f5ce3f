"""Redis going away under a busy worker, and SIGTERM draining: no result lost, nothing run twice."""

from __future__ import annotations

import asyncio
import time

import pytest
from queue_helpers import client, pending_count, runs_per_prediction, terminal_events, wait_terminal


@pytest.mark.parametrize("redis_url", ["standalone"], indirect=True)  # a private redis-server of its own
def test_redis_restarted_while_jobs_are_in_flight(private_redis, start_worker):
    worker = start_worker("restart", "--visibility-timeout", "5", redis=private_redis.url)
    ids = [f"restart-{i:02d}" for i in range(40)]

    async def submit_all() -> None:
        c = client(private_redis.url, "restart")
        for pid in ids:
            await c.submit({"text": pid, "sleep": 0.05}, prediction_id=pid)
        # Let some finish, then pull Redis out from under the worker mid-prediction.
        await wait_terminal(c, ids[:5], timeout=30)
        await c.close()

    asyncio.run(submit_all())
    private_redis.stop()
    time.sleep(2)  # predictions finish meanwhile; their results must wait, not vanish
    private_redis.start()

    async def check() -> None:
        c = client(private_redis.url, "restart")
        states = await wait_terminal(c, ids, timeout=60)
        assert all(s["status"] == "succeeded" for s in states.values()), states
        assert [await terminal_events(c, pid) for pid in ids] == [1] * len(ids)
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(check())
    assert worker.proc.poll() is None, worker.log
    assert "redis unavailable" in worker.log
    runs = runs_per_prediction(start_worker.runs_dir)
    assert set(runs) == set(ids)
    # A prediction whose result was held during the outage is stored, not run again.
    assert max(runs.values()) == 1


def test_sigterm_finishes_in_flight_predictions_and_leaves_the_rest(stream, start_worker, redis_url):
    first = start_worker(stream, "--visibility-timeout", "30", "--prefetch", "2")
    slow = f"{stream}-slow"
    queued = [f"{stream}-q{i}" for i in range(5)]

    async def main() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": slow, "sleep": 1.5}, prediction_id=slow)
        for pid in queued:
            await c.submit({"text": pid}, prediction_id=pid)
        deadline = time.monotonic() + 30
        while (await c.status(slow) or {}).get("status") != "processing":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        first.terminate()
        assert await asyncio.to_thread(first.wait, 30) == 0
        # The in-flight prediction finished and was stored before the worker exited.
        assert (await c.status(slow))["status"] == "succeeded"
        taken = [pid for pid in queued if await c.status(pid) is not None]
        assert taken == [], "a stopping worker started new predictions"

        # Entries it had prefetched were handed back: a new worker takes them well before
        # the 30 s visibility timeout.
        t0 = time.monotonic()
        start_worker(stream, "--visibility-timeout", "30")
        states = await wait_terminal(c, queued, timeout=20)
        assert time.monotonic() - t0 < 20
        assert all(s["status"] == "succeeded" for s in states.values())
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert "draining 1 in-flight" in first.log
    assert runs_per_prediction(start_worker.runs_dir)[slow] == 1


def test_drain_timeout_hands_the_unfinished_prediction_to_another_worker(stream, start_worker, redis_url):
    first = start_worker(stream, "--visibility-timeout", "30", "--drain-timeout", "0.5")
    long = f"{stream}-long"

    async def main() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": long, "sleep": 3}, prediction_id=long)
        deadline = time.monotonic() + 30
        while (await c.status(long) or {}).get("status") != "processing":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        first.terminate()
        assert await asyncio.to_thread(first.wait, 30) == 0
        assert (await c.status(long))["status"] == "processing"  # abandoned, not failed
        # Lease given back and entry marked idle: taken at once, not after 30 s.
        start_worker(stream, "--visibility-timeout", "30")
        state = (await wait_terminal(c, [long], timeout=20))[long]
        assert state["status"] == "succeeded"
        assert await terminal_events(c, long) == 1
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert "drain timeout" in first.log
    assert runs_per_prediction(start_worker.runs_dir)[long] == 2


def test_predictor_crash_fails_that_prediction_and_the_worker_exits_for_a_restart(
    stream, start_worker, redis_url
):
    first = start_worker(stream, "--prefetch", "2")
    crash = f"{stream}-crash"
    others = [f"{stream}-after{i}" for i in range(2)]

    async def main() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": crash}, prediction_id=crash)
        for pid in others:
            await c.submit({"text": pid}, prediction_id=pid)
        state = (await wait_terminal(c, [crash], timeout=30))[crash]
        assert state["status"] == "failed" and state["error"], state
        assert await asyncio.to_thread(first.wait, 30) == 1
        # Entries it held but had not started go to the next worker.
        start_worker(stream, "--prefetch", "2")
        states = await wait_terminal(c, others, timeout=30)
        assert all(s["status"] == "succeeded" for s in states.values())
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert "predictor" in first.log and "stopping" in first.log
