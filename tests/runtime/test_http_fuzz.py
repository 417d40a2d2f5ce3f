"""Schemathesis fuzzes the running server from its own /openapi.json: no request may get a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from http_harness import ServerProcess

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")


@pytest.mark.parametrize("mode", ["predict", "train"])
def test_schemathesis_finds_no_server_errors(mode, tmp_path):
    if not os.path.exists(SCHEMATHESIS):
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'", pytrace=False)
    with ServerProcess("fuzz", "--x-mode", mode, "--await-explicit-shutdown") as srv:
        srv.wait_ready()
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"http://127.0.0.1:{srv.port}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "40", "--exclude-path", "/shutdown",
             "--seed", "1"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout[-4000:]
        assert "passed" in run.stdout
        assert srv.health()["status"] == "READY"


def test_schemathesis_on_file_inputs_finds_no_server_errors(tmp_path):
    """Path, list[Path] and Optional[Path] inputs: any string a client sends is a 422 or a clean answer."""
    if not os.path.exists(SCHEMATHESIS):
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'", pytrace=False)
    # every address denied: the fuzzer's URLs (inputs, webhooks) are refused before any connection
    with ServerProcess("fuzz_files", "--deny-networks", "0.0.0.0/0,::/0") as srv:
        srv.wait_ready()
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"http://127.0.0.1:{srv.port}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "60", "--exclude-path", "/shutdown",
             "--seed", "1"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout[-4000:]
        assert "passed" in run.stdout
        assert srv.health()["status"] == "READY"
        # aiohttp logs the requests it cannot parse; no traceback may come from cogkit's own code
        tracebacks = srv.output().split("Traceback (most recent call last):")[1:]
        assert not [t for t in tracebacks if "/cogkit/" in t.split("\n\n")[0]], tracebacks[:2]
