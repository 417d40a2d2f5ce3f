"""benchmarks/gpu_serve.py, run the way it runs on a GPU machine (offline, from its wheel directory) but
on the CPU (`--device cpu`): no GPU is lent to CI, so this proves the script works end to end, not its
figures."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from model_venv import CACHE, ModelVenv, _locked, runtime_requirements

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_serve.py"
# Any attempt to reach a network goes to a dead proxy, and pip has no index: the run must be offline.
OFFLINE = {
    "PIP_NO_INDEX": "1",
    "PIP_FIND_LINKS": "",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "HF_HUB_OFFLINE": "1",
}


@pytest.fixture(scope="session")
def gpu_wheels() -> Path:
    """The script's own `download` (network: PyPI), cached by what it downloads."""
    key = hashlib.sha256("\n".join([sys.version, *runtime_requirements()]).encode()).hexdigest()[:12]
    wheels = CACHE / f"gpu-serve-wheels-{key}"
    with _locked(CACHE / f"{wheels.name}.lock"):
        if not (wheels / ".complete").is_file():
            done = subprocess.run(
                [sys.executable, str(SCRIPT), "download", "--dest", str(wheels)],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            (wheels / ".complete").touch()
    return wheels


def run_script(venv: ModelVenv, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(venv.python), str(SCRIPT), *args],
        env={**env, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_gpu_serve_runs_offline_on_the_cpu(embeddings_venv: ModelVenv, gpu_wheels: Path, tmp_path: Path):
    out = tmp_path / "result.json"
    done = run_script(
        embeddings_venv,
        "run", "--wheels", str(gpu_wheels), "--device", "cpu", "--rounds", "1", "--duration", "0.5",
        "--server-cores", "0", "--client-core", str((os.cpu_count() or 2) - 1),
        "--work", str(tmp_path / "work"), "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    meta, results = result["meta"], result["results"]
    assert meta["direct"]["device"] == "cpu" and meta["direct"]["threads"] == 1
    assert meta["cogkit_min_cosine"] >= 0.9999 and meta["coglet_min_cosine"] >= 0.9999
    for name in ("direct", "cogkit", "coglet"):
        for batch in ("1", "32"):
            entry = results[name][batch]
            assert entry["rps"] > 0 and entry["p50_ms"] > 0 and entry["p99_ms"] >= entry["p50_ms"], (
                name,
                batch,
            )
    assert results["cogkit"]["1"]["non2xx"] == 0 and results["cogkit"]["32"]["non2xx"] == 0
    assert "overhead" in results["cogkit"]["1"] and "overhead" in results["coglet"]["32"]
    assert "| 32 | cogkit serve --local |" in done.stderr and "device cpu" in done.stderr
    # cogkit's dependencies came from the wheel directory, into the work dir, not into the venv
    assert (tmp_path / "work" / "site-cogkit" / "msgspec").is_dir()
    assert (tmp_path / "work" / "site-coglet" / "coglet").is_dir()


def test_gpu_serve_refuses_cuda_without_a_gpu_and_a_missing_wheel_dir(
    embeddings_venv: ModelVenv, tmp_path: Path
):
    missing = run_script(embeddings_venv, "run", "--wheels", str(tmp_path / "none"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].endswith("no such directory (make it with `download`)")
    no_gpu = run_script(embeddings_venv, "run", "--wheels", str(tmp_path), "--device", "cuda")
    assert no_gpu.returncode == 2
    assert "torch sees no GPU here (use --device cpu to run on the CPU)" in no_gpu.stderr
    assert "Traceback" not in missing.stderr + no_gpu.stderr
