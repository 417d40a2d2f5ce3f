"""A small Chrome DevTools Protocol client over aiohttp websockets, for real headless Chromium.

Why not Playwright: it would add a large dependency and its own browser download; Debian's
`chromium` plus the protocol's few commands used here (navigate, evaluate, file inputs,
screenshots) are all the tests need. The browser runs on its own thread and event loop, so
tests call plain blocking methods.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("COGKIT_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000", "--remote-debugging-port=0",
]


class CDPError(RuntimeError):
    pass


class Browser:
    """One Chromium process with a fresh profile; `page()` opens a tab."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="cogkit-chromium-")
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._next = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self.ws: Any = None
        self.http: Any = None
        self._call(self._connect(self._devtools_url()))

    def _devtools_url(self, timeout: float = 30) -> str:
        marker = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise CDPError(f"chromium exited {self.proc.returncode}: {err[-2000:]}")
            if marker.exists():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise CDPError("chromium did not open its DevTools port")

    def _call(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _connect(self, url: str) -> None:
        import aiohttp

        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self.loop.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    if "error" in data:
                        fut.set_exception(CDPError(str(data["error"])))
                    else:
                        fut.set_result(data.get("result", {}))
            else:
                self._events.setdefault(data.get("sessionId", ""), []).append(data)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None) -> Any:
        self._next += 1
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._pending[self._next] = fut
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send_str(json.dumps(msg))
        return await fut

    def events(self, session: str, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in list(self._events.get(session, [])) if e.get("method") == method]

    def page(self) -> Page:
        target = self._call(self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = self._call(self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))
        session = attached["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "DOM", "Network"):
            page.cmd(f"{domain}.enable")
        return page

    def close(self) -> None:
        try:
            if self.ws is not None:
                self._call(self.send("Browser.close"), timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.http is not None:
            self._call(self.http.close(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def cmd(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser._call(self.browser.send(method, params, self.session))

    def goto(self, url: str, timeout: float = 30) -> None:
        before = len(self.browser.events(self.session, "Page.loadEventFired"))
        result = self.cmd("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        self.wait(lambda: len(self.browser.events(self.session, "Page.loadEventFired")) > before, timeout,
                  f"load of {url}")

    def js(self, expression: str) -> Any:
        """Evaluate in the page (promises awaited) and return the JSON value; page exceptions raise."""
        result = self.cmd("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                               "returnByValue": True, "userGesture": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression[:80]!r}: {text}")
        return result["result"].get("value")

    def wait(self, check: Any, timeout: float = 30, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(check) if isinstance(check, str) else check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {check!r}")
            time.sleep(0.05)

    def set_files(self, selector: str, paths: list[str]) -> None:
        root = self.cmd("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise CDPError(f"no element {selector}")
        self.cmd("DOM.setFileInputFiles", {"nodeId": node, "files": paths})

    def screenshot(self, path: Path) -> Path:
        data = self.cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def console_errors(self) -> list[str]:
        out = []
        for ev in self.browser.events(self.session, "Runtime.exceptionThrown"):
            out.append(str(ev.get("exceptionDetails", {}).get("exception", {}).get("description")))
        return out

    def close(self) -> None:
        self.cmd("Page.close")
