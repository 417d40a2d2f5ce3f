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
import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from cogkit import __version__
from cogkit.commands.flag_hints import add_flag_hint
from cogkit.commands.flags import PROGRESS_MODES
from cogkit.errors import CogkitError
from cogkit.terminal import disable_colour, paint

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "build",
    "push",
    "debug",
    "predict",
    "run",
    "exec",
    "serve",
    "playground",
    "train",
    "init",
    "login",
    "doctor",
    "weights",
    "queue",
    "completion",
)
# Commands registered by a module of another name.
MODULE_OF_COMMAND = {"queue-worker": "queue"}


def command_module(argv: Sequence[str]) -> str | None:
    """The one module whose parser `argv` needs (its first positional names a command); None when
    the whole parser is needed: no command, an unknown one (argparse then lists them all), or
    `completion` (which renders every command)."""
    from cogkit.commands.run import command_index

    index = command_index(list(argv))
    if index is None:
        return None
    name = MODULE_OF_COMMAND.get(argv[index], argv[index])
    return name if name in COMMAND_MODULES and name != "completion" else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` the named command module's subcommands alone (a command
    builds just its own: ~20 ms less of every run than adding all of them)."""
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
    parser.add_argument(
        "--no-color",
        "--no-colour",
        dest="no_color",
        action="store_true",
        help="no colour in the output (also NO_COLOR=1; plain progress implies it)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if only is None else (only,):
        try:
            module = importlib.import_module(f"cogkit.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cogkit.commands.{name}":
                continue  # not built yet
            raise
        module.add_parser(subparsers)
    # Cog's --debug and --no-color are persistent flags: accepted after the subcommand too.
    for sub in subparsers.choices.values():
        add_persistent_flags(sub)
    return parser


def add_persistent_flags(parser: argparse.ArgumentParser) -> None:
    """`--debug` / `--no-color` on a subcommand; absent, the global flag's value stands."""
    for sub in _subparsers_of(parser):
        add_persistent_flags(sub)
    known = {opt for action in parser._actions for opt in action.option_strings}
    if "--debug" not in known:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    if "--no-color" not in known:
        parser.add_argument(
            "--no-color", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )


def _subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in action.choices.values()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    # Accepted for Cog compatibility; there is nothing to check offline.
    os.environ.setdefault("COGKIT_NO_UPDATE_CHECK", "1")
    from cogkit.commands.run import seed_style_run

    argv = list(sys.argv[1:] if argv is None else argv)
    argv = seed_style_run(argv)
    parser = build_parser(command_module(argv))
    args = parser.parse_args(argv)
    args.root_parser = parser  # for `cogkit completion`, which renders the whole parser
    if args.no_color or args.progress in ("plain", "quiet"):
        disable_colour()
    if args.no_color:
        os.environ["NO_COLOR"] = "1"  # children (docker, the model server) inherit it, as in Cog
    if args.progress == "auto" and os.environ.get("NO_COLOR"):
        args.progress = "plain"
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args.func(args)
    except CogkitError as exc:
        print(paint(add_flag_hint(exc).render()), file=sys.stderr)
        # The class's status, never an instance's: a StepFailed's exit_code is the failed step's own
        # (3, or None when it had none, which would have exited 0), not cogkit's.
        return type(exc).exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's fault: still no traceback unless asked
        if args.debug:
            raise
        print(
            paint(
                f"error: internal error: {type(exc).__name__}: {exc}\n"
                "hint: rerun with --debug for a traceback, and report it"
            ),
            file=sys.stderr,
        )
        return 1
    return int(result or 0)


def exit_fast(code: int) -> NoReturn:
    """Exit without finalizing the interpreter when nothing is left to wait for.

    Finalization tears down every module and grpcio's polling threads: 100-180 ms on a loaded
    2-core machine after the work is done, next to a code-edit rebuild of ~0.6 s. atexit handlers
    still run and the standard streams are flushed; while a non-daemon thread is still running,
    the normal exit waits for it as Python would.
    """
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (cogkit ... | head): nothing more to say
            pass
    os._exit(code)


def run() -> NoReturn:
    """The console script and `python -m cogkit`: main(), then a fast exit."""
    exit_fast(main())


if __name__ == "__main__":
    run()
