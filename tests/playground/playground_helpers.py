"""Helpers for the playground tests: model server processes on free ports, READY polling.

(A uniquely named module: tests/commands has a conftest of its own, so `from conftest import` is ambiguous.)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60,
               log: Path | None = None) -> None:
    """Poll /health-check until READY (the page itself is served before setup finishes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            with urllib.request.urlopen(base + "/health-check", timeout=2) as resp:
                if b'"READY"' in resp.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{base} never became READY:\n{log.read_text() if log else ''}")


class Process:
    """A subprocess with its output in a file; stopped with SIGINT (as Ctrl-C), then killed."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.log = Path(tempfile.mkstemp(prefix="cogkit-playground-", suffix=".log")[1])
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
                                          **(env or {})}, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the output:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.unlink(missing_ok=True)


def runtime_server(example: str | Path, *args: str, env: dict[str, str] | None = None) -> tuple[Process, str]:
    """`python -m cogkit.runtime.server` in examples/<example> (or a directory) on a free port, READY."""
    port = free_port()
    server = Process([sys.executable, "-m", "cogkit.runtime.server", "--host", "127.0.0.1",
                      "--port", str(port), *args], cwd=EXAMPLES / example, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server.proc, log=server.log)
    except BaseException:
        server.stop()
        raise
    return server, base


