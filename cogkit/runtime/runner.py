"""PredictionRunner: the one implementation of predict, cancel, logs, files, metrics and webhooks.

Both transports use it: the aiohttp server (cogkit.runtime.server) and the Redis queue worker.
A transport only translates its wire format into a `PredictionRequest` and the runner's answer
back; everything observable about a prediction lives here, so the two behave identically.

Usage (any asyncio transport)::

    runner = PredictionRunner(worker, upload_url=None, webhook_sender=WebhookSender())
    runner.validate(request)                      # raises InputValidationError -> 422 / failed job
    pred = runner.submit(request, respond_async=True, on_update=cb)   # starts it, returns at once
    pred.response                                 # live PredictionResponse (mutated as events arrive)
    pred.encode()                                 # JSON bytes of the current state
    final = await pred.wait()                     # terminal PredictionResponse
    resp = await runner.run(request)              # sync: runs in the caller's task, returns terminal
    await runner.cancel(prediction_id)            # True if it was in flight
    await runner.drain(grace)                     # graceful shutdown: no new work, wait in-flight

Capacity is the worker's `slots` (cogkit.runtime.slots), the one count of it: a prediction takes
a slot when it is admitted. With `queue_size=0` (Cog's behaviour) a submit beyond it raises `Busy`
(HTTP 409); with `queue_size=N` up to N more wait FIFO for a slot. A slot is released *before* the
prediction's waiters are woken, so a client that waited for its previous response can always
start the next one (coglet releases after responding: spurious 409s).

`on_update(pred, event, data)` is called synchronously for "start", "log" (text), "output"
(chunk, for iterator outputs), "metric" ((name, value)) and "completed" (None); it must not block.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from cogkit.runtime import files, inputurls
from cogkit.runtime.events import Done, Log, Metric, Output, OutputChunk, WorkerAPI, WorkerState
from cogkit.runtime.prediction import Prediction, UpdateCallback
from cogkit.runtime.slots import Busy
from cogkit.runtime.types import (
    CANCELED,
    FAILED,
    TERMINAL_STATUSES,
    PredictionRequest,
    PredictionResponse,
)
from cogkit.runtime.webhooks import WebhookSender
from cogkit.schema import refs
from cogkit.schema.validation import compile_validator

log = logging.getLogger("cogkit.runner")

__all__ = ["Busy", "InputValidationError", "Prediction", "PredictionRunner", "RunnerUnavailable",
           "UpdateCallback"]


class RunnerUnavailable(Exception):
    """Setup has not finished, failed, the worker is defunct, or the runner is draining: 503."""


class InputValidationError(Exception):
    """Input does not match the predictor's schema; `errors` has Cog's 422 `detail` items."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("msg")) for e in errors))
        self.errors = errors


class _CanceledBeforeStart(Exception):
    pass


