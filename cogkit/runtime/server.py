"""Cog-compatible HTTP transport on aiohttp: the routes, and the loop that serves them.

Routes translate HTTP into PredictionRunner calls and back; no prediction logic lives here.
Settings (argv, cog.yaml) are cogkit.runtime.settings; start-up, signals, drain and stop are
cogkit.runtime.lifecycle, shared with the queue worker.
The hot path (POST /predictions) is: read body -> msgspec decode -> validate -> runner.run ->
msgspec encode, with no pydantic, no thread hops and no extra task.

Start-up is ordered for a fast READY: parse args and cog.yaml, spawn the predictor child, and
only then import aiohttp (≈100 ms), so the child boots while the parent imports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cogkit.runtime import lifecycle
from cogkit.runtime.events import WorkerAPI, WorkerState
from cogkit.runtime.settings import Settings, parse_args, settings_from_args
from cogkit.runtime.types import (
    HealthCheck,
    PredictionRequest,
    UnhealthyCheck,
    is_webhook_url,
    json_encoder,
    request_decoder,
)

if TYPE_CHECKING:
    from aiohttp import web

    from cogkit.runtime.prediction import Prediction
    from cogkit.runtime.runner import PredictionRunner

log = logging.getLogger("cogkit.server")

JSON = "application/json"


def import_http_stack() -> None:
    """Import aiohttp.web without loading the system CA bundle (≈35 ms of start-up).

    aiohttp builds two default SSL contexts at import time. We import it with an empty trust
    store and give our own client session a properly verified context, created on first use
    (cogkit.runtime.httpclient), so READY comes sooner and https webhooks are still verified.
    """
    if "aiohttp.web" in sys.modules:
        return
    saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    os.environ["SSL_CERT_FILE"] = os.devnull
    os.environ["SSL_CERT_DIR"] = os.devnull
    try:
        import aiohttp.web  # noqa: F401
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------- server
class Server:
    """The routes of one process: they read the worker's state and call its runner."""

    def __init__(self, config: Settings, worker: WorkerAPI, shutdown: lifecycle.Shutdown) -> None:
        self.config = config
        self.worker = worker
        self.runner: PredictionRunner | None = None
        self.shutdown = shutdown
        self._draining = False
        self._sse_tasks: set[asyncio.Task[None]] = set()  # SSE predictions run on their own

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _json(body: bytes, status: int = 200) -> web.Response:
        from aiohttp import web

        return web.Response(body=body, status=status, content_type=JSON)

    @staticmethod
    def _detail(status: int, detail: Any) -> web.Response:
        from aiohttp import web

        return web.Response(body=json_encoder.encode({"detail": detail}), status=status, content_type=JSON)

    def _health_status(self) -> str:
        state = self.worker.state  # BUSY while every one of the worker's slots is taken
        if state in WorkerState.SERVING and self.runner is None:
            return WorkerState.STARTING
        return state

    # -- routes ---------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        doc = {
            "cog_version": _version(),
            "openapi_url": "/openapi.json",
            "shutdown_url": "/shutdown",
            "healthcheck_url": "/health-check",
        }
        if self.config.mode == "train":
            doc.update(trainings_url="/trainings", trainings_idempotent_url="/trainings/{training_id}",
                       trainings_cancel_url="/trainings/{training_id}/cancel")
        else:
            doc.update(predictions_url="/predictions",
                       predictions_idempotent_url="/predictions/{prediction_id}",
                       predictions_cancel_url="/predictions/{prediction_id}/cancel")
        return self._json(json_encoder.encode(doc))

    async def health(self, request: web.Request) -> web.Response:
        if self.worker_defunct():  # e.g. the idle child was OOM-killed: exit like after a failed prediction
            self._on_defunct()
        status = self._health_status()
        if status in (WorkerState.READY, WorkerState.BUSY) and self.worker.has_healthcheck:
            # per request, never stored; it wins over BUSY and does not gate predictions (coglet)
            error = await self.worker.healthcheck()
            if error is not None:
                return self._json(json_encoder.encode(UnhealthyCheck(
                    status="UNHEALTHY", setup=self.worker.setup_snapshot, user_healthcheck_error=error)))
        body = HealthCheck(status=status, setup=self.worker.setup_snapshot)
        return self._json(json_encoder.encode(body))

    async def openapi(self, request: web.Request) -> web.Response:
        schema = self.runner.schema if self.runner is not None else None
        if schema is None:
            return self._detail(503, "OpenAPI schema not available: setup has not finished")
        return self._json(json_encoder.encode(schema))

    async def post_shutdown(self, request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_soon(self.shutdown.request, "POST /shutdown")
        return self._json(b"{}")

    async def cancel(self, request: web.Request) -> web.Response:
        runner = self.runner
        found = runner is not None and await runner.cancel(request.match_info["id"])
        return self._json(b"{}", 200 if found else 404)

    async def predict(self, request: web.Request) -> web.StreamResponse:
        """POST /predictions and PUT /predictions/{id} (and the /trainings equivalents)."""
        from cogkit.runtime.runner import Busy, InputValidationError, RunnerUnavailable

        runner = self.runner
        try:
            body = await request.read()
        except Exception as exc:  # aiohttp raises HTTPRequestEntityTooLarge past client_max_size
            if getattr(exc, "status", None) == 413:
                return self._detail(413, f"request body exceeds the limit of {self.config.body_limit} bytes")
            raise
        try:
            req = request_decoder.decode(body) if body else PredictionRequest()
        except msgspec.ValidationError as exc:
            return self._detail(422, [_msgspec_error(exc)])
        except msgspec.DecodeError as exc:
            return self._detail(422, [{"loc": ["body"], "msg": f"JSON decode error: {exc}",
                                       "type": "json_invalid"}])
        if req.webhook is not None and not is_webhook_url(req.webhook):
            return self._detail(422, [{"loc": ["body", "webhook"], "type": "url_scheme", "input": req.webhook,
                                       "msg": "URL scheme should be 'http' or 'https'"}])
        refused = _refused_targets(req)
        if refused:
            return self._detail(422, refused)
        headers = request.headers
        wants_sse = "text/event-stream" in headers.get("Accept", "")
        if wants_sse and runner is not None and (refusal := self._sse_refusal()) is not None:
            return self._json(json_encoder.encode({"error": refusal}), 406)  # POST, or PUT new or existing
        path_id = request.match_info.get("id")
        if path_id is not None:
            if req.id is not None and req.id != path_id:
                return self._detail(422, [{"loc": ["body", "id"], "type": "value_error",
                                           "msg": "prediction ID must match the ID supplied in the URL"}])
            req.id = path_id
            if runner is not None and (existing := runner.get(path_id)) is not None:
                # idempotent repeat: the same prediction, no restart, in the form this request asks
                # for: its state (202), or its event stream replayed and then live (Cog 0.21)
                if wants_sse:
                    return await self._stream(request, existing)
                return self._json(existing.encode(), 202)
        if runner is None:
            state = self.worker.state
            if state == WorkerState.STARTING:
                return self._detail(503, "Setup has not finished yet")
            return self._detail(503, f"the model is not available (health {state})")
        respond_async = _prefers_async(headers.get("Prefer")) and not wants_sse  # SSE wins, as in Cog
        trace = _trace_headers(headers)
        try:
            inputs = runner.validate(req)
            if respond_async:
                pred = runner.submit(req, inputs=inputs, trace_headers=trace, respond_async=True)
                return self._json(pred.encode(), 202)
            if wants_sse:
                return await self._predict_sse(request, req, inputs, trace)
            resp = await runner.run(req, inputs=inputs, trace_headers=trace)
        except InputValidationError as exc:
            return self._detail(422, exc.errors)
        except Busy as exc:
            return self._detail(409, str(exc))
        except RunnerUnavailable as exc:
            return self._detail(503, str(exc))
        finally:
            if self.worker_defunct():
                self._on_defunct()
        return self._json(json_encoder.encode(resp))

    def _sse_refusal(self) -> str | None:
        """Cog 0.21: SSE only for a predictor marked @cog.streaming (x-cog-streaming), never trainings."""
        if self.config.mode == "train":
            return "Training endpoints do not support streaming responses."
        schema = self.runner.schema if self.runner is not None else None
        post = ((schema or {}).get("paths", {}).get("/predictions") or {}).get("post") or {}
        if post.get("x-cog-streaming") is not True:
            return ("This model does not support streaming responses. Add @cog.streaming to predict() "
                    "to enable SSE.")
        return None

    async def _predict_sse(self, request: web.Request, req: PredictionRequest, inputs: dict[str, Any],
                           trace: dict[str, str] | None) -> web.StreamResponse:


        runner = self.runner
        assert runner is not None
        pred = runner.start(req, inputs=inputs, trace_headers=trace)
        assert pred.stream is not None  # the runner gives a streaming model's predictions a hub
        # subscribed before it starts, so this stream sees every event; the prediction itself runs
        # as its own task: a dropped connection leaves it running for a PUT to come back to
        sub, skipped = pred.stream.subscribe()
        task = asyncio.get_running_loop().create_task(runner.execute(pred))
        self._sse_tasks.add(task)
        task.add_done_callback(self._sse_tasks.discard)
        return await self._pump(request, pred.stream, sub, skipped)

    async def _stream(self, request: web.Request, pred: Prediction) -> web.StreamResponse:
        """A prediction's SSE stream: its replay ring, then live events (see cogkit.runtime.sse)."""
        from cogkit.runtime import sse

        hub = pred.stream
        if hub is None:
            return self._json(json_encoder.encode({"error": "Prediction not found"}), 404)
        try:
            sub, skipped = hub.subscribe()
        except sse.TooManySubscribers:
            return self._json(json_encoder.encode({"error": "Too many stream subscribers"}), 429)
        return await self._pump(request, hub, sub, skipped)

    async def _pump(self, request: web.Request, hub: Any, sub: Any, skipped: int) -> web.StreamResponse:
        from aiohttp import web

        from cogkit.runtime import sse

        stream = web.StreamResponse(status=200, headers=sse.HEADERS)
        try:
            await stream.prepare(request)
            await sse.pump(stream, sub, skipped)
            await stream.write_eof()
        except ConnectionResetError:
            pass  # the client went away; the prediction goes on
        finally:
            hub.unsubscribe(sub)
        return stream

    # -- lifecycle -------------------------------------------------------------------------
    def worker_defunct(self) -> bool:
        return self.worker.state == WorkerState.DEFUNCT

    def _on_defunct(self) -> None:
        if not self.config.await_explicit_shutdown and not self._draining:
            log.error("the predictor process died; health is DEFUNCT and the server exits "
                      "(start with --await-explicit-shutdown to keep it up)")
            asyncio.get_running_loop().call_soon(self.shutdown.request, "worker defunct", 1)

    async def drain(self) -> None:
        """Finish in-flight predictions (bounded by the grace period) and their terminal webhooks."""
        self._draining = True
        await lifecycle.drain(self.runner, self.config.shutdown_grace)

    def build_app(self) -> web.Application:
        from aiohttp import web

        app = web.Application(client_max_size=self.config.body_limit, handler_args={"max_field_size": 65536})
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/health-check", self.health)
        r.add_get("/openapi.json", self.openapi)
        r.add_post("/shutdown", self.post_shutdown)
        # One worker runs one mode (Cog starts a separate `--x-mode train` server for training).
        kinds = ["trainings"] if self.config.mode == "train" else ["predictions"]
        for kind in kinds:
            r.add_post(f"/{kind}", self.predict)
            r.add_put(f"/{kind}/{{id}}", self.predict)
            r.add_post(f"/{kind}/{{id}}/cancel", self.cancel)
        from cogkit.runtime import playground

        playground.add_routes(app, enabled=self.config.playground)
        return app

    async def start(self, started: asyncio.Future[Any] | None = None) -> None:
        """Set the predictor up (lifecycle.start_runtime) and open the routes to its runner."""
        # After a failed setup the server stays up answering SETUP_FAILED (and 503s), as Cog's does:
        # the orchestrator reads /health-check and decides; SIGTERM or POST /shutdown end it.
        _, runner = await lifecycle.start_runtime(self.config, self.worker, started)
        self.runner = runner  # no await from here: the ring is on before any prediction can start
        if runner is not None and self._sse_refusal() is None:  # @cog.streaming: an SSE replay ring
            from cogkit.runtime import sse

            runner.stream_capacity = sse.history_capacity()


async def serve(config: Settings, worker: WorkerAPI, ready: asyncio.Future[None] | None = None,
                started: asyncio.Future[Any] | None = None) -> int:
    """Run the server until shutdown; returns the process exit code.

    `started` is the worker's start() if the caller already launched it (to boot the child
    while this process imports aiohttp).
    """
    import_http_stack()
    from aiohttp import web

    from cogkit.runtime import netpolicy

    netpolicy.configure(netpolicy.NetworkPolicy.build(config.deny_networks, config.deny_private))
    shutdown = lifecycle.Shutdown(ignore_sigterm=config.await_explicit_shutdown)
    server = Server(config, worker, shutdown)
    app = server.build_app()
    app_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await app_runner.setup()
    site = web.TCPSite(app_runner, config.host, config.port, reuse_address=True, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await app_runner.cleanup()
        if started is not None:
            await asyncio.wait([started], timeout=30)
        await lifecycle.stop_worker(worker)
        from cogkit.errors import CogkitError

        raise CogkitError(f"Port {config.port} is already in use ({exc.strerror})",
                          "stop the other server or set PORT to a free port") from None
    shutdown.install()
    setup_task = asyncio.get_running_loop().create_task(server.start(started))
    setup_task.add_done_callback(lifecycle.gc_after_startup)
    if ready is not None and not ready.done():
        ready.set_result(None)
    await shutdown.wait()
    if not setup_task.done():
        setup_task.cancel()
    await server.drain()
    await app_runner.cleanup()
    await lifecycle.stop_worker(worker)
    from cogkit.runtime import httpclient

    await httpclient.close()
    return shutdown.exit_code


# ------------------------------------------------------------------------------------ helpers
def _version() -> str:
    from cogkit import __version__

    return __version__


def _prefers_async(prefer: str | None) -> bool:
    if not prefer:
        return False
    if prefer == "respond-async":
        return True
    return any(tok.strip().split("=")[0].strip() == "respond-async" for tok in prefer.split(","))


def _trace_headers(headers: Any) -> dict[str, str] | None:
    tp = headers.get("traceparent")
    if tp is None:
        return None
    out = {"traceparent": tp}
    ts = headers.get("tracestate")
    if ts is not None:
        out["tracestate"] = ts
    return out


def _refused_targets(req: PredictionRequest) -> list[dict[str, Any]]:
    """422 items for a webhook or output_file_prefix the network policy refuses outright.

    Only what the URL itself shows (scheme, IP literals); hostnames are checked when resolved,
    at send time, so a name cannot be made to point elsewhere in between.
    """
    from cogkit.runtime import netpolicy

    items = []
    for field, url in (("webhook", req.webhook), ("output_file_prefix", req.output_file_prefix)):
        if url is None:
            continue
        try:
            netpolicy.check_url(url, netpolicy.current())
        except (netpolicy.DeniedAddress, ValueError) as exc:
            items.append({"loc": ["body", field], "type": "url_denied", "input": url,
                          "msg": f"{field} is refused: {exc}"})
    return items


def _msgspec_error(exc: msgspec.ValidationError) -> dict[str, Any]:
    """Cog/FastAPI-shaped error item from a msgspec message like "Expected `x`, got `y` - at `$.input`"."""
    msg = str(exc)
    loc: list[Any] = ["body"]
    text, sep, where = msg.rpartition(" - at `")
    if sep:
        msg = text
        for part in where.rstrip("`").removeprefix("$").replace("[", ".").replace("]", "").split("."):
            if part:
                loc.append(int(part) if part.isdigit() else part)
    return {"loc": loc, "msg": msg, "type": "type_error"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m cog.server.http` and `cogkit serve --local`."""
    from cogkit.errors import CogkitError

    lifecycle.defer_gc()
    args = parse_args(argv)
    lifecycle.configure_logging(args.verbose)
    try:
        return asyncio.run(_main_async(settings_from_args(args)))
    except CogkitError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


async def _main_async(config: Settings) -> int:
    worker = lifecycle.make_worker(config)
    # Spawn the predictor child first (start() runs up to its first await), so it boots while
    # this process imports aiohttp.
    started = asyncio.get_running_loop().create_task(worker.start())
    await asyncio.sleep(0)
    return await serve(config, worker, started=started)


if __name__ == "__main__":
    sys.exit(main())
