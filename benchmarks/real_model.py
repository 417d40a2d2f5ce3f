#!/usr/bin/env python3
"""examples/embeddings (torch 2.13 CPU, sentence-transformers, 91 MB of weights) built by cogkit and by
Cog's generated Dockerfiles, side by side on one engine: cogkit's own private dockerd 28.5
(benchmarks/private_engine.sh: its own data root, containerd and socket; only that engine's build cache
is pruned, never a shared engine's).

Sides, all from the same base image (cogkit-base:py3.11-bookworm) and the same local wheelhouse for torch
(--find-links /opt/wheels; the Cog side mounts it as a named build context into its pip step):
  * cogkit: `cogkit build --separate-weights --find-links WHEELHOUSE` (PyTorch's index is unreachable
    here: torch from PyPI + the wheelhouse, after the one warning line);
  * Cog 0.16, default layout: one Dockerfile (tini, requirements, cog wheel, ldconfig, COPY . /src);
  * Cog 0.16, --separate-weights: a FROM-scratch weights image + COPY --from=weights --link in the runner
    (benchmarks/build_vs_dockerfile.py's CogStyle, which this reuses), built with docker buildx.
Both Cog layouts pin torch==2.13.0+cpu (what Cog's rewrite produces), from the same wheelhouse.

Measured, medians of --rounds alternating rounds (side order flips each round):
  cold build from a pruned cache, with where its time goes (from BuildKit's plain progress: download,
  install, weights, export); adding one small pip package; a code edit; a weights edit; the compressed size
  each layout adds above the base (pushed layers, weights apart); bytes pushed to 127.0.0.1:5000 after each
  edit; `docker run` to READY and the first prediction's latency.

Usage: .venv/bin/python benchmarks/real_model.py [--rounds 3] [--wheelhouse /opt/wheels] [--out DIR]
       (starts and stops the private engine itself; DOCKER_HOST is ignored)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_vs_dockerfile as bvd  # noqa: E402

ROOT = bvd.ROOT
EXAMPLE = ROOT / "examples" / "embeddings"
ENGINE_NAME = "realmodel"  # benchmarks/private_engine.sh NAME: data root /var/lib/cogkit-private/realmodel
WEIGHT = "weights/model.safetensors"
ADDED_PACKAGES = ["six==1.16.0", "toml==0.10.2", "ply==3.11", "pyasn1==0.6.1", "pycparser==2.22"]
TEXTS = ["A man is eating food.", "The cat sits outside", "Transformers map sentences to vectors."]

# Cog 0.16's runner for this project (CPU, python from the base; see build_vs_dockerfile.py), with the
# wheelhouse as a named context in the pip step; {weights_copy} is the COPY --from=weights line or
# nothing. COG_BENCH_LAYOUT only keeps the two Cog layouts from reusing each other's cached steps.
# ruff: noqa: E501
COG_DOCKERFILE = """{weights_from}FROM {base}
ENV COG_BENCH_LAYOUT={layout}
ENV DEBIAN_FRONTEND=noninteractive
ENV PYTHONUNBUFFERED=1
ENV PIP_BREAK_SYSTEM_PACKAGES=1
ENV NVIDIA_DRIVER_CAPABILITIES=all
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update -qq && apt-get install -qqy tini && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/usr/bin/tini", "--"]
COPY .cog/tmp/requirements.txt /tmp/requirements.txt
ENV CFLAGS="-O3 -funroll-loops -fno-strict-aliasing -flto -S"
RUN --mount=type=secret,id=ca,target=/run/ca.crt --mount=type=cache,target=/root/.cache/pip --mount=type=bind,from=wheels,target=/wheels PIP_CERT=/run/ca.crt pip install --find-links /wheels -r /tmp/requirements.txt
ENV CFLAGS=
RUN --mount=type=secret,id=ca,target=/run/ca.crt --mount=type=cache,target=/root/.cache/pip PIP_CERT=/run/ca.crt pip install cog==0.16.8 'pydantic>=1.9,<3'
RUN find / -type f -name "*python*.so" -printf "%h\\n" | sort -u > /etc/ld.so.conf.d/cog.conf && ldconfig
{weights_copy}WORKDIR /src
EXPOSE 5000
CMD ["python", "-m", "cog.server.http"]
COPY . /src
"""


class CogLayout(bvd.CogStyle):
    def runner_dockerfile(self) -> str:
        if self.separate:
            weights_from = f"FROM {self.weights_image} AS weights\n"
            weights_copy = "".join(f"COPY --from=weights --link /src/{w} /src/{w}\n" for w in self.weights)
        else:
            weights_from = weights_copy = ""
        layout = "separate-weights" if self.separate else "default"  # no shared cache keys between the two
        return COG_DOCKERFILE.format(
            base=bvd.BASE, layout=layout, weights_from=weights_from, weights_copy=weights_copy
        )

    def requirements(self) -> None:
        """Cog's rewrite of the pins (torch==X+cpu); the PyTorch index line is left out (unreachable)."""
        text = (self.project / "requirements.txt").read_text()
        (self.project / "requirements.txt").write_text(text.replace("torch==2.13.0\n", "torch==2.13.0+cpu\n"))


