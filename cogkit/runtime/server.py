"""Cog-compatible HTTP server on aiohttp: routes, CLI arguments and lifecycle.

Routes translate HTTP into PredictionRunner calls and back; no prediction logic lives here.
The hot path (POST /predictions) is: read body -> msgspec decode -> validate -> runner.run ->
msgspec encode, with no pydantic, no thread hops and no extra task.

Start-up is ordered for a fast READY: parse args and cog.yaml, spawn the predictor child, and
only then import aiohttp (≈100 ms), so the child boots while the parent imports.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cogkit.runtime.types import (
    HealthCheck,
    PredictionRequest,
    SetupResult,
    is_webhook_url,
    json_encoder,
    request_decoder,
)

if TYPE_CHECKING:
    from aiohttp import web

    from cogkit.runtime.runner import PredictionRunner

log = logging.getLogger("cogkit.server")

DEFAULT_BODY_LIMIT = 100 * 1024 * 1024  # coglet's limit; aiohttp's 1 MiB default breaks data URLs
JSON = "application/json"


# ----------------------------------------------------------------------------- configuration
class ServerConfig(msgspec.Struct, kw_only=True):
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
    deny_networks: str = ""
    deny_private: bool = False
    input_dir: str | None = None


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
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


_TOP_SCALAR = r"^{key}:[ \t]*(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s'\"#][^#\n]*?))[ \t]*(?:#.*)?$"


def _scan_cog_yaml(text: str) -> dict[str, Any] | None:
    """predict/train/concurrency.max from a plainly written cog.yaml, or None if it is not plain.

    Start-up budget: importing pyyaml costs ~12 ms; the keys the server needs are almost always
    written as simple top-level scalars, and anything unusual falls back to the real parser.
    """
    import re

    out: dict[str, Any] = {}
    for key in ("predict", "train"):
        if re.search(rf"^{key}\s*:", text, re.M):
            m = re.search(_TOP_SCALAR.format(key=key), text, re.M)
            if m is None:
                return None
            out[key] = next(g for g in m.groups() if g is not None).strip()
    block = re.search(r"^concurrency[ \t]*:[ \t]*(#.*)?\n((?:[ \t]+.*\n?|[ \t]*\n)*)", text, re.M)
    if block:
        m = re.search(r"^[ \t]+max[ \t]*:[ \t]*(\d+)[ \t]*(?:#.*)?$", block.group(2), re.M)
        if m is None and re.search(r"^[ \t]+max[ \t]*:", block.group(2), re.M):
            return None
        out["concurrency"] = {"max": int(m.group(1))} if m else {}
    elif re.search(r"^concurrency\s*:", text, re.M):
        return None  # flow style or something else: let pyyaml decide
    if "&" in text or "<<:" in text:
        return None  # anchors/merge keys could redefine what we scanned
    return out


def read_predictor_config(cwd: str, mode: str) -> tuple[str, int]:
    """(predictor ref, concurrency) from env or ./cog.yaml; deliberately tiny (no pydantic config model)."""
    from cogkit.errors import ConfigError

    key = "predict" if mode == "predict" else "train"
    ref = os.environ.get("COG_PREDICTOR" if mode == "predict" else "COG_TRAINER") or os.environ.get(
        "COG_PREDICT_TYPE_STUB" if mode == "predict" else "COG_TRAIN_TYPE_STUB")
    concurrency: Any = os.environ.get("COG_MAX_CONCURRENCY")
    path = os.path.join(cwd, "cog.yaml")
    if (not ref or concurrency is None) and os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
        data = _scan_cog_yaml(text)
        if data is None:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            try:
                data = yaml.load(text, Loader=loader) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"cannot parse {path}: {exc}", "fix the YAML syntax") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{path} must be a mapping of keys to values")
        ref = ref or data.get(key)
        if concurrency is None:
            concurrency = (data.get("concurrency") or {}).get("max")
    if not ref:
        raise ConfigError(f"no `{key}:` predictor configured",
                          f"add `{key}: \"predict.py:Predictor\"` to cog.yaml, or set COG_PREDICTOR")
    try:
        conc = int(concurrency or 1)
    except (TypeError, ValueError):
        raise ConfigError(f"concurrency.max must be an integer, got {concurrency!r}") from None
    return str(ref), max(1, conc)


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
    """Owns the worker, the runner and the aiohttp application for one process."""

    def __init__(self, config: ServerConfig, worker: Any) -> None:
        self.config = config
        self.worker = worker
        self.runner: PredictionRunner | None = None
        self.shutdown_event = asyncio.Event()
        self._draining = False
        self._exit_code = 0

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
        state = getattr(self.worker, "state", "STARTING")
        if state in ("READY", "BUSY"):
            runner = self.runner
            if runner is None:
                return "STARTING"
            return "BUSY" if runner.busy else "READY"
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
        setup = getattr(self.worker, "setup_snapshot", None) or getattr(self.worker, "setup", None)
        body = HealthCheck(
            status=self._health_status(),
            setup=SetupResult(started_at=setup.started_at, completed_at=setup.completed_at,
                              logs=setup.logs, status=setup.status) if setup is not None else None,
        )
        return self._json(json_encoder.encode(body))

    async def openapi(self, request: web.Request) -> web.Response:
        schema = self.runner.schema if self.runner is not None else None
        if schema is None:
            return self._detail(503, "OpenAPI schema not available: setup has not finished")
        return self._json(json_encoder.encode(schema))

    async def shutdown(self, request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_soon(self.begin_shutdown, "POST /shutdown")
        return self._json(b"{}")

    async def cancel(self, request: web.Request) -> web.Response:
        runner = self.runner
        found = runner is not None and await runner.cancel(request.match_info["id"])
        return self._json(b"{}", 200 if found else 404)

    async def predict(self, request: web.Request) -> web.StreamResponse:
        """POST /predictions and PUT /predictions/{id} (and the /trainings equivalents)."""
        from cogkit.runtime.runner import InputValidationError, RunnerBusy, RunnerUnavailable

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
        path_id = request.match_info.get("id")
        if path_id is not None:
            if req.id is not None and req.id != path_id:
                return self._detail(422, [{"loc": ["body", "id"], "type": "value_error",
                                           "msg": "prediction ID must match the ID supplied in the URL"}])
            req.id = path_id
            if runner is not None and (existing := runner.get(path_id)) is not None:
                return self._json(existing.encode(), 202)  # idempotent repeat: same state, no restart
        if runner is None:
            state = getattr(self.worker, "state", "STARTING")
            if state == "STARTING":
                return self._detail(503, "Setup has not finished yet")
            return self._detail(503, f"the model is not available (health {state})")
        headers = request.headers
        respond_async = _prefers_async(headers.get("Prefer"))
        trace = _trace_headers(headers)
        try:
            inputs = runner.validate(req)
            if respond_async:
                pred = runner.submit(req, inputs=inputs, trace_headers=trace, respond_async=True)
                return self._json(pred.encode(), 202)
            if "text/event-stream" in headers.get("Accept", ""):
                return await self._predict_sse(request, req, inputs, trace)
            resp = await runner.run(req, inputs=inputs, trace_headers=trace)
        except InputValidationError as exc:
            return self._detail(422, exc.errors)
        except RunnerBusy as exc:
            return self._detail(409, str(exc))
        except RunnerUnavailable as exc:
            return self._detail(503, str(exc))
        finally:
            if self.worker_defunct():
                self._on_defunct()
        return self._json(json_encoder.encode(resp))

    async def _predict_sse(self, request: web.Request, req: PredictionRequest, inputs: dict[str, Any],
                           trace: dict[str, str] | None) -> web.StreamResponse:
        from aiohttp import web

        from cogkit.runtime import sse

        runner = self.runner
        assert runner is not None
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        pred = runner.start(req, inputs=inputs, trace_headers=trace,
                            on_update=lambda _p, ev, data: events.put_nowait((ev, data)))
        task = asyncio.get_running_loop().create_task(runner.execute(pred))
        stream = web.StreamResponse(status=200, headers=sse.HEADERS)
        try:
            await stream.prepare(request)
            await sse.pump(stream, pred, events)
            await stream.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            await runner.cancel(pred.id)  # nobody is listening any more
            raise
        finally:
            if not task.done():
                await asyncio.wait([task], timeout=5)
        return stream

    # -- lifecycle -------------------------------------------------------------------------
    def worker_defunct(self) -> bool:
        return getattr(self.worker, "state", None) == "DEFUNCT"

    def _on_defunct(self) -> None:
        if not self.config.await_explicit_shutdown and not self._draining:
            log.error("the predictor process died; health is DEFUNCT and the server exits "
                      "(start with --await-explicit-shutdown to keep it up)")
            self._exit_code = 1
            asyncio.get_running_loop().call_soon(self.begin_shutdown, "worker defunct")

    def begin_shutdown(self, reason: str) -> None:
        if not self.shutdown_event.is_set():
            log.info("shutting down: %s", reason)
            self.shutdown_event.set()

    def on_sigterm(self) -> None:
        if self.config.await_explicit_shutdown:
            log.info("SIGTERM ignored (--await-explicit-shutdown); POST /shutdown to stop")
            return
        self.begin_shutdown("SIGTERM")

    async def drain(self) -> None:
        """Finish in-flight predictions (bounded by the grace period) and their terminal webhooks."""
        self._draining = True
        grace = self.config.shutdown_grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        runner = self.runner
        if runner is not None:
            if not await runner.drain(grace):
                log.warning("grace period over; cancelling %d prediction(s)", runner.inflight)
                await runner.cancel_all()
                await runner.drain(5.0)
            await runner.webhooks.drain(max(1.0, deadline - loop.time()))

    def build_app(self) -> web.Application:
        from aiohttp import web

        app = web.Application(client_max_size=self.config.body_limit, handler_args={"max_field_size": 65536})
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/health-check", self.health)
        r.add_get("/openapi.json", self.openapi)
        r.add_post("/shutdown", self.shutdown)
        # One worker runs one mode (Cog starts a separate `--x-mode train` server for training).
        kinds = ["trainings"] if self.config.mode == "train" else ["predictions"]
        for kind in kinds:
            r.add_post(f"/{kind}", self.predict)
            r.add_put(f"/{kind}/{{id}}", self.predict)
            r.add_post(f"/{kind}/{{id}}/cancel", self.cancel)
        return app

    async def setup_worker(self, started: asyncio.Future[Any] | None = None) -> None:
        """Run the predictor's setup (or await `started`, its running start()) and build the runner."""
        from cogkit.runtime.runner import PredictionRunner
        from cogkit.runtime.webhooks import WebhookSender

        try:
            await (started if started is not None else self.worker.start())
        except Exception as exc:
            log.error("setup failed: %s", exc)
        state = getattr(self.worker, "state", None)
        if state in ("READY", "BUSY"):
            self.runner = PredictionRunner(
                self.worker, upload_url=self.config.upload_url, webhook_sender=WebhookSender(),
                queue_size=self.config.queue_size, concurrency=self.config.concurrency,
                schema=getattr(self.worker, "schema", None), mode=self.config.mode,
                input_dir=self.config.input_dir,
            )
            _touch_k8s_ready()
        else:
            setup = getattr(self.worker, "setup", None)
            log.error("setup failed (state %s): %s", state, getattr(setup, "error", None) or "see setup logs")
            if not self.config.await_explicit_shutdown:
                self._exit_code = 1
                self.begin_shutdown("setup failed")


