"""Malformed entries end as failed predictions with a clear error; the worker keeps going."""

from __future__ import annotations

import asyncio

from queue_helpers import client, pending_count, runs_per_prediction, wait_terminal


def test_malformed_entries_fail_clearly_and_never_wedge_the_worker(stream, start_worker, redis_url):
    worker = start_worker(stream)

    async def main() -> None:
        c = client(redis_url, stream)
        bad_json = f"{stream}-badjson"
        no_input = f"{stream}-noinput"
        wrong_shape = f"{stream}-shape"
        mismatch = f"{stream}-mismatch"
        await c.submit_raw(b'{"input": {"text": ', prediction_id=bad_json)
        await c.submit_raw(b'{"id": "%s"}' % no_input.encode(), prediction_id=no_input)
        await c.submit_raw(b'{"input": ["not", "an", "object"]}', prediction_id=wrong_shape)
        await c.submit_raw(b'{"id": "other", "input": {}}', prediction_id=mismatch)
        # An entry with no request field and no id at all: its id derives from the entry id.
        entry = await c.redis.xadd(stream, {"garbage": "yes"})
        anonymous = f"{stream}-{entry.decode()}"
        good = f"{stream}-good"
        await c.submit({"text": good}, prediction_id=good)

        states = await wait_terminal(c, [bad_json, no_input, wrong_shape, mismatch, anonymous, good], 30)
        assert states[good]["status"] == "succeeded" and states[good]["output"] == good.upper()
        expected = {
            bad_json: "invalid JSON",
            no_input: "`input` is required",
            wrong_shape: "got `array` - at `$.input`",
            mismatch: "does not match request id",
            anonymous: "no `request` field",
        }
        for pid, fragment in expected.items():
            assert states[pid]["status"] == "failed", pid
            assert fragment in states[pid]["error"], (pid, states[pid]["error"])
            assert states[pid]["id"] == pid
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert worker.proc.poll() is None
    assert set(runs_per_prediction(start_worker.runs_dir)) == {f"{stream}-good"}


def test_input_that_fails_validation_ends_failed_without_running(stream, start_worker, redis_url):
    worker = start_worker(stream)

    async def main() -> None:
        c = client(redis_url, stream)
        wrong_type = f"{stream}-type"
        out_of_range = f"{stream}-range"
        missing = f"{stream}-missing"
        await c.submit({"text": wrong_type, "count": "many"}, prediction_id=wrong_type)
        await c.submit({"text": out_of_range, "count": -1}, prediction_id=out_of_range)
        await c.submit({"count": 1}, prediction_id=missing)
        good = f"{stream}-good"
        await c.submit({"text": good}, prediction_id=good)
        states = await wait_terminal(c, [wrong_type, out_of_range, missing, good], 30)
        assert states[good]["status"] == "succeeded"
        for pid, field in ((wrong_type, "count"), (out_of_range, "count"), (missing, "text")):
            assert states[pid]["status"] == "failed", states[pid]
            assert states[pid]["error"].startswith("invalid input:"), states[pid]["error"]
            assert field in states[pid]["error"]
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert worker.proc.poll() is None
    assert set(runs_per_prediction(start_worker.runs_dir)) == {f"{stream}-good"}


def test_a_request_that_parses_but_fails_validation_keeps_its_json_id(stream, start_worker, redis_url):
    """A client that only put the id in the JSON must still find the failed state under it."""
    worker = start_worker(stream)

    async def main() -> None:
        c = client(redis_url, stream)
        text_input = f"{stream}-p1"
        bad_filter = f"{stream}-p2"
        await c.submit_raw(b'{"id": "%s", "input": "hello"}' % text_input.encode())
        bad = b'{"id": "%s", "input": {"text": "x"}, "webhook_events_filter": "completed"}'
        await c.submit_raw(bad % bad_filter.encode())
        states = await wait_terminal(c, [text_input, bad_filter], 30)
        for pid in (text_input, bad_filter):
            assert states[pid]["status"] == "failed" and states[pid]["id"] == pid
            assert "malformed prediction request" in states[pid]["error"]
        assert await pending_count(c) == 0
        await c.close()

    asyncio.run(main())
    assert worker.proc.poll() is None
