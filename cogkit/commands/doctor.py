"""`cogkit doctor [--fix]`: check a project the way Cog's doctor does, exit 1 on errors, fix what it can."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_config_file_flag

    parser = subparsers.add_parser(
        "doctor",
        help="check the project for problems (cog.yaml, predictor, deprecated code)",
        description="Check cog.yaml, the predictor reference, deprecated imports and fields, pydantic "
        "BaseModel outputs, Docker and the local Python. Exits 1 when an error is left; warnings pass.",
    )
    parser.add_argument("--fix", action="store_true", help="rewrite what can be fixed automatically")
    add_config_file_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from cogkit.model.doctor import run_doctor

    return run_doctor(Path.cwd(), args.config_file, args.fix, sys.stderr)
