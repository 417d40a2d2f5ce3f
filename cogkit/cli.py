"""Command-line entry point (filled in by the CLI work)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("cogkit: no commands yet", file=sys.stderr)
    return 1
