"""The floor under any server that answers predictions over HTTP and runs the model in a worker process.

The least such a server can do per prediction, and nothing else: aiohttp parses the request, msgspec
decodes the JSON body, the input goes to a child process over one pipe (one length-prefixed frame each
way), the child calls Predictor.predict(), and the output comes back and is encoded into the response.
No schema validation, no prediction state, no logs, webhooks, files or cancellation: everything Cog's
API needs on top of this is left out. What this costs over the model called in-process is the overhead
no design with an HTTP front and an isolated model process can go below on the same machine, so it is
the yardstick for `cogkit serve` (benchmarks/real_model_serving.py --floor runs it beside cogkit and
coglet, pinned and driven the same way).

With --in-process there is no worker at all: the handler calls predict() itself, on the event loop. That
is the HTTP part of the floor alone, so the two together split the floor into HTTP and the process hop.

It runs in the model's venv (aiohttp and msgspec come with cogkit there), from the project directory:
    python serving_floor.py --port 8393 [--in-process]
GET /health-check answers {"status": "READY"} once setup() has returned in the child.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from typing import Any


def load_predictor(project: str) -> Any:
    sys.path[:0] = [os.environ["COGKIT_COMPAT"], project] if "COGKIT_COMPAT" in os.environ else [project]
    os.chdir(project)
    from predict import Predictor  # type: ignore[import-not-found]

    predictor = Predictor()
    predictor.setup()
    return predictor


def worker(conn: Connection, project: str) -> None:
    """The child: import the predictor, set it up, then answer one frame per prediction."""
    import msgspec

    predictor = load_predictor(project)
    encode, decode = msgspec.json.Encoder().encode, msgspec.json.Decoder().decode
    conn.send_bytes(b"ready")
    while True:
        try:
            request = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(encode(predictor.predict(**decode(request))))


async def run_app(port: int, health: Any, predictions: Any) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/health-check", health)
    app.router.add_post("/predictions", predictions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def succeeded(output: bytes) -> Any:
    """The response: the output's JSON, encoded once (by the worker, or right in the handler)."""
    from aiohttp import web

    body = b'{"status":"succeeded","output":' + output + b"}"
    return web.Response(body=body, content_type="application/json")


async def serve_in_process(port: int, project: str) -> None:
    """The same HTTP handling with predict() called right in the handler: no process, no hop."""
    import msgspec
    from aiohttp import web

    predictor = load_predictor(project)
    body_of = msgspec.json.Decoder(dict[str, Any]).decode
    encode = msgspec.json.Encoder().encode

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "READY"})

    async def predictions(request: web.Request) -> web.Response:
        body = body_of(await request.read())
        output = encode(predictor.predict(**(body.get("input") or {})))
        return succeeded(output)

    await run_app(port, health, predictions)


async def serve(port: int, project: str) -> None:
    import msgspec
    from aiohttp import web

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=worker, args=(child, project), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:  # the pipe is read from the event loop, no thread in between
        data = parent.recv_bytes()
        if data == b"ready":
            ready.set()
        else:
            replies.put_nowait(data)

    loop.add_reader(parent.fileno(), readable)
    lock = asyncio.Lock()  # one prediction at a time, as the other servers run it
    body_of = msgspec.json.Decoder(dict[str, Any]).decode

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "READY" if ready.is_set() else "STARTING"})

    async def predictions(request: web.Request) -> web.Response:
        body = body_of(await request.read())
        async with lock:
            parent.send_bytes(msgspec.json.encode(body.get("input") or {}))
            output = await replies.get()
        return succeeded(output)

    await run_app(port, health, predictions)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--in-process", action="store_true", help="no worker: predict() in the handler")
    args = parser.parse_args()
    asyncio.run((serve_in_process if args.in_process else serve)(args.port, os.getcwd()))


if __name__ == "__main__":
    main()
