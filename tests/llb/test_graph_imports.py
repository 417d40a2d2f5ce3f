"""cogkit.llb is the pure graph: importing it (and building and marshalling a graph) loads no grpc."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from cogkit import llb
definition = llb.image("python:3.11-slim").run("true").root().marshal()
assert definition.to_bytes(), "empty definition"
loaded = sorted(m for m in sys.modules if m == "grpc" or m.startswith(("grpc.", "cogkit.buildkit")))
print(",".join(loaded))
"""


def test_llb_imports_without_grpc() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"cogkit.llb loaded {done.stdout.strip()}"
