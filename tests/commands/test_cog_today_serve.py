"""Cog 0.2x run-time behaviour of the CLI on real dockerd (issue 10): `serve` containers reach the host
(webhooks, `--upload-url`, synchronous predictions included), `POST /shutdown` ends `cogkit serve`, and
setup()'s output reaches the terminal of predict/train even when setup succeeds."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from cli_helpers import DOCKER, containers_labelled, name_project_image

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}

PREDICT_PY = """import tempfile

from cog import BasePredictor, Path


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("setup: loading the pretend weights")

    def predict(self, text: str) -> Path:
        out = Path(tempfile.mkdtemp()) / "result.txt"
        out.write_text(text)
        return out
"""


class _HostReceiver:
    """An HTTP server on the host, on every interface (the container comes in via the bridge)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _read(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_POST(self) -> None:  # noqa: N802
                receiver.received.append(("POST", self.path, self._read()))
                self.send_response(200)
                self.end_headers()

            def do_PUT(self) -> None:  # noqa: N802
                receiver.received.append(("PUT", self.path, self._read()))
                self.send_response(201)
                self.send_header("Location", f"http://files.example{self.path}?signature=x")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, method: str, prefix: str, timeout: float = 60) -> list[tuple[str, str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [r for r in self.received if r[0] == method and r[1].startswith(prefix)]
            if hits:
                return hits
            time.sleep(0.1)
        raise AssertionError(f"no {method} {prefix} arrived; got {[r[:2] for r in self.received]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read() or b"{}")


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early: {proc.stderr.read() if proc.stderr else ''}"
        try:
            if _call(port, "GET", "/health-check")[1].get("status") == "READY":
                return
        except OSError:
            pass
        except ValueError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve never became READY")


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "reach-host"
    project.mkdir()
    (project / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (project / "predict.py").write_text(PREDICT_PY)
    return project


def test_serve_reaches_the_host_uploads_sync_outputs_and_ends_on_shutdown(
    tmp_path: Path, build_env, docker_engine
) -> None:
    receiver = _HostReceiver()
    project = _project(tmp_path)
    tag = name_project_image(project)
    port = _free_port()
    host = f"http://host.docker.internal:{receiver.port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "plain", "serve", "-p", str(port),
         "--upload-url", f"{host}/uploads/"],
        cwd=project, env={**os.environ, **build_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_ready(port, proc)
        # a synchronous prediction's file output is PUT to --upload-url (Cog >= 0.17), from the container
        status, sync = _call(port, "POST", "/predictions", {"input": {"text": "sync"}})
        assert status == 200 and sync["status"] == "succeeded", sync
        assert sync["output"] == "http://files.example/uploads/result.txt"
        assert receiver.wait_for("PUT", "/uploads/")[-1][2] == b"sync"
        # a webhook to a server on the host arrives (host.docker.internal:host-gateway, as Cog's serve)
        status, _ = _call(
            port, "POST", "/predictions",
            {"input": {"text": "hooked"}, "webhook": f"{host}/hook", "webhook_events_filter": ["completed"]},
            {"Prefer": "respond-async"},
        )  # fmt: skip
        assert status == 202
        completed = json.loads(receiver.wait_for("POST", "/hook")[-1][2])
        assert completed["status"] == "succeeded"
        assert completed["output"] == "http://files.example/uploads/result.txt"
        # POST /shutdown ends `cogkit serve` itself, with status 0, and removes the container
        assert _call(port, "POST", "/shutdown")[0] == 200
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        assert containers_labelled("serve") == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        receiver.server.shutdown()
    # setup() printed during a successful setup: shown on the terminal by predict (same image, cached)
    predicted = subprocess.run(
        [sys.executable, "-m", "cogkit", "predict", "-i", "text=x", "-o", "out.txt"],
        cwd=project, env={**os.environ, **build_env, "NO_COLOR": "1"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    try:
        assert predicted.returncode == 0, predicted.stderr
        assert "setup: loading the pretend weights" in predicted.stderr
        assert (project / "out.txt").read_text() == "x"
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


def test_setup_output_is_shown_when_setup_succeeds_local(tmp_path: Path, cli) -> None:
    project = _project(tmp_path)
    result = cli("predict", "--local", "-i", "text=y", "-o", "o.txt", cwd=project, env=NO_DOCKER)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("setup: loading the pretend weights") == 1
    assert "Written output to: o.txt" in result.stderr.splitlines()
    quiet = cli("--progress", "quiet", "predict", "--local", "-i", "text=y", "-o", "o.txt", cwd=project,
                env=NO_DOCKER)  # fmt: skip
    assert "setup: loading" not in quiet.stderr


def test_serve_local_ends_on_shutdown(tmp_path: Path) -> None:
    project = _project(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "serve", "--local", "-p", str(port)],
        cwd=project, env={**os.environ, **NO_DOCKER}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_ready(port, proc, timeout=60)
        assert _call(port, "POST", "/shutdown")[0] == 200
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
