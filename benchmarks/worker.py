"""Worker benchmark: cogkit's predictor Worker vs Cog 0.16.8's Worker (the classic Python runtime).

Both drive the same trivial `str -> str` predictor in a child process, pinned to one core (the
child inherits the affinity), one after the other in one run:
  start    spawn -> setup done (median of N starts, ms)
  rtt      sequential predictions through the worker API: p50 / p99 (µs) and predictions/s
  cancel   a sync predictor flooding stdout: cancel request -> terminal event (median ms)
  rss      RSS of the predictor child after the rtt run (MB)
This isolates the predictor side (IPC, capture, cancel) from HTTP; benchmarks/serve.py measures
the whole server.

Usage: .venv/bin/python benchmarks/worker.py [--predictions 5000] [--starts 5] [--core 0]
Peer: /opt/bench/cog016-venv (python3.11 -m venv ... && pip install cog==0.16.8); skipped if absent.
Results go to benchmarks/results/worker-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COG016_PYTHON = Path(os.environ.get("COG016_VENV", "/opt/bench/cog016-venv")) / "bin" / "python"

PREDICTOR = """
import sys
from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        pass

    def predict(self, text: str = "x", flood: bool = False) -> str:
        line = "x" * 200 + "\\n"
        while flood:
            sys.stdout.write(line)
        return "hello " + text
"""

COMMON = r"""
import json, os, statistics, sys, threading, time

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None

def summary(starts, lat, cancels, rss):
    lat.sort()
    return {"start_ms": statistics.median(starts) * 1000,
            "p50_us": lat[len(lat) // 2] * 1e6, "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
            "per_s": len(lat) / sum(lat), "cancel_ms": statistics.median(cancels) * 1000, "rss_mb": rss}
"""

COGKIT_DRIVER = (
    COMMON
    + r"""
import asyncio
from cogkit.runtime.worker import Worker
from cogkit.runtime.events import Done, Log

async def main(n, starts_n):
    starts = []
    for _ in range(starts_n):
        t = time.perf_counter()
        w = Worker("predict.py:Predictor")
        await w.start()
        starts.append(time.perf_counter() - t)
        await w.stop()
    w = Worker("predict.py:Predictor")
    await w.start()
    lat = []
    for i in range(n):
        t = time.perf_counter()
        async for _ in w.predict(str(i), {"text": "x"}):
            pass
        lat.append(time.perf_counter() - t)
    rss = rss_mb(w.pid)
    cancels = []
    for i in range(5):
        pid = f"flood{i}"
        events = w.predict(pid, {"flood": True})
        t = None
        async for ev in events:
            if t is None and isinstance(ev, Log):
                await asyncio.sleep(0.3)
                t = time.perf_counter()
                w.cancel(pid)
            if isinstance(ev, Done):
                assert ev.status == "canceled", ev
                cancels.append(time.perf_counter() - t)
    await w.stop()
    return summary(starts, lat, cancels, rss)

print(json.dumps(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))))
"""
)

COG016_DRIVER = (
    COMMON
    + r"""
from cog.server.eventtypes import Done, Log
from cog.server.worker import make_worker

def make():
    return make_worker("predict.py:Predictor", is_async=False, is_train=False, tee_output=False)

n, starts_n = int(sys.argv[1]), int(sys.argv[2])
starts = []
for _ in range(starts_n):
    t = time.perf_counter()
    w = make()
    w.setup().result()
    starts.append(time.perf_counter() - t)
    w.shutdown()
w = make()
w.setup().result()
lat = []
for i in range(n):
    t = time.perf_counter()
    w.predict({"text": "x"}).result()
    lat.append(time.perf_counter() - t)
rss = rss_mb(w._child.pid)
cancels = []
for i in range(5):
    first_log = threading.Event()
    sid = w.subscribe(lambda ev: isinstance(ev, Log) and first_log.set())
    fut = w.predict({"flood": True})
    first_log.wait(10)
    w.unsubscribe(sid)
    time.sleep(0.3)
    t = time.perf_counter()
    w.cancel()
    done = fut.result(timeout=60)
    assert done.canceled, done
    cancels.append(time.perf_counter() - t)
w.shutdown()
print(json.dumps(summary(starts, lat, cancels, rss)))
"""
)


def run_peer(
    python: str, driver: str, workdir: str, core: str, n: int, starts: int, env: dict[str, str]
) -> dict:
    cmd = ["taskset", "-c", core, python, "-c", driver, str(n), str(starts)]
    done = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=900, env={**os.environ, **env}
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--predictions", type=int, default=5000)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--core", default="0")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "predict.py").write_text(PREDICTOR)
        from cogkit.runtime import compat_path

        results["cogkit"] = run_peer(
            sys.executable,
            COGKIT_DRIVER,
            workdir,
            args.core,
            args.predictions,
            args.starts,
            {"PYTHONPATH": compat_path()},
        )
        if COG016_PYTHON.exists():
            results["cog 0.16.8"] = run_peer(
                str(COG016_PYTHON), COG016_DRIVER, workdir, args.core, args.predictions, args.starts, {}
            )
    rows = [
        ("start → setup done, ms (median)", "start_ms", "{:.0f}"),
        ("sequential prediction p50, µs", "p50_us", "{:.0f}"),
        ("sequential prediction p99, µs", "p99_us", "{:.0f}"),
        ("sequential predictions/s", "per_s", "{:.0f}"),
        ("cancel under stdout flood → done, ms (median)", "cancel_ms", "{:.1f}"),
        ("predictor child RSS, MB", "rss_mb", "{:.1f}"),
    ]
    peers = list(results)
    lines = [f"| metric | {' | '.join(peers)} |", "|---|" + "---|" * len(peers)]
    for title, key, fmt in rows:
        lines.append(f"| {title} | " + " | ".join(fmt.format(results[p][key]) for p in peers) + " |")
    table = "\n".join(lines)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "core": args.core, "predictions": args.predictions}
    (RESULTS / f"worker-{stamp}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    report = f"# worker benchmark {stamp}\n\n{json.dumps(meta)}\n\n{table}\n"
    (RESULTS / f"worker-{stamp}.md").write_text(report)
    print(table)


if __name__ == "__main__":
    main()
