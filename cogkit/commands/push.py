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
    import sys

    from cogkit.commands.build import print_outcome, request_from_args
    from cogkit.images.push import push
    from cogkit.model import weights

    args.tag = args.image
    # Managed weights (Cog 0.19.3+): the push is a bundle, an OCI index of the image and the weight artifacts.
    project = weights.load_project(args.config_file)
    bundle_tag = None
    if project.weights:
        weights.check_drift(args.config_file)
        weights.check_weights_pushed(project)
        args.tag, bundle_tag = weights.bundle_tags(project, args.image)
    outcome = push(request_from_args(args, insecure_registry=args.insecure))
    print_outcome(outcome.build)
    if bundle_tag is not None:
        if not outcome.digest:
            from cogkit.errors import CogkitError

            raise CogkitError(f"the registry gave no digest for {outcome.image}", hint="push again")
        index = weights.push_bundle(project, outcome.image, outcome.digest, bundle_tag, sys.stderr)
        print(f"{project.model}:{bundle_tag}@{index}")
        return 0
    print(f"{outcome.image}@{outcome.digest}" if outcome.digest else outcome.image)
    return 0