def step_seconds(log: str) -> dict[str, float]:
    """Vertex name -> seconds from BuildKit's plain progress (the last build in `log`)."""
    names: dict[str, str] = {}
    done: dict[str, float] = {}
    for line in log.splitlines():
        match = re.match(r"^#(\d+) (DONE|CACHED)( (\d+(\.\d+)?)s)?$", line)
        if match:
            done[match.group(1)] = float(match.group(4) or 0.0)
            continue
        match = re.match(r"^#(\d+) (.+)$", line)
        if match and match.group(1) not in names and not re.match(r"^\d+\.\d+ ", match.group(2)):
            names[match.group(1)] = match.group(2)
    return {names.get(n, n): s for n, s in done.items()}


def breakdown(log: str, kind: str) -> dict[str, float]:
    """Seconds of download / install / weights / export in one build's output."""
    steps = step_seconds(log)

    def total(*patterns: str) -> float:
        return sum(s for name, s in steps.items() if any(re.search(p, name) for p in patterns))

    if kind == "cogkit":
        return {
            "download": total(r"^download python packages"),
            "install": total(r"^python packages[^→]*$"),  # the torch-first layer and the rest
            "early export (beside the install)": total(r"→ Docker layer"),
            "weights": total(r"^weights: "),
            "export": total(r"^exporting", r"^writing image", r"^naming to"),
        }
    return {
        "download": 0.0,  # inside pip's install step
        "install": total(r"pip install --find-links", r"pip install cog=="),
        "weights": total(r"COPY --from=weights", r"COPY weights/"),
        "export": total(r"^exporting", r"^writing image", r"^naming to"),
    }


class Side:
    def __init__(self, name: str, project: Path, image: str) -> None:
        self.name, self.project, self.image = name, project, image
        self.last_log = ""
        self.weights_seconds = 0.0

    def build(self) -> float:
        raise NotImplementedError


class CogkitSide(Side):
    def __init__(self, project: Path, image: str, wheelhouse: str) -> None:
        super().__init__("cogkit --separate-weights", project, image)
        self.wheelhouse = wheelhouse

    def build(self) -> float:
        env = {"COGKIT_BASE_IMAGE": bvd.BASE, "COGKIT_CA_CERT": bvd.CA, "DOCKER_HOST": bvd.ENGINE_HOST,
               "COGKIT_DOCKER_CLI": bvd.DOCKER, "PYTHONPATH": str(bvd.FROZEN)}  # fmt: skip
        python = str(ROOT / ".venv" / "bin" / "python")
        command = (python, "-m", "cogkit", "build", "--separate-weights", "--find-links", self.wheelhouse,
                   "--progress", "plain", "-t", self.image)  # fmt: skip
        seconds = bvd.timed(*command, env=env, cwd=self.project)
        self.last_log = bvd.LOGS[-1]
        return seconds


