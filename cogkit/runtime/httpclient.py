"""One shared aiohttp ClientSession for webhooks, input downloads and output uploads, and the one
retry loop for the requests that are worth repeating (terminal webhooks, output uploads).

Cog creates two `requests.Session`s per prediction; one pooled session per process keeps
connections warm and costs nothing on the prediction path until a URL is actually used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cogkit.runtime.pyversions import ASYNC_TIMEOUT

if TYPE_CHECKING:
    import ssl

    import aiohttp

_session: aiohttp.ClientSession | None = None
_ssl_context: ssl.SSLContext | None = None

# Answers that say "try again later": timeouts, rate limits and a proxy's or server's passing trouble.
RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504))


def user_agent() -> str:
    from cogkit import __version__

    return os.environ.get("COG_USER_AGENT") or f"cogkit/{__version__}"


def session() -> aiohttp.ClientSession:
    """The process-wide client session, created on first use inside the running loop."""
    global _session
    if _session is None or _session.closed:
        import aiohttp

        from cogkit.runtime import netpolicy

        # Hostnames resolve through the network policy: denied addresses are never connected to.
        resolver = netpolicy.policy_resolver(netpolicy.current())
        _session = aiohttp.ClientSession(
            headers={"User-Agent": user_agent()},
            connector=aiohttp.TCPConnector(limit=64, ssl=verified_context(), resolver=resolver),
        )
    return _session


def verified_context() -> ssl.SSLContext:
    """A verifying TLS context with the system CAs, built once per process.

    Built here rather than taken from aiohttp: the server imports aiohttp with an empty trust
    store to start faster (see cogkit.runtime.server.import_http_stack), so aiohttp's own default
    context trusts nothing. Every request cogkit makes goes through session(), whose connector
    carries this context.
    """
    global _ssl_context
    if _ssl_context is None:
        import ssl

        ctx = ssl.create_default_context()
        ctx.set_alpn_protocols(("http/1.1",))
        _ssl_context = ctx
    return _ssl_context


async def close() -> None:
    global _session
    if _session is not None and not _session.closed:
        await _session.close()
    _session = None


# ------------------------------------------------------------------------------------ retries


@dataclass(frozen=True)
class Retry:
    """How often and how patiently to repeat a request: `attempts` in all (1 = no retry), waiting
    base·2ⁿ seconds (at most `max_wait`) between them, or what a Retry-After header asks for."""

    attempts: int = 1
    base: float = 0.1
    max_wait: float = 2.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        return min(self.base * (2 ** (attempt - 1)), self.max_wait)


UPLOAD_RETRY = Retry(attempts=4, base=0.1, max_wait=2.0)  # output files: PUT and multipart alike


@dataclass(frozen=True)
class Reply:
    """What a finished request answered (its body already read and dropped)."""

    status: int
    url: str
    location: str | None


class RetriesExhausted(Exception):
    """Every attempt failed with a retryable status or a connection error; the message is the last."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class RequestRefused(RetriesExhausted):
    """The network policy refused the URL or one of its redirects (cogkit.runtime.netpolicy); not retried."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


BodyFactory = Callable[[], contextlib.AbstractContextManager[Any]]


async def request(method: str, url: str, *, body: BodyFactory, headers: dict[str, str] | None = None,
                  timeout: aiohttp.ClientTimeout, retry: Retry = Retry()) -> Reply:
    """Send one request, repeating it per `retry` on RETRY_STATUSES and connection errors.

    `body()` is entered afresh for every attempt (an open file or a form is consumed by a send).
    Any other status is returned as it is, for the caller to judge; RetriesExhausted when no
    attempt got past the retryable failures. Every hop, redirects included, is checked against the
    network policy (RequestRefused, at once); redirects are followed for re-sendable bodies only.
    """
    import aiohttp

    from cogkit.runtime import netpolicy

    policy, max_redirects = netpolicy.current(), netpolicy.max_redirects_from_env()
    attempts = max(1, retry.attempts)
    failure, retry_after = "", None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            await asyncio.sleep(retry.wait(attempt - 1, retry_after))
        retry_after = None
        try:
            with body() as data:
                resp = await netpolicy.guarded_request(session(), method, url, policy, data=data,
                                                       headers=headers, timeout=timeout,
                                                       max_redirects=max_redirects)
                async with resp:
                    await resp.read()
                    if resp.status not in RETRY_STATUSES:
                        return Reply(resp.status, str(resp.url), resp.headers.get("Location"))
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    failure = f"HTTP {resp.status}"
        except (netpolicy.DeniedAddress, netpolicy.TooManyRedirects) as exc:
            raise RequestRefused(f"refused: {exc}", attempt) from None
        except (*ASYNC_TIMEOUT, aiohttp.ClientError, OSError) as exc:
            denied = netpolicy.denial(exc)
            if denied is not None:  # a denied address stays denied: never retried
                raise RequestRefused(f"refused: {denied}", attempt) from None
            failure = f"{type(exc).__name__}: {exc}"
    raise RetriesExhausted(failure, attempts)
