"""`cogkit init`: write a starter cog.yaml, predict.py, requirements.txt, .dockerignore and a CI workflow."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a starter cog.yaml, predict.py, requirements.txt and CI workflow",
        description="Write an annotated cog.yaml, a predict.py, a requirements.txt, a .dockerignore and a "
        "GitHub Actions workflow that pushes the model (.github/workflows/push.yaml) into a directory.",
    )
    parser.add_argument("directory", nargs="?", default=".", help="where to write (default: .)")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.errors import CogkitError
    from cogkit.model.templates import FILES

    target = Path(args.directory)
    target.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (target / name).exists()]
    if existing and not args.force:
        raise CogkitError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} in {target.resolve()}",
            hint=f"pass --force to overwrite {'it' if len(existing) == 1 else 'them'}",
        )
    for name, text in FILES.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
        print(f"wrote {target / name}")
    print("next: edit predict.py, then `cogkit predict -i image=@input.jpg`")
    return 0