class CogSide(Side):
    def __init__(self, project: Path, image: str, wheelhouse: str, separate: bool) -> None:
        name = "Cog 0.16 --separate-weights" if separate else "Cog 0.16 (default layout)"
        super().__init__(name, project, image)
        self.cog = CogLayout(project, image, (WEIGHT,), separate, ("--build-context", f"wheels={wheelhouse}"))
        self.cog.requirements()

    def build(self) -> float:
        weights, runner = self.cog.build()
        self.weights_seconds = weights
        self.last_log = self.cog.last_log
        return weights + runner


def push_layers(image: str, tag: str) -> dict[str, int]:
    repository = f"t13build-bench/{image.split('/')[-1]}"
    remote = f"{bvd.REGISTRY}/{repository}:{tag}"
    bvd.sh(bvd.DOCKER, "tag", image, remote)
    bvd.sh(bvd.DOCKER, "push", remote)
    return bvd.manifest_layers(repository, tag)


def run_to_ready(image: str) -> dict[str, float]:
    """Seconds from `docker run` to READY; of the first prediction, its wall time and the
    predict_time the server reports (the model's share); the median wall time of 5 more."""
    start = time.perf_counter()
    container = bvd.sh(bvd.DOCKER, "run", "-d", "-p", "127.0.0.1::5000", image).stdout.strip()
    try:
        port = bvd.sh(bvd.DOCKER, "port", container, "5000/tcp").stdout.split()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health-check", timeout=2) as response:
                    if json.load(response).get("status") == "READY":
                        break
            except OSError:
                pass
            if time.perf_counter() - start > 600:
                raise SystemExit(f"{image} never became READY")
            time.sleep(0.05)
        ready = time.perf_counter() - start
        body = json.dumps({"input": {"texts": TEXTS}}).encode()
        request = urllib.request.Request(
            f"{base}/predictions", data=body, headers={"Content-Type": "application/json"}
        )
        walls, answers = [], []
        for _ in range(6):
            t0 = time.perf_counter()
            with urllib.request.urlopen(request, timeout=300) as response:
                answers.append(json.load(response))
            walls.append(time.perf_counter() - t0)
            if answers[-1].get("status") != "succeeded" or len(answers[-1]["output"]) != len(TEXTS):
                raise SystemExit(f"{image}: bad prediction {str(answers[-1])[:300]}")
        return {
            "docker run → READY": ready,
            "first prediction (3 texts)": walls[0],
            "first prediction: predict_time": answers[0].get("metrics", {}).get("predict_time", 0.0),
            "predictions 2–6 (median)": statistics.median(walls[1:]),
        }
    finally:
        subprocess.run([bvd.DOCKER, "rm", "-f", container], capture_output=True)


