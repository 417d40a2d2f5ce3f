"""`cogkit completion bash|zsh|fish`: print a completion script generated from the parser."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description="Print a completion script for commands, flags and flag values, generated from "
        "cogkit's own argument parser. bash: `source <(cogkit completion bash)` (or save it to "
        "/etc/bash_completion.d/cogkit); zsh: `source <(cogkit completion zsh)`; fish: "
        "`cogkit completion fish > ~/.config/fish/completions/cogkit.fish`.",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from cogkit.completion import render

    # cli.main hands over the parser it parsed with: commands never import the CLI above them.
    sys.stdout.write(render(args.root_parser, args.shell))
    return 0
