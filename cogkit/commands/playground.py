"""`cogkit playground`: a browser UI for any running Cog-compatible model server.

The page is the same one the model server serves at /playground; here a local server hosts it
and forwards the API calls to --target, so it works with servers that send no CORS headers.
"""

from __future__ import annotations

import argparse

DEFAULT_TARGET = "http://127.0.0.1:8393"  # `cogkit serve`'s default address


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "playground",
        help="open a web UI for a running model server",
        description="Serve the playground page on a local port for a running Cog-compatible model server "
        "(cogkit's or Cog's): a form generated from its /openapi.json, live output, history, and "
        "copy-as snippets. API calls are forwarded to the target, so no CORS setup is needed.",
    )
    parser.add_argument("--target", default=DEFAULT_TARGET, metavar="URL",
                        help=f"the model server's base URL (default: {DEFAULT_TARGET})")
    parser.add_argument("-p", "--port", type=int, default=8394,
                        help="local port for the page (default: 8394)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from urllib.parse import urlsplit

    from cogkit.errors import CogkitError
    from cogkit.runtime.playground.standalone import serve

    target = args.target if "://" in args.target else f"http://{args.target}"
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CogkitError(f"--target must be an http(s) URL, got {args.target!r}",
                          "e.g. --target http://127.0.0.1:5000")

    def ready(port: int) -> None:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
        print(f"Playground for {target} at http://{host}:{port}/playground; Ctrl-C to stop",
              file=sys.stderr, flush=True)

    asyncio.run(serve(target, args.host, args.port, ready))
    return 0
