"""Webhooks and file outputs through the queue are the HTTP server's own (one runner)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from queue_helpers import client, wait_terminal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/runtime: the HTTP harness
from http_harness import Receiver  # noqa: E402


def test_webhooks_and_uploads_behave_as_the_http_server(stream, start_worker, redis_url):
    receiver = Receiver().start()
    try:
        start_worker(stream, "--upload-url", f"{receiver.url}/upload/", model="files")

        async def main() -> dict:
            c = client(redis_url, stream)
            pid = f"{stream}-file"
            await c.submit({"text": "payload"}, prediction_id=pid, webhook=f"{receiver.url}/hook",
                           webhook_events_filter=["start", "completed"])
            state = (await wait_terminal(c, [pid], timeout=30))[pid]
            await c.close()
            return state

        state = asyncio.run(main())
        assert state["status"] == "succeeded", state
        # The file went to the upload URL (PUT), and the output is where it was stored.
        puts = [r for r in receiver.received if r.method == "PUT"]
        assert len(puts) == 1 and puts[0].path.startswith("/upload/") and puts[0].body == b"payload"
        assert state["output"] == f"{receiver.url}/stored{puts[0].path}"
        # Webhooks: start then completed; the terminal one carries exactly the stored state.
        hooks = receiver.wait_for(lambda b: any(x["status"] == "succeeded" for x in b))
        assert [h["status"] for h in hooks][0] == "processing"
        assert hooks[-1] == state
        assert all(r.path == "/hook" for r in receiver.received if r.method == "POST")
    finally:
        receiver.stop()
