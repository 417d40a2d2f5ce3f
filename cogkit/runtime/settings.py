"""The runtime's settings: what one model process runs and how, from argv, environment and cog.yaml.

`python -m cog.server.http` (and `cogkit serve`) parse their command line here; the queue worker
builds the same Settings from its own flags. cog.yaml is read by cogkit.config.predictor, the
runtime's one reader of it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import msgspec

from cogkit.config.predictor import read_predictor_config

DEFAULT_BODY_LIMIT = 100 * 1024 * 1024  # coglet's limit; aiohttp's 1 MiB default breaks data URLs


class Settings(msgspec.Struct, kw_only=True):
    """One model process: the predictor and its worker, the runner's limits, the transport's knobs."""

    host: str = "0.0.0.0"
    port: int = 5000
    mode: str = "predict"
    predictor_ref: str = ""
    concurrency: int = 1
    upload_url: str | None = None
    await_explicit_shutdown: bool = False
    queue_size: int = 0
    body_limit: int = DEFAULT_BODY_LIMIT
    shutdown_grace: float = 30.0
    cwd: str = "."


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cog.server.http",
                                description="Cog-compatible prediction server")
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=None, help="default: $PORT or 5000")
    p.add_argument("--threads", type=int, default=None, help="accepted for Cog compatibility (no effect)")
    p.add_argument("--upload-url", default=None, help="PUT file outputs of async predictions here")
    p.add_argument("--await-explicit-shutdown", nargs="?", const=True, default=False, type=_bool,
                   help="ignore SIGTERM; exit on POST /shutdown")
    p.add_argument("--x-mode", "--mode", dest="mode", choices=("predict", "train"), default="predict")
    p.add_argument("--queue-size", type=int, default=int(os.environ.get("COG_QUEUE_SIZE", "0")),
                   help="requests that may wait for a slot instead of getting 409 (default 0, as Cog)")
    p.add_argument("--body-limit", type=int,
                   default=int(os.environ.get("COG_MAX_BODY_SIZE", str(DEFAULT_BODY_LIMIT))),
                   help="maximum request body in bytes (default 100 MiB); larger bodies get 413")
    p.add_argument("--shutdown-grace", type=float,
                   default=float(os.environ.get("COG_SHUTDOWN_GRACE", "30")),
                   help="seconds SIGTERM waits for in-flight predictions (default 30)")
    p.add_argument("--predictor", default=None, help="predictor reference (default: from cog.yaml)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace, cwd: str | None = None) -> Settings:
    cwd = cwd or os.getcwd()
    if args.predictor:
        os.environ.setdefault("COG_PREDICTOR" if args.mode == "predict" else "COG_TRAINER", args.predictor)
    ref, concurrency = read_predictor_config(cwd, args.mode)
    if args.predictor:
        ref = args.predictor
    port = args.port if args.port is not None else int(os.environ.get("PORT", "5000"))
    return Settings(host=args.host, port=port, mode=args.mode, predictor_ref=ref,
                    concurrency=concurrency, upload_url=args.upload_url,
                    await_explicit_shutdown=bool(args.await_explicit_shutdown),
                    queue_size=args.queue_size, body_limit=args.body_limit,
                    shutdown_grace=args.shutdown_grace, cwd=cwd)
