"""`cogkit exec CMD [ARGS...]`: run a command in the project's environment with the project at /src.

Cog's name for this since 0.18 (`cog exec`; `cog run` now predicts). The image is the same one
`cogkit build` makes, so `cogkit exec python` sees exactly the packages the model will; the bind
mount means edits show up without a rebuild. With a terminal on stdin the command gets an
interactive TTY (`cogkit exec python`, `cogkit exec -p 8888 jupyter lab ...`).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import (
        add_base_image_flags,
        add_config_file_flag,
        add_env_flag,
        add_gpus_flag,
        add_progress_flag,
    )

    parser = subparsers.add_parser(
        "exec",
        help="run a command inside the project's environment",
        description="Run a command in the project's built environment with the project mounted at /src. "
        "Everything after the command is passed to it.",
    )
    parser.add_argument(
        "-p",
        "--publish",
        action="append",
        default=[],
        metavar="[IP:]PORT[:CONTAINER_PORT]",
        help="publish a port (repeatable): 8888 maps 8888 to 8888",
    )
    add_env_flag(parser, help="environment variable (repeatable)")
    add_gpus_flag(parser, help="GPUs, docker syntax (default: all when cog.yaml sets gpu)")
    add_config_file_flag(parser)
    add_progress_flag(parser)
    add_base_image_flags(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD [ARGS...]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.interrupts import sigterm_as_interrupt
    from cogkit.model.environment import run_in_environment

    with sigterm_as_interrupt():
        return run_in_environment(args)
