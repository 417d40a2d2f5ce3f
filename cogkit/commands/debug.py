"""`cogkit debug`: print the LLB graph `cogkit build` would send, one line per vertex.

Works without an engine: the graph is compiled for BuildKit v0.8's capabilities (dockerd 20.10)
unless --merge asks for the MergeOp layout of newer BuildKits. The base image's Env is only
known to a running engine, so it is not shown here. The plan is the build's own (`prepare` in
cogkit/images/build.py): the same package sources (--ca-cert, --torch-index, --find-links), so the
same warnings, e.g. when PyTorch's index cannot be reached.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "debug",
        help="print the build graph (no engine needed)",
        description="Print the layer plan and the LLB graph `cogkit build` would send to BuildKit, one line "
        "per vertex (or as JSON, or Graphviz dot), without building. No engine is needed: the graph is "
        "compiled for dockerd 20.10's BuildKit v0.8 unless --merge asks for the MergeOp layout.",
    )
    parser.add_argument("--format", choices=("text", "json", "dot"), default="text", help="output format")
    parser.add_argument("--separate-weights", action="store_true", help="as `build --separate-weights`")
    parser.add_argument("--merge", action="store_true", help="show the MergeOp layout (BuildKit >= 0.10)")
    parser.add_argument("--base-image", default=None, metavar="REF", help="as `build --base-image`")
    parser.add_argument("-f", "--file", dest="config_file", default=None, metavar="COG_YAML")
    parser.add_argument(
        "--image-name",
        default=None,
        metavar="NAME",
        help="Cog's name for the separate weights image (<NAME>-weights); cogkit keeps weights as a "
        "layer of the one image, so it is only echoed",
    )
    from cogkit.commands.flags import add_base_image_flags, add_package_source_flags

    add_base_image_flags(parser)
    add_package_source_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from cogkit.images.build import BuildRequest, prepare
    from cogkit.layers.compile import MERGE_CAP, compile_plan
    from cogkit.layers.describe import describe, render_dot, render_json, render_text

    request = BuildRequest(
        config_file=args.config_file,
        separate_weights=args.separate_weights,
        base_image=args.base_image,
        ca_cert=args.ca_cert,
        use_cuda_base_image=args.use_cuda_base_image,
        torch_index=args.torch_index,
        find_links=args.find_links,
    )
    _, plan, _ = prepare(request)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.image_name:
        # Cog uses it only for `<name>-weights`, the image of its two-Dockerfile weights layout.
        print(
            f"note: --image-name {args.image_name}: cogkit has no separate {args.image_name}-weights image; "
            "weights are a layer of the model image",
            file=sys.stderr,
        )
    if args.use_cog_base_image:
        print("note: --use-cog-base-image: r8.im/cog-base images are not reachable; shown without them",
              file=sys.stderr)  # fmt: skip
    caps = frozenset({MERGE_CAP}) if args.merge else None
    vertices = describe(compile_plan(plan, None, caps))
    render = {"text": render_text, "json": render_json, "dot": render_dot}[args.format]
    print(render(vertices))
    return 0
