"""A stopped worker's entry goes first: it never waits behind the backlog that arrived after it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from queue_helpers import client, runs_per_prediction, wait_terminal

from cogkit.runtime.queue.protocol import lease_key

VISIBILITY = 3.0


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_reclaimed_entry_runs_within_two_visibility_timeouts_under_a_steady_backlog(
    stream, start_worker, redis_url
):
    vt = ("--visibility-timeout", str(VISIBILITY))
    victim = start_worker(stream, *vt, env={"EXTRA_SLEEP": "60"})
    orphan = f"{stream}-orphan"
    # ~0.05 s each on one survivor: the backlog lasts far longer than the bound below.
    backlog = [f"{stream}-b{i:03d}" for i in range(500)]

    async def main() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": orphan}, prediction_id=orphan)
        deadline = time.monotonic() + 30
        lease = lease_key(stream, orphan)
        while not ((await c.redis.get(lease)) or b"").decode().startswith(victim.consumer):
            assert time.monotonic() < deadline, "the victim never took the entry"
            await asyncio.sleep(0.02)
        survivor = start_worker(stream, *vt)
        for pid in backlog:
            await c.submit({"text": pid, "sleep": 0.05}, prediction_id=pid)
        await wait_terminal(c, backlog[:5], timeout=30)  # the survivor is busy with the backlog
        victim.kill()
        killed_at = time.time()

        state = (await wait_terminal(c, [orphan], timeout=60))[orphan]
        assert state["status"] == "succeeded"
        ran_at = _ts(state["started_at"])
        # Reclaimable once idle for a visibility timeout; then it must go before newer entries.
        assert ran_at - (killed_at + VISIBILITY) < 2 * VISIBILITY, ran_at - killed_at
        states = await wait_terminal(c, backlog, timeout=120)
        after = [pid for pid in backlog if _ts(states[pid]["started_at"]) > ran_at]
        assert len(after) > 100, "the backlog was not steady: the test proves nothing"
        assert "reclaimed" in survivor.log
        await c.close()

    asyncio.run(main())
    assert runs_per_prediction(start_worker.runs_dir)[orphan] == 2