def clean_private_engine() -> None:
    """Remove every image but the base (pushed tags included) and the build cache: the engine is ours."""
    listed = bvd.sh(bvd.DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    doomed = [ref for ref in listed if ref != bvd.BASE and not ref.startswith("<none>")]
    if doomed:
        subprocess.run([bvd.DOCKER, "rmi", "-f", *doomed], capture_output=True)
    bvd.prune()


def fmt(seconds: float) -> str:
    return f"{seconds:.1f} s"


def write_tables(
    results: dict[str, dict[str, list[float]]],
    notes: dict[str, dict[str, str]],
    args: argparse.Namespace,
    load: tuple[float, float, float],
) -> None:
    """The table so far (written after every phase, so a run cut short still leaves its figures)."""
    names = list(results)
    if len(names) != 3:
        return
    kit, cog, cogsep = names
    lines = [
        f"| step | {cog} | {cogsep} | {kit} | cogkit / Cog default | cogkit / Cog sep. |",
        "|---|---|---|---|---|---|",
    ]
    for step in results[kit]:
        values = {n: statistics.median(results[n].get(step, [0.0])) for n in names}
        if "prediction" in step:
            cells = [f"{values[n] * 1000:.0f} ms" for n in (cog, cogsep, kit)]
        else:
            unit = " kB" if step.startswith("pushed") else " s"
            cells = [f"{values[n]:.1f}{unit}" for n in (cog, cogsep, kit)]
        ratios = [f"{values[kit] / values[b]:.2f}x" if values[b] else "–" for b in (cog, cogsep)]
        lines.append(f"| {step} | " + " | ".join(cells + ratios) + " |")
    for key in notes[kit]:
        lines.append(f"| {key} | {notes[cog][key]} | {notes[cogsep][key]} | {notes[kit][key]} | | |")
    table = "\n".join(lines)
    header = (
        f"examples/embeddings, private dockerd 28.5 (containerd store; Cog side: docker buildx), base {bvd.BASE}, "
        f"torch from {args.wheelhouse}, medians of {args.rounds} alternating rounds; "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(header + "\n\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_model.md").write_text(header + "\n\n" + table + "\n")
    (args.out / "real_model.json").write_text(json.dumps({"results": results, "notes": notes}, indent=1))
    (args.out / "real_model.log").write_text("\n".join(bvd.LOGS))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wheelhouse", default="/opt/wheels")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--keep-engine", action="store_true", help="leave the private engine running")
    args = parser.parse_args()
    script = str(ROOT / "benchmarks" / "private_engine.sh")
    started = subprocess.run(["bash", script, "start", ENGINE_NAME, "28.5"], capture_output=True, text=True)
    if started.returncode != 0:
        sys.exit(f"private engine did not start:\n{started.stderr}")
    bvd.DOCKER, _shared, bvd.BUILDX, _label = bvd.ENGINES["dockerd-28.5"]
    bvd.ENGINE_HOST = started.stdout.split()[-1]
    os.environ["DOCKER_HOST"] = bvd.ENGINE_HOST
    clean_private_engine()  # what an interrupted run left behind
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="t13build-bench-"))
    bvd.FROZEN = bvd.freeze_cogkit(work)
    results: dict[str, dict[str, list[float]]] = {}
    notes: dict[str, dict[str, str]] = {}
    try:
        master = work / "project"
        shutil.copytree(EXAMPLE, master, ignore=shutil.ignore_patterns("weights", "__pycache__"))
        fetched = subprocess.run(
            [sys.executable, str(master / "fetch_weights.py"), "--cache", str(work / "wheel-cache")],
            capture_output=True, text=True,
        )  # fmt: skip
        if fetched.returncode != 0:
            sys.exit(fetched.stderr)
        sides: list[Side] = []
        for key, make in (
            ("kit", lambda p: CogkitSide(p, "bench/t13-cogkit", args.wheelhouse)),
            ("cog", lambda p: CogSide(p, "bench/t13-cog", args.wheelhouse, separate=False)),
            ("cogsep", lambda p: CogSide(p, "bench/t13-cogsep", args.wheelhouse, separate=True)),
        ):
            shutil.copytree(master, work / key)
            sides.append(make(work / key))
        for side in sides:
            results[side.name] = {}
            notes[side.name] = {}

        def record(step: str, side: Side, value: float) -> None:
            results[side.name].setdefault(step, []).append(value)

        def images() -> list[str]:
            return [s.image for s in sides] + [s.cog.weights_image for s in sides if isinstance(s, CogSide)]

        # cold builds: no images, pruned cache, order alternating
        for round_ in range(args.rounds):
            for image in images():
                subprocess.run([bvd.DOCKER, "rmi", "-f", image], capture_output=True)
            for side in sides:
                if isinstance(side, CogSide):
                    side.cog.manifest.unlink(missing_ok=True)
            order = sides if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                bvd.prune()  # before each side: every cold build starts from an empty cache
                seconds = side.build()
                record("cold", side, seconds)
                kind = "cogkit" if isinstance(side, CogkitSide) else "cog"
                for part, value in breakdown(side.last_log, kind).items():
                    record(f"cold: {part}", side, value)
                if isinstance(side, CogSide) and side.cog.separate:
                    record(
                        "cold: weights",
                        side,
                        results[side.name]["cold: weights"].pop() + side.weights_seconds,
                    )
            write_tables(results, notes, args, load)
            print(
                f"cold round {round_ + 1}: "
                + ", ".join(f"{s.name} {results[s.name]['cold'][-1]:.1f}s" for s in sides),
                flush=True,
            )

        # sizes and pushes
        pushed_before: dict[str, dict[str, int]] = {s.name: push_layers(s.image, "cold") for s in sides}
        base_blobs = set.intersection(*(set(layers) for layers in pushed_before.values()))
        weights_size = (master / WEIGHT).stat().st_size
        for side in sides:
            added = {d: n for d, n in pushed_before[side.name].items() if d not in base_blobs}
            # the weights' blob: safetensors data barely compresses, torch's layer is several times larger
            weights_blob = sum(n for n in added.values() if weights_size * 0.75 < n < weights_size * 1.05)
            notes[side.name]["added above the base (compressed)"] = f"{sum(added.values()) / 1e6:.1f} MB"
            notes[side.name]["of which the weights layer"] = f"{weights_blob / 1e6:.1f} MB"
            notes[side.name]["without the weights"] = f"{(sum(added.values()) - weights_blob) / 1e6:.1f} MB"

        def edits(step: str, edit: Callable[[Side, int], None]) -> None:
            for round_ in range(args.rounds):
                for side in sides if round_ % 2 == 0 else list(reversed(sides)):
                    edit(side, round_)
                    record(step, side, side.build())
                    layers = push_layers(side.image, f"{step.split()[0]}-{round_}")
                    seen = pushed_before[side.name]
                    record(
                        f"pushed after: {step}",
                        side,
                        sum(n for d, n in layers.items() if d not in seen) / 1e3,
                    )
                    pushed_before[side.name] = {**seen, **layers}

        def pip_edit(side: Side, i: int) -> None:
            with (side.project / "requirements.txt").open("a") as fh:
                fh.write(ADDED_PACKAGES[i % len(ADDED_PACKAGES)] + "\n")

        def code_edit(side: Side, i: int) -> None:
            with (side.project / "predict.py").open("a") as fh:
                fh.write(f"# code edit {i}\n")

        def weights_edit(side: Side, i: int) -> None:
            # one byte of the tensor data: the file stays loadable
            with (side.project / WEIGHT).open("r+b") as fh:
                fh.seek(-(i + 1) * 4096, os.SEEK_END)
                byte = fh.read(1)
                fh.seek(-1, os.SEEK_CUR)
                fh.write(bytes([byte[0] ^ 1]))

        # Every cold build pruned the cache first, so only the side built last still has its build cache; a
        # user's edit starts from their own. One untimed build per side puts each side's cache back.
        for side in sides:
            side.build()
        write_tables(results, notes, args, load)
        edits("pip edit (one small package)", pip_edit)
        write_tables(results, notes, args, load)
        edits("code edit", code_edit)
        write_tables(results, notes, args, load)
        # run to READY and the first prediction
        for round_ in range(args.rounds):
            for side in sides if round_ % 2 == 0 else list(reversed(sides)):
                for step, value in run_to_ready(side.image).items():
                    record(step, side, value)

        write_tables(results, notes, args, load)
        edits("weights edit", weights_edit)
    finally:
        clean_private_engine()
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep_engine:
            subprocess.run(["bash", script, "stop", ENGINE_NAME])
    write_tables(results, notes, args, load)

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
