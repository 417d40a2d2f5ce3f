"""Webhook delivery: start/output/logs/completed events, throttled, with a retried terminal event.

Each prediction gets a `WebhookChannel` with its own delivery task. The runner only *marks* that
something changed (O(1), never awaits the network); the task encodes the latest state when it
actually sends. So a slow, failing or absent receiver can never block a prediction, the health
check or the next prediction, and events of one prediction are delivered in order (the terminal
event is always last). Non-terminal events are coalesced to one every `throttle` seconds
(COG_THROTTLE_RESPONSE_INTERVAL, 0.5 s as Cog); the terminal event is sent at once and retried
with exponential backoff on httpclient.RETRY_STATUSES and connection errors, honouring Retry-After
(httpclient.request, the same loop that retries output uploads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable

from cogkit.runtime import httpclient
from cogkit.runtime.pyversions import ASYNC_TIMEOUT
from cogkit.runtime.types import ALL_WEBHOOK_EVENTS

log = logging.getLogger("cogkit.webhooks")

class WebhookSender:
    """Process-wide webhook settings plus the set of deliveries still in flight (for draining)."""

    def __init__(
        self,
        auth_token: str | None = None,
        throttle: float | None = None,
        max_retries: int = 12,
        backoff_base: float = 0.1,
        backoff_max: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self.auth_token = auth_token if auth_token is not None else os.environ.get("WEBHOOK_AUTH_TOKEN")
        if throttle is None:
            throttle = float(os.environ.get("COG_THROTTLE_RESPONSE_INTERVAL", "0.5"))
        self.throttle = throttle
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self._active: set[asyncio.Task[None]] = set()

    def channel(self, url: str, events: Iterable[str] | None, snapshot: Callable[[], bytes],
                trace_headers: dict[str, str] | None = None) -> WebhookChannel:
        wanted = frozenset(events) if events is not None else frozenset(ALL_WEBHOOK_EVENTS)
        return WebhookChannel(self, url, wanted, snapshot, trace_headers)

    @property
    def pending(self) -> int:
        return len(self._active)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for in-flight deliveries, e.g. terminal webhooks during SIGTERM drain."""
        if self._active:
            await asyncio.wait(set(self._active), timeout=timeout)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.auth_token:
            headers["Authorization"] = f"Bearer {self.auth_token}"
        if extra:
            headers.update(extra)
        return headers

    async def post(self, url: str, snapshot: Callable[[], bytes], headers: dict[str, str],
                   attempts: int = 1) -> None:
        """Deliver the state `snapshot()` gives at each attempt; raises RetriesExhausted when no
        attempt got through (httpclient.RETRY_STATUSES, connection errors, timeouts)."""
        import aiohttp

        retry = httpclient.Retry(attempts=attempts, base=self.backoff_base, max_wait=self.backoff_max)
        reply = await httpclient.request(
            "POST", url, body=lambda: contextlib.nullcontext(snapshot()), headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout), retry=retry,
        )
        if reply.status >= 400:
            log.warning("webhook %s answered HTTP %s; not retrying", url, reply.status)

    async def post_with_retry(self, url: str, snapshot: Callable[[], bytes], headers: dict[str, str]) -> None:
        """The terminal event: retried up to `max_retries` times, then logged as lost."""
        try:
            await self.post(url, snapshot, headers, attempts=self.max_retries + 1)
        except httpclient.RetriesExhausted as exc:
            log.error("terminal webhook to %s failed after %d attempts: %s", url, exc.attempts, exc)


class WebhookChannel:
    """Ordered, throttled delivery of one prediction's webhook events."""

    def __init__(self, sender: WebhookSender, url: str, events: frozenset[str],
                 snapshot: Callable[[], bytes], trace_headers: dict[str, str] | None) -> None:
        self.sender = sender
        self.url = url
        self.events = events
        self.snapshot = snapshot
        self.headers = sender._headers(trace_headers)
        self._wake = asyncio.Event()
        self._dirty = False
        self._terminal = False
        self._task: asyncio.Task[None] | None = None

    def notify(self, event: str) -> None:
        """Mark that `event` happened; never blocks. 'completed' is terminal and ends the channel."""
        if event == "completed":
            if self._terminal:
                return
            self._terminal = True
            if "completed" not in self.events and self._task is None:
                return
        elif event not in self.events or self._terminal:
            return
        else:
            self._dirty = True
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
            self.sender._active.add(self._task)
            self._task.add_done_callback(self.sender._active.discard)

    async def _run(self) -> None:
        last_sent = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._terminal:
                    break
                # wait out the throttle window; only the terminal event may cut it short
                while not self._terminal and (delay := last_sent + self.sender.throttle - loop.time()) > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), delay)
                    except ASYNC_TIMEOUT:
                        pass
                    self._wake.clear()
                if self._terminal:
                    break
                if self._dirty:
                    self._dirty = False
                    last_sent = loop.time()
                    try:
                        await self.sender.post(self.url, self.snapshot, self.headers)
                    except httpclient.RetriesExhausted as exc:
                        log.warning("webhook to %s failed: %s", self.url, exc)
            if "completed" in self.events:
                await self.sender.post_with_retry(self.url, self.snapshot, self.headers)
        except Exception:  # delivery must never take anything else down
            log.exception("webhook delivery to %s crashed", self.url)
