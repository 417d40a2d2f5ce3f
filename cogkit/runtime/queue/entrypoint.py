"""Process entry point of the queue worker: `python -m cog.server.redis_queue` and `cogkit queue-worker`.

Every flag has an environment-variable default, so `docker run IMAGE python -m
cog.server.redis_queue` needs nothing but REDIS_URL (and a stream name if not the default).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from cogkit.runtime.queue.worker_args import add_worker_arguments

log = logging.getLogger("cogkit.queue")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cog.server.redis_queue",
        description="Cog queue worker: run predictions from a Redis stream",
    )
    add_worker_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(translate_legacy_argv(list(sys.argv[1:] if argv is None else argv)))


def translate_legacy_argv(argv: list[str]) -> list[str]:
    """Cog's own redis_queue took positional arguments; existing command lines keep working:
    `redis_host redis_port input_queue upload_url consumer_id model_id log_queue [predict_timeout]`.
    """
    positional = [a for a in argv if not a.startswith("-")]
    if len(positional) < 7 or len(positional) != len(argv) or len(positional) > 8:
        return argv
    host, port, stream, upload_url, consumer, model_id, log_queue = positional[:7]
    log.warning(
        "legacy cog.server.redis_queue arguments: model_id %r and log_queue %r are ignored "
        "(setup logs go to stderr)%s",
        model_id,
        log_queue,
        "; predict_timeout is not supported" if len(positional) == 8 else "",
    )
    return [
        "--redis",
        f"redis://{host}:{port}/0",
        "--stream",
        stream,
        "--upload-url",
        upload_url,
        "--consumer",
        consumer,
    ]


async def open_redis(url: str) -> Any:
    """A standalone or cluster client, whichever `url` points at, waiting while Redis is away."""
    from cogkit.runtime.queue.connection import open_redis as open_client
    from cogkit.runtime.queue.store import backoff

    async for attempt in backoff():
        with attempt:
            return await open_client(url)
    raise AssertionError("unreachable")


async def run_worker(args: argparse.Namespace, cwd: str | None = None) -> int:
    """Start the predictor (setup), then consume until SIGTERM/SIGINT; returns the exit code."""
    from cogkit.config.predictor import read_predictor_config
    from cogkit.runtime import lifecycle
    from cogkit.runtime.queue.consumer import QueueWorker, WorkerOptions
    from cogkit.runtime.queue.runner_backend import RunnerBackend
    from cogkit.runtime.settings import Settings

    cwd = cwd or os.getcwd()
    if args.predictor:
        ref, concurrency = args.predictor, int(os.environ.get("COG_MAX_CONCURRENCY") or 1)
    else:
        ref, concurrency = read_predictor_config(cwd, args.mode)
    concurrency = args.concurrency if args.concurrency is not None else concurrency
    try:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        options = WorkerOptions(
            stream=args.stream,
            group=args.group,
            consumer=args.consumer,
            prefetch=args.prefetch,
            visibility_timeout=args.visibility_timeout,
            state_ttl=args.state_ttl,
            drain_timeout=args.drain_timeout,
            max_deliveries=args.max_deliveries,
        )
    except ValueError as exc:
        from cogkit.errors import CogkitError

        raise CogkitError(
            f"invalid queue-worker option: {exc}", hint="see `cogkit queue-worker --help`"
        ) from None
    shutdown = lifecycle.Shutdown(on_repeat=_exit_without_draining)
    shutdown.install()

    # The lifecycle the HTTP server uses builds the worker (one predictor child process) and the
    # PredictionRunner, so validation, files, uploads, webhooks and cancel are the server's.
    settings = Settings(
        predictor_ref=ref,
        mode=args.mode,
        concurrency=concurrency,
        cwd=cwd,
        upload_url=args.upload_url,
        queue_size=options.prefetch,
    )
    worker, runner = await lifecycle.start_runtime(settings)
    if runner is None:
        await lifecycle.stop_worker(worker)
        return 1
    redis = await open_redis(args.redis)
    from cogkit.runtime.queue.connection import RedisCluster

    options.legacy_keys = not isinstance(redis, RedisCluster)
    if runner.schema is not None:
        await _publish_schema(redis, options.stream, runner.schema)
    queue = QueueWorker(redis, RunnerBackend(runner), options)
    stopper = asyncio.get_running_loop().create_task(_stop_on(shutdown, queue))
    try:
        code = await queue.run()
        # Terminal webhooks of finished predictions still go out, as the HTTP server's drain does
        # (the queue has drained its own predictions: what is still running was handed back).
        await runner.webhooks.drain(max(1.0, options.drain_timeout or 10.0))
    finally:
        stopper.cancel()
        await redis.aclose()
        await lifecycle.stop_worker(worker)
    log.info("queue worker stopped after %d prediction(s)", queue.completed)
    return code


async def _publish_schema(redis: Any, stream: str, schema: dict[str, Any]) -> None:
    from cogkit.runtime.queue.protocol import schema_key
    from cogkit.runtime.queue.store import backoff
    from cogkit.runtime.types import json_encoder

    async for attempt in backoff():
        with attempt:
            await redis.set(schema_key(stream), json_encoder.encode(schema))


async def _stop_on(shutdown: Any, queue: Any) -> None:
    await shutdown.wait()
    queue.stop()


def _exit_without_draining() -> None:
    """A second signal: leave now; the entries stay pending for other workers."""
    log.warning("second signal: exiting without draining")
    os._exit(130)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m cog.server.redis_queue`."""
    from cogkit.errors import CogkitError
    from cogkit.runtime.lifecycle import configure_logging

    raw = list(sys.argv[1:] if argv is None else argv)
    configure_logging("-v" in raw or "--verbose" in raw)
    args = parse_args(raw)
    try:
        return asyncio.run(run_worker(args))
    except CogkitError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
