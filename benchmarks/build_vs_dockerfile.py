#!/usr/bin/env python3
"""cogkit build vs a Cog-0.16-style Dockerfile, side by side on the same engine and base.

The project: a str->str predictor, 1 GiB of weights, one pip package, one apt package, two run
steps. Both sides start from a pruned build cache (`docker builder prune -af`), use the same
base image (cogkit-base:py3.11-bookworm) and the same CA bundle for PyPI.

Cog-style side (written from Cog 0.16's generator, see ../shared/notes/cog-reference.md §3.4/§3.6):
  * a FROM-scratch weights image, rebuilt only when the weights' hashes change (Cog's manifest);
  * the runner Dockerfile: base → tini → apt → pip requirements → cog wheel → ldconfig → run steps →
    COPY --from=weights (after the dependency layers) → WORKDIR/EXPOSE/CMD → COPY . /src with the
    weights excluded through .dockerignore;
  * --engine dockerd-20.10 (default): built with DOCKER_BUILDKIT=1 /usr/bin/docker (Debian's 20.10
    client). dockerd 20.10's built-in Dockerfile frontend has no COPY --link (that needs the
    dockerfile:1.4 image, which cannot be pulled here), which is also what Cog degrades to on a
    daemon without MergeOp.
  * --engine dockerd-28.5 (scripts/setup-engine.sh, containerd image store): built the way Cog builds,
    with `docker buildx build` (Debian's buildx 0.29.1 and docker 28.5 client) on the same engine, and
    `COPY --from=weights --link`, as Cog writes it where the engine has MergeOp.
cogkit side: `cogkit build --separate-weights`, the whole CLI timed as a subprocess.
It prunes the engine's build cache, so it runs only against a private engine, never a shared one
(other sessions' tests run there): benchmarks/private_engine.sh start NAME 20.10|28.5 prints the
--host to pass.

Steps: cold (median of --cold-rounds, 3), no-op rebuild and code-edit rebuild (medians of 3 alternating
rounds); image sizes (without the weights) and the bytes a push uploads after a code edit (registry
127.0.0.1:5000); last, adding one pip package (median of 3 alternating rounds, each adding one more).
The cogkit side runs from a frozen copy of the package, so edits in the working tree during a run
cannot invalidate its runtime layer, byte-compiled as `pip install` leaves an installed package (the
CLI's start-up is part of every rebuild's wall time); every command's output goes to
results/build_vs_dockerfile.log. The load average before and after is written with the table.

Usage: .venv/bin/python benchmarks/build_vs_dockerfile.py --engine dockerd-20.10|dockerd-28.5 --host unix://SOCKET
       [--weights-mib 1024] [--cold-rounds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker"  # the chosen engine's client (main() switches it for --engine)
ENGINES = {
    # name: (docker client, DOCKER_HOST, buildx?, label)
    "dockerd-20.10": (
        "/usr/bin/docker",
        "unix:///var/run/docker.sock",
        False,
        "dockerd 20.10 (BuildKit v0.8)",
    ),
    "dockerd-28.5": (
        "/opt/cogkit-engine/bin/docker",
        "unix:///var/run/cogkit-docker28.sock",
        True,
        "dockerd 28.5.2 (BuildKit v0.25, containerd image store), peer: docker buildx 0.29.1",
    ),
}
BUILDX = False
SHARED_HOSTS = {
    "unix:///var/run/docker.sock",
    "unix:///run/docker.sock",
    "unix:///var/run/cogkit-docker28.sock",
}
ENGINE_HOST = "unix:///var/run/docker.sock"
BASE = os.environ.get("COGKIT_TEST_BASE_IMAGE", "cogkit-base:py3.11-bookworm")
CA = "/etc/ssl/certs/ca-certificates.crt"
REGISTRY = "127.0.0.1:5000"
REPEATS = 3  # no-op and code-edit rebuilds: median of this many

PREDICT = """from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.size = __import__("os").path.getsize("weights.bin")

    def predict(self, text: str) -> str:
        return f"hello {text} ({self.size} bytes of weights)"
"""
PIP_PACKAGE = "six==1.16.0"
ADDED_PIP_PACKAGES = ("idna==3.7", "attrs==24.2.0", "packaging==24.1")  # one more per round (REPEATS)
APT_PACKAGE = "jq"
RUN_STEPS = ["echo one > /opt/step-one.txt", "python3 -c 'print(2)' > /opt/step-two.txt"]

COG_YAML = """build:
  python_version: "3.11"
  system_packages:
    - {apt}
  python_requirements: requirements.txt
  run:
    - {run0}
    - "{run1}"
