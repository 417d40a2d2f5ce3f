"""`python -m cog.server.redis_queue` (the in-image entry) runs from environment variables alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from queue_helpers import client, wait_terminal

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"


def test_cog_server_redis_queue_uses_environment_defaults(stream, redis_url, tmp_path):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "COG_QUEUE_STREAM": stream,
        "COG_QUEUE_CONSUMER": "from-env",
        "PYTHONPATH": f"{REPO / 'compat'}:{REPO}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cog.server.redis_queue"],
        cwd=FIXTURES / "basic",
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "consuming stream" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert f"consuming stream '{stream}' as cogkit/from-env" in log.read_text()

        async def main() -> dict:
            c = client(redis_url, stream)
            pid = await c.submit({"text": "env"}, prediction_id=f"{stream}-env")
            state = (await wait_terminal(c, [pid], timeout=30))[pid]
            await c.close()
            return state

        assert asyncio.run(main())["output"] == "ENV"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_setup_failure_exits_1_and_leaves_the_queue_untouched(stream, redis_url, start_worker):
    async def submit() -> None:
        c = client(redis_url, stream)
        await c.submit({"text": "x"}, prediction_id=f"{stream}-waiting")
        await c.close()

    asyncio.run(submit())
    worker = start_worker(stream, model="setup_fail", ready=False)
    assert worker.wait(60) == 1
    assert "weights missing" in worker.log

    async def check() -> None:
        c = client(redis_url, stream)
        assert await c.status(f"{stream}-waiting") is None
        assert await c.redis.xlen(stream) == 1
        await c.close()

    asyncio.run(check())
