"""`cogkit push [IMAGE]`: build the project, then push the image to its registry."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.build import add_build_flags

    parser = subparsers.add_parser(
        "push",
        help="build and push the model's image",
        description="Build the image (cached layers are reused), then push it. Only layers the registry "
        "lacks are uploaded: after a code edit, that is the code layer.",
    )
    parser.add_argument("image", nargs="?", default=None, help="image name (default: image: in cog.yaml)")
    parser.add_argument("--insecure", action="store_true", help="standalone buildkitd: plain-HTTP registry")
    add_build_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.commands.build import print_outcome, request_from_args
    from cogkit.images.push import push

    args.tag = args.image
    outcome = push(request_from_args(args, insecure_registry=args.insecure))
    print_outcome(outcome.build)
    print(f"{outcome.image}@{outcome.digest}" if outcome.digest else outcome.image)
    return 0