class PredictionRunner:
    """Drives predictions through a Worker; transport-agnostic (see module docstring)."""

    def __init__(
        self,
        worker: WorkerAPI,
        *,
        upload_url: str | None = None,
        webhook_sender: WebhookSender | None = None,
        queue_size: int = 0,
        schema: dict[str, Any] | None = None,
        mode: str = "predict",
        max_input_file_bytes: int = files.DEFAULT_MAX_INPUT_FILE_BYTES,
        input_dir: str | None = None,
        max_input_files: int | None = None,
    ) -> None:
        self.worker = worker
        self.upload_url = upload_url
        self.webhooks = webhook_sender or WebhookSender()
        self.queue_size = max(0, queue_size)
        # The one count of capacity is the worker's: admission takes one of its slots.
        self.slots = worker.slots
        self.max_input_file_bytes = max_input_file_bytes
        # file inputs: only data/http(s) URLs, or paths in the dir the CLI made for this run
        self.input_dir = input_dir if input_dir is not None else inputurls.input_dir_from_env()
        self.max_input_files = max_input_files or inputurls.max_files_from_env()
        self.mode = mode
        self._inflight: dict[str, Prediction] = {}
        self._accepting = True
        self._counter = 0
        self._id_prefix = f"pred_{os.getpid():x}{int(time.time() * 1000):x}_"
        # Set by the HTTP server for a @cog.streaming model: every prediction keeps an SSE replay
        # ring of this many events (sse.StreamHub; COG_STREAM_HISTORY_CAPACITY), None = no SSE.
        self.stream_capacity: int | None = None
        self.set_schema(schema)

    # ------------------------------------------------------------------ state for health checks
    def set_schema(self, schema: dict[str, Any] | None) -> None:
        """Schema of the predictor (OpenAPI): validates inputs and tells which inputs are files."""
        self.schema = schema
        self._file_single, self._file_many = refs.file_fields(schema, self.mode)
        self._validator = compile_validator(schema, self.mode) if schema is not None else None

    @property
    def busy(self) -> bool:
        return self.slots.full

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def get(self, prediction_id: str) -> Prediction | None:
        return self._inflight.get(prediction_id)

    # ------------------------------------------------------------------------------- admission
    def validate(self, request: PredictionRequest) -> dict[str, Any]:
        """Validated, coerced inputs (unknown keys dropped and logged, as Cog); raises InputValidationError.

        Defaults are not filled in: the predictor applies its own, as with Cog.
        """
        payload = request.input if request.input is not None else {}
        validator = self._validator
        if validator is None:
            return self._check_files(payload)
        result = validator(payload)
        if result.errors:
            raise InputValidationError(result.errors)
        if result.ignored:
            log.warning("ignoring unknown input field(s): %s", ", ".join(sorted(result.ignored)))
        return self._check_files(result.values)

    def _check_files(self, values: dict[str, Any]) -> dict[str, Any]:
        """File inputs must be data/http(s) URLs (or in the CLI's input dir): never a path a client chose."""
        if self._file_single or self._file_many:
            errors = inputurls.check_file_inputs(values, self._file_single, self._file_many,
                                                 input_dir=self.input_dir, max_files=self.max_input_files)
            if errors:
                raise InputValidationError(errors)
        return values

    def _check_available(self) -> None:
        if not self._accepting:
            raise RunnerUnavailable("the server is shutting down")
        state = self.worker.state
        if state not in WorkerState.SERVING:
            if state == WorkerState.STARTING:
                raise RunnerUnavailable("Setup has not finished yet")
            raise RunnerUnavailable(f"the model is not available (worker state {state})")

    def _new(self, request: PredictionRequest, inputs: dict[str, Any] | None,
             on_update: UpdateCallback | None, trace_headers: dict[str, str] | None,
             respond_async: bool) -> Prediction:
        if inputs is None:
            inputs = self.validate(request)
        pid = request.id
        if not pid:
            self._counter += 1
            pid = f"{self._id_prefix}{self._counter:x}"
        shown = None
        if self._validator is not None:
            # Secret inputs as "**********" (the same dict when there are none)
            masked = self._validator.redact(inputs)
            if masked is not inputs:
                shown = masked
        pred = Prediction(request, pid, inputs, shown, respond_async=respond_async, on_update=on_update)
        if self.stream_capacity is not None:
            from cogkit.runtime.sse import StreamHub

            pred.stream = StreamHub(self.stream_capacity)
            pred.add_listener(pred.stream.on_event)
        if request.webhook:
            pred.attach_webhook(self.webhooks.channel(request.webhook, request.webhook_events_filter,
                                                      pred.encode, trace_headers))
        # Take a slot now if one is free: admission is atomic and the 202 already says "processing".
        pred.slot_waiter = self.slots.take_or_wait(self.queue_size)  # raises Busy
        if pred.slot_waiter is None:
            pred.mark_started()
        self._inflight[pid] = pred
        return pred

    def submit(self, request: PredictionRequest, *, inputs: dict[str, Any] | None = None,
               on_update: UpdateCallback | None = None, trace_headers: dict[str, str] | None = None,
               respond_async: bool = True) -> Prediction:
        """Start a prediction in the background and return it at once (the async path).

        A request whose id is already in flight returns that prediction (idempotent PUT).
        Raises InputValidationError, Busy or RunnerUnavailable before anything starts.
        """
        if request.id and (existing := self._inflight.get(request.id)) is not None:
            return existing
        self._check_available()
        pred = self._new(request, inputs, on_update, trace_headers, respond_async)
        asyncio.get_running_loop().create_task(self._execute(pred))
        return pred

    async def run(self, request: PredictionRequest, *, inputs: dict[str, Any] | None = None,
                  on_update: UpdateCallback | None = None,
                  trace_headers: dict[str, str] | None = None) -> PredictionResponse:
        """Run a prediction to completion in the caller's task (the sync path: no extra task hop)."""
        if request.id and (existing := self._inflight.get(request.id)) is not None:
            return await existing.wait()
        self._check_available()
        pred = self._new(request, inputs, on_update, trace_headers, False)
        await self._execute(pred)
        return pred.response

    def start(self, request: PredictionRequest, **kwargs: Any) -> Prediction:
        """Like run() but returns the Prediction first (for SSE): caller awaits `execute(pred)`."""
        if request.id and request.id in self._inflight:
            raise Busy(f"prediction {request.id} is already running")
        self._check_available()
        return self._new(request, kwargs.get("inputs"), kwargs.get("on_update"),
                         kwargs.get("trace_headers"), False)

    async def execute(self, pred: Prediction) -> None:
        await self._execute(pred)

    # ------------------------------------------------------------------------------ cancel
    async def cancel(self, prediction_id: str) -> bool:
        """Request cancellation; True if the prediction was in flight."""
        pred = self._inflight.get(prediction_id)
        if pred is None or pred.done:
            return False
        pred.cancel_requested = True
        waiter = pred.slot_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(_CanceledBeforeStart())
            return True
        try:
            self.worker.cancel(prediction_id)
        except Exception:
            log.exception("worker cancel failed for %s", prediction_id)
        return True

    # --------------------------------------------------------------------------- execution
    async def _execute(self, pred: Prediction) -> None:
        holds_slot = pred.slot_waiter is None
        input_files: files.InputFiles | None = None
        status, error, predict_time = FAILED, None, None
        try:
            if not holds_slot:
                try:
                    await pred.slot_waiter  # type: ignore[misc]
                except _CanceledBeforeStart:
                    status = CANCELED
                    raise
                holds_slot = True
                pred.slot_waiter = None
                pred.mark_started()
            if pred.cancel_requested:
                status = CANCELED
                raise _CanceledBeforeStart()
            pred.begin()
            inputs = pred.inputs
            if self._file_single or self._file_many:
                input_files = files.InputFiles(self.max_input_file_bytes)
                inputs = dict(inputs)
                for key in self._file_many:  # lists are replaced item by item; copy them
                    if isinstance(inputs.get(key), list):
                        inputs[key] = list(inputs[key])
                await input_files.resolve(inputs, self._file_single, self._file_many)
            status, error, predict_time = await self._consume(pred, inputs)
        except _CanceledBeforeStart:
            status = CANCELED
        except asyncio.CancelledError:
            status, error = CANCELED, "the server cancelled the prediction (shutdown)"
            try:
                self.worker.cancel(pred.id)  # do not leave it running in the child
            except Exception:
                pass
            self._finish(pred, status, error, predict_time, holds_slot, input_files)
            raise
        except files.FileUploadError as exc:
            status, error = FAILED, str(exc)
        except Exception as exc:  # input download errors, worker crashes: fail this prediction only
            from cogkit.errors import CogkitError

            status = FAILED
            error = exc.message if isinstance(exc, CogkitError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, CogkitError):
                log.exception("prediction %s failed in the runner", pred.id)
        self._finish(pred, status, error, predict_time, holds_slot, input_files)

    async def _consume(self, pred: Prediction,
                       inputs: dict[str, Any]) -> tuple[str, str | None, float | None]:
        outputs = None
        status, error, predict_time = FAILED, "the worker ended the prediction without a result", None
        for_upload = self.upload_url  # sync predictions too, as Cog >= 0.17 (coglet) does
        async for ev in self.worker.predict(pred.id, inputs, pred.request.context, slot_held=True):
            match ev:
                case Log(text=text, source=source):
                    pred.add_log(text, source)
                case OutputChunk(value=value):
                    if files.has_files(value):
                        if outputs is None:
                            outputs = files.OutputFiles(pred.id, pred.request.output_file_prefix, for_upload,
                                                        pred.started_ns)
                        value = await outputs.convert(value)
                    pred.add_output_item(value)
                case Output(value=value):
                    pred.set_output(value)
                case Metric(name=name, value=value):
                    pred.record_metric(name, value)
                case Done():
                    status = ev.status if ev.status in TERMINAL_STATUSES else FAILED
                    error = ev.error
                    predict_time = ev.predict_time or None
                    break
        output = pred.response.output
        if not pred.iterator_output and files.has_files(output):
            outputs = files.OutputFiles(pred.id, pred.request.output_file_prefix, for_upload, pred.started_ns)
            pred.set_output(await outputs.convert(output))
        return status, error, predict_time

    def _finish(self, pred: Prediction, status: str, error: str | None, predict_time: float | None,
                holds_slot: bool, input_files: files.InputFiles | None) -> None:
        pred.settle(status, error, predict_time)
        if input_files is not None:
            input_files.cleanup()
        # Free capacity *before* anyone waiting on this prediction is woken (no spurious 409).
        self._inflight.pop(pred.id, None)
        if holds_slot:
            self.slots.release()
        elif (waiter := pred.slot_waiter) is not None:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.slots.release()  # handed a slot, then stopped before it could use it
            else:
                self.slots.withdraw(waiter)
        pred.complete()

    # ---------------------------------------------------------------------------- shutdown
    def stop_accepting(self) -> None:
        self._accepting = False

    async def drain(self, timeout: float) -> bool:
        """Stop admitting work and wait up to `timeout` s for in-flight predictions; True if all ended."""
        self._accepting = False
        pending = [p.finished for p in self._inflight.values()]
        if not pending:
            return True
        done, not_done = await asyncio.wait(pending, timeout=timeout)
        return not not_done

    async def cancel_all(self) -> None:
        for pid in list(self._inflight):
            await self.cancel(pid)
