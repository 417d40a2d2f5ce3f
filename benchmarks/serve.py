"""Serving benchmark: cogkit vs coglet (cog 0.23.1, Rust) vs Cog's FastAPI server (cog 0.16.8).

All three serve the same trivial predictors, one after the other, in one run on one machine.
The server (and its predictor child: affinity is inherited) is pinned to one core and the load
generator (wrk) to another, so the numbers compare per-request cost on one core.

Rows (the issue-4 targets):
  seq      sequential sync POST /predictions (wrk -c1): req/s, p50, p99, non-2xx
  async32  async predictor sleeping 50 ms, concurrency.max 32, wrk -c32: 2xx req/s
  file8m   8 MiB Path output returned as a data URL, sequential: p50
  start    process start -> /health-check READY (median of N starts)
  rss      RSS of server + predictor processes after the seq run (MB)

Usage: .venv/bin/python benchmarks/serve.py [--duration 10] [--runs 3] [--servers cogkit,coglet,cog016]
Results go to benchmarks/results/serve-<time>.{json,md} and a table is printed.
Prepare the peers (each in its own venv):
  python3.11 -m venv /opt/bench/coglet-venv && /opt/bench/coglet-venv/bin/pip install cog==0.23.1
  python3.11 -m venv /opt/bench/cog016-venv && /opt/bench/cog016-venv/bin/pip install cog==0.16.8
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

PREDICTORS = {
    "sync_str": (
        "predict.py:Predictor",
        None,
        "from cog import BasePredictor\n\n\n"
        "class Predictor(BasePredictor):\n"
        "    def setup(self) -> None:\n        pass\n\n"
        "    def predict(self, text: str) -> str:\n        return 'hello ' + text\n",
    ),
    "async_sleep": (
        "predict.py:Predictor",
        32,
        "import asyncio\n\nfrom cog import BasePredictor\n\n\n"
        "class Predictor(BasePredictor):\n"
        "    async def setup(self) -> None:\n        pass\n\n"
        "    async def predict(self, text: str) -> str:\n"
        "        await asyncio.sleep(0.05)\n        return 'hello ' + text\n",
    ),
    "file8m": (
        "predict.py:Predictor",
        None,
        "import os\nimport tempfile\n\nfrom cog import BasePredictor, Path\n\n"
        "DATA = os.urandom(8 * 1024 * 1024)\n\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, text: str) -> Path:\n"
        "        out = os.path.join(tempfile.mkdtemp(), 'out.bin')\n"
        "        with open(out, 'wb') as fh:\n            fh.write(DATA)\n"
        "        return Path(out)\n",
    ),
}

BODY = '{"input":{"text":"world"}}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(name: str) -> Path:
    ref, conc, code = PREDICTORS[name]
    d = Path(tempfile.mkdtemp(prefix=f"cogkit-bench-{name}-"))
    (d / "predict.py").write_text(code)
    yaml = f'build:\n  python_version: "3.11"\npredict: "{ref}"\n'
    if conc:
        yaml += f"concurrency:\n  max: {conc}\n"
    (d / "cog.yaml").write_text(yaml)
    return d


class Peer:
    def __init__(self, name: str, python: str, label: str) -> None:
        self.name, self.python, self.label = name, python, label

    def available(self) -> bool:
        return Path(self.python).exists()

    def command(self, port: int) -> list[str]:
        if self.name == "cogkit":
            return [self.python, "-m", "cogkit.runtime.server", "--host", "127.0.0.1", "--port", str(port)]
        return [self.python, "-m", "cog.server.http", "--host", "127.0.0.1"]

    def env(self, project: Path, port: int, conc: int | None) -> dict[str, str]:
        env = {
            **os.environ,
            "PORT": str(port),
            "COG_LOG_LEVEL": "warning",
            "LOG_FORMAT": "console",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PYTHONPATH", None)
        if self.name != "cogkit":
            env["PATH"] = f"{Path(self.python).parent}:{env['PATH']}"
            env["COG_PREDICT_TYPE_STUB"] = "predict.py:Predictor"
        if conc:
            env["COG_MAX_CONCURRENCY"] = str(conc)
        return env


class Running:
    def __init__(self, peer: Peer, project: Path, conc: int | None, core: str) -> None:
        self.port = free_port()
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["taskset", "-c", core, *peer.command(self.port)],
            cwd=project,
            env=peer.env(project, self.port, conc),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ready_after: float | None = None

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health-check")
                status = json.loads(c.getresponse().read()).get("status")
                c.close()
                if status == "READY":
                    self.ready_after = time.perf_counter() - self.t0
                    return self.ready_after
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.002)
        raise RuntimeError("server never became READY")

    def tree_rss_mb(self) -> float:
        pids = {self.proc.pid}
        changed = True
        while changed:
            changed = False
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) not in pids:
                    try:
                        stat = Path(f"/proc/{entry}/stat").read_text()
                    except OSError:
                        continue
                    if int(stat.rsplit(")", 1)[1].split()[1]) in pids:
                        pids.add(int(entry))
                        changed = True
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        # the taskset wrapper execs the server, so the tree is server + workers
        return total / 1024

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def wrk(port: int, conns: int, duration: float, core: str, body: str = BODY) -> dict[str, float]:
    """wrk POSTing `body` (JSON) to /predictions from `core`; a Lua long string, so any JSON fits."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        [
            "taskset",
            "-c",
            core,
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{int(duration)}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/predictions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()
    return parse_wrk(out, duration)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def parse_wrk(out: str, duration: float) -> dict[str, float]:
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    elapsed = _ms(re.search(r"requests in ([\d.]+\w+),", out).group(1)) / 1000  # type: ignore[union-attr]
    non2xx_m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(non2xx_m.group(1)) if non2xx_m else 0
    errors_m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock_errors = sum(int(x) for x in errors_m.groups()) if errors_m else 0
    lat = {p: _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    return {
        "requests": total,
        "rps_2xx": (total - non2xx) / elapsed,
        "non2xx": non2xx,
        "socket_errors": sock_errors,
        "p50_ms": lat.get("50", float("nan")),
        "p90_ms": lat.get("90", float("nan")),
        "p99_ms": lat.get("99", float("nan")),
    }


def file_latency(port: int, n: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, bad, size = [], 0, 0
    for i in range(n + 3):
        t = time.perf_counter()
        conn.request("POST", "/predictions", body=BODY, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        dt = (time.perf_counter() - t) * 1000
        if resp.status != 200 or (b'"succeeded"' not in body[:512] and b'"succeeded"' not in body[-512:]):
            bad += 1
        if i >= 3:
            times.append(dt)
            size = len(body)
    conn.close()
    return {
        "p50_ms": statistics.median(times),
        "p90_ms": sorted(times)[int(len(times) * 0.9) - 1],
        "bad": bad,
        "body_bytes": size,
        "times_ms": times,
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(runs, key=lambda x: x["rps_2xx"])
    return {**ordered[len(ordered) // 2], "rps_runs": [round(x["rps_2xx"]) for x in runs],
            "non2xx_total": sum(x["non2xx"] for x in runs),
            "requests_total": sum(x["requests"] for x in runs), "p50_runs": [x["p50_ms"] for x in runs]}


def bench_all(peers: list[Peer], args: argparse.Namespace) -> list[dict[str, object]]:
    """Every row is measured in rounds that alternate between the servers, so that drift in
    machine load (shared 2-vCPU VM) hits all of them alike; medians are reported."""
    core_srv, core_load = args.server_core, args.load_core
    res: dict[str, dict[str, object]] = {p.name: {"server": p.label} for p in peers}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    # start -> READY (trivial setup)
    proj = make_project("sync_str")
    starts: dict[str, list[float]] = {p.name: [] for p in peers}
    for _ in range(args.starts):
        for p in peers:
            r = Running(p, proj, None, core_srv)
            try:
                starts[p.name].append(r.wait_ready() * 1000)
            finally:
                r.stop()
    for p in peers:
        res[p.name]["start_ready_ms"] = statistics.median(starts[p.name])
        res[p.name]["start_ready_all_ms"] = [round(x, 1) for x in starts[p.name]]
    log("start->READY done")

    def rounds(project: Path, conc: int | None, conns: int, key: str) -> None:
        running = {p.name: Running(p, project, conc, core_srv) for p in peers}
        try:
            for r in running.values():
                r.wait_ready()
            for r in running.values():  # warm-up
                wrk(r.port, conns, 2, core_load)
            time.sleep(0.5)
            runs: dict[str, list[dict[str, float]]] = {n: [] for n in running}
            for _ in range(args.runs):
                for name, r in running.items():
                    runs[name].append(wrk(r.port, conns, args.duration, core_load))
                    time.sleep(0.3)  # in-flight predictions of closed connections drain
            for name, r in running.items():
                res[name][key] = _median_run(runs[name])
                if key == "seq":
                    res[name]["rss_mb"] = r.tree_rss_mb()
        finally:
            for r in running.values():
                r.stop()
        log(f"{key} done")

    rounds(proj, None, 1, "seq")
    rounds(make_project("async_sleep"), 32, 32, "async32")

    # 8 MiB file output as a data URL, sequential requests, alternating servers
    proj_file = make_project("file8m")
    running = {p.name: Running(p, proj_file, None, core_srv) for p in peers}
    try:
        for r in running.values():
            r.wait_ready()
        samples: dict[str, list[dict[str, float]]] = {n: [] for n in running}
        for _ in range(max(1, args.file_requests // 10)):
            for name, r in running.items():
                samples[name].append(file_latency(r.port, 10))
        for name, got in samples.items():
            times = sorted(t for s in got for t in s["times_ms"])
            res[name]["file8m"] = {"p50_ms": statistics.median(times),
                                   "p90_ms": times[int(len(times) * 0.9) - 1],
                                   "bad": sum(s["bad"] for s in got), "body_bytes": got[-1]["body_bytes"],
                                   "n": len(times)}
    finally:
        for r in running.values():
            r.stop()
    log("file8m done")
    return [res[p.name] for p in peers]


def fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def table(results: list[dict]) -> str:
    by = {r["server"]: r for r in results}
    ref = next((r for r in results if r["server"].startswith("coglet")), None)
    rows = [
        ("sequential sync req/s (2xx), median run", lambda r: r["seq"]["rps_2xx"], 0, "≥ 1.75× coglet", True),
        ("sequential sync req/s (2xx), best run", lambda r: max(r["seq"]["rps_runs"]), 0, "", True),
        ("sequential non-2xx (all runs)", lambda r: r["seq"]["non2xx_total"], 0, "0", None),
        ("sequential p50 ms, median run", lambda r: r["seq"]["p50_ms"], 3, "≤ 0.3", False),
        ("sequential p50 ms, best run", lambda r: min(r["seq"]["p50_runs"]), 3, "", False),
        ("sequential p99 ms, median run", lambda r: r["seq"]["p99_ms"], 3, "", False),
        ("async 50 ms sleep, c=32, req/s (2xx)", lambda r: r["async32"]["rps_2xx"], 0, "≥ 600", True),
        ("async c=32 non-2xx", lambda r: r["async32"]["non2xx"], 0, "", None),
        ("8 MiB file output data URL p50 ms", lambda r: r["file8m"]["p50_ms"], 1, "≤ 35", False),
        ("start → READY ms (median)", lambda r: r["start_ready_ms"], 0, "≤ 200", False),
        ("start → READY ms (best)", lambda r: min(r["start_ready_all_ms"]), 0, "", False),
        ("RSS server+worker MB", lambda r: r["rss_mb"], 1, "≤ 80", False),
    ]
    names = list(by)
    head = "| metric | target | " + " | ".join(names) + " | cogkit vs coglet (>1 = cogkit better) |"
    lines = [head, "|" + "---|" * (len(names) + 3)]
    for label, get, digits, target, higher_better in rows:
        cells = []
        for n in names:
            try:
                cells.append(fmt(float(get(by[n])), digits))
            except (KeyError, TypeError):
                cells.append("n/a")
        ratio = ""
        if ref is not None and "cogkit" in by and higher_better is not None:
            try:
                a, b = float(get(by["cogkit"])), float(get(ref))
                ratio = f"{a / b:.2f}×" if higher_better else f"{b / a:.2f}×"
            except (KeyError, TypeError, ZeroDivisionError):
                ratio = ""
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + f" | {ratio} |")
    if ref is not None and "cogkit" in by:
        # Rounds alternate between servers, so round i of each ran under similar machine load:
        # the median of per-round ratios is the least noise-sensitive comparison.
        pairs = [a / b for a, b in zip(by["cogkit"]["seq"]["rps_runs"], ref["seq"]["rps_runs"], strict=False)
                 if b]
        if pairs:
            per_round = ", ".join(f"{x:.2f}" for x in pairs)
            blanks = " | " * (len(names) - 1)
            lines.append(f"| sequential req/s, median of per-round ratios | ≥ 1.75× | {blanks} | "
                         f"{statistics.median(pairs):.2f}× (rounds: {per_round}) |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=4)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--starts", type=int, default=7)
    p.add_argument("--file-requests", type=int, default=40)
    p.add_argument("--servers", default="cogkit,coglet,cog016")
    p.add_argument("--server-core", default="0")
    p.add_argument("--load-core", default="1")
    p.add_argument("--coglet-python", default="/opt/bench/coglet-venv/bin/python")
    p.add_argument("--cog016-python", default="/opt/bench/cog016-venv/bin/python")
    args = p.parse_args()
    # This process is the Python load generator of the file row: keep it off the server's core.
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})
    peers = {
        "cogkit": Peer("cogkit", sys.executable, "cogkit"),
        "coglet": Peer("coglet", args.coglet_python, "coglet 0.23.1"),
        "cog016": Peer("cog016", args.cog016_python, "cog 0.16.8 (FastAPI)"),
    }
    chosen = []
    for name in args.servers.split(","):
        peer = peers[name]
        if not peer.available():
            print(f"skipping {peer.label}: {peer.python} missing", file=sys.stderr)
            continue
        chosen.append(peer)
    results = bench_all(chosen, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    meta = {
        "cpu": _cpu(),
        "python": sys.version.split()[0],
        "duration_s": args.duration,
        "runs": args.runs,
        "server_core": args.server_core,
        "load_core": args.load_core,
    }
    (RESULTS / f"serve-{stamp}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    md = table([r for r in results if "error" not in r])
    (RESULTS / f"serve-{stamp}.md").write_text(f"# serve benchmark {stamp}\n\n{json.dumps(meta)}\n\n{md}\n")
    print(md)
    print(f"\nresults: {RESULTS}/serve-{stamp}.json", file=sys.stderr)
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
