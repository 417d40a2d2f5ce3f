"""`cogkit serve`: serve the model over HTTP with the project mounted, reloading on code edits.

The image supplies the environment (Python, packages, weights); the project directory is bound
over /src, so an edited predict.py only needs the server restarted, never a rebuild. cogkit
watches the project and does that restart itself.
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
        add_setup_timeout_flag,
    )

    parser = subparsers.add_parser(
        "serve",
        help="serve the model over HTTP (code edits reload without a rebuild)",
        description="Build the project's environment, then serve the model's HTTP API with the project "
        "mounted at /src. Edits to Python files restart the server; no rebuild is needed.",
    )
    parser.add_argument("-p", "--port", type=int, default=8393, help="port to listen on (default: 8393)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--upload-url", default=None, help="PUT file outputs of async predictions to this URL"
    )
    parser.add_argument(
        "--deny-private", action="store_true",
        help="input, upload and webhook URLs may not reach loopback or private addresses (docs/security.md)",
    )
    parser.add_argument(
        "--deny-networks", default=None, metavar="CIDR,...",
        help="more address ranges those URLs may not reach (link-local/metadata are always denied)",
    )
    add_env_flag(parser, help="environment variable for the model (repeatable)")
    add_gpus_flag(parser, help="GPUs, docker syntax (default: all when cog.yaml sets gpu)")
    parser.add_argument(
        "--local", action="store_true", help="serve from the current Python environment, no Docker"
    )
    parser.add_argument(
        "--no-reload",
        dest="reload",
        action="store_false",
        help="do not restart the server when project files change",
    )
    add_setup_timeout_flag(parser, help="how long to wait for setup() (default: 300)")
    add_config_file_flag(parser)
    add_progress_flag(parser)
    add_base_image_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.docker.containers import parse_env_flags
    from cogkit.interrupts import sigterm_as_interrupt
    from cogkit.model.project import load_project
    from cogkit.model.serving import serve_image, serve_local

    env = parse_env_flags(args.env)
    # The server reads these (local process and container alike); see cogkit.runtime.netpolicy.
    if args.deny_private:
        env["COGKIT_DENY_PRIVATE"] = "1"
    if args.deny_networks:
        from cogkit.runtime.netpolicy import parse_networks

        parse_networks(args.deny_networks, "--deny-networks")  # a bad range is one line, before a build
        env["COGKIT_DENY_NETWORKS"] = args.deny_networks
    project = load_project(args.config_file)
    progress = getattr(args, "progress", None)
    with sigterm_as_interrupt():
        if args.local:
            return serve_local(project, args, env, progress)
        return serve_image(project, args, env, progress)
