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
in wall time, and in CPU time (every thread of the server's process tree per successful prediction, from
/proc: the work the server adds, which a loaded machine does not inflate the way it inflates wall time).
Target (issue 13): cogkit's overhead ≤ 2 % of the model's time at batch 1.

Usage:  .venv/bin/python benchmarks/real_model_serving.py [--rounds 5] [--duration 5] [--threads 1]
        [--floor] [--no-coglet]
The venvs are made (once, cached under /var/cache/cogkit-test) by tests/model_venv.py: torch 2.13 CPU from
the local wheel, sentence-transformers; cogkit runs from this checkout, coglet from `pip install cog==0.23.1`.
Results: benchmarks/results/real-model-serving-<time>.{json,md}; the table is printed.
benchmarks/real_model.py (the build rows) refers to this script for the serving rows; benchmarks/gpu_serve.py
is the same comparison on a GPU (and holds the pieces both use: the direct caller, rounds, summary, table).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gpu_serve import (
    BATCHES,
    Direct,
    alternate,
    body_for,
    load_average,
    log,
    summarise,
    table,
    thread_env,
    tree_cpu_s,
    wait_idle,
)
from serve import Peer, Running, _cpu, wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))
from model_venv import EXAMPLE, ModelVenv, ensure_venv, fetch_weights  # noqa: E402


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


class Floor(Peer):
    """benchmarks/serving_floor.py: HTTP + one process hop and nothing else, the floor under such servers;
    in_process: the same HTTP with predict() in the handler, the HTTP part of that floor alone."""

    def __init__(self, venv: ModelVenv, threads: int, in_process: bool = False) -> None:
        if in_process:
            super().__init__("http", str(venv.python), "aiohttp, model in-process")
        else:
            super().__init__("floor", str(venv.python), "floor: aiohttp + a worker")
        self.venv, self.threads, self.in_process = venv, threads, in_process

    def command(self, port: int) -> list[str]:
        flags = ["--in-process"] if self.in_process else []
        return [self.python, str(ROOT / "benchmarks" / "serving_floor.py"), "--port", str(port), *flags]

    def env(self, project: Path, port: int, conc: int | None) -> dict[str, str]:
        return {
            **super().env(project, port, conc),
            **self.venv.env,
            **thread_env(self.threads),
            "COGKIT_COMPAT": str(ROOT / "cogkit" / "_compat"),
        }


class WrkDriven:
    """A server started by benchmarks/serve.py's Running, measured by its wrk (one connection)."""

    def __init__(self, peer: Peer, project: Path, args: argparse.Namespace) -> None:
        self.running = Running(peer, project, None, args.server_core)
        self.load_core = args.load_core
        self.ready_s = self.running.wait_ready(timeout=600)

    def measure(self, batch: int, seconds: float) -> dict[str, float]:
        wait_idle(self.running.port)  # the last run's final request may still be running
        cpu = tree_cpu_s(self.running.proc.pid)
        got = wrk(self.running.port, 1, seconds, self.load_core, body_for(batch))
        ok = got["requests"] - got["non2xx"]
        got["cpu_ms"] = (tree_cpu_s(self.running.proc.pid) - cpu) * 1000 / ok if ok else float("nan")
        # the mean per successful prediction (a 409 has to be sent again)
        got["mean_ms"] = 1000 / got["rps_2xx"] if got["rps_2xx"] else float("nan")
        return got

    def stop(self) -> None:
        self.running.stop()


def bench(args: argparse.Namespace) -> dict[str, object]:
    cogkit_venv = ensure_venv("cogkit")
    coglet_venv = None if args.no_coglet else ensure_venv("coglet")
    project = Path(tempfile.mkdtemp(prefix="cogkit-real-model-serving-")) / "embeddings"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    fetch_weights(project)
    meta: dict[str, object] = {
        "cpu": _cpu(), "cores": os.cpu_count(), "load_before": load_average(), "threads": args.threads,
        "server_core": args.server_core, "load_core": args.load_core, "rounds": args.rounds,
        "duration_s": args.duration, "batches": list(BATCHES),
    }  # fmt: skip
    systems: dict[str, WrkDriven | Direct] = {}
    try:
        direct_env = {**os.environ, **cogkit_venv.env, **thread_env(args.threads), "EMBEDDINGS_DEVICE": "cpu"}
        systems["direct"] = Direct(
            str(cogkit_venv.python), project, direct_env, args.threads, args.server_core
        )
        meta["direct"] = systems["direct"].info
        log(f"direct: {meta['direct']}")
        peers: list[Peer] = [CogkitServe(cogkit_venv, args.threads)]
        if args.floor:
            peers += [Floor(cogkit_venv, args.threads), Floor(cogkit_venv, args.threads, in_process=True)]
        if not args.no_coglet:
            assert coglet_venv is not None
            peers.append(Coglet(coglet_venv, args.threads))
        for peer in peers:
            server = WrkDriven(peer, project, args)  # one at a time: each loads torch and the model
            systems[peer.name] = server
            meta[f"{peer.name}_ready_s"] = round(server.ready_s, 2)
            log(f"{peer.label} READY after {server.ready_s:.1f}s")
        runs = alternate(systems, args.rounds, args.duration)
    finally:
        for system in systems.values():
            system.stop()
        shutil.rmtree(project.parent, ignore_errors=True)
    meta["load_after"] = load_average()
    return {"meta": meta, "results": summarise(runs)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5, help="seconds per system, batch and round")
    p.add_argument("--threads", type=int, default=1, help="torch threads, the same for all three")
    p.add_argument("--server-core", default="0")
    p.add_argument("--load-core", default="1")
    p.add_argument("--floor", action="store_true",
                   help="also serving_floor.py: HTTP + a process hop, and HTTP alone")
    p.add_argument("--no-coglet", action="store_true", help="leave coglet out")
    args = p.parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})
    result = bench(args)
    m = result["meta"]
    note = (
        f"{m['cpu']}, {m['cores']} cores; server and model pinned to core {m['server_core']}, wrk on core "
        f"{m['load_core']}; {m['threads']} torch thread(s); {m['rounds']} alternating rounds × "
        f"{m['duration_s']} s; load average {m['load_before']} before, {m['load_after']} after"
    )
    md = table(result["results"], note)  # type: ignore[arg-type]
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"real-model-serving-{stamp}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"real-model-serving-{stamp}.md").write_text(f"# real model serving {stamp}\n\n{md}\n")
    print(md)
    print(f"\nresults: {RESULTS}/real-model-serving-{stamp}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