async def serve(config: ServerConfig, worker: Any, ready: asyncio.Future[None] | None = None,
                started: asyncio.Future[Any] | None = None) -> int:
    """Run the server until shutdown; returns the process exit code.

    `started` is the worker's start() if the caller already launched it (to boot the child
    while this process imports aiohttp).
    """
    import_http_stack()
    from aiohttp import web

    from cogkit.runtime import netpolicy

    netpolicy.configure(netpolicy.NetworkPolicy.build(config.deny_networks, config.deny_private))
    server = Server(config, worker)
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
        await _stop_worker(worker)
        from cogkit.errors import CogkitError

        raise CogkitError(f"Port {config.port} is already in use ({exc.strerror})",
                          "stop the other server or set PORT to a free port") from None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.on_sigterm)
    loop.add_signal_handler(signal.SIGINT, server.begin_shutdown, "SIGINT")
    setup_task = loop.create_task(server.setup_worker(started))
    setup_task.add_done_callback(_gc_after_startup)
    if ready is not None and not ready.done():
        ready.set_result(None)
    await server.shutdown_event.wait()
    if not setup_task.done():
        setup_task.cancel()
    await server.drain()
    await app_runner.cleanup()
    await _stop_worker(worker)
    from cogkit.runtime import httpclient

    await httpclient.close()
    return server._exit_code


