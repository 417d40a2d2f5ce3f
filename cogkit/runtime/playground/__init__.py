"""The model's web pages: the playground at /playground and an API reference at /docs.

Both are static files shipped in this package (static/), generated in the browser from the
server's own /openapi.json, so they work for any Cog-compatible server. They are read once, on
the first request for a page, and served with an ETag; nothing here touches the prediction path,
and importing this module (in the server's start-up) loads nothing beyond what it already has.
`COG_PLAYGROUND=0` (or the server's `--no-playground`) leaves the routes out entirely.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from aiohttp import web

STATIC = Path(__file__).parent / "static"
PAGES = {"/playground": "index.html", "/docs": "docs.html"}
ASSETS = ("app.js", "docs.js", "style.css")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# Pages revalidate every time (cheap 304s); assets are named with a version query, so they may be kept.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=86400"


def enabled_by_env() -> bool:
    """COG_PLAYGROUND=0/false/no/off turns the pages off (production images that want no UI)."""
    return os.environ.get("COG_PLAYGROUND", "1").strip().lower() not in ("0", "false", "no", "off")


class Asset(NamedTuple):
    body: bytes
    content_type: str
    etag: str
    cache_control: str


class Assets:
    """The static files, loaded on first use; `?v=` in the pages is the assets' combined hash."""

    def __init__(self, root: Path = STATIC) -> None:
        self.root = root
        self._files: dict[str, Asset] | None = None

    def _load(self) -> dict[str, Asset]:
        import hashlib  # here, not at import: the server's start-up never pays for it

        raw = {name: (self.root / name).read_bytes() for name in (*ASSETS, *PAGES.values())}
        version = hashlib.sha256(b"".join(raw[name] for name in ASSETS)).hexdigest()[:12]
        files: dict[str, Asset] = {}
        for name, body in raw.items():
            page = name.endswith(".html")
            if page:
                body = body.replace(b"__VERSION__", version.encode())
            files[name] = Asset(body=body, content_type=_TYPES[Path(name).suffix],
                                etag='"' + hashlib.sha256(body).hexdigest()[:16] + '"',
                                cache_control=PAGE_CACHE if page else ASSET_CACHE)
        return files

    def get(self, name: str) -> Asset | None:
        if self._files is None:
            self._files = self._load()
        return self._files.get(name)

    def respond(self, request: web.Request, name: str) -> web.Response:
        from aiohttp import web

        asset = self.get(name)
        if asset is None:
            raise web.HTTPNotFound()
        headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control,
                   "X-Content-Type-Options": "nosniff"}
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                            headers=headers)


def add_routes(app: web.Application, enabled: bool = True, assets: Assets | None = None) -> None:
    """Register GET /playground, /playground/{asset} and /docs (nothing when not enabled)."""
    if not enabled:
        return
    files = assets or Assets()

    async def page(request: web.Request) -> web.Response:
        return files.respond(request, PAGES[request.path])

    async def asset(request: web.Request) -> web.Response:
        from aiohttp import web

        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return files.respond(request, name)

    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/playground/{name}", asset)
