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
    playground: bool = True  # /playground and /docs (cogkit.runtime.playground)
    deny_networks: str = ""  # more ranges for cogkit.runtime.netpolicy, beyond its defaults
    deny_private: bool = False
    input_dir: str | None = None  # the CLI's run dir: file inputs may be paths inside it (inputurls)


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
    p.add_argument("--deny-networks", default=os.environ.get("COGKIT_DENY_NETWORKS", ""),
                   help="address ranges (CIDR, comma-separated) that input, upload and webhook URLs may not "
                        "reach, on top of the link-local/metadata defaults ($COGKIT_DENY_NETWORKS)")
    p.add_argument("--deny-private", nargs="?", const=True, type=_bool,
                   default=_bool(os.environ.get("COGKIT_DENY_PRIVATE", "")),
                   help="also deny loopback and private ranges, for a public deployment "
                        "($COGKIT_DENY_PRIVATE)")
    p.add_argument("--input-dir", default=os.environ.get("COGKIT_INPUT_DIR") or None,
                   help="a directory the CLI made for this run: file inputs may be paths inside it "
                        "($COGKIT_INPUT_DIR); without it only data/http/https URLs are accepted")
    p.add_argument("--predictor", default=None, help="predictor reference (default: from cog.yaml)")
    p.add_argument("--no-playground", dest="playground", action="store_false", default=None,
                   help="do not serve /playground and /docs (also COG_PLAYGROUND=0)")
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
    from cogkit.runtime.netpolicy import NetworkPolicy

    # a bad range fails here, in one line
    NetworkPolicy.build(args.deny_networks, bool(args.deny_private), "--deny-networks/COGKIT_DENY_NETWORKS")
    input_dir = os.path.realpath(args.input_dir) if args.input_dir else None
    if input_dir is not None and not os.path.isdir(input_dir):
        from cogkit.errors import ConfigError

        raise ConfigError(f"--input-dir {args.input_dir} is not a directory")
    return Settings(host=args.host, port=port, mode=args.mode, predictor_ref=ref,
                    concurrency=concurrency, upload_url=args.upload_url,
                    await_explicit_shutdown=bool(args.await_explicit_shutdown),
                    queue_size=args.queue_size, body_limit=args.body_limit,
                    shutdown_grace=args.shutdown_grace, cwd=cwd, deny_networks=args.deny_networks,
                    deny_private=bool(args.deny_private), input_dir=input_dir,
                    playground=_playground_enabled(args))


def _playground_enabled(args: argparse.Namespace) -> bool:
    from cogkit.runtime.playground import enabled_by_env

    return enabled_by_env() if getattr(args, "playground", None) is None else bool(args.playground)
