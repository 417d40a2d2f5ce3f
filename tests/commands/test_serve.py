"""`cogkit serve`: the HTTP API on a real port, and code edits picked up without a rebuild."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_helpers import DOCKER, containers_labelled, copy_example, name_project_image


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, body: dict, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predictions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early: {proc.stderr.read() if proc.stderr else ''}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health-check", timeout=1) as response:
                if json.loads(response.read()).get("status") == "READY":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("serve never became READY")


def _predict_until(port: int, body: dict, expected: str, timeout: float = 60) -> dict:
    """Poll predictions until the output changes to `expected` (the reload is asynchronous)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = _post(port, body, timeout=10)
            if isinstance(last, dict) and last.get("output") == expected:
                return last
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"never saw {expected!r}; last answer: {last!r}")


@contextmanager
def _serve(project: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "plain", "serve", *args],
        cwd=project, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _image_id(tag: str) -> str:
    return subprocess.run(
        [DOCKER, "image", "inspect", "-f", "{{.Id}}", tag], capture_output=True, text=True
    ).stdout


def test_serve_picks_up_a_code_edit_without_a_rebuild(tmp_path: Path, build_env, docker_engine) -> None:
    project = copy_example("hello-world", tmp_path)
    tag = name_project_image(project)
    port = _free_port()
    try:
        with _serve(project, "-p", str(port), env=build_env) as proc:
            _wait_ready(port, proc)
            image_before = _image_id(tag)
            assert _post(port, {"input": {"text": "one"}})["output"] == "hello one"
            predict_py = project / "predict.py"
            predict_py.write_text(predict_py.read_text().replace('"hello"', '"bonjour"'))
            assert _predict_until(port, {"input": {"text": "two"}}, "bonjour two")["status"] == "succeeded"
            assert _image_id(tag) == image_before, "the edit must not trigger a rebuild"
        assert proc.returncode in (0, 130)
        assert containers_labelled("serve") == []
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


def test_serve_local_without_docker(tmp_path: Path) -> None:
    """--local serves from this Python; a broken DOCKER_HOST and docker CLI prove Docker is unused."""
    project = copy_example("hello-world", tmp_path)
    port = _free_port()
    no_docker = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
    with _serve(project, "--local", "-p", str(port), env=no_docker) as proc:
        _wait_ready(port, proc, timeout=60)
        assert _post(port, {"input": {"text": "local"}})["output"] == "hello local"
        predict_py = project / "predict.py"
        predict_py.write_text(predict_py.read_text().replace('"hello"', '"hi"'))
        _predict_until(port, {"input": {"text": "again"}}, "hi again")


def test_serve_local_upload_url(tmp_path: Path) -> None:
    """--upload-url reaches the server: an async prediction's file output is PUT there."""
    import http.server
    import threading

    received: dict[str, bytes] = {}

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802
            received[self.path] = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(201)
            self.send_header("Location", f"http://files.example{self.path}")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    project = tmp_path / "upload"
    project.mkdir()
    (project / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (project / "predict.py").write_text(
        "import tempfile\n"
        "from cog import BasePredictor, Path\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, text: str) -> Path:\n"
        "        p = Path(tempfile.mkdtemp()) / 'result.txt'\n"
        "        p.write_text(text)\n"
        "        return p\n"
    )
    port = _free_port()
    upload = f"http://127.0.0.1:{receiver.server_address[1]}/uploads/"
    try:
        with _serve(project, "--local", "-p", str(port), "--upload-url", upload) as proc:
            _wait_ready(port, proc, timeout=60)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predictions",
                data=json.dumps({"input": {"text": "uploaded"}}).encode(),
                headers={"Content-Type": "application/json", "Prefer": "respond-async"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not received:
                time.sleep(0.1)
        assert list(received.values()) == [b"uploaded"]
        assert next(iter(received)).startswith("/uploads/")
    finally:
        receiver.shutdown()


def test_serve_survives_a_broken_edit(tmp_path: Path, build_env, docker_engine) -> None:
    """A syntax error stops the model server, not `cogkit serve`: fixing the file brings it back."""
    project = copy_example("hello-world", tmp_path)
    name_project_image(project)
    port = _free_port()
    predict_py = project / "predict.py"
    good = predict_py.read_text()
    with _serve(project, "-p", str(port), env=build_env) as proc:
        _wait_ready(port, proc)
        predict_py.write_text(good + "\nthis is not python\n")
        time.sleep(4)
        assert proc.poll() is None, "serve itself must keep running"
        predict_py.write_text(good.replace('"hello"', '"fixed"'))
        _predict_until(port, {"input": {"text": "again"}}, "fixed again", timeout=90)


def test_example_body_uses_the_model_inputs() -> None:
    from cogkit.model.serving import example_body

    schema = {"components": {"schemas": {"Input": {"type": "object", "properties": {
        "prompt": {"type": "string", "x-order": 0},
        "steps": {"type": "integer", "x-order": 1, "default": 10},
        "image": {"type": "string", "format": "uri", "x-order": 2},
    }}}}}  # fmt: skip
    assert json.loads(example_body(schema)) == {
        "input": {"prompt": "...", "image": "https://example.com/input.png"}
    }
    assert example_body(None) == '{"input": {...}}'


def test_serve_local_refuses_server_files_and_denied_addresses(tmp_path: Path) -> None:
    """Issue 14's table against `cogkit serve --local`: paths and schemes are 422, denied addresses fail."""
    project = tmp_path / "reader"
    project.mkdir()
    (project / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    (project / "predict.py").write_text(
        "from cog import BasePredictor, Path\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, f: Path) -> str:\n"
        "        return open(f).read()\n"
    )
    port = _free_port()
    with _serve(project, "--local", "-p", str(port), "--no-reload", "--deny-private") as proc:
        _wait_ready(port, proc, timeout=60)
        for value in ("/etc/passwd", "../../../../etc/hostname", "file:///etc/passwd", "ftp://x/y"):
            try:
                _post(port, {"input": {"f": value}})
                raise AssertionError(f"{value} was accepted")
            except urllib.error.HTTPError as exc:
                assert exc.code == 422
                detail = json.loads(exc.read())["detail"][0]
                assert detail["loc"] == ["body", "input", "f"] and "data:, http: or https:" in detail["msg"]
        for value, where in (("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16"),
                             (f"http://127.0.0.1:{port}/health-check", "127.0.0.0/8")):
            body = _post(port, {"input": {"f": value}})
            assert body["status"] == "failed" and f"denied network ({where})" in body["error"], body
            assert "Traceback" not in (body.get("logs") or "")
        assert _post(port, {"input": {"f": "data:,fine"}})["output"] == "fine"
