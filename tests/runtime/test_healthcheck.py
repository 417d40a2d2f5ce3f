"""A predictor's own healthcheck() behind /health-check, as coglet runs it (real server and worker).

UNHEALTHY is computed per request with `user_healthcheck_error`; it wins over BUSY, never gates
predictions, and READY comes back as soon as the check passes again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from http_harness import ServerProcess


@pytest.mark.parametrize(("ref", "raised"), [
    ("run.py:Runner", "RuntimeError: hc boom"),
    ("run.py:AsyncRunner", "ValueError: async boom"),
])
def test_user_healthcheck_drives_health(tmp_path: Path, ref: str, raised: str) -> None:
    flag = tmp_path / "hc"
    flag.write_text("ok")
    with ServerProcess("healthcheck", env={"HC_FILE": str(flag), "COG_PREDICTOR": ref}) as srv:
        assert srv.wait_ready()["status"] == "READY"
        flag.write_text("false")
        health = srv.health()
        assert health["status"] == "UNHEALTHY"
        returned_false = "Healthcheck failed: user-defined healthcheck returned False"
        assert health["user_healthcheck_error"] == returned_false
        assert srv.call("POST", "/predictions", {"input": {}}).json["output"] == "ran"  # not gated
        flag.write_text("raise")
        assert srv.health()["user_healthcheck_error"] == f"Healthcheck failed: {raised}"
        flag.write_text("ok")
        health = srv.health()
        assert health["status"] == "READY" and "user_healthcheck_error" not in health
        flag.write_text("slow")
        begin = time.monotonic()
        health = srv.call("GET", "/health-check", timeout=15).json
        assert health["status"] == "UNHEALTHY"
        assert health["user_healthcheck_error"] == (
            "Healthcheck failed: user-defined healthcheck timed out after 5.0 seconds")
        assert 4.5 < time.monotonic() - begin < 9
        flag.write_text("ok")
        assert srv.health()["status"] == "READY"


def test_healthcheck_runs_while_busy_and_wins_over_busy(tmp_path: Path) -> None:
    flag = tmp_path / "hc"
    flag.write_text("none")  # None is healthy in coglet (only False fails)
    with ServerProcess("healthcheck", env={"HC_FILE": str(flag)}) as srv:
        srv.wait_ready()
        worker = threading.Thread(target=lambda: srv.call("POST", "/predictions", {"input": {"seconds": 3}}))
        worker.start()
        assert srv.wait_status("BUSY", timeout=5)["status"] == "BUSY"
        flag.write_text("false")
        assert srv.health()["status"] == "UNHEALTHY"  # answered while the sync predictor is busy
        flag.write_text("ok")
        assert srv.health()["status"] == "BUSY"
        worker.join(10)
        assert srv.health()["status"] == "READY"