predict: "predict.py:Predictor"
"""

# Cog 0.16's runner layout for a non-cog-base image (python from the base, as both sides use it).
# ruff: noqa: E501 (Dockerfile lines are kept whole so they read like the Dockerfile)
RUNNER_DOCKERFILE = """FROM {weights_image} AS weights
FROM {base}
ENV DEBIAN_FRONTEND=noninteractive
ENV PYTHONUNBUFFERED=1
ENV PIP_BREAK_SYSTEM_PACKAGES=1
ENV NVIDIA_DRIVER_CAPABILITIES=all
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update -qq && apt-get install -qqy tini && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/usr/bin/tini", "--"]
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update -qq && apt-get install -qqy {apt} && rm -rf /var/lib/apt/lists/*
COPY .cog/tmp/requirements.txt /tmp/requirements.txt
ENV CFLAGS="-O3 -funroll-loops -fno-strict-aliasing -flto -S"
RUN --mount=type=secret,id=ca,target=/run/ca.crt --mount=type=cache,target=/root/.cache/pip PIP_CERT=/run/ca.crt pip install -r /tmp/requirements.txt
ENV CFLAGS=
RUN --mount=type=secret,id=ca,target=/run/ca.crt --mount=type=cache,target=/root/.cache/pip PIP_CERT=/run/ca.crt pip install cog==0.16.8 'pydantic>=1.9,<3'
RUN find / -type f -name "*python*.so" -printf "%h\\n" | sort -u > /etc/ld.so.conf.d/cog.conf && ldconfig
RUN {run0}
RUN {run1}
COPY --from=weights{link} /src/weights.bin /src/weights.bin
WORKDIR /src
EXPOSE 5000
CMD ["python", "-m", "cog.server.http"]
COPY . /src
"""
WEIGHTS_DOCKERFILE = "FROM scratch\nCOPY weights.bin /src/weights.bin\n"
DOCKERIGNORE_HEADER = [
    "__pycache__", "*.pyc", "*.pyo", "*.pyd", ".Python", "env", "pip-log.txt", "pip-delete-this-directory.txt",
    ".tox", ".coverage", ".coverage.*", ".cache", "nosetests.xml", "coverage.xml", "*.cover", "*.log", ".git",
    ".mypy_cache", ".pytest_cache", ".hypothesis",
]  # fmt: skip


def sh(*args: str, env: dict[str, str] | None = None, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=quiet, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result


LOGS: list[str] = []  # every timed command's output, written next to the results


# dockerd 28.5's containerd store: its GC can take the snapshot an export unpacks onto (cogkit retries
# such an export itself, cogkit/images/build.py); the peer's build is retried the same way, and the
# seconds of every attempt count.
GC_RACE = re.compile(r"failed to prepare extraction snapshot .*parent snapshot \S+ does not exist")
RACE_RETRIES: list[str] = []  # the commands retried, for the table's footnote


def timed(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    elapsed = 0.0
    for attempt in range(3):
        start = time.perf_counter()
        result = subprocess.run(
            list(args), capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd
        )
        elapsed += time.perf_counter() - start
        LOGS.append(f"$ {' '.join(args)}  # {elapsed:.2f} s\n{result.stdout}{result.stderr}")
        if result.returncode == 0 or attempt == 2 or not GC_RACE.search(result.stdout + result.stderr):
            break
        RACE_RETRIES.append(" ".join(args[:3]))
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


class CogStyle:
    """Cog 0.16's two-image --separate-weights flow, driven through the engine's docker CLI.

    `weights` are the project paths Cog's FindWeights picks; `separate=False` is Cog's default layout
    (one Dockerfile, the weights inside `COPY . /src`); `extra_args` go to every docker build (say a
    named build context). benchmarks/real_model.py subclasses it with its own runner Dockerfile."""

    def __init__(
        self,
        project: Path,
        image: str,
        weights: tuple[str, ...] = ("weights.bin",),
        separate: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.project = project
        self.image = image
        self.weights = weights
        self.separate = separate
        self.extra_args = extra_args
        self.weights_image = f"{image}-weights"
        self.manifest = project / ".cog" / "cache" / "weights_manifest.json"
        self.last_log = ""  # the runner build's output (--progress plain where buildx is used)

    def _weights_changed(self) -> bool:
        current = {}
        for rel in self.weights:
            digest = hashlib.sha256()
            with (self.project / rel).open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 24), b""):
                    digest.update(chunk)
            current[rel] = digest.hexdigest()
        if self.manifest.exists() and json.loads(self.manifest.read_text()) == current:
            return False
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(json.dumps(current))
        return True

    def runner_dockerfile(self) -> str:
        return RUNNER_DOCKERFILE.format(
            weights_image=self.weights_image,
            base=BASE,
            apt=APT_PACKAGE,
            run0=RUN_STEPS[0],
            run1=RUN_STEPS[1],
            link=" --link" if BUILDX else "",
        )

    def build(self) -> tuple[float, float]:
        """(weights image seconds, runner seconds); hashing the weights counts toward the first."""
        env = {"DOCKER_BUILDKIT": "1", "DOCKER_HOST": ENGINE_HOST}
        build = [DOCKER, "buildx", "build", "--load", "--provenance=false", "--progress", "plain"] if BUILDX else [DOCKER, "build"]
        build += list(self.extra_args)
        tmp = self.project / ".cog" / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        weights_seconds = 0.0
        if self.separate and self._weights_changed():
            weights_dockerfile = "FROM scratch\n" + "".join(f"COPY {w} /src/{w}\n" for w in self.weights)
            (tmp / "Dockerfile.weights").write_text(weights_dockerfile)
            (self.project / ".dockerignore").write_text("\n".join([*DOCKERIGNORE_HEADER, ".cog"]) + "\n")
            timed(
                *build,
                "-f",
                str(tmp / "Dockerfile.weights"),
                "-t",
                self.weights_image,
                str(self.project),
                env=env,
            )
        weights_seconds = time.perf_counter() - start
        shutil.copy(self.project / "requirements.txt", tmp / "requirements.txt")
        (tmp / "Dockerfile").write_text(self.runner_dockerfile())
        ignored = [*DOCKERIGNORE_HEADER, *(self.weights if self.separate else ())]
        (self.project / ".dockerignore").write_text("\n".join(ignored) + "\n")
        runner = timed(
            *build, "-f", str(tmp / "Dockerfile"), "-t", self.image, "--secret", f"id=ca,src={CA}",
            str(self.project), env=env,
        )  # fmt: skip
        self.last_log = LOGS[-1]
        (self.project / ".dockerignore").unlink()
        return weights_seconds, runner


FROZEN: Path | None = None  # a snapshot of the cogkit package, so edits in the tree cannot bust caches


def freeze_cogkit(into: Path) -> Path:
    """Copy the package (resolving the _compat symlink) so every run ships identical runtime sources."""
    target = into / "pkg"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "cogkit", target / "cogkit", symlinks=False, ignore=ignore)
    # as pip leaves an installed package (PYTHONDONTWRITEBYTECODE=1 would otherwise make every CLI
    # run compile ~100 modules from source, ~150 ms of each rebuild); the runtime layer excludes *.pyc
    compileall.compile_dir(str(target / "cogkit"), quiet=1)
    return target


def cogkit_build(project: Path, image: str) -> float:
    """The whole CLI, as a user runs it (python -m cogkit from the frozen package)."""
    env = {
        "COGKIT_BASE_IMAGE": BASE,
        "COGKIT_CA_CERT": CA,
        "DOCKER_HOST": ENGINE_HOST,
        "COGKIT_DOCKER_CLI": DOCKER,
    }
    if FROZEN is not None:
        env["PYTHONPATH"] = str(FROZEN)
    python = str(ROOT / ".venv" / "bin" / "python")
    command = (python, "-m", "cogkit", "build", "--separate-weights", "--progress", "plain", "-t", image)
    return timed(*command, env=env, cwd=project)


def image_size(image: str) -> int:
    return int(sh(DOCKER, "image", "inspect", image, "--format", "{{.Size}}").stdout.strip())


MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json",
])  # fmt: skip


def manifest_layers(repository: str, tag: str) -> dict[str, int]:
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        manifest = json.load(response)
    if "manifests" in manifest:  # an index (the containerd image store pushes one): the amd64 image
        (image,) = [m for m in manifest["manifests"] if m.get("platform", {}).get("architecture") == "amd64"]
        return manifest_layers(repository, image["digest"])
    return {layer["digest"]: layer["size"] for layer in manifest["layers"]}


def pushed_bytes_after_code_edit(image: str, rebuild, project: Path) -> tuple[int, dict[str, int]]:  # noqa: ANN001
    """Push, make a code edit, rebuild and push again: the compressed bytes of the new blobs, and the
    first push's layers (digest -> compressed size)."""
    repository = f"cogkit-bench/{image.split('/')[-1]}"
    remote = f"{REGISTRY}/{repository}"
    sh(DOCKER, "tag", image, f"{remote}:before")
    sh(DOCKER, "push", f"{remote}:before")
    with (project / "predict.py").open("a") as fh:
        fh.write("# push edit\n")
    rebuild()
    sh(DOCKER, "tag", image, f"{remote}:after")
    sh(DOCKER, "push", f"{remote}:after")
    before = manifest_layers(repository, "before")
    after = manifest_layers(repository, "after")
    return sum(size for digest, size in after.items() if digest not in before), before


def make_project(path: Path, weights_mib: int) -> None:
    path.mkdir(parents=True)
    (path / "predict.py").write_text(PREDICT)
    (path / "requirements.txt").write_text(PIP_PACKAGE + "\n")
    (path / "cog.yaml").write_text(COG_YAML.format(apt=APT_PACKAGE, run0=RUN_STEPS[0], run1=RUN_STEPS[1]))
    block = os.urandom(1 << 20)
    with (path / "weights.bin").open("wb") as fh:
        for i in range(weights_mib):
            fh.write(hashlib.sha256(block + i.to_bytes(4, "big")).digest() * (1 << 15))


def row(cog: str, kit: str, ratio: float) -> dict[str, str]:
    return {"cog": cog, "kit": kit, "ratio": f"{ratio:.2f}x"}


def image_ids() -> set[str]:
    return set(sh(DOCKER, "images", "-aq", "--no-trunc").stdout.split())


def prune() -> None:
    sh(DOCKER, "builder", "prune", "-af")


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=sorted(ENGINES), default="dockerd-20.10")
    parser.add_argument(
        "--host", required=True, help="a private engine's DOCKER_HOST (benchmarks/private_engine.sh start)"
    )
    parser.add_argument("--weights-mib", type=int, default=1024)
    parser.add_argument("--cold-rounds", type=int, default=3, help="cold builds per side (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    global FROZEN, DOCKER, ENGINE_HOST, BUILDX
    DOCKER, shared_host, BUILDX, engine_label = ENGINES[args.engine]
    ENGINE_HOST = args.host
    if ENGINE_HOST in SHARED_HOSTS:
        sys.exit(
            f"error: {ENGINE_HOST} is a shared engine and this benchmark prunes its build cache\n"
            f"hint: start a private one: benchmarks/private_engine.sh start bench {args.engine.split('-')[1]}"
        )
    load_before = os.getloadavg()
    os.environ["DOCKER_HOST"] = ENGINE_HOST  # every docker command below: the chosen engine only
    images_before = image_ids()
    work = Path(tempfile.mkdtemp(prefix="cogkit-bench-"))
    FROZEN = freeze_cogkit(work)
    rows: dict[str, dict[str, str]] = {}
    weights_bytes = args.weights_mib * (1 << 20)
    try:
        cog_dir, kit_dir = work / "cog-style", work / "cogkit"
        make_project(cog_dir, args.weights_mib)
        shutil.copytree(cog_dir, kit_dir)
        cog = CogStyle(cog_dir, "bench/cog-style")
        kit_image = "bench/cogkit"
        # Cold builds swing by ±30 % on a 2-core VM (page cache, writeback, the other side's CPU), so
        # take the median of several rounds; each round starts from no images and a pruned cache,
        # and the order alternates so neither side always runs on the other's dirty page cache.
        cold_cog: list[tuple[float, float]] = []
        cold_kit: list[float] = []
        for round_ in range(args.cold_rounds):
            for image in (cog.image, cog.weights_image, kit_image):
                subprocess.run([DOCKER, "rmi", "-f", image], capture_output=True)
            cog.manifest.unlink(missing_ok=True)  # its weights image is gone: Cog would rebuild it
            prune()  # their cache keys and cache-mount ids do not overlap, so one prune serves both
            if round_ % 2:
                cold_kit.append(cogkit_build(kit_dir, kit_image))
                cold_cog.append(cog.build())
            else:
                cold_cog.append(cog.build())
                cold_kit.append(cogkit_build(kit_dir, kit_image))
        cog_totals = [w + r for w, r in cold_cog]
        w = statistics.median(w for w, _ in cold_cog)
        r = statistics.median(r for _, r in cold_cog)
        k = statistics.median(cold_kit)
        ratios = sorted(kit / cog_total for kit, cog_total in zip(cold_kit, cog_totals, strict=True))
        rows["cold"] = row(
            f"{w:.1f} s (weights image) + {r:.1f} s",
            f"{k:.2f} s",
            k / statistics.median(cog_totals),
        )
        rows["cold"]["ratio"] += f" (rounds: {', '.join(f'{x:.2f}x' for x in ratios)})"

        def median_of(edit) -> tuple[float, float]:  # noqa: ANN001
            cog_runs, kit_runs = [], []
            for i in range(REPEATS):
                edit(i)
                cog_runs.append(sum(cog.build()))
                kit_runs.append(cogkit_build(kit_dir, kit_image))
            return statistics.median(cog_runs), statistics.median(kit_runs)

        c, k = median_of(lambda i: None)
        rows["no-op rebuild"] = row(f"{c:.2f} s", f"{k:.2f} s", k / c)

        def code_edit(i: int) -> None:
            for project in (cog_dir, kit_dir):
                with (project / "predict.py").open("a") as fh:
                    fh.write(f"# code edit {i}\n")

        c, k = median_of(code_edit)
        rows["code-edit rebuild"] = row(f"{c:.2f} s", f"{k:.2f} s", k / c)

        rows["adding one pip package"] = {}  # measured last (below), shown here

        if not BUILDX:  # the classic store's Size is the unpacked image, weights included
            cog_size, kit_size = image_size(cog.image) - weights_bytes, image_size(kit_image) - weights_bytes
            rows["image size without weights"] = row(
                f"{cog_size / 1e6:.0f} MB", f"{kit_size / 1e6:.0f} MB", kit_size / cog_size
            )
            # Both sides share the same base image; this row is what each layout adds on top of it.
            base_size = image_size(BASE)
            rows["added on top of the shared base, without weights"] = row(
                f"{(cog_size - base_size) / 1e6:.0f} MB",
                f"{(kit_size - base_size) / 1e6:.0f} MB",
                (kit_size - base_size) / (cog_size - base_size),
            )
        cog_push, cog_layers = pushed_bytes_after_code_edit(cog.image, cog.build, cog_dir)
        kit_push, kit_layers = pushed_bytes_after_code_edit(
            kit_image, lambda: cogkit_build(kit_dir, kit_image), kit_dir
        )
        if BUILDX:  # the containerd store's Size is not the unpacked size: measure the pushed layers
            shared = set(cog_layers) & set(kit_layers)  # the base's blobs, the same on both sides

            def added(layers: dict[str, int]) -> int:  # without the base and the weights blob
                return sum(n for d, n in layers.items() if d not in shared and n < weights_bytes * 0.9)

            c, k = added(cog_layers), added(kit_layers)
            rows["added on top of the shared base, without weights (compressed, pushed)"] = row(
                f"{c / 1e6:.1f} MB", f"{k / 1e6:.1f} MB", k / c
            )
        rows["bytes pushed after a code edit"] = row(
            f"{cog_push / 1e3:.1f} kB", f"{kit_push / 1e3:.1f} kB", kit_push / max(cog_push, 1)
        )

        # Last, so that the sizes above are the project's own, not grown by the packages added here.
        def pip_edit(i: int) -> None:  # each round adds one more package, new to both sides' caches
            for project in (cog_dir, kit_dir):
                lines = [PIP_PACKAGE, *ADDED_PIP_PACKAGES[: i + 1]]
                (project / "requirements.txt").write_text("\n".join(lines) + "\n")

        c, k = median_of(pip_edit)
        rows["adding one pip package"] = row(f"{c:.2f} s", f"{k:.2f} s", k / c)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        made = sorted(image_ids() - images_before)  # ~1.3 GB each: leave the engine as we found it
        if made:
            subprocess.run([DOCKER, "rmi", "-f", *made], capture_output=True)

    table = [
        "| step | Cog-style Dockerfile | cogkit --separate-weights | cogkit / Cog |",
        "|---|---|---|---|",
    ]
    table += [f"| {step} | {r['cog']} | {r['kit']} | {r['ratio']} |" for step, r in rows.items()]
    text = "\n".join(table)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"build_vs_dockerfile-{args.engine}"
    (args.out / f"{stem}.log").write_text("\n".join(LOGS))
    load = f"load average (1/5/15 min) before {fmt_load(load_before)}, after {fmt_load(os.getloadavg())}"
    if RACE_RETRIES:  # the peer's; cogkit's own export retries show in its log
        load += f"; the containerd GC race retried: {', '.join(RACE_RETRIES)} (every attempt's seconds counted)"
    print(load)
    (args.out / f"{stem}.md").write_text(
        f"weights: {args.weights_mib} MiB, base {BASE}, engine {engine_label} at {ENGINE_HOST}\n{load}\n\n{text}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
