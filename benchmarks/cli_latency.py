#!/usr/bin/env python3
"""`cogkit predict IMAGE -i …` latency against `docker run` + curl done by hand, in the same run.

What is timed, for the hello-world example (str → str), image already built:
  * cogkit: the whole CLI as a subprocess, from exec to the output line on stdout ("to output"),
    and to process exit (which includes removing the container: "total").
  * by hand: a bash script doing what a user would: `docker run -d -p 127.0.0.1:PORT:5000 IMAGE`,
    `curl /health-check` every 20 ms until READY, `curl -X POST /predictions`, print the output
    ("to output"), then `docker rm -f` ("total"). Same image, same engine, same client binary.
Runs alternate (cogkit, hand, cogkit, hand, ...) so drift hits both sides equally. The target is
≤ 1.5 s to output for cogkit.

Usage: .venv/bin/python benchmarks/cli_latency.py [--runs 10] [--image TAG] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello-world"
BASE_IMAGE = os.environ.get("COGKIT_BASE_IMAGE", "cogkit-base:py3.11-bookworm")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
EXPECTED = "hello world"

HAND_SCRIPT = r"""
set -e
cid=$("$DOCKER" run -d -p 127.0.0.1:$PORT:5000 "$IMAGE")
until curl -sf --max-time 1 http://127.0.0.1:$PORT/health-check | grep -q '"READY"'; do sleep 0.02; done
curl -sf -X POST http://127.0.0.1:$PORT/predictions -H 'Content-Type: application/json' \
     -d '{"input": {"text": "world"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["output"])'
"$DOCKER" rm -f "$cid" >/dev/null
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_binary() -> str:
    """The client python-on-whales uses (first `docker` on PATH), so both sides pay the same CLI cost."""
    return os.environ.get("COGKIT_DOCKER_CLI") or shutil.which("docker") or "/usr/bin/docker"


def ensure_image(tag: str) -> None:
    if subprocess.run([docker_binary(), "image", "inspect", tag], capture_output=True).returncode == 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "hello-world"
        shutil.copytree(EXAMPLE, project)
        subprocess.run(
            [sys.executable, "-m", "cogkit", "--progress", "quiet", "build", "-t", tag,
             "--base-image", BASE_IMAGE, "--ca-cert", CA_BUNDLE],
            cwd=project, check=True,
        )  # fmt: skip


def timed_until_line(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(seconds to the first stdout line, seconds to exit, that line)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().rstrip("\n")
    first = time.perf_counter() - start
    _, err = proc.communicate()
    total = time.perf_counter() - start
    if proc.returncode != 0 or line != EXPECTED:
        raise RuntimeError(f"{cmd[:4]}... failed (exit {proc.returncode}, output {line!r}): {err[-500:]}")
    return first, total, line


def run_cogkit(image: str) -> tuple[float, float]:
    cmd = [
        str(ROOT / ".venv" / "bin" / "cogkit"),
        "--progress",
        "quiet",
        "predict",
        image,
        "-i",
        "text=world",
    ]
    first, total, _ = timed_until_line(cmd)
    return first, total


def run_by_hand(image: str) -> tuple[float, float]:
    env = {**os.environ, "DOCKER": docker_binary(), "IMAGE": image, "PORT": str(free_port())}
    first, total, _ = timed_until_line(["bash", "-c", HAND_SCRIPT], env=env)
    return first, total


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "p90": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--image", default="cogkit-bench-hello-world:latest")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    ensure_image(args.image)
    run_cogkit(args.image)  # warm-up: page cache, docker client, image layers
    run_by_hand(args.image)
    results: dict[str, dict[str, list[float]]] = {
        "cogkit predict": {"to_output": [], "total": []},
        "docker run + curl": {"to_output": [], "total": []},
    }
    for _ in range(args.runs):
        for name, fn in (("cogkit predict", run_cogkit), ("docker run + curl", run_by_hand)):
            first, total = fn(args.image)
            results[name]["to_output"].append(first)
            results[name]["total"].append(total)

    print(f"hello-world, image prebuilt, {args.runs} alternating runs each (seconds)")
    print(f"{'':20} {'to output: median':>18} {'min':>6} {'p90':>6} {'max':>6} {'total: median':>14}")
    for name, series in results.items():
        s, t = summary(series["to_output"]), summary(series["total"])
        row = f"{s['median']:>18.3f} {s['min']:>6.3f} {s['p90']:>6.3f} {s['max']:>6.3f}"
        print(f"{name:20} {row} {t['median']:>14.3f}")
    ours = statistics.median(results["cogkit predict"]["to_output"])
    hand = statistics.median(results["docker run + curl"]["to_output"])
    print(
        f"ratio cogkit / by hand (to output, medians): {ours / hand:.2f}; target ≤ 1.5 s: "
        f"{'met' if ours <= 1.5 else 'NOT met'} ({ours:.3f} s)"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"runs": args.runs, "image": args.image, "docker_client": docker_binary(),
              "results": {k: {m: summary(v) | {"samples": v} for m, v in series.items()}
                          for k, series in results.items()}}  # fmt: skip
    (out / "cli_latency.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
