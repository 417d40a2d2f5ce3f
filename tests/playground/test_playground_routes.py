"""The pages' HTTP side, on a real server process: served, cached, and off when asked."""

from __future__ import annotations

import fnmatch
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playground_helpers import REPO, runtime_server

STATIC = REPO / "cogkit" / "runtime" / "playground" / "static"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_pages_and_assets_are_served_with_etags() -> None:
    server, base = runtime_server("hello-world")
    try:
        status, headers, body = get(base + "/playground")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert headers["cache-control"] == "no-cache" and headers["etag"]
        assert b"__VERSION__" not in body and b"playground/app.js?v=" in body
        again, _, empty = get(base + "/playground", {"If-None-Match": headers["etag"]})
        assert (again, empty) == (304, b"")

        status, headers, body = get(base + "/playground/app.js")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        assert "max-age" in headers["cache-control"]
        assert body == (STATIC / "app.js").read_bytes()

        status, _, body = get(base + "/docs")
        assert status == 200 and b"docs.js" in body
        assert get(base + "/playground/secret.py")[0] == 404
        assert get(base + "/playground/..%2F__init__.py")[0] == 404
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["env", "flag"])
def test_pages_are_off_with_cog_playground_0_or_no_playground(how: str) -> None:
    args, env = (("--no-playground",), None) if how == "flag" else ((), {"COG_PLAYGROUND": "0"})
    server, base = runtime_server("hello-world", *args, env=env)
    try:
        assert get(base + "/playground")[0] == 404
        assert get(base + "/docs")[0] == 404
        assert get(base + "/playground/app.js")[0] == 404
        assert get(base + "/health-check")[0] == 200
    finally:
        server.stop()


def test_every_static_file_is_package_data() -> None:
    """A wheel or an image without the page would 404: pyproject must list every static file."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["cogkit.runtime.playground"]
    files = [p.relative_to(STATIC.parent).as_posix() for p in Path(STATIC).iterdir()]
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, pat) for pat in patterns), f"{name} is not package data"
