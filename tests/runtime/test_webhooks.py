"""cogkit.runtime.webhooks on its own, against a real local aiohttp receiver (no model, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from cogkit.runtime import httpclient
from cogkit.runtime.webhooks import WebhookSender


class Receiver:
    """Answers POSTs from a script of statuses (then 200) and records what arrived."""

    def __init__(self, script: list[int | tuple[int, dict[str, str]]] | None = None) -> None:
        self.script = list(script or [])
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Receiver:
        async def handle(request: web.Request) -> web.Response:
            self.bodies.append(json.loads(await request.read()))
            self.headers.append(dict(request.headers))
            action = self.script.pop(0) if self.script else 200
            status, headers = action if isinstance(action, tuple) else (action, {})
            return web.Response(status=status, headers=headers)

        app = web.Application()
        app.router.add_post("/hook", handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _run(coro: Awaitable[None]) -> None:
    async def main() -> None:
        try:
            await coro
        finally:
            await httpclient.close()

    asyncio.run(main())


class State:
    """A prediction's JSON that changes as events happen (what the runner's encode() returns)."""

    def __init__(self) -> None:
        self.value: dict[str, Any] = {"status": "processing", "n": 0}

    def encode(self) -> bytes:
        return json.dumps(self.value).encode()


def test_the_terminal_event_is_retried_with_retry_after_and_carries_auth_and_trace() -> None:
    async def scenario() -> None:
        async with Receiver([503, (429, {"Retry-After": "0"})]) as hook:
            sender = WebhookSender(auth_token="tok", throttle=0, backoff_base=0.01)
            state = State()
            channel = sender.channel(hook.url, ["completed"], state.encode, {"traceparent": "00-abc-01"})
            state.value = {"status": "succeeded", "n": 1}
            channel.notify("completed")
            await sender.drain(10)
            assert sender.pending == 0
            assert [b["status"] for b in hook.bodies] == ["succeeded"] * 3
            assert all(h["Authorization"] == "Bearer tok" and h["traceparent"] == "00-abc-01"
                       for h in hook.headers)

    _run(scenario())


def test_non_terminal_events_are_coalesced_and_the_terminal_event_is_last() -> None:
    async def scenario() -> None:
        async with Receiver() as hook:
            sender = WebhookSender(throttle=0.2)
            state = State()
            channel = sender.channel(hook.url, None, state.encode)
            channel.notify("start")
            for i in range(50):
                state.value = {"status": "processing", "n": i}
                channel.notify("output")
                await asyncio.sleep(0.01)  # 0.5 s of events
            state.value = {"status": "succeeded", "n": 99}
            channel.notify("completed")
            await sender.drain(10)
            assert 2 <= len(hook.bodies) <= 6, hook.bodies  # at most one per 0.2 s, plus the terminal
            assert hook.bodies[-1] == {"status": "succeeded", "n": 99}

    _run(scenario())


def test_the_events_filter_and_an_unretryable_answer() -> None:
    async def scenario() -> None:
        async with Receiver([400]) as hook:
            sender = WebhookSender(throttle=0, backoff_base=0.01)
            state = State()
            channel = sender.channel(hook.url, ["completed"], state.encode)
            channel.notify("start")
            channel.notify("logs")
            channel.notify("completed")
            channel.notify("completed")  # terminal once
            await sender.drain(10)
            assert len(hook.bodies) == 1  # 400: delivered and refused, not retried

    _run(scenario())


def test_retries_end_after_max_retries() -> None:
    async def scenario() -> None:
        async with Receiver([500] * 10) as hook:
            sender = WebhookSender(throttle=0, max_retries=2, backoff_base=0.01)
            sender.channel(hook.url, None, State().encode).notify("completed")
            await sender.drain(10)
            assert len(hook.bodies) == 3 and sender.pending == 0

    _run(scenario())
