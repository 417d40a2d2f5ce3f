"""Real-process, real-socket helpers for the HTTP server tests.

`ServerProcess` runs `python -m cogkit.runtime.server` in a fixture directory on a free port;
`Receiver` is a scriptable aiohttp webhook/upload endpoint on its own thread and loop.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "http_fixtures"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30, raw: bytes | None = None,
         conn: http.client.HTTPConnection | None = None) -> Reply:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        if own:
            conn.close()


class ServerProcess:
    def __init__(self, fixture: str, *args: str, env: dict[str, str] | None = None,
                 python: str | None = None) -> None:
        self.python = python or sys.executable  # another interpreter runs the same runtime source
        self.fixture = FIXTURES / fixture
        self.args = list(args)
        self.port = free_port()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log = tempfile.NamedTemporaryFile(prefix="cogkit-server-", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.python, "-m", "cogkit.runtime.server", "--host", "127.0.0.1", "--port", str(self.port),
             *self.args],
            cwd=self.fixture, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
        return call(self.port, method, path, body, **kw)

    def health(self) -> dict[str, Any]:
        return self.call("GET", "/health-check", timeout=5).json

    def wait_status(self, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                last = self.health()
                if last["status"] in statuses:
                    return last
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        raise AssertionError(f"health never reached {statuses}; last {last}\n{self.output()}")

    def wait_ready(self, timeout: float = 30) -> dict[str, Any]:
        return self.wait_status("READY", timeout=timeout)

    def children(self) -> list[int]:
        """PIDs whose parent is the server (the predictor worker)."""
        assert self.proc is not None
        kids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    kids.append(int(entry))
        return kids

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class Received:
    at: float
    path: str
    method: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        cached = self.__dict__.get("_json")
        if cached is None:
            cached = self.__dict__["_json"] = json.loads(self.body)
        return cached


@dataclass
class Receiver:
    """Webhook / upload endpoint; `script` holds one action per request, then 200s.

    Actions: an int status (e.g. 500), ("sleep", seconds[, status]), or ("retry-after", 429, secs).
    """

    port: int = field(default_factory=free_port)
    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.read()
        with self._lock:
            action = self.script.pop(0) if self.script else 200
        status, headers = 200, {}
        if isinstance(action, tuple) and action[0] == "sleep":
            await asyncio.sleep(action[1])
            status = action[2] if len(action) > 2 else 200
        elif isinstance(action, tuple) and action[0] == "retry-after":
            status, headers = action[1], {"Retry-After": str(action[2])}
        else:
            status = int(action)
        rec = Received(time.monotonic(), request.path, request.method,
                       {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            self.received.append(rec)
        if request.method == "PUT" and status == 200:
            headers["Location"] = f"{self.url}/stored{request.path}?sig=secret"
        return web.Response(status=status, headers=headers, text="ok")

    def start(self) -> Receiver:
        ready = threading.Event()

        def run() -> None:
            from aiohttp import web

            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=1 << 30)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(10)
            self._loop = None

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.received if r.method == "POST"]

    def wait_for(self, predicate: Any, timeout: float = 30) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if predicate(bodies):
                return bodies
            time.sleep(0.02)
        raise AssertionError(f"receiver condition not met; got {self.bodies()}")
