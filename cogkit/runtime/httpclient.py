"""One shared aiohttp ClientSession for webhooks, input downloads and output uploads.

Cog creates two `requests.Session`s per prediction; one pooled session per process keeps
connections warm and costs nothing on the prediction path until a URL is actually used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    import aiohttp

_session: aiohttp.ClientSession | None = None
_ssl_context: ssl.SSLContext | None = None


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
