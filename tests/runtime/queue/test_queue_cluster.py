"""A Redis Cluster master SIGKILLed with jobs in flight.

Correct behaviour: the workers of queues on the surviving masters go on as if nothing happened;
the worker whose queue lives on the dead master retries (no crash, no result dropped) and
resumes once the master is back with its append-only file. Nothing is lost, and since the
outage is shorter than the visibility timeout nothing runs twice (a longer one may re-run an
in-flight prediction: the documented at-least-once; still one terminal state).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from queue_helpers import client, pending_count, runs_per_prediction, terminal_events, wait_terminal
from redis.crc import key_slot

REPO = Path(__file__).resolve().parents[3]


def _parse_slots(reply: list) -> dict[int, range]:
    return {int(row[2][1]): range(int(row[0]), int(row[1]) + 1) for row in reply}


def _stream_on(slots: range) -> str:
    while True:
        name = f"test-{uuid.uuid4().hex[:10]}"
        if key_slot(name.encode()) in slots:
            return name


def _cluster_ok(port: int) -> bool:
    try:
        info = redis.Redis(port=port, socket_connect_timeout=0.5).cluster("info")
    except redis.exceptions.RedisError:
        return False
    return info.get("cluster_state") == "ok"


@pytest.mark.parametrize("redis_url", ["cluster"], indirect=True)
def test_a_master_killed_with_jobs_in_flight(redis_cluster_url, start_worker):
    slots = _parse_slots(redis.Redis.from_url(redis_cluster_url).execute_command("CLUSTER SLOTS"))
    url_port = int(redis_cluster_url.rsplit(":", 1)[1].split("/")[0])
    victim_port = next(p for p in sorted(slots) if p != url_port)
    victim = redis.Redis(port=victim_port)
    victim_pid = int(victim.info("server")["process_id"])
    victim_conf = victim.info("server")["config_file"]
    doomed = _stream_on(slots[victim_port])
    safe = _stream_on(slots[url_port])
    vt = ("--visibility-timeout", "30")
    workers = {s: start_worker(s, *vt, redis=redis_cluster_url) for s in (doomed, safe)}
    ids = {s: [f"{s}-{i:02d}" for i in range(40)] for s in (doomed, safe)}

    async def submit_and_kill() -> None:
        for s in (doomed, safe):
            c = client(redis_cluster_url, s)
            for pid in ids[s]:
                await c.submit({"text": pid, "sleep": 0.05}, prediction_id=pid)
            await c.close()
        c = client(redis_cluster_url, doomed)
        await wait_terminal(c, ids[doomed][:5], timeout=30)  # its worker is mid-backlog now
        await c.close()

    asyncio.run(submit_and_kill())
    os.kill(victim_pid, signal.SIGKILL)
    try:
        # The queue on a surviving master finishes while the other master is dead.
        async def survivors_go_on() -> int:
            c = client(redis_cluster_url, safe)
            states = await wait_terminal(c, ids[safe], timeout=30)
            assert all(s["status"] == "succeeded" for s in states.values())
            await c.close()
            return len(states)

        assert asyncio.run(survivors_go_on()) == 40
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis(port=victim_port, socket_connect_timeout=0.5).ping()  # still dead meanwhile
        time.sleep(1)
    finally:
        subprocess.run(["redis-server", victim_conf], check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while not all(_cluster_ok(p) for p in slots):
            assert time.monotonic() < deadline, "the cluster did not heal"
            time.sleep(0.2)

    async def doomed_resumes() -> None:
        c = client(redis_cluster_url, doomed)
        states = await wait_terminal(c, ids[doomed], timeout=60)
        assert all(s["status"] == "succeeded" for s in states.values()), states
        for s in (doomed, safe):
            c2 = client(redis_cluster_url, s)
            assert [await terminal_events(c2, pid) for pid in ids[s]] == [1] * 40
            assert await pending_count(c2) == 0
            await c2.close()
        await c.close()

    asyncio.run(doomed_resumes())
    for w in workers.values():
        assert w.proc.poll() is None, w.log
    assert "redis unavailable" in workers[doomed].log
    for w in workers.values():
        w.terminate()
        assert w.wait(30) == 0, w.log
    runs = runs_per_prediction(start_worker.runs_dir)
    assert set(runs) == set(ids[doomed]) | set(ids[safe])
    assert max(runs.values()) == 1  # the outage was shorter than the visibility timeout

    sync = redis.RedisCluster.from_url(redis_cluster_url)
    for s in (doomed, safe):
        for key in [s, f"{s}:schema", *sync.scan_iter(match=f"prediction:{{{s}}}:*", count=1000)]:
            sync.delete(key)
    sync.close()
