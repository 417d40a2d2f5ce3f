"""Does serving the playground cost the model server anything? On vs off, side by side.

The same server (examples/hello-world, `python -m cogkit.runtime.server`) with the pages on (the
default) and off (COG_PLAYGROUND=0), in alternating rounds; medians over the rounds:
  start    process start -> /health-check READY (ms)
  p50/p99  sequential POST /predictions over one keep-alive connection (ms)
  page     GET /playground once warm, and a 304 revalidation (ms), on only

Usage: .venv/bin/python benchmarks/playground_overhead.py [--rounds 5] [--requests 500]
Results go to benchmarks/results/playground-<time>.{json,md} and a table is printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EXAMPLE = ROOT / "examples" / "hello-world"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.read(), dict(resp.getheaders())


def one_round(playground: bool, requests: int) -> dict[str, float]:
    port = _free_port()
    env = {**os.environ, "COG_PLAYGROUND": "1" if playground else "0"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cogkit.runtime.server", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=EXAMPLE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if b'"READY"' in _get(conn, "GET", "/health-check")[1]:
                    break
            except OSError:
                pass
            if time.perf_counter() - started > 60:
                raise RuntimeError("server never became READY")
            time.sleep(0.005)
        out = {"start": (time.perf_counter() - started) * 1e3}
        body = json.dumps({"input": {"text": "bench"}}).encode()
        headers = {"Content-Type": "application/json"}
        for _ in range(20):
            _get(conn, "POST", "/predictions", body, headers)
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            status, _, _ = _get(conn, "POST", "/predictions", body, headers)
            times.append((time.perf_counter() - t) * 1e3)
            assert status == 200
        times.sort()
        out["p50"] = times[len(times) // 2]
        out["p99"] = times[int(len(times) * 0.99)]
        if playground:
            status, _, hdrs = _get(conn, "GET", "/playground")
            t = time.perf_counter()
            _get(conn, "GET", "/playground")
            out["page"] = (time.perf_counter() - t) * 1e3
            t = time.perf_counter()
            status, _, _ = _get(conn, "GET", "/playground", headers={"If-None-Match": hdrs["ETag"]})
            out["page304"] = (time.perf_counter() - t) * 1e3
            assert status == 304
        conn.close()
        return out
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for i in range(args.rounds):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")  # alternate who goes first
        for name in order:
            rounds[name].append(one_round(name == "on", args.requests))
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rounds.items()}
    lines = ["| playground | start (ms) | p50 (ms) | p99 (ms) | page (ms) | page 304 (ms) |",
             "|---|---|---|---|---|---|"]
    for name, m in medians.items():
        lines.append(f"| {name} | {m['start']:.0f} | {m['p50']:.3f} | {m['p99']:.3f} | "
                     f"{m.get('page', float('nan')):.3f} | {m.get('page304', float('nan')):.3f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = f"{os.cpu_count()} CPUs, {sys.version.split()[0]}"
    (RESULTS / f"playground-{stamp}.json").write_text(json.dumps({"machine": machine, "rounds": rounds,
                                                                  "medians": medians}, indent=2))
    (RESULTS / f"playground-{stamp}.md").write_text(f"{machine}, {args.rounds} rounds, "
                                                    f"{args.requests} requests each\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
