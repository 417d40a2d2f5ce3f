"""The runtime on every Python cog.yaml accepts (3.10–3.13), not only cogkit's own 3.11.

Images run the runtime with the model's Python, so each interpreter gets a throwaway venv (uv, from
PyPI) with only the runtime's dependencies, and this checkout's source on PYTHONPATH: the real HTTP
server, the real worker child, a predictor answering over a socket. The interpreters are pyenv
builds (`/root/.pyenv/versions/3.X.*`, or COGKIT_TEST_PYTHON_3_X); with CI=true a missing one, or a
venv that cannot be made, fails instead of skipping.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
from http_harness import REPO, ServerProcess

IN_CI = os.environ.get("CI", "").lower() == "true"
VERSIONS = ("3.10", "3.12", "3.13")
RUNTIME_DEPS = ("aiohttp>=3.9", "msgspec>=0.18", "pyyaml>=6")


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _interpreter(version: str) -> str:
    explicit = os.environ.get(f"COGKIT_TEST_PYTHON_{version.replace('.', '_')}")
    pattern = f"/root/.pyenv/versions/{version}.*/bin/python{version}"
    found = [explicit] if explicit else sorted(glob.glob(pattern))
    if not found or not os.access(found[-1], os.X_OK):
        _missing(f"no Python {version} (pyenv build under /root/.pyenv/versions or COGKIT_TEST_PYTHON_*)")
    return found[-1]


def _uv() -> str:
    candidate = Path(sys.executable).with_name("uv")
    return str(candidate) if candidate.exists() else "uv"


@pytest.fixture(scope="module", params=VERSIONS)
def python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    version = request.param
    interpreter = _interpreter(version)
    venv = tmp_path_factory.mktemp(f"py{version}")
    made = subprocess.run([_uv(), "venv", "-q", "--python", interpreter, str(venv)],
                          capture_output=True, text=True, timeout=120)
    if made.returncode == 0:
        # bytecode compiled, as the image's runtime layer is
        made = subprocess.run([_uv(), "pip", "install", "-q", "--compile-bytecode",
                               "--python", str(venv / "bin" / "python"),
                               *RUNTIME_DEPS], capture_output=True, text=True, timeout=600)
    if made.returncode != 0:
        _missing(f"cannot make a Python {version} venv with the runtime's dependencies: {made.stderr[-400:]}")
    python = str(venv / "bin" / "python")
    reported = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert reported == version
    return python


def _server(python: str, fixture: str, *args: str, **env: str) -> ServerProcess:
    # the checkout's source, never the venv's site-packages: no cogkit is installed there
    return ServerProcess(fixture, *args, python=python, env={"PYTHONPATH": str(REPO), **env})


def test_server_and_worker_answer_on_this_python(python: str) -> None:
    with _server(python, "cog_today") as srv:
        health = srv.wait_ready(timeout=60)
        assert health["setup"]["status"] == "succeeded"
        assert "+00:00" in health["setup"]["completed_at"]  # timezone-aware UTC without datetime.UTC
        r = srv.call("POST", "/predictions", {"input": {"mode": "types", "either": "x", "rows": [{"a": 1}]},
                                              "context": {"k": "v"}})
        assert r.status == 200, r.body
        body = r.json
        assert body["status"] == "succeeded", body["error"]
        assert body["output"]["either"] == ["x", "str"] and body["output"]["rows"] == [{"a": 1}]
        metrics = srv.call("POST", "/predictions", {"input": {"mode": "metrics"}}).json["metrics"]
        assert metrics["timing"] == {"preprocess": 1.5, "inference": 2}
        assert srv.call("POST", "/predictions", {"input": {"either": 1.5}}).status == 422


def test_async_predictor_cancel_and_timeouts_on_this_python(python: str) -> None:
    """On 3.10 asyncio.wait_for raises asyncio.TimeoutError: the setup timeout and the drain use it."""
    with _server(python, "setup_hang", "--await-explicit-shutdown", COG_SETUP_TIMEOUT="3") as srv:
        health = srv.wait_status("SETUP_FAILED", "DEFUNCT", timeout=60)
        assert health["setup"]["status"] == "failed"
        assert "within 3s" in health["setup"]["logs"]
    with _server(python, "async_sleep") as srv:
        srv.wait_ready(timeout=60)
        started = srv.call("POST", "/predictions", {"id": "p1", "input": {"seconds": 30}},
                           headers={"Prefer": "respond-async"})
        assert started.status == 202, started.body
        assert srv.call("POST", "/predictions/p1/cancel").status == 200
        assert srv.wait_ready(timeout=10)["status"] == "READY"  # the canceled slot is free again
        r = srv.call("POST", "/predictions", {"input": {"seconds": 0.01}})
        assert r.json["output"] == "slept 0.01"


def test_user_healthcheck_on_this_python(python: str, tmp_path: Path) -> None:
    flag = tmp_path / "hc"
    flag.write_text("false")
    with _server(python, "healthcheck", HC_FILE=str(flag), COG_PREDICTOR="run.py:AsyncRunner") as srv:
        srv.wait_status("UNHEALTHY", timeout=60)
        flag.write_text("ok")
        assert srv.wait_ready(timeout=10)["status"] == "READY"
