"""The queue worker's flags, apart from its entry point so `cogkit`'s parser never imports asyncio.

Both entry points use them: `python -m cog.server.redis_queue` (entrypoint.py) and `cogkit queue-worker`.
"""

from __future__ import annotations

import argparse
import os

from cogkit.runtime.queue.defaults import DEFAULT_GROUP, DEFAULT_STATE_TTL, DEFAULT_STREAM


def _env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else default


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by both entry points (defaults from the environment)."""
    env = os.environ.get
    p.add_argument(
        "--redis",
        default=env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL (default: $REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    p.add_argument(
        "--stream",
        default=env("COG_QUEUE_STREAM", DEFAULT_STREAM),
        help=f"stream to consume (default: $COG_QUEUE_STREAM or {DEFAULT_STREAM})",
    )
    p.add_argument(
        "--group",
        default=env("COG_QUEUE_GROUP", DEFAULT_GROUP),
        help=f"consumer group (default: $COG_QUEUE_GROUP or {DEFAULT_GROUP})",
    )
    p.add_argument(
        "--consumer",
        default=env("COG_QUEUE_CONSUMER", ""),
        help="consumer name, unique per worker (default: $COG_QUEUE_CONSUMER or host-pid)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="predictions at once (default: $COG_MAX_CONCURRENCY or cog.yaml concurrency.max)",
    )
    p.add_argument(
        "--prefetch",
        type=int,
        default=int(env("COG_QUEUE_PREFETCH", "0")),
        help="entries taken ahead of free slots: 0 (default) for long predictions, ~16 for many tiny ones",
    )
    p.add_argument(
        "--visibility-timeout",
        type=float,
        default=_env_float("COG_QUEUE_VISIBILITY_TIMEOUT", 30.0),
        help="seconds before a dead worker's entries are reclaimed (default 30)",
    )
    p.add_argument(
        "--state-ttl",
        type=int,
        default=int(env("COG_QUEUE_STATE_TTL", str(DEFAULT_STATE_TTL))),
        help="seconds prediction state is kept in Redis (default 86400)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=_env_float("COG_SHUTDOWN_GRACE", 30.0),
        help="on SIGTERM, seconds to let in-flight predictions finish (default 30)",
    )
    p.add_argument(
        "--max-deliveries",
        type=int,
        default=int(env("COG_QUEUE_MAX_DELIVERIES", "5")),
        help="an entry whose workers keep dying fails after this many deliveries (default 5, 0: never)",
    )
    p.add_argument(
        "--upload-url",
        default=env("COG_UPLOAD_URL"),
        help="PUT file outputs here instead of returning data URLs",
    )
    p.add_argument("--predictor", default=None, help="predictor reference (default: from cog.yaml)")
    p.add_argument("--x-mode", "--mode", dest="mode", choices=("predict", "train"), default="predict",
                   help="run the model's predict: entry, or its train: entry as trainings (default predict)")
