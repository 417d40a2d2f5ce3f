"""Context sync throughput: cogkit's fsutil sender vs the Docker CLI's (Go) one, side by side.

Workloads: one large file (default 1 GiB) and 10,000 small files. Every run syncs from scratch
(a fresh shared key for cogkit, a fresh hard-linked directory for docker), into the same graph:
the base image running `true` with the context bind-mounted, so both pay the same daemon work.

    .venv/bin/python benchmarks/context_sync.py [--large-mib 1024] [--small 10000] [--runs 5]

The engine is DOCKER_HOST's (with COGKIT_DOCKER_CLI its client); rounds alternate the three paths.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cogkit import buildkit, llb

DOCKER_CLI = os.environ.get("COGKIT_DOCKER_CLI", "/usr/bin/docker")  # with DOCKER_HOST: the engine
BASE = "cogkit-base:py3.11-bookworm"


def make_large(root: Path, mib: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    target = root / "large.bin"
    if not target.exists() or target.stat().st_size != mib << 20:
        with open(target, "wb") as fh:
            block = os.urandom(1 << 20)
            for i in range(mib):
                fh.write(block[i % 256 :] + block[: i % 256])  # distinct blocks, cheap to make
    return mib << 20


def make_small(root: Path, count: int) -> int:
    marker = root / f".made-{count}"
    rng = random.Random(42)
    total = 0
    for i in range(count):
        d = root / f"d{i % 100:03d}" / f"s{(i // 100) % 10}"
        size = rng.randrange(100, 4000)
        total += size
        if not marker.exists():
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i:05d}.txt").write_bytes(rng.randbytes(size))
        else:
            rng.randbytes(size)
    marker.touch()
    return total


def cogkit_run(client: buildkit.Client, context: Path, session_via: str) -> tuple[float, float]:
    """(wall seconds, seconds the local:// vertex took as the daemon reports it)."""

    def build(gw: buildkit.Gateway) -> buildkit.BuildResult:
        ctx = llb.local("context", shared_key_hint="bench")
        state = llb.image(BASE).run(
            ["true"], mounts=[llb.bind(ctx, "/ctx", readonly=True)], name="use context"
        )
        return buildkit.BuildResult(state.root().marshal(caps=gw.caps))

    started = time.perf_counter()
    report = client.build(
        build,
        exporter=None,
        local_dirs={"context": context},
        shared_key=uuid.uuid4().hex,
        progress="quiet",
        session_via=session_via,  # type: ignore[arg-type]
    )
    wall = time.perf_counter() - started
    local = next(v for v in report.vertices if v.name.startswith("local://"))
    return wall, (local.completed or 0) - (local.started or 0)


def docker_run(context: Path, scratch: Path) -> float:
    fresh = scratch / f"ctx-{uuid.uuid4().hex[:8]}"
    subprocess.run(["cp", "-al", str(context), str(fresh)], check=True)
    dockerfile = scratch / "Dockerfile"
    dockerfile.write_text(f"FROM {BASE}\nRUN --mount=type=bind,target=/ctx true\n")
    started = time.perf_counter()
    subprocess.run(
        [DOCKER_CLI, "build", "-q", "-f", str(dockerfile), str(fresh)],
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    wall = time.perf_counter() - started
    shutil.rmtree(fresh)
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "cogkit-bench-sync"))
    args = parser.parse_args()
    work = Path(args.workdir)
    workloads = {
        f"1 large file ({args.large_mib} MiB)": (work / "large", make_large(work / "large", args.large_mib)),
        f"{args.small} small files": (work / "small", make_small(work / "small", args.small)),
    }
    client = buildkit.connect()
    # Warm up: base image metadata and the exec cache entry the graph shares across runs.
    cogkit_run(client, work / "small", "auto")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'workload':28} {'path':34} {'median wall':>11} {'MB/s':>8} {'sync-only MB/s':>15}")
    names = {"auto": "cogkit, dockerd /session", "control": "cogkit, Control.Session"}
    for label, (path, size) in workloads.items():
        # Alternating rounds: each round runs the three paths, in an order that rotates, so none of
        # them always runs first (cold page cache) or right after the other's writeback.
        runs: dict[str, list[tuple[float, float]]] = {"auto": [], "control": [], "docker": []}
        order = ["auto", "control", "docker"]
        for round_ in range(args.runs):
            for via in order[round_ % 3 :] + order[: round_ % 3]:
                if via == "docker":
                    runs[via].append((docker_run(path, work), float("nan")))
                else:
                    runs[via].append(cogkit_run(client, path, via))
        rows = []
        for via in ("auto", "control"):
            wall = statistics.median(r[0] for r in runs[via])
            sync = statistics.median(r[1] for r in runs[via])
            sync_rate = size / sync / 1e6 if sync > 0 else float("nan")
            rows.append((names[via], wall, size / wall / 1e6, sync_rate))
        peer = statistics.median(r[0] for r in runs["docker"])
        rows.append(("docker build (Go fsutil, /session)", peer, size / peer / 1e6, float("nan")))
        for name, wall, mbs, sync_mbs in rows:
            print(f"{label:28} {name:34} {wall:10.2f}s {mbs:8.0f} {sync_mbs:15.0f}")
        print(f"{'':28} {'ratio docker/cogkit (/session)':34} {peer / rows[0][1]:10.2f}x")
        print(f"{'':28} {'ratio Control.Session / /session':34} {rows[1][1] / rows[0][1]:10.2f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
