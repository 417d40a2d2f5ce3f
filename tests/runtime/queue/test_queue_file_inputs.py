"""File inputs through the queue follow the HTTP server's rule (one runner): URLs only, no denied address."""

from __future__ import annotations

import asyncio

from queue_helpers import client, wait_terminal


def test_paths_schemes_and_denied_addresses_fail_in_one_line(stream, start_worker, redis_url):
    start_worker(stream, model="fileinput")
    jobs = {
        f"{stream}-path": "/etc/passwd",
        f"{stream}-dots": "../../../../etc/hostname",
        f"{stream}-file": "FILE:///etc/passwd",
        f"{stream}-ftp": "ftp://x/y",
        f"{stream}-meta": "http://169.254.169.254/latest/meta-data/",
        f"{stream}-mapped": "http://[::ffff:169.254.169.254]/",
        f"{stream}-good": "data:,fine",
    }

    async def main() -> dict:
        c = client(redis_url, stream)
        for pid, value in jobs.items():
            await c.submit({"f": value}, prediction_id=pid)
        states = await wait_terminal(c, list(jobs), 60)
        await c.close()
        return states

    states = asyncio.run(main())
    assert states[f"{stream}-good"]["status"] == "succeeded"
    assert states[f"{stream}-good"]["output"] == "fine"
    for pid in jobs:
        if pid.endswith("-good"):
            continue
        state = states[pid]
        assert state["status"] == "failed", state
        error = state["error"]
        assert "\n" not in error and "Traceback" not in (state.get("logs") or ""), state
        if pid.endswith(("-meta", "-mapped")):
            assert "denied network (169.254.0.0/16)" in error, error
        else:
            assert error.startswith("invalid input: input.f: input 'f'"), error
            assert "data:, http: or https:" in error, error
