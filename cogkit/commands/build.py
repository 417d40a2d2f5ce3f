"""`cogkit build`: compile cog.yaml into explicit layers and build them on BuildKit."""

from __future__ import annotations

import argparse
import sys


def add_build_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `build` and `push` (push builds first)."""
    from cogkit.commands.flags import add_base_image_flags, add_package_source_flags, add_progress_flag

    add_base_image_flags(parser)
    parser.add_argument(
        "--openapi-schema",
        default=None,
        metavar="FILE",
        help="use this OpenAPI schema for the image instead of generating it from the source",
    )
    parser.add_argument("--separate-weights", action="store_true", help="put weight files in their own layer")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID,src=PATH|env=VAR",
        help="a secret for build.run mounts (repeatable); never stored in the image",
    )
    parser.add_argument("--no-cache", action="store_true", help="ignore the build cache")
    parser.add_argument(
        "--pull", action="store_true", help="ask the registry for the base image even if the engine has it"
    )
    add_progress_flag(parser)
    parser.add_argument("--builder", default=None, metavar="ADDR", help="BuildKit address (default: dockerd)")
    parser.add_argument(
        "--base-image",
        default=None,
        metavar="REF",
        help="base image instead of python/nvidia (or COGKIT_BASE_IMAGE)",
    )
    add_package_source_flags(parser)
    parser.add_argument(
        "--cache-from", action="append", default=[], metavar="SPEC", help="cache import (repeatable)"
    )
    parser.add_argument(
        "--cache-to", action="append", default=[], metavar="SPEC", help="cache export (repeatable)"
    )
    parser.add_argument(
        "-f", "--file", dest="config_file", default=None, metavar="COG_YAML", help="path to cog.yaml"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the model's image",
        description="Build an image from cog.yaml as explicit BuildKit layers (no Dockerfile).",
    )
    parser.add_argument(
        "-t", "--tag", default=None, metavar="NAME", help="image name (default: image: or cogkit-<dir>)"
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="type=oci|docker,dest=FILE",
        help="write the image as a tarball instead (BuildKit's exporters: not dockerd's classic store)",
    )
    add_build_flags(parser)
    parser.set_defaults(func=run)


def request_from_args(args: argparse.Namespace, **extra: object):  # noqa: ANN201
    from cogkit.images.build import BuildRequest

    return BuildRequest(
        config_file=args.config_file,
        tag=getattr(args, "tag", None),
        separate_weights=args.separate_weights,
        secrets=args.secret,
        no_cache=args.no_cache,
        progress=getattr(args, "progress", "auto"),
        builder=args.builder,
        base_image=args.base_image,
        ca_cert=args.ca_cert,
        cache_from=args.cache_from,
        cache_to=args.cache_to,
        use_cog_base_image=args.use_cog_base_image,
        use_cuda_base_image=args.use_cuda_base_image,
        openapi_schema_file=args.openapi_schema,
        output=getattr(args, "output", None),
        pull=args.pull,
        torch_index=args.torch_index,
        find_links=args.find_links,
        **extra,  # type: ignore[arg-type]
    )


def print_outcome(outcome, out=sys.stderr) -> None:  # noqa: ANN001
    """The image name, then one line per layer with its time (CACHED when the engine reused it)."""
    width = max((len(t.name) for t in outcome.layer_times), default=0)
    for t in outcome.layer_times:
        status = "CACHED" if t.cached else f"{t.seconds:6.2f}s"
        print(f"  {t.name:<{width}}  {status}", file=out)
    print(f"built {outcome.image} in {outcome.report.duration:.2f}s", file=out)
    print(f"Image built as {outcome.image}", file=out)  # Cog's line, which scripts grep for


def run(args: argparse.Namespace) -> int:
    # Connect first (grpc is imported here, in this thread), then import and plan while it connects.
    from cogkit.buildkit.background import PendingConnection

    connection = PendingConnection(args.builder)
    try:
        from cogkit.images.build import build

        outcome = build(request_from_args(args), connection)
    finally:
        connection.discard()
    print_outcome(outcome)
    print(outcome.image)
    return 0
