"""The `cogkit` command line: global flags, subcommand dispatch and error reporting.

Each subcommand lives in its own module under cogkit/commands/ and exposes
`add_parser(subparsers)` (which sets `func` on its parser). Those modules import only
argparse at top level, so `cogkit --help` and every command start fast; heavy imports
happen inside the command's function.

User mistakes surface as CogkitError: one line, a hint, no traceback. Anything else is a
bug; it gets one line too, and `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cogkit import __version__
from cogkit.commands.flag_hints import add_flag_hint
from cogkit.commands.flags import PROGRESS_MODES
from cogkit.errors import CogkitError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "build",
    "push",
    "debug",
    "predict",
    "run",
    "serve",
    "train",
    "init",
    "login",
    "queue",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogkit",
        description="Containers for machine learning: Cog-compatible, built natively on BuildKit.",
    )
    parser.add_argument("--version", action="version", version=f"cogkit {__version__}")
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default=os.environ.get("COGKIT_PROGRESS", "auto"),
        help="progress output: auto picks plain when not on a TTY (default: auto)",
    )
    parser.add_argument("--debug", action="store_true", help="show debug output and tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cogkit.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cogkit.commands.{name}":
                continue  # not built yet
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Accepted for Cog compatibility; there is nothing to check offline.
    os.environ.setdefault("COGKIT_NO_UPDATE_CHECK", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.progress == "auto" and os.environ.get("NO_COLOR"):
        args.progress = "plain"
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args.func(args)
    except CogkitError as exc:
        print(add_flag_hint(exc).render(), file=sys.stderr)
        # The class's status, never an instance's: a StepFailed's exit_code is the failed step's own
        # (3, or None when it had none, which would have exited 0), not cogkit's.
        return type(exc).exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's fault: still no traceback unless asked
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: rerun with --debug for a traceback, and report it", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
