"""Building cogkit's parser (done on every command, `--help` included) stays import-light."""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded only by the command that needs them, never while the parser is built.
HEAVY = (
    "asyncio",
    "cogkit.images",
    "cogkit.buildkit",
    "cogkit.docker",
    "cogkit.llb",
    "cogkit.model",
    "cogkit.runtime.queue.entrypoint",
    "grpc",
    "python_on_whales",
    "yaml",
)


def test_building_the_parser_imports_no_command_implementation() -> None:
    script = (
        "import json, sys\n"
        "from cogkit.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    loaded = json.loads(done.stdout)
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
