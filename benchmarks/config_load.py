#!/usr/bin/env python3
"""What loading cog.yaml costs a fresh CLI process: this tree against another (say main before a change).

    git archive OLD_COMMIT cogkit | tar -x -C /tmp/old   # the baseline's package
    .venv/bin/python benchmarks/config_load.py --old /tmp/old [--rounds 10] [--config FILE]

FILE defaults to examples/embeddings/cog.yaml.

Each round runs every snippet as a new interpreter, old tree then new (alternating, byte-compiled after
the first round), and records wall and CPU (user + system of the child); medians are printed with the
load average before and after. Then, in one process per round: importing the loader, the first
load_config and a warm one (mean of 200), and whether pydantic ended up imported.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="a directory holding the baseline's cogkit/ package")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--config", default=str(ROOT / "examples" / "embeddings" / "cog.yaml"))
    args = parser.parse_args()
    config = str(Path(args.config).resolve())
    trees = {"old": str(Path(args.old).resolve()), "new": str(ROOT)}
    snippets = {
        "pass (the interpreter alone)": "pass",
        "import cogkit.config.rules": "import cogkit.config.rules",
        f"load_config({Path(config).parent.name})": (
            f"from cogkit.config import load_config; load_config({config!r})"
        ),
        "import cogkit.images.build": "import cogkit.images.build",
    }
    in_process = (
        "import sys, time\nt0 = time.perf_counter()\n"
        "import cogkit.config.loader as L\nt1 = time.perf_counter()\n"
        f"L.load_config({config!r})\nt2 = time.perf_counter()\n"
        f"for _ in range(200): L.load_config({config!r})\n"
        "t3 = time.perf_counter()\nprint(t1 - t0, t2 - t1, (t3 - t2) / 200, 'pydantic' in sys.modules)\n"
    )
    samples: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (s, t): ([], []) for s in snippets for t in trees
    }
    inner: dict[str, list[list[str]]] = {t: [] for t in trees}
    print("before:", os.popen("uptime").read().strip())
    for _ in range(args.rounds):
        for tree, root in trees.items():
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPATH"] = root
            for name, code in snippets.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, cwd="/", check=True)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                samples[(name, tree)][0].append(wall)
                samples[(name, tree)][1].append(cpu)
            out = subprocess.run([sys.executable, "-c", in_process], env=env, cwd="/", check=True,
                                 capture_output=True, text=True).stdout.split()
            inner[tree].append(out)
    print("after: ", os.popen("uptime").read().strip())
    for (name, tree), (walls, cpus) in samples.items():
        print(f"{name:34s} {tree}: wall {statistics.median(walls) * 1e3:5.0f} ms, "
              f"CPU {statistics.median(cpus) * 1e3:5.0f} ms")
    for tree, rows in inner.items():
        imp, first, warm = (statistics.median(float(r[i]) for r in rows) for i in range(3))
        print(f"in-process {tree}: import loader {imp * 1e3:.1f} ms, first load_config {first * 1e3:.1f} ms, "
              f"warm load_config {warm * 1e6:.0f} us, pydantic imported: {rows[0][3]}")


if __name__ == "__main__":
    main()