def _gc_after_startup(_task: object) -> None:
    """Re-enable GC after start-up; frozen start-up objects are never scanned again (fewer pauses)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


async def _stop_worker(worker: Any) -> None:
    try:
        await asyncio.wait_for(worker.stop(), 10)
    except Exception as exc:
        log.warning("stopping the worker: %s", exc)


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


def _touch_k8s_ready() -> None:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            os.makedirs("/var/run/cog", exist_ok=True)
            open("/var/run/cog/ready", "a").close()
        except OSError as exc:
            log.warning("cannot write readiness file: %s", exc)


def make_worker(config: ServerConfig) -> Any:
    from cogkit.runtime.worker import Worker

    return Worker(predictor_ref=config.predictor_ref, mode=config.mode, concurrency=config.concurrency,
                  cwd=config.cwd)


def config_from_args(args: argparse.Namespace, cwd: str | None = None) -> ServerConfig:
    cwd = cwd or os.getcwd()
    if args.predictor:
        os.environ.setdefault("COG_PREDICTOR" if args.mode == "predict" else "COG_TRAINER", args.predictor)
    ref, concurrency = read_predictor_config(cwd, args.mode)
    if args.predictor:
        ref = args.predictor
    port = args.port if args.port is not None else int(os.environ.get("PORT", "5000"))
    from cogkit.runtime.netpolicy import NetworkPolicy

    NetworkPolicy.build(args.deny_networks, bool(args.deny_private))  # a bad range fails here, in one line
    input_dir = os.path.realpath(args.input_dir) if args.input_dir else None
    if input_dir is not None and not os.path.isdir(input_dir):
        from cogkit.errors import ConfigError

        raise ConfigError(f"--input-dir {args.input_dir} is not a directory")
    return ServerConfig(host=args.host, port=port, mode=args.mode, predictor_ref=ref,
                        concurrency=concurrency, upload_url=args.upload_url,
                        await_explicit_shutdown=bool(args.await_explicit_shutdown),
                        queue_size=args.queue_size, body_limit=args.body_limit,
                        shutdown_grace=args.shutdown_grace, cwd=cwd, deny_networks=args.deny_networks,
                        deny_private=bool(args.deny_private), input_dir=input_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m cog.server.http` and `cogkit serve --local`."""
    import gc

    from cogkit.errors import CogkitError

    # Start-up allocates ~100k long-lived objects (imports); collecting them repeatedly costs
    # ~10 ms. GC is switched back on, with those objects frozen, once the model is READY.
    gc.disable()
    args = parse_args(argv)
    level = os.environ.get("COG_LOG_LEVEL", "DEBUG" if args.verbose else "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        config = config_from_args(args)
        return asyncio.run(_main_async(config))
    except CogkitError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


async def _main_async(config: ServerConfig) -> int:
    worker = make_worker(config)
    # Spawn the predictor child first (start() runs up to its first await), so it boots while
    # this process imports aiohttp.
    started = asyncio.get_running_loop().create_task(worker.start())
    await asyncio.sleep(0)
    return await serve(config, worker, started=started)


if __name__ == "__main__":
    sys.exit(main())
