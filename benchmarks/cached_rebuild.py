"""Client-side overhead of a fully cached rebuild: cogkit vs `docker build`, side by side.

A small project (base image, a run step, 200 code files copied in, image config) is built once,
then rebuilt N times with nothing changed. The whole in-process rebuild (session set-up, context
walk, gateway round trips, the daemon's cache lookups and export) bounds what the client adds;
the CPU time this process spends per rebuild is the client's own cost. (Vertex timestamps cannot
split the two: cached vertices report times from when they were first built.)

    .venv/bin/python benchmarks/cached_rebuild.py [--runs 10]   (DOCKER_HOST: the engine, alternating rounds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cogkit import buildkit, llb

DOCKER_CLI = os.environ.get("COGKIT_DOCKER_CLI", "/usr/bin/docker")  # with DOCKER_HOST: the engine
BASE = "cogkit-base:py3.11-bookworm"
TAG_COGKIT = "cogkit-bench-cached:cogkit"
TAG_DOCKER = "cogkit-bench-cached:docker"


def make_project(root: Path) -> None:
    for i in range(200):
        path = root / "src" / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n" * 20)
    (root / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN echo prepared > /prepared\nCOPY src /src\nWORKDIR /src\nENV COGKIT=1\n"
        'CMD ["python", "-c", "print(1)"]\n'
    )


def build_fn(gw: buildkit.Gateway) -> buildkit.BuildResult:
    _, config = gw.resolve_image_config(BASE)
    state = llb.image(BASE).with_image_config(config)
    state = state.run(["sh", "-c", "echo prepared > /prepared"], name="prepare").root()
    state = state.file(llb.copy(llb.local("context"), "src", "/src"), name="copy code")
    image_config = dict(config)
    image_config["config"] = {
        **config.get("config", {}),
        "WorkingDir": "/src",
        "Cmd": ["python", "-c", "print(1)"],
    }
    return buildkit.BuildResult(state.marshal(caps=gw.caps), image_config=image_config)


def cogkit_rebuild(client: buildkit.Client, project: Path) -> tuple[float, float, bool]:
    """(wall seconds, CPU seconds of this process, fully cached?)"""
    started, cpu = time.perf_counter(), time.process_time()
    report = client.build(
        build_fn,
        exporter=buildkit.MobyExporter([TAG_COGKIT]),
        local_dirs={"context": project},
        progress="quiet",
    )
    return time.perf_counter() - started, time.process_time() - cpu, report.fully_cached


def docker_rebuild(project: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [DOCKER_CLI, "build", "-q", "-t", TAG_DOCKER, str(project)],
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    return time.perf_counter() - started


def fresh_process_rebuild(project: Path) -> float:
    """A whole new Python process (imports, connect, rebuild, exit as the CLI exits): what a CLI
    user waits for. Byte-compiled modules, as an installed package has them (the environment may
    set PYTHONDONTWRITEBYTECODE; the warm-up run writes the caches)."""
    code = (
        "import importlib.util, pathlib;"
        f"spec = importlib.util.spec_from_file_location('bench', {str(Path(__file__).resolve())!r});"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        f"c = m.buildkit.connect(); m.cogkit_rebuild(c, pathlib.Path({str(project)!r})); c.close();"
        "from cogkit.cli import exit_fast; exit_fast(0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cogkit-bench-cached-") as tmp:
        project = Path(tmp)
        make_project(project)
        t = time.perf_counter()
        client = buildkit.connect()
        connect_s = time.perf_counter() - t
        cogkit_rebuild(client, project)  # first (cold) build
        docker_rebuild(project)
        fresh_process_rebuild(project)  # warm-up: writes the bytecode caches
        load_before = os.getloadavg()
        cogkit_runs, docker_runs, fresh_runs = [], [], []
        for _ in range(args.runs):  # alternating rounds
            cogkit_runs.append(cogkit_rebuild(client, project))
            docker_runs.append(docker_rebuild(project))
            fresh_runs.append(fresh_process_rebuild(project))
        fresh = statistics.median(fresh_runs)
        client.close()
    assert all(cached for _, _, cached in cogkit_runs), "rebuilds were expected to be fully cached"
    wall = statistics.median(r[0] for r in cogkit_runs)
    cpu = statistics.median(r[1] for r in cogkit_runs)
    peer = statistics.median(docker_runs)
    print(f"fully cached rebuild, median of {args.runs} (connect once: {connect_s * 1000:.0f} ms)")
    print(f"  cogkit in-process wall {wall * 1000:7.0f} ms  (bounds the client overhead; target < 500 ms)")
    print(f"  cogkit client CPU      {cpu * 1000:7.0f} ms  (this process, all threads)")
    print(f"  cogkit, fresh process  {fresh * 1000:7.0f} ms  (python start + imports + connect + rebuild)")
    print(f"  docker build wall      {peer * 1000:7.0f} ms  (CLI process start included)")
    print(f"  ratio docker/cogkit    {peer / wall:7.2f}x (in-process), {peer / fresh:.2f}x (fresh process)")
    load = " ".join(f"{x:.2f}" for x in load_before)
    print(f"  load average before {load}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
