"""Building cogkit's parser (done on every command, `--help` included) stays import-light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_fast_exit_runs_atexit_flushes_output_and_keeps_the_status(tmp_path: Path) -> None:
    """`cogkit` ends with os._exit (no interpreter teardown): atexit handlers, buffered output and
    the status survive it, and a running non-daemon thread is still waited for."""
    marker = tmp_path / "atexit.txt"
    script = (
        "import atexit, sys, threading, time\n"
        "from cogkit.cli import exit_fast\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "sys.stdout.write('x' * 100000)  # buffered: a pipe is not a terminal\n"
        "if sys.argv[1] == 'thread':\n"
        "    threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "exit_fast(5)\n"
    )
    for mode in ("plain", "thread"):
        marker.unlink(missing_ok=True)
        result = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True)
        assert result.returncode == 5
        assert result.stdout.startswith("x" * 100000)
        assert result.stdout.endswith("thread done\n") == (mode == "thread")
        assert marker.read_text() == "ran"


def test_a_command_builds_only_its_own_parser_and_parses_the_same() -> None:
    from cogkit.cli import build_parser, command_module

    assert command_module(["build", "-t", "x"]) == "build"
    assert command_module(["--progress", "plain", "--debug", "build"]) == "build"
    assert command_module(["queue-worker", "redis://x"]) == "queue"
    assert command_module([]) is None
    assert command_module(["--version"]) is None
    assert command_module(["nosuch"]) is None  # argparse names the known commands
    assert command_module(["completion", "bash"]) is None  # it renders every command
    for argv in (
        ["build", "--separate-weights", "-t", "img", "--secret", "id=a,src=b"],
        ["--progress", "plain", "push", "r/x", "--debug"],
        ["queue-worker", "--redis", "redis://127.0.0.1:6379/0"],
        ["predict", "-i", "text=hi"],
    ):
        whole = vars(build_parser().parse_args(argv))
        own = vars(build_parser(command_module(argv)).parse_args(argv))
        assert own.keys() == whole.keys() and all(
            own[k] == whole[k] for k in whole if k != "func"
        ), argv
        assert own["func"].__module__ == whole["func"].__module__
    sub = build_parser("build")._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert list(sub.choices) == ["build"]
