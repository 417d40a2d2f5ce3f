"""Serving a real model: examples/embeddings (all-MiniLM-L6-v2 on torch, CPU) through `cogkit serve --local`,
through coglet (cog 0.23.1, Cog's Rust server) and called directly in-process; the issue-13 serving rows.

Each of the three holds the same predictor (examples/embeddings/predict.py) in its own process, pinned to
one core (--server-core) with the same number of torch threads (--threads, OMP_NUM_THREADS for the servers,
torch.set_num_threads in-process: fairness on a small machine). The servers are driven by wrk with one
connection from another core (--load-core): sequential predictions, as one user would send them. The
direct process calls Predictor.predict() in a loop: the model's own time, including the list conversion the
server would send, so what a server adds on top is purely serving (HTTP, JSON, the worker hop).

Rounds alternate between the three (the order rotates each round), so drift in machine load hits all alike;
figures are medians over rounds, and the overhead is the median of per-round ratios:
  overhead = (server's mean time per prediction - model's mean time per call) / model's mean time
Target (issue 13): cogkit's overhead ≤ 2 % of the model's time at batch 1.

Usage:  .venv/bin/python benchmarks/real_model_serving.py [--rounds 5] [--duration 5] [--threads 1]
The venvs are made (once, cached under /var/cache/cogkit-test) by tests/model_venv.py: torch 2.13 CPU from
the local wheel, sentence-transformers; cogkit runs from this checkout, coglet from `pip install cog==0.23.1`.
Results: benchmarks/results/real-model-serving-<time>.{json,md}; the table is printed.
benchmarks/real_model.py (the build rows) reads the newest of these files for its serving rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve import Peer, Running, _cpu, wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))
from model_venv import EXAMPLE, ModelVenv, ensure_venv, fetch_weights  # noqa: E402

BATCHES = (1, 32)
WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches in "
    "the old town square and a model turns every sentence into three hundred eighty four numbers"
).split()


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


class CogkitServe(Peer):
    """`cogkit serve --local` (this checkout's cogkit, run by the model venv's Python)."""

    def __init__(self, venv: ModelVenv, threads: int) -> None:
        super().__init__("cogkit", str(venv.python), "cogkit serve --local")
        self.venv, self.threads = venv, threads

    def command(self, port: int) -> list[str]:
        return self.venv.cogkit("serve", "--local", "--no-reload", "--host", "127.0.0.1", "-p", str(port))

    def env(self, project: Path, port: int, conc: int | None) -> dict[str, str]:
        return {
            **super().env(project, port, conc),
            **self.venv.env,
            **thread_env(self.threads),
            "COGKIT_NO_UPDATE_CHECK": "1",
        }


class Coglet(Peer):
    """coglet 0.23.1 (Cog's Rust server) on the same predict.py, as benchmarks/serve.py starts it."""

    def __init__(self, venv: ModelVenv, threads: int) -> None:
        super().__init__("coglet", str(venv.python), "coglet 0.23.1")
        self.threads = threads

    def env(self, project: Path, port: int, conc: int | None) -> dict[str, str]:
        return {**super().env(project, port, conc), **thread_env(self.threads)}


DIRECT = r"""
import json, os, sys, time
sys.path[:0] = [os.environ["COGKIT_COMPAT"], os.getcwd()]
import torch
env_threads = torch.get_num_threads()
torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
from predict import Predictor
predictor = Predictor()
predictor.setup()
print(json.dumps({"env_threads": env_threads, "threads": torch.get_num_threads(),
                  "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
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


class Direct:
    """The predictor called in-process, in a long-lived child pinned like the servers."""

    label = "model called directly"

    def __init__(self, venv: ModelVenv, project: Path, threads: int, core: str) -> None:
        env = {
            **os.environ,
            **venv.env,
            **thread_env(threads),
            "BENCH_THREADS": str(threads),
            "COGKIT_COMPAT": str(ROOT / "cogkit" / "_compat"),
        }
        self.proc = subprocess.Popen(
            ["taskset", "-c", core, str(venv.python), "-c", DIRECT],
            cwd=project, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.info = json.loads(self.proc.stdout.readline())

    def measure(self, texts: list[str], seconds: float) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"texts": texts, "seconds": seconds}) + "\n")
        self.proc.stdin.flush()
        times = sorted(json.loads(self.proc.stdout.readline())["times"])
        return {
            "requests": len(times),
            "mean_ms": statistics.fmean(times) * 1000,
            "rps_2xx": len(times) / sum(times),
            "non2xx": 0,
            "p50_ms": statistics.median(times) * 1000,
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        }

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench(args: argparse.Namespace) -> dict[str, object]:
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    cogkit_venv, coglet_venv = ensure_venv("cogkit"), ensure_venv("coglet")
    project = Path(tempfile.mkdtemp(prefix="cogkit-real-model-serving-")) / "embeddings"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    fetch_weights(project)
    meta: dict[str, object] = {
        "cpu": _cpu(), "cores": os.cpu_count(), "load_before": load(), "threads": args.threads,
        "server_core": args.server_core, "load_core": args.load_core, "rounds": args.rounds,
        "duration_s": args.duration, "batches": list(BATCHES),
    }  # fmt: skip
    systems: dict[str, Running | Direct] = {}
    try:
        for peer in (CogkitServe(cogkit_venv, args.threads), Coglet(coglet_venv, args.threads)):
            systems[peer.name] = Running(peer, project, None, args.server_core)
            systems[peer.name].wait_ready(timeout=300)  # one at a time: each loads torch and the model
            log(f"{peer.label} ready after {systems[peer.name].ready_after:.1f}s")
        systems["direct"] = Direct(cogkit_venv, project, args.threads, args.server_core)
        meta["direct"] = systems["direct"].info
        log(f"direct ready: {systems['direct'].info}")

        def once(name: str, batch: int, seconds: float) -> dict[str, float]:
            system = systems[name]
            if isinstance(system, Direct):
                return system.measure(texts_for(batch), seconds)
            got = wrk(system.port, 1, seconds, args.load_core, body_for(batch))
            got["mean_ms"] = 1000 / got["rps_2xx"]  # per successful prediction: a 409 has to be sent again
            return got

        for batch in BATCHES:  # warm-up: first calls allocate, JIT-free but cache-cold
            for name in systems:
                once(name, batch, 2)
        names = list(systems)
        runs: dict[str, dict[int, list[dict[str, float]]]] = {n: {b: [] for b in BATCHES} for n in names}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for batch in BATCHES:
                for name in order:
                    runs[name][batch].append(once(name, batch, args.duration))
                    time.sleep(0.2)
            log(f"round {r + 1}/{args.rounds} done (load {load()})")
    finally:
        for system in systems.values():
            system.stop()
        shutil.rmtree(project.parent, ignore_errors=True)
    meta["load_after"] = load()
    summary: dict[str, dict[str, dict[str, object]]] = {}
    for name in names:
        summary[name] = {}
        for batch in BATCHES:
            rows = runs[name][batch]
            entry: dict[str, object] = {
                "rps": statistics.median(x["rps_2xx"] for x in rows),
                "mean_ms": statistics.median(x["mean_ms"] for x in rows),
                "p50_ms": statistics.median(x["p50_ms"] for x in rows),
                "p99_ms": statistics.median(x["p99_ms"] for x in rows),
                "non2xx": sum(int(x["non2xx"]) for x in rows),
                "requests": sum(int(x["requests"]) for x in rows),
                "rps_runs": [round(x["rps_2xx"], 1) for x in rows],
            }
            if name != "direct":
                per_round = [
                    x["mean_ms"] / d["mean_ms"] - 1 for x, d in zip(rows, runs["direct"][batch], strict=True)
                ]
                p50_round = [
                    x["p50_ms"] / d["p50_ms"] - 1 for x, d in zip(rows, runs["direct"][batch], strict=True)
                ]
                entry["overhead"] = statistics.median(per_round)
                entry["overhead_runs"] = [round(x, 4) for x in per_round]
                entry["overhead_p50"] = statistics.median(p50_round)
            summary[name][str(batch)] = entry
    return {"meta": meta, "results": summary}


def table(result: dict) -> str:
    label = {"cogkit": "cogkit serve --local", "coglet": "coglet 0.23.1", "direct": "model called directly"}
    lines = [
        "| batch | system | predictions/s | texts/s | p50 ms | p99 ms | overhead vs model (mean; p50) "
        "| non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for batch in BATCHES:
        for name in ("direct", "cogkit", "coglet"):
            e = result["results"].get(name, {}).get(str(batch))
            if e is None:
                continue
            over = (
                "–"
                if "overhead" not in e
                else f"{e['overhead'] * 100:+.1f} %; {e['overhead_p50'] * 100:+.1f} %"
            )
            lines.append(
                f"| {batch} | {label[name]} | {e['rps']:.1f} | {e['rps'] * batch:.0f} | {e['p50_ms']:.2f} | "
                f"{e['p99_ms']:.2f} | {over} | {e['non2xx']} of {e['requests']} |"
            )
    m = result["meta"]
    lines.append("")
    lines.append(
        f"{m['cpu']}, {m['cores']} cores; server and model pinned to core {m['server_core']}, wrk on core "
        f"{m['load_core']}; {m['threads']} torch thread(s); "
        f"{m['rounds']} alternating rounds × {m['duration_s']} s; "
        f"load average {m['load_before']} before, {m['load_after']} after"
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5, help="seconds per system, batch and round")
    p.add_argument("--threads", type=int, default=1, help="torch threads, the same for all three")
    p.add_argument("--server-core", default="0")
    p.add_argument("--load-core", default="1")
    args = p.parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})
    result = bench(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"real-model-serving-{stamp}.json").write_text(json.dumps(result, indent=2))
    md = table(result)
    (RESULTS / f"real-model-serving-{stamp}.md").write_text(f"# real model serving {stamp}\n\n{md}\n")
    print(md)
    print(f"\nresults: {RESULTS}/real-model-serving-{stamp}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
