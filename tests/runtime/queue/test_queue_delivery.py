"""Delivery guarantees with real workers: nothing lost when a worker dies, nothing run twice."""

from __future__ import annotations

import asyncio
import time

from queue_helpers import (
    async_redis,
    client,
    pending_count,
    runs_per_prediction,
    terminal_events,
    wait_terminal,
)

from cogkit.runtime.queue.consumer import QueueWorker, WorkerOptions
from cogkit.runtime.queue.protocol import lease_key


def test_three_workers_300_jobs_one_sigkilled_mid_prediction(stream, start_worker, redis_url):
    # The victim is slow on every prediction, so once it holds a lease it is surely mid-prediction.
    victim = start_worker(stream, "--visibility-timeout", "2", env={"EXTRA_SLEEP": "30"})
    survivors = [start_worker(stream, "--visibility-timeout", "2") for _ in range(2)]
    ids = [f"{stream}-{i:03d}" for i in range(300)]

    async def main() -> None:
        c = client(redis_url, stream)
        for pid in ids:
            await c.submit({"text": pid, "sleep": 0.01}, prediction_id=pid)

        # Wait until the victim has started a prediction, then SIGKILL it (and its predictor).
        killed_during: str | None = None
        deadline = time.monotonic() + 30
        while killed_during is None and time.monotonic() < deadline:
            async with c.redis.pipeline(transaction=False) as pipe:
                for pid in ids:
                    pipe.get(lease_key(stream, pid))
                leases = await pipe.execute()
            for pid, holder in zip(ids, leases, strict=True):
                # A lease is taken before a prefetched entry gets a slot: "processing" is the proof.
                if holder and holder.decode().startswith(victim.consumer + "/"):
                    state = await c.status(pid)
                    if state and state["status"] == "processing":
                        killed_during = pid
            await asyncio.sleep(0.01)
        assert killed_during is not None, "the victim never started a prediction"
        victim.kill()
        assert (await c.status(killed_during))["status"] == "processing"

        states = await wait_terminal(c, ids, timeout=90)
        assert len(states) == 300
        assert all(s["status"] == "succeeded" for s in states.values()), {
            k: s["error"] for k, s in states.items() if s["status"] != "succeeded"
        }
        assert all(states[pid]["output"] == pid.upper() for pid in ids)
        # Exactly one terminal state per job, ever, and the queue is empty.
        counts = [await terminal_events(c, pid) for pid in ids]
        assert counts == [1] * 300
        assert await pending_count(c) == 0

        runs = runs_per_prediction(start_worker.runs_dir)
        assert runs[killed_during] == 2  # cut off on the victim, run again by a survivor
        assert sum(runs.values()) == 300 + 1
        assert set(runs) == set(ids)
        assert any("reclaimed" in w.log for w in survivors)
        await c.close()

    asyncio.run(main())
    for w in survivors:
        assert w.proc.poll() is None


def test_prediction_id_with_terminal_state_is_never_run_again(stream, start_worker, redis_url):
    worker = start_worker(stream)

    async def main() -> None:
        c = client(redis_url, stream)
        pid = f"{stream}-once"
        await c.submit({"text": pid}, prediction_id=pid)
        first = await wait_terminal(c, [pid], timeout=30)
        # The same id again (a client retry, a duplicated entry): acked without running.
        await c.submit({"text": pid}, prediction_id=pid)
        later = f"{stream}-later"
        await c.submit({"text": later}, prediction_id=later)
        await wait_terminal(c, [later], timeout=30)
        assert await c.status(pid) == first[pid]
        assert await terminal_events(c, pid) == 1
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    runs = runs_per_prediction(start_worker.runs_dir)
    assert runs[f"{stream}-once"] == 1
    assert "already finished" in worker.log


