"""Queue benchmark: cogkit's Redis queue worker, with cogkit's HTTP server and raw Redis beside it.

Cog removed its Redis worker in 0.7, so there is no like-for-like peer. The same run measures,
on the same machine and the same trivial predictor (`text: str -> str`):

  queue-lat   one job at a time (light load): XADD -> terminal `completed` event seen by the
              client (XREAD BLOCK on the prediction's update stream): p50 / p99
  queue-tput  N jobs pushed as fast as a pipelined producer can, K workers: jobs/s from the first
              XADD until every entry is acked (= every terminal state stored)
  http-seq    the same predictor behind `python -m cogkit.runtime.server`, sequential sync
              POST /predictions over one keep-alive connection: p50 / p99 and req/s
  worker CPU  user+system CPU of the worker processes and predictor children per job during
              queue-tput (the load-independent cost; this machine is shared and noisy)
  redis-raw   redis-benchmark: XADD round trips/s, one connection, no pipelining (the transport
              floor one client sees)

Usage: .venv/bin/python benchmarks/queue_throughput.py [--jobs 5000] [--latency-jobs 1000] [--workers 1,2]
       [--rounds 3] [--prefetch N]
Each round measures every row; rounds alternate which side goes first (queue, or the HTTP server
and raw Redis), and the table shows the medians with the range of each rate.
Results go to benchmarks/results/queue-<time>.{json,md} and a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

PREDICTOR = (
    "from cog import BasePredictor\n\n\n"
    "class Predictor(BasePredictor):\n"
    "    def predict(self, text: str) -> str:\n"
    "        return 'hello ' + text\n"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="cogkit-qbench-"))
    (d / "predict.py").write_text(PREDICTOR)
    (d / "cog.yaml").write_text('build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    return d


def start_workers(model: Path, redis_url: str, stream: str, count: int, extra: list[str]) -> list:
    procs = []
    logs = []
    for i in range(count):
        log = model / f"worker-{stream}-{i}.log"
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cogkit",
                    "queue-worker",
                    "--redis",
                    redis_url,
                    "--stream",
                    stream,
                    "--consumer",
                    f"bench-{i}",
                    *extra,
                ],
                cwd=model,
                stdout=subprocess.DEVNULL,
                stderr=open(log, "wb"),
                start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), "COG_LOG_LEVEL": "WARNING"},
            )
        )
    for p, log in zip(procs, logs, strict=True):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise SystemExit(f"worker exited:\n{log.read_text()}")
            # consumers appear in the group once they have issued their first XREADGROUP
            if _consumers(redis_url, stream) >= len(procs) or "consuming stream" in log.read_text():
                break
            time.sleep(0.05)
    time.sleep(1.2)  # every worker is now blocked in XREADGROUP
    return procs


def _consumers(redis_url: str, stream: str) -> int:
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        return len(r.xinfo_consumers(stream, "cogkit"))
    except redis.exceptions.ResponseError:
        return 0
    finally:
        r.close()


def cpu_seconds(procs: list) -> float:
    """User+system CPU of the worker processes and their predictor children (load-independent)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [p.pid for p in procs]
    for pid in list(pids):
        try:
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def stop(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


async def queue_latency(redis_url: str, stream: str, jobs: int) -> list[float]:
    from cogkit.runtime.queue.client import QueueClient

    c = await QueueClient.from_url(redis_url, stream)
    out = []
    for i in range(jobs + 50):
        t0 = time.perf_counter()
        pid = await c.submit({"text": str(i)}, prediction_id=f"{stream}-lat-{i}")
        async for _event, state in c.follow(pid, block_ms=10000):
            if state["status"] in ("succeeded", "failed", "canceled"):
                assert state["status"] == "succeeded", state
        if i >= 50:  # warm-up
            out.append(time.perf_counter() - t0)
    await c.close()
    return out


async def queue_throughput(redis_url: str, stream: str, jobs: int) -> dict:
    import redis.asyncio as aioredis

    from cogkit.runtime.queue.protocol import encode_request, state_key
    from cogkit.runtime.types import PredictionRequest

    r = aioredis.Redis.from_url(redis_url)
    tag = f"{stream}-tput"
    bodies = [encode_request(PredictionRequest(id=f"{tag}-{i}", input={"text": str(i)})) for i in range(jobs)]
    submitted: list[float] = []
    t0 = time.perf_counter()
    for start in range(0, jobs, 100):
        async with r.pipeline(transaction=False) as pipe:
            for i in range(start, min(jobs, start + 100)):
                pipe.xadd(stream, {"request": bodies[i], "id": f"{tag}-{i}"})
            await pipe.execute()
        submitted.extend([time.time()] * (min(jobs, start + 100) - start))
    while True:
        groups = await r.xinfo_groups(stream)
        g = groups[0]
        if g["pending"] == 0 and (g.get("lag") == 0) and g["entries-read"] and g["entries-read"] >= jobs:
            break
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - t0
    # Per-job latency under saturation: completed_at stamped by the worker vs our submit time.
    lat = []
    for start in range(0, jobs, 500):
        keys = [state_key(stream, f"{tag}-{i}") for i in range(start, min(jobs, start + 500))]
        for i, raw in zip(range(start, start + len(keys)), await r.mget(keys), strict=True):
            state = json.loads(raw)
            assert state["status"] == "succeeded", state
            done = _iso(state["completed_at"])
            lat.append(done - submitted[i])
    await r.aclose()
    return {
        "jobs": jobs,
        "seconds": elapsed,
        "jobs_per_s": jobs / elapsed,
        "sat_p50_ms": percentile(lat, 50) * 1000,
        "sat_p99_ms": percentile(lat, 99) * 1000,
    }


def _iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def http_sequential(model: Path, requests: int) -> dict:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit.runtime.server", "--port", str(port), "--host", "127.0.0.1"],
        cwd=model,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COG_LOG_LEVEL": "WARNING"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health-check")
                if json.loads(conn.getresponse().read()).get("status") == "READY":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("HTTP server did not become READY")
            time.sleep(0.1)
        body = json.dumps({"input": {"text": "x"}}).encode()
        lat = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        t_all = time.perf_counter()
        for i in range(requests + 50):
            t0 = time.perf_counter()
            conn.request("POST", "/predictions", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            if i >= 50:
                lat.append(time.perf_counter() - t0)
            if i == 49:
                t_all = time.perf_counter()
        elapsed = time.perf_counter() - t_all
        return {
            "p50_ms": percentile(lat, 50) * 1000,
            "p99_ms": percentile(lat, 99) * 1000,
            "req_per_s": requests / elapsed,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def redis_raw(redis_url: str) -> dict:
    port = re.search(r":(\d+)", redis_url.split("//", 1)[1])
    key = f"bench-raw-{uuid.uuid4().hex[:6]}"
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            port.group(1) if port else "6379",
            "-c",
            "1",
            "-n",
            "20000",
            "-q",
            "XADD",
            key,
            "MAXLEN",
            "~",
            "1000",
            "*",
            "f",
            "v",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    subprocess.run(["redis-cli", "-p", port.group(1) if port else "6379", "DEL", key], capture_output=True)
    m = re.search(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    return {"xadd_per_s_1conn": float(m.group(1)) if m else None}


def cleanup(redis_url: str, streams: list[str]) -> None:
    import redis

    from cogkit.runtime.queue.protocol import key_prefix

    r = redis.Redis.from_url(redis_url)
    for s in streams:
        r.delete(s, f"{s}:schema")
    for pattern in [p for s in streams for p in (f"{key_prefix(s)}*", f"prediction:{s}-*")]:
        batch = []
        for k in r.scan_iter(match=pattern, count=5000):
            batch.append(k)
            if len(batch) >= 5000:
                r.unlink(*batch)
                batch = []
        if batch:
            r.unlink(*batch)
    r.close()


def one_round(
    args: argparse.Namespace, model: Path, extra: list[str], streams: list[str], order: int
) -> dict:
    """Every row once; `order` 1 runs the HTTP server and raw Redis before the queue (alternation)."""
    rows: dict[str, dict] = {}

    def queue_rows() -> None:
        for k in [int(x) for x in args.workers.split(",")]:
            stream = f"bench-{uuid.uuid4().hex[:6]}"
            streams.append(stream)
            procs = start_workers(model, args.redis, stream, k, extra)
            try:
                if k == 1:
                    lat = asyncio.run(queue_latency(args.redis, stream, args.latency_jobs))
                    rows["queue-lat (1 worker)"] = {
                        "p50_ms": percentile(lat, 50) * 1000,
                        "p99_ms": percentile(lat, 99) * 1000,
                        "jobs_per_s": len(lat) / sum(lat),
                    }
                cpu0 = cpu_seconds(procs)
                row = asyncio.run(queue_throughput(args.redis, stream, args.jobs))
                row["cpu_ms_per_job"] = (cpu_seconds(procs) - cpu0) * 1000 / args.jobs
                rows[f"queue-tput ({k} worker{'s' if k > 1 else ''})"] = row
            finally:
                stop(procs)

    def peer_rows() -> None:
        rows["http-seq (cogkit server)"] = http_sequential(model, args.latency_jobs)
        rows["redis-raw (redis-benchmark)"] = redis_raw(args.redis)

    for part in (queue_rows, peer_rows) if order == 0 else (peer_rows, queue_rows):
        part()
    return {name: rows[name] for name in sorted(rows, key=_ROW_ORDER.index)}


_ROW_ORDER = [
    "queue-lat (1 worker)",
    *[f"queue-tput ({k} worker{'s' if k > 1 else ''})" for k in range(1, 65)],
    "http-seq (cogkit server)",
    "redis-raw (redis-benchmark)",
]
_RATE_KEYS = ("jobs_per_s", "req_per_s", "xadd_per_s_1conn")


def median_rows(rounds: list[dict]) -> dict[str, dict]:
    """Per row, the median of every number over the rounds, and the range of its rate."""
    out: dict[str, dict] = {}
    for name in rounds[0]:
        per = [r[name] for r in rounds if name in r]
        row: dict = {}
        for key, value in per[0].items():
            if isinstance(value, (int, float)):
                values = sorted(p[key] for p in per)
                row[key] = statistics.median(values)
                if key in _RATE_KEYS:
                    row["rate_range"] = [values[0], values[-1]]
        out[name] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--latency-jobs", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--prefetch", type=int, default=None, help="passed to every worker")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the table shows medians")
    args = ap.parse_args()
    model = model_dir()
    extra = ["--prefetch", str(args.prefetch)] if args.prefetch is not None else []
    streams: list[str] = []
    rounds: list[dict] = []
    loads: list[float] = []
    try:
        for i in range(args.rounds):
            loads.append(os.getloadavg()[0])  # the machine may be shared: say how busy it was
            rounds.append(one_round(args, model, extra, streams, i % 2))
            print(
                f"round {i + 1}/{args.rounds}: "
                + ", ".join(
                    f"{name} {next(r[k] for k in _RATE_KEYS if k in r):,.0f}/s"
                    for name, r in rounds[-1].items()
                ),
                flush=True,
            )
        loads.append(os.getloadavg()[0])
    finally:
        cleanup(args.redis, streams)
    rows = median_rows(rounds)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "jobs": args.jobs,
        "latency_jobs": args.latency_jobs,
        "prefetch": args.prefetch,
        "rounds": args.rounds,
        "loadavg_1m_per_round_and_after": [round(x, 2) for x in loads],
        "rows": rows,
        "per_round": rounds,
    }
    lines = [
        f"medians of {args.rounds} alternating round(s)",
        "",
        "| row | p50 ms | p99 ms | jobs/s (range) | saturated p50 / p99 ms | worker CPU ms/job |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        rate = next(r[k] for k in _RATE_KEYS if k in r)
        low, high = r["rate_range"]
        spread = f" ({low:,.0f}–{high:,.0f})" if args.rounds > 1 else ""
        sat = f"{r['sat_p50_ms']:.1f} / {r['sat_p99_ms']:.1f}" if "sat_p50_ms" in r else ""
        p50 = f"{r['p50_ms']:.2f}" if "p50_ms" in r else ""
        p99 = f"{r['p99_ms']:.2f}" if "p99_ms" in r else ""
        cpu = f"{r['cpu_ms_per_job']:.2f}" if "cpu_ms_per_job" in r else ""
        lines.append(f"| {name} | {p50} | {p99} | {rate:,.0f}{spread} | {sat} | {cpu} |")
    load = ", ".join(f"{x:.2f}" for x in report["loadavg_1m_per_round_and_after"])
    lines.append(
        f"\nload average (1 min) at each round's start and at the end: {load}; {os.cpu_count()} CPUs"
    )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"queue-{stamp}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"queue-{stamp}.md").write_text(f"# queue benchmark {report['when']}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
