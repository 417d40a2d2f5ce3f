"""`cogkit weights import|pull|status`: Cog's managed weights (OCI weight artifacts and weights.lock)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_config_file_flag

    parser = subparsers.add_parser(
        "weights",
        help="managed weights: import to the model's registry, pull, status (experimental, as in Cog)",
        description="Cog's managed weights: cog.yaml `weights: [{name, target, source}]` with `model:`. "
        "Files go to the registry as OCI artifacts, recorded in weights.lock.",
    )
    sub = parser.add_subparsers(dest="weights_command", metavar="SUBCOMMAND", required=True)
    imp = sub.add_parser("import", help="hash, pack and push weights; write weights.lock")
    imp.add_argument("names", nargs="*", help="weights to import (default: all)")
    imp.add_argument("--dry-run", action="store_true", help="show the plan only")
    imp.add_argument("-v", "--verbose", action="store_true", help="list the files")
    add_config_file_flag(imp)
    imp.set_defaults(func=run_import)
    pull = sub.add_parser("pull", help="download locked weights into the local store")
    pull.add_argument("names", nargs="*", help="weights to pull (default: all)")
    pull.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    add_config_file_flag(pull)
    pull.set_defaults(func=run_pull)
    status = sub.add_parser(
        "status", help="cog.yaml vs weights.lock vs the registry (exit 1 unless all ready)"
    )
    status.add_argument("--json", action="store_true", help="machine-readable")
    status.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    add_config_file_flag(status)
    status.set_defaults(func=run_status)


def run_import(args: argparse.Namespace) -> int:
    import sys

    from cogkit.model.weights import import_weights

    return import_weights(args.config_file, args.names, args.dry_run, args.verbose, sys.stderr)


def run_pull(args: argparse.Namespace) -> int:
    import sys

    from cogkit.model.weights import pull_weights

    return pull_weights(args.config_file, args.names, sys.stderr)


def run_status(args: argparse.Namespace) -> int:
    import sys

    from cogkit.model.weights import weights_status

    return weights_status(args.config_file, args.json, sys.stderr, sys.stdout)
