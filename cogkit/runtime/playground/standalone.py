"""`cogkit playground`: the page on a local port, pointed at any Cog-compatible server.

Cog's own servers send no CORS headers, so the page cannot call them from another origin.
Instead this server is the page's origin and forwards every other path (openapi.json,
health-check, predictions, cancel) to the target, streaming bodies both ways so SSE output
arrives live. Each forwarded request is printed, as a small request inspector.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cogkit.runtime.playground import Assets, add_routes

if TYPE_CHECKING:
    from aiohttp import ClientSession, web

# Hop-by-hop headers (RFC 9110 §7.6.1) and ones the client library sets itself.
_DROP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                   "transfer-encoding", "upgrade", "host", "content-length"})


def _forwardable(headers: object) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _DROP}  # type: ignore[attr-defined]


def build_app(target: str, log: Callable[[str], None]) -> web.Application:
    from aiohttp import ClientSession, ClientTimeout, web

    target = target.rstrip("/")
    app = web.Application(client_max_size=1024**3)
    add_routes(app, enabled=True, assets=Assets())
    sessions: list[ClientSession] = []

    async def session() -> ClientSession:
        if not sessions:
            sessions.append(ClientSession(timeout=ClientTimeout(total=None, sock_connect=10),
                                          auto_decompress=False))
        return sessions[0]

    async def target_json(request: web.Request) -> web.Response:
        return web.json_response({"target": target}, headers={"Cache-Control": "no-store"})

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound("/playground")

    async def forward(request: web.Request) -> web.StreamResponse:
        from aiohttp import ClientError

        url = target + request.rel_url.path_qs
        client = await session()
        try:
            upstream = await client.request(request.method, url, headers=_forwardable(request.headers),
                                            data=request.content if request.body_exists else None,
                                            allow_redirects=False)
        except (ClientError, OSError) as exc:
            log(f"{request.method} {request.rel_url.path_qs} -> unreachable ({exc})")
            return web.json_response({"detail": f"cannot reach {target}: {exc}"}, status=502)
        async with upstream:
            log(f"{request.method} {request.rel_url.path_qs} -> {upstream.status}")
            response = web.StreamResponse(status=upstream.status, headers=_forwardable(upstream.headers))
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ClientError, ConnectionResetError):
                return response  # one side went away; the other sees the stream end
            await response.write_eof()
            return response

    async def close(_app: web.Application) -> None:
        for s in sessions:
            await s.close()

    app.router.add_get("/playground/target.json", target_json)
    app.router.add_get("/", root)
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


async def serve(target: str, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Serve until cancelled; `ready(port)` is called once listening (port 0 picks a free one)."""
    from aiohttp import web

    from cogkit.errors import CogkitError

    app = build_app(target, lambda line: print(line, file=sys.stderr, flush=True))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CogkitError(f"cannot listen on {host}:{port} ({exc.strerror})",
                          "pick another port with -p, or stop what uses this one") from None
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # type: ignore[union-attr]
    if ready is not None:
        ready(bound)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
