"""Cancellation through the queue: a client writes the request, the worker's predictor stops."""

from __future__ import annotations

import asyncio
import time

from queue_helpers import client, pending_count, runs_per_prediction, terminal_events, wait_terminal


def test_cancel_reaches_a_running_prediction_within_a_second(stream, start_worker, redis_url):
    start_worker(stream)

    async def main() -> float:
        c = client(redis_url, stream)
        pid = f"{stream}-long"
        await c.submit({"text": pid, "sleep": 0.1, "count": 600}, prediction_id=pid)  # ~60 s
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = await c.status(pid)
            if state and state["status"] == "processing" and "line 2" in state["logs"]:
                break
            assert not state or state["status"] == "processing", state
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the prediction never got going")
        asked = time.monotonic()
        await c.cancel(pid)
        final = (await wait_terminal(c, [pid], timeout=10))[pid]
        latency = time.monotonic() - asked
        assert final["status"] == "canceled"
        assert final["output"] is None
        assert "line 2" in final["logs"] and "line 590" not in final["logs"]
        assert await terminal_events(c, pid) == 1
        assert await pending_count(c) == 0

        # The worker is free again afterwards.
        nxt = f"{stream}-next"
        await c.submit({"text": nxt}, prediction_id=nxt)
        assert (await wait_terminal(c, [nxt], timeout=30))[nxt]["output"] == nxt.upper()
        await c.close()
        return latency

    latency = asyncio.run(main())
    # Functional bound only (generous for a loaded CI box); the measured value is reported.
    print(f"cancel latency {latency * 1000:.0f} ms")
    assert latency < 5


def test_cancel_before_the_prediction_starts_never_runs_it(stream, start_worker, redis_url):
    async def main() -> None:
        c = client(redis_url, stream)
        pid = f"{stream}-early"
        await c.cancel(pid)  # the client gave up before any worker took the entry
        await c.submit({"text": pid}, prediction_id=pid)
        start_worker(stream)
        final = (await wait_terminal(c, [pid], timeout=30))[pid]
        assert final["status"] == "canceled"
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert runs_per_prediction(start_worker.runs_dir)[f"{stream}-early"] == 0
