"""`cogkit queue-worker` (consume a Redis stream) and `cogkit queue submit|status|cancel` (client).

The implementation lives in cogkit.runtime.queue; this module only parses flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    # Both are argparse/stdlib-only modules: building the parser must not import the worker (asyncio).
    from cogkit.runtime.queue.defaults import DEFAULT_STREAM
    from cogkit.runtime.queue.worker_args import add_worker_arguments

    worker = subparsers.add_parser(
        "queue-worker",
        help="run predictions from a Redis stream (many workers can share one queue)",
        description="Consume prediction requests from a Redis Streams consumer group and run them "
        "with the model in the current directory. See docs/queue.md for the protocol.",
    )
    add_worker_arguments(worker)
    worker.set_defaults(func=run_worker)

    queue = subparsers.add_parser(
        "queue",
        help="submit to, inspect or cancel predictions on a Redis queue",
        description="Client side of the Redis prediction queue.",
    )
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--redis",
            default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            help="Redis URL, standalone or any node of a cluster (default: $REDIS_URL or "
            "redis://127.0.0.1:6379/0)",
        )
        p.add_argument(
            "--stream",
            default=os.environ.get("COG_QUEUE_STREAM", DEFAULT_STREAM),
            help="the queue stream; prediction keys carry its hash tag "
            f"(default: $COG_QUEUE_STREAM or {DEFAULT_STREAM})",
        )

    submit = actions.add_parser("submit", help="queue one prediction")
    common(submit)
    submit.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input; @path sends a file as a data URL; repeat for lists",
    )
    submit.add_argument("--json", default=None, help="inputs as a JSON object, @file.json or @-")
    submit.add_argument("--id", default=None, help="prediction id (default: random)")
    submit.add_argument("--webhook", default=None, help="URL to send webhooks to")
    submit.add_argument(
        "--webhook-events-filter",
        action="append",
        default=None,
        choices=("start", "output", "logs", "completed"),
    )
    submit.add_argument(
        "--wait",
        action="store_true",
        help="follow logs live, print the final state, exit non-zero unless it succeeded",
    )
    submit.set_defaults(func=run_submit)

    status = actions.add_parser("status", help="print a prediction's stored state as JSON")
    common(status)
    status.add_argument("id")
    status.add_argument("--wait", action="store_true", help="follow it until it finishes")
    status.set_defaults(func=run_status)

    cancel = actions.add_parser("cancel", help="ask the worker running a prediction to cancel it")
    common(cancel)
    cancel.add_argument("id")
    cancel.set_defaults(func=run_cancel)
    queue.set_defaults(func=lambda args: queue.print_help(sys.stderr) or 2)


def run_worker(args: argparse.Namespace) -> int:
    import asyncio

    from cogkit.runtime.lifecycle import configure_logging
    from cogkit.runtime.queue.entrypoint import run_worker

    configure_logging(getattr(args, "debug", False))
    return asyncio.run(run_worker(args))


async def _client(args: argparse.Namespace) -> Any:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from cogkit.runtime.queue.client import QueueClient

    try:
        return await QueueClient.from_url(args.redis, args.stream)
    except (RedisConnectionError, OSError) as exc:
        raise _redis_error(exc, args.redis) from None


def _redis_error(exc: Exception, url: str) -> Exception:
    from cogkit.errors import CogkitError

    return CogkitError(
        f"cannot reach Redis at {url}: {exc}", hint="check --redis / REDIS_URL and that redis-server runs"
    )


def run_submit(args: argparse.Namespace) -> int:
    import asyncio

    from redis.exceptions import ConnectionError as RedisConnectionError

    from cogkit.model.inputs import coerce_inputs, load_json_inputs, parse_input_flags

    async def go() -> int:
        client = await _client(args)
        try:
            schema = await client.schema()
            inputs: dict[str, Any] = load_json_inputs(args.json) if args.json else {}
            inputs.update(coerce_inputs(parse_input_flags(args.input), schema))
            pid = await client.submit(
                inputs,
                prediction_id=args.id,
                webhook=args.webhook,
                webhook_events_filter=args.webhook_events_filter,
            )
            print(pid)
            if not args.wait:
                return 0
            return await _follow(client, pid)
        except (RedisConnectionError, OSError) as exc:
            raise _redis_error(exc, args.redis) from None
        finally:
            await client.close()

    return asyncio.run(go())


def run_status(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from redis.exceptions import ConnectionError as RedisConnectionError

    from cogkit.errors import CogkitError

    async def go() -> int:
        client = await _client(args)
        try:
            if args.wait:
                return await _follow(client, args.id)
            state = await client.status(args.id)
        except (RedisConnectionError, OSError) as exc:
            raise _redis_error(exc, args.redis) from None
        finally:
            await client.close()
        if state is None:
            raise CogkitError(
                f"no prediction {args.id!r} in Redis",
                hint="it was never submitted, is still queued, or its state expired",
            )
        print(json.dumps(state, indent=2))
        return 0

    return asyncio.run(go())


def run_cancel(args: argparse.Namespace) -> int:
    import asyncio

    async def go() -> None:
        client = await _client(args)
        try:
            await client.cancel(args.id)
        finally:
            await client.close()

    asyncio.run(go())
    print(f"cancel requested for {args.id}")
    return 0


async def _follow(client: Any, prediction_id: str) -> int:
    """Print new log text and outputs as they arrive; the final state as JSON on stdout."""
    import json

    printed_logs = 0
    last_output: Any = None
    state: dict[str, Any] = {}
    async for _event, state in client.follow(prediction_id):
        logs = state.get("logs") or ""
        if len(logs) > printed_logs:
            sys.stderr.write(logs[printed_logs:])
            sys.stderr.flush()
            printed_logs = len(logs)
        output = state.get("output")
        if output is not None and output != last_output and state.get("status") == "processing":
            print(f"output: {json.dumps(output)}", file=sys.stderr)
            last_output = output
    print(json.dumps(state, indent=2))
    return 0 if state.get("status") == "succeeded" else 1