def test_an_entry_that_keeps_killing_its_workers_fails_after_max_deliveries(stream, start_worker, redis_url):
    args = ("--visibility-timeout", "1", "--max-deliveries", "2")
    pid = f"{stream}-poison"

    async def submit() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": pid}, prediction_id=pid)
        await c.close()

    asyncio.run(submit())
    victims = []
    for _ in range(2):  # delivery 1 and 2: each worker dies holding it
        victims.append(start_worker(stream, *args))
        assert victims[-1].wait(30) == -9
    survivor = start_worker(stream, *args)

    async def check() -> None:
        c = client(redis_url, stream)
        state = (await wait_terminal(c, [pid], timeout=30))[pid]
        assert state["status"] == "failed"
        assert "gave up after 2 worker(s) stopped" in state["error"]
        assert await pending_count(c) == 0
        nxt = f"{stream}-after"
        await c.submit({"text": nxt}, prediction_id=nxt)
        assert (await wait_terminal(c, [nxt], timeout=30))[nxt]["status"] == "succeeded"
        await c.close()

    asyncio.run(check())
    assert survivor.proc.poll() is None


def test_async_predictor_runs_concurrency_max_predictions_at_once(stream, start_worker, redis_url):
    worker = start_worker(stream, model="async")  # cog.yaml concurrency.max: 4
    assert "(concurrency 4," in worker.log
    ids = [f"{stream}-a{i}" for i in range(8)]

    async def main() -> list[dict]:
        c = client(redis_url, stream)
        for pid in ids:
            await c.submit({"text": pid, "sleep": 1.0}, prediction_id=pid)
        states = await wait_terminal(c, ids, timeout=30)
        await c.close()
        return [states[pid] for pid in ids]

    states = asyncio.run(main())
    assert [s["output"] for s in states] == [pid.upper() for pid in ids]
    # 8 one-second predictions, 4 at a time: two waves, so at most 4 overlap any instant.
    spans = sorted((s["started_at"], s["completed_at"]) for s in states)
    overlaps = [sum(1 for s, e in spans if s <= start < e) for start, _ in spans]
    assert max(overlaps) == 4


class _UnusedBackend:
    """The reclaim round never runs a prediction; the worker only needs something to hold."""

    async def cancel(self, prediction_id: str) -> None:  # pragma: no cover - never called
        raise AssertionError("no prediction runs here")


def test_a_late_heartbeat_never_counts_as_another_delivery(stream, redis_url):
    """A worker whose own entry went idle (a stalled loop) must not re-claim it: XAUTOCLAIM would
    count a delivery, and --max-deliveries would blame a worker that never stopped."""

    async def main() -> None:
        r = async_redis(redis_url)
        options = WorkerOptions(stream=stream, consumer="alive", visibility_timeout=1.0)
        await r.xgroup_create(stream, options.group, id="0", mkstream=True)
        ours = (await r.xadd(stream, {"x": "1"})).decode()
        await r.xreadgroup(options.group, "alive", {stream: ">"}, count=1)
        worker = QueueWorker(r, _UnusedBackend(), options)  # type: ignore[arg-type]
        worker.store.start()  # the reclaim round's script goes through the state writer
        worker._held[ours] = None  # type: ignore[assignment]  # taken, as the read loop would
        await r.xclaim(stream, options.group, "alive", 0, [ours], idle=5000, justid=True)  # heartbeat late

        theirs = (await r.xadd(stream, {"x": "2"})).decode()
        await r.xreadgroup(options.group, "stopped", {stream: ">"}, count=1)
        await r.xclaim(stream, options.group, "stopped", 0, [theirs], idle=5000, justid=True)

        claimed = await worker._reclaim_once(free=2)
        assert [eid.decode() for eid, _ in claimed] == [theirs]  # a stopped worker's entry is adopted
        pending = await r.xpending_range(stream, options.group, min="-", max="+", count=10)
        delivered = {p["message_id"].decode(): p["times_delivered"] for p in pending}
        assert delivered == {ours: 1, theirs: 2}
        await worker.store.close()
        await r.aclose()

    asyncio.run(main())
