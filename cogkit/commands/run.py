"""`cogkit run [IMAGE]`: a prediction, as `cog run` is since Cog 0.20 (`newPredictionCommand("run")`).

Before that, `run` ran a command in the environment (now `cogkit exec`). A seed-style call such as
`cogkit run python` or `cogkit run -p 8888 jupyter lab` still works: `seed_style_run` spots it in
argv before parsing, prints one notice and hands it to `exec`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

# Flags of the old `run` (now `exec`) that take a value; `-p` only ever meant exec.
_EXEC_VALUE_FLAGS = {"-e", "--env", "--gpus", "-f", "--file", "--progress", "--use-cuda-base-image"}
_EXEC_ONLY_FLAGS = {"-p", "--publish"}
_INPUT_FLAGS = {"-i", "--input", "--json"}
# Global flags that take a value (the subcommand is the first word that is not one of their values).
_GLOBAL_VALUE_FLAGS = {"--progress"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_model_flags

    parser = subparsers.add_parser(
        "run",
        help="run a prediction (Cog >= 0.20's `cog run`; commands moved to `cogkit exec`)",
        description="Run a prediction, exactly as `cogkit predict`. With IMAGE, runs that image; without, "
        "builds the project first. To run a command in the environment use `cogkit exec CMD`.",
    )
    add_model_flags(parser, output_default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.model.prediction import run_model

    return run_model(args, "predict")


def _is_model_image(name: str) -> bool:
    """A local image with run.cog.* labels, or a registry ref (pulled by predict): a prediction."""
    from cogkit.docker import containers

    if containers.has_registry_host(name):
        return True
    try:
        return containers.inspect_image(name).is_model
    except Exception:
        return False  # no engine or no such image: cannot be a prediction of that image


def seed_style_run(argv: list[str], is_model_image: Callable[[str], bool] = _is_model_image) -> list[str]:
    """argv with a seed-era `run CMD ...` rewritten to `exec CMD ...` (and a notice printed).

    A prediction call has no positional, or -i/--json, or names a model image; anything else whose
    first positional is a word (`python`, `jupyter`) or that publishes ports is the old command.
    """
    index = command_index(argv)
    if index is None or argv[index] != "run":
        return argv
    rest = argv[index + 1 :]
    positional: str | None = None
    i = 0
    while i < len(rest):
        token = rest[i]
        if token in _EXEC_ONLY_FLAGS or token.startswith("--publish="):
            return _as_exec(argv, index)
        if (
            token in _INPUT_FLAGS
            or token.startswith(("--input=", "--json="))
            or (token.startswith("-i") and len(token) > 2)
        ):
            return argv
        if token == "--":
            positional = rest[i + 1] if i + 1 < len(rest) else None
            break
        if token.startswith("-"):
            i += 2 if token in _EXEC_VALUE_FLAGS else 1
            continue
        positional = token
        break
    if positional is None or "=" in positional:
        return argv  # a prediction of the project (or Cog's "did you forget -i" error)
    after = rest[i + 1 :]
    if any(t in ("-i", "--input") for t in after) and any("=" in t for t in after):
        return argv  # `run IMAGE -i k=v`: Cog's flags are interspersed
    if is_model_image(positional):
        return argv
    return _as_exec(argv, index)


def _as_exec(argv: list[str], index: int) -> list[str]:
    print(
        '"cogkit run <command>" is deprecated, use "cogkit exec <command>" '
        "(`cogkit run` now runs a prediction, as in Cog 0.20+)",
        file=sys.stderr,
    )
    return [*argv[:index], "exec", *argv[index + 1 :]]


def command_index(argv: list[str]) -> int | None:
    """Where the command's name is in argv (after the global flags); None when there is none."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _GLOBAL_VALUE_FLAGS:
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        return i
    return None
