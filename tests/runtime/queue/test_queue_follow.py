"""Clients follow logs and outputs live, through the API and through `cogkit queue`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from queue_helpers import client

REPO = Path(__file__).resolve().parents[3]


def test_client_follows_logs_and_outputs_live(stream, start_worker, redis_url):
    start_worker(stream, model="stream")

    async def main() -> list[tuple[float, str, dict]]:
        c = client(redis_url, stream)
        pid = await c.submit({"n": 5, "interval": 0.3}, prediction_id=f"{stream}-live")
        seen = []
        async for event, state in c.follow(pid):
            seen.append((time.monotonic(), event, state))
        await c.close()
        return seen

    seen = asyncio.run(main())
    final = seen[-1][2]
    assert final["status"] == "succeeded"
    assert final["output"] == [f"item {i}" for i in range(5)]
    assert final["logs"] == "".join(f"step {i}\n" for i in range(5))
    # Updates arrived while it ran, growing one item at a time, long before the end.
    partial = [s for _, _, s in seen if s["status"] == "processing" and s["output"]]
    lengths = sorted({len(s["output"]) for s in partial})
    assert len(lengths) >= 3, [len(s["output"] or []) for _, _, s in seen]
    first_output_at = next(t for t, _, s in seen if s["output"])
    assert seen[-1][0] - first_output_at > 0.8  # 5 items 0.3 s apart: the first came >1 s early
    assert {e for _, e, _ in seen} >= {"output", "completed"}
    assert [e for _, e, _ in seen].count("completed") == 1


def _cli(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cogkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_cli_submit_wait_streams_logs_and_status_reads_state(stream, start_worker, redis_url):
    start_worker(stream)
    pid = f"{stream}-cli"
    # -i values are typed with the schema the worker published (count=3 becomes an int).
    done = _cli(
        "queue",
        "submit",
        "--redis",
        redis_url,
        "--stream",
        stream,
        "--id",
        pid,
        "-i",
        "text=hi",
        "-i",
        "count=3",
        "-i",
        "sleep=0.05",
        "--wait",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == pid
    final = json.loads("\n".join(lines[1:]))
    assert final["status"] == "succeeded" and final["output"] == "HI"
    assert final["input"] == {"text": "hi", "count": 3, "sleep": 0.05}
    assert "line 0\nline 1\nline 2\n" in done.stderr

    status = _cli("queue", "status", "--redis", redis_url, "--stream", stream, pid)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == final

    missing = _cli("queue", "status", "--redis", redis_url, "--stream", stream, f"{stream}-nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no prediction") and "hint:" in missing.stderr


def test_cli_reports_unreachable_redis_in_one_line():
    done = _cli("queue", "status", "--redis", "redis://127.0.0.1:1/0", "x")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "Traceback" not in done.stderr


def test_cli_rejects_bad_worker_options_in_one_line():
    basic = Path(__file__).parent / "fixtures" / "basic"
    done = _cli("queue-worker", "--prefetch", "-1", "--redis", "redis://127.0.0.1:1/0", cwd=basic)
    assert done.returncode == 1
    assert done.stderr == (
        "error: invalid queue-worker option: prefetch must not be negative\n"
        "hint: see `cogkit queue-worker --help`\n"
    )
