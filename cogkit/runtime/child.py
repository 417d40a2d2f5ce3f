"""The predictor process: `python -m cogkit.runtime.child` (started by cogkit.runtime.worker.Worker).

It captures its own stdout/stderr at the fd level, imports and sets up the predictor, reports
setup, then serves Predict frames: one at a time on the main thread for sync predictors (so a
SIGUSR1 handler can raise CancelationException inside user code), or as asyncio tasks for async
ones (cancelled with task.cancel()). Cancel frames arrive on their own socket, read by a
dedicated thread. Nothing here imports aiohttp or pydantic.
"""

from __future__ import annotations

import contextvars
import faulthandler
import inspect
import io
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import msgspec

from cogkit.runtime import compat_path, ipc
from cogkit.runtime.capture import OutputCapture, RoutedStream
from cogkit.runtime.predictor import (
    InputConversionError,
    LoadedPredictor,
    OutputEncoder,
    check_output,
    load_predictor,
)
from cogkit.runtime.weights import weights_for_setup
from cogkit.schema.signature import TypeSpec

_log_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar("cogkit_log_owner", default=None)


class Channel:
    """The data socket: frames out under a lock (log pump thread and main thread both send)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._encoder = ipc.FrameEncoder()

    def send(self, msg: Any) -> None:
        with self._lock:
            self.sock.sendall(self._encoder.encode_view(msg))  # sent before the buffer is reused


class CancelState:
    """Which prediction runs on the main thread and whether it may be interrupted right now.

    Predictions are identified by the parent's sequence number (Predict.seq), so a cancel that
    crosses the prediction's Done is ignored rather than hitting a later prediction that reuses
    the id. A cancel may also overtake its Predict (they travel on different channels): it is
    kept and honoured when that prediction starts. The SIGUSR1 handler raises
    CancelationException only inside user code; a cancel landing elsewhere (e.g. while a chunk is
    sent) is raised as soon as user code is re-entered, so it is never lost nor corrupts a frame.
    Every repeated cancel is delivered again while user code runs (Cog 0.2x).
    """

    def __init__(self, exc_type: type[BaseException]) -> None:
        self.exc_type = exc_type
        self.lock = threading.Lock()
        self.current = -1  # seq running on the main thread, -1 when idle
        self.last_started = -1
        self.requested: set[int] = set()
        self.in_user_code = False
        self.main_ident = threading.main_thread().ident

    def on_signal(self, _signum: int, _frame: Any) -> None:
        # in_user_code stays set: a repeated cancel raises again, even in the user's cleanup code
        # handling the first one (as coglet re-injects it); the prediction's own try catches either
        if self.in_user_code and self.current in self.requested:
            raise self.exc_type()

    def request(self, seq: int) -> None:
        with self.lock:
            if seq < self.last_started or (seq == self.last_started and self.current != seq):
                return  # already finished: a stale cancel
            self.requested.add(seq)
            running = self.current == seq
        if running and self.main_ident is not None:
            signal.pthread_kill(self.main_ident, signal.SIGUSR1)

    def begin(self, seq: int) -> None:
        with self.lock:
            self.current = seq
            self.last_started = seq

    def end(self) -> None:
        with self.lock:
            self.requested.discard(self.current)
            self.current = -1
            self.in_user_code = False

    def enter(self) -> None:
        """About to run user code: raise now if a cancel already arrived."""
        if self.current in self.requested:
            raise self.exc_type()
        self.in_user_code = True

    def leave(self) -> None:
        self.in_user_code = False


class Child:
    """State shared by setup and the serving loops."""

    def __init__(self, args: ChildArgs) -> None:
        self.args = args
        self.channel = Channel(socket.socket(fileno=args.data_fd))
        self.cancel_sock = socket.socket(fileno=args.cancel_fd)
        self.owner: str | None = None  # prediction blamed for fd-level output
        pipes = {}
        if args.stdout_pipe and args.stderr_pipe:
            pipes = {"stdout": _fd_pair(args.stdout_pipe), "stderr": _fd_pair(args.stderr_pipe)}
        self.capture = OutputCapture(self._on_output, pipes or None)
        faulthandler.enable(file=os.fdopen(self.capture.original_stderr_fd, "w", closefd=False))
        self.predictor: LoadedPredictor | None = None
        self.outputs = OutputEncoder(os.environ.get("COGKIT_OUTPUT_DIR") or None)
        self.on_cancel: Any = lambda _seq: None  # set by the serving loop
        self.loop: Any = None  # the async predictor's event loop, for an async healthcheck()
        self._start_cancel_reader()

    def _on_output(self, text: str, source: str) -> None:
        self.channel.send(ipc.LogFrame(self.owner, text, source))

    # --- setup ---------------------------------------------------------------------------------
    def load(self) -> LoadedPredictor:
        self.predictor = load_predictor(self.args.ref, self.args.mode)
        if self.args.concurrency > 1 and not self.predictor.is_async:
            raise RuntimeError(
                f"concurrency {self.args.concurrency} requires an async {self.args.mode}() function"
            )
        return self.predictor

    def schema(self) -> dict[str, Any] | None:
        predictor = self.predictor
        if predictor is None or predictor.signature is None:
            return None
        try:
            from cogkit.schema import openapi as schema
        except ImportError:  # pragma: no cover - schema module is optional for the worker
            return None
        try:
            return schema.openapi_document(**{predictor.mode: predictor.signature})
        except Exception:  # noqa: BLE001 - a schema problem must not stop the model from serving
            traceback.print_exc()
            return None

    def setup_args(self) -> dict[str, Any]:
        predictor = self.predictor
        assert predictor is not None
        if not predictor.setup_takes_weights:
            return {}
        return {"weights": weights_for_setup(predictor.setup)}

    def report_setup(self, error: str | None, is_async: bool) -> None:
        self.capture.drain()
        if error is not None:
            self.channel.send(ipc.SetupFrame("failed", error=error))
            return
        schema = self.schema()
        schema_error = self.predictor.signature_error if self.predictor is not None else None
        has_healthcheck = self.predictor is not None and self.predictor.healthcheck is not None
        self.channel.send(ipc.SetupFrame("succeeded", schema=schema, is_async=is_async,
                                         schema_error=schema_error, has_healthcheck=has_healthcheck))

    # --- cancel channel ------------------------------------------------------------------------
    def _start_cancel_reader(self) -> None:
        """Read the cancel channel from the start: its EOF also means the parent died (even
        during a long setup), and then this process must not outlive it."""
        decoder = ipc.cancel_decoder()

        def read_cancels() -> None:
            while True:
                try:
                    payload = ipc.recv_frame(self.cancel_sock)
                except OSError:
                    payload = None
                if payload is None:
                    os._exit(0)
                msg = decoder.decode(payload)
                if isinstance(msg, ipc.Healthcheck):  # its own thread: a hanging one blocks no cancel
                    threading.Thread(target=self._answer_healthcheck, args=(msg.seq,), daemon=True).start()
                else:
                    self.on_cancel(msg.seq)

        threading.Thread(target=read_cancels, name="cogkit-cancel", daemon=True).start()

    def _answer_healthcheck(self, seq: int) -> None:
        check = self.predictor.healthcheck if self.predictor is not None else None
        error = run_user_healthcheck(check, self.loop) if check is not None else None
        self.channel.send(ipc.HealthFrame(seq, error))

    # --- one prediction --------------------------------------------------------------------------
    def finish(self, prediction_id: str, status: str, output: Any, has_output: bool, error: str | None,
               predict_time: float, scope: Any) -> None:
        self.capture.drain()
        metrics = scope.metrics or None
        try:
            self.channel.send(
                ipc.DoneFrame(prediction_id, status, output, has_output, error, predict_time, metrics)
            )
        except TypeError as exc:  # an output or metric msgpack cannot carry: fail just this prediction
            self.channel.send(
                ipc.DoneFrame(prediction_id, "failed", error=f"cannot send the result: {exc}",
                              predict_time=predict_time)
            )


HEALTHCHECK_TIMEOUT = 5.0


def run_user_healthcheck(check: Any, loop: Any) -> str | None:
    """Call the predictor's healthcheck() as coglet does: None when healthy, else Cog's message.

    Sync: in a fresh thread, 5 s. Async: on the predictor's loop (or a new one), 5 s. Only a real
    False fails; None, 0 or anything else counts as healthy.
    """
    import asyncio  # only when a healthcheck runs: the child starts without asyncio for sync models
    import concurrent.futures

    timeouts = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)  # distinct on 3.10
    try:
        if inspect.iscoroutinefunction(check):
            coro = asyncio.wait_for(check(), HEALTHCHECK_TIMEOUT)
            if loop is not None and loop.is_running():
                result = asyncio.run_coroutine_threadsafe(coro, loop).result(HEALTHCHECK_TIMEOUT + 1)
            else:
                result = asyncio.run(coro)
        else:
            pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cogkit-healthcheck")
            try:
                result = pool.submit(check).result(HEALTHCHECK_TIMEOUT)
            finally:
                pool.shutdown(wait=False)
    except timeouts:
        return f"Healthcheck failed: user-defined healthcheck timed out after {HEALTHCHECK_TIMEOUT} seconds"
    except Exception as exc:  # noqa: BLE001 - whatever the user's check raises makes it unhealthy
        return f"Healthcheck failed: {type(exc).__name__}: {exc}"
    if result is False:
        return "Healthcheck failed: user-defined healthcheck returned False"
    return None


def _fd_pair(text: str) -> tuple[int, int]:
    read_fd, write_fd = text.split(",")
    return int(read_fd), int(write_fd)


def _close_files(values: dict[str, Any]) -> None:
    for value in values.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, io.IOBase):
                try:
                    item.close()
                except OSError:
                    pass


def _exit_error(mode: str, exc: SystemExit) -> str:
    """Cog 0.2x's text for sys.exit() in predict: the exception and its code; the worker carries on."""
    code = "" if exc.code is None else exc.code
    what = "Prediction" if mode == "predict" else "Training"
    return f"{what} failed: SystemExit: {code}"


def _input_error(exc: InputConversionError) -> str:
    """One line in the logs and the error; no traceback (its frames would all be cogkit's)."""
    print(f"cogkit: {exc}", file=sys.stderr)
    return str(exc)


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _user_frames(te: traceback.TracebackException) -> None:
    """Drop cogkit's and importlib's frames (the loader's machinery), keeping the user's code."""
    own = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep, compat_path() + os.sep)
    kept = [f for f in te.stack
            if not f.filename.startswith(own) and not f.filename.startswith("<frozen importlib")]
    te.stack = traceback.StackSummary.from_list(kept)
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _user_frames(chained)


def report_load_error(exc: BaseException, ref: str) -> None:
    """One line the CLI recognises, then the traceback through the user's files only."""
    from cogkit.runtime.predictor import PredictorLoadError

    if isinstance(exc, PredictorLoadError):
        traceback.print_exception(exc, limit=0)
        return
    path = ref.partition(":")[0]
    print(f"error: importing {path} failed: {type(exc).__name__}: {_error_text(exc)}", file=sys.stderr)
    te = traceback.TracebackException.from_exception(exc)
    _user_frames(te)
    sys.stderr.write("".join(te.format()))
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# sync predictors: the main thread runs one prediction at a time


def serve_sync(child: Child, setup_error: str | None) -> None:
    import cog
    from cog import scope as cog_scope

    state = CancelState(cog.CancelationException)
    signal.signal(signal.SIGUSR1, state.on_signal)
    child.on_cancel = state.request
    child.report_setup(setup_error, is_async=False)
    if setup_error is not None:
        return
    predictor = child.predictor
    assert predictor is not None
    decoder = ipc.child_decoder()
    sock = child.channel.sock
    while True:
        payload = ipc.recv_frame(sock)
        if payload is None:
            return
        msg = decoder.decode(payload)
        if isinstance(msg, ipc.Shutdown):
            return
        run_sync_prediction(child, predictor, state, msg, cog_scope)


def run_sync_prediction(child: Child, predictor: LoadedPredictor, state: CancelState, msg: ipc.Predict,
                        cog_scope: Any) -> None:
    scope = cog_scope.Scope(msg.context)
    token = cog_scope._activate(scope)
    child.owner = msg.id
    state.begin(msg.seq)
    status, output, has_output, error = "succeeded", None, False, None
    inputs: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        inputs = predictor.prepare_inputs(msg.input)
        state.enter()
        try:
            result = predictor.entry(**inputs)
        finally:
            state.leave()
        if inspect.isgenerator(result) or (
            isinstance(result, Iterator) and predictor.output_type is not None
            and predictor.output_type.kind == "iterator"
        ):
            _stream_sync(child, state, msg.id, result, _item_type(predictor))
        else:
            output = child.outputs.encode(check_output(result, predictor.output_type))
            has_output = True
    except state.exc_type:
        status = "canceled"
    except InputConversionError as exc:
        status, error = "failed", _input_error(exc)
    except SystemExit as exc:  # as in Cog 0.2x: fails this prediction, the worker stays usable
        status, error = "failed", _exit_error(predictor.mode, exc)
    except BaseException as exc:  # noqa: BLE001 - any user failure fails only this prediction
        traceback.print_exc()
        status, error = "failed", _error_text(exc)
    predict_time = time.perf_counter() - started
    state.end()
    _close_files(inputs)
    cog_scope._deactivate(token)
    child.finish(msg.id, status, output, has_output, error, predict_time, scope)
    child.owner = None


def _item_type(predictor: LoadedPredictor) -> TypeSpec | None:
    """What each yielded item must be (None when the output is untyped or not an iterator)."""
    spec = predictor.output_type
    if spec is not None and spec.kind == "iterator" and spec.args:
        return spec.args[0]
    return None


def _stream_sync(child: Child, state: CancelState, prediction_id: str, result: Iterator[Any],
                 item_type: TypeSpec | None) -> None:
    iterator = iter(result)
    while True:
        state.enter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            state.leave()
        value = child.outputs.encode(check_output(item, item_type, "yielded item"))
        child.channel.send(ipc.ChunkFrame(prediction_id, value))


# ---------------------------------------------------------------------------------------------
# async predictors: an event loop runs up to `concurrency` predictions as tasks


async def serve_async(child: Child, setup_error: str | None) -> None:
    import asyncio

    from cog import scope as cog_scope

    loop = asyncio.get_running_loop()
    predictor = child.predictor
    if setup_error is None and predictor is not None and predictor.setup is not None:
        try:
            result = predictor.setup(**child.setup_args())
            if inspect.isawaitable(result):
                await result
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            setup_error = f"setup() failed: {_error_text(exc)}"
    tasks: dict[str, asyncio.Task[None]] = {}
    task_by_seq: dict[int, asyncio.Task[None]] = {}
    early_cancels: set[int] = set()  # cancels for predictions whose task has not started yet
    running: set[int] = set()  # seqs whose task body has begun
    highest_seq = -1

    def cancel(seq: int) -> None:
        # A task cancelled before its first step never runs its body (so it would send no Done):
        # such cancels are recorded and honoured by run() itself when it starts.
        if seq in running:
            task_by_seq[seq].cancel()
        elif seq in task_by_seq or seq > highest_seq:
            early_cancels.add(seq)

    child.on_cancel = lambda seq: loop.call_soon_threadsafe(cancel, seq)
    child.loop = loop
    child.report_setup(setup_error, is_async=True)
    if setup_error is not None:
        return
    assert predictor is not None
    routed: list[RoutedStream] = []
    if child.args.concurrency > 1:
        routed = [
            RoutedStream(child.channel.send, _log_owner, "stdout", sys.stdout),
            RoutedStream(child.channel.send, _log_owner, "stderr", sys.stderr),
        ]
        sys.stdout, sys.stderr = routed  # type: ignore[assignment]

    def blame() -> None:
        child.owner = next(iter(tasks)) if len(tasks) == 1 else None

    item_type = _item_type(predictor)

    async def run(msg: ipc.Predict) -> None:
        running.add(msg.seq)
        canceled = msg.seq in early_cancels
        early_cancels.discard(msg.seq)
        _log_owner.set(msg.id)
        scope = cog_scope.Scope(msg.context)
        cog_scope._activate(scope)
        status, output, has_output, error = "succeeded", None, False, None
        inputs: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            if canceled:
                raise asyncio.CancelledError
            inputs = predictor.prepare_inputs(msg.input)
            if inspect.isasyncgenfunction(predictor.entry):
                async for item in predictor.entry(**inputs):
                    value = child.outputs.encode(check_output(item, item_type, "yielded item"))
                    child.channel.send(ipc.ChunkFrame(msg.id, value))
            else:
                result = await predictor.entry(**inputs)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        value = child.outputs.encode(check_output(item, item_type, "yielded item"))
                        child.channel.send(ipc.ChunkFrame(msg.id, value))
                else:
                    output = child.outputs.encode(check_output(result, predictor.output_type))
                    has_output = True
        except asyncio.CancelledError:
            status = "canceled"
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except InputConversionError as exc:
            status, error = "failed", _input_error(exc)
        except SystemExit as exc:
            status, error = "failed", _exit_error(predictor.mode, exc)
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            status, error = "failed", _error_text(exc)
        predict_time = time.perf_counter() - started
        _close_files(inputs)
        for stream in routed:
            stream.flush_owner(msg.id)
        child.finish(msg.id, status, output, has_output, error, predict_time, scope)
        tasks.pop(msg.id, None)
        task_by_seq.pop(msg.seq, None)
        running.discard(msg.seq)
        blame()

    def report_lost(task: asyncio.Task[None], msg: ipc.Predict) -> None:
        """Safety net: a task that ended without reporting still produces a Done (never a hang)."""
        if task_by_seq.get(msg.seq) is not task:
            return  # run() reported and cleaned up
        tasks.pop(msg.id, None)
        task_by_seq.pop(msg.seq, None)
        running.discard(msg.seq)
        status = "canceled" if task.cancelled() else "failed"
        error = None if task.cancelled() else f"internal error: {task.exception()!r}"
        child.channel.send(ipc.DoneFrame(msg.id, status, error=error))
        blame()

    decoder = ipc.child_decoder()
    frames = ipc.FrameBuffer()
    sock = child.channel.sock
    stopped = loop.create_future()

    def on_readable() -> None:
        nonlocal highest_seq
        try:
            data = sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            loop.remove_reader(sock.fileno())
            if not stopped.done():
                stopped.set_result(None)
            return
        for payload in frames.feed(data):
            msg = decoder.decode(payload)
            if isinstance(msg, ipc.Shutdown):
                loop.remove_reader(sock.fileno())
                if not stopped.done():
                    stopped.set_result(None)
                return
            highest_seq = max(highest_seq, msg.seq)
            # a task copies the context it is created in (create_task(context=) is 3.11+)
            task = contextvars.copy_context().run(loop.create_task, run(msg))
            tasks[msg.id] = task
            task_by_seq[msg.seq] = task
            task.add_done_callback(lambda done, msg=msg: report_lost(done, msg))
            blame()

    loop.add_reader(sock.fileno(), on_readable)
    await stopped
    if tasks:
        await asyncio.gather(*tasks.values(), return_exceptions=True)


# ---------------------------------------------------------------------------------------------


class ChildArgs:
    """Command line of the child; parsed by hand because argparse costs ~8 ms of start-up."""

    def __init__(self, argv: list[str]) -> None:
        values = dict(zip(argv[::2], argv[1::2], strict=False))
        unknown = set(values) - {f"--{name}" for name in _ARG_NAMES}
        if len(argv) % 2 or unknown or not {"--data-fd", "--cancel-fd", "--ref"} <= set(values):
            sys.exit(f"usage: python -m cogkit.runtime.child {' '.join(f'--{n} X' for n in _ARG_NAMES)}")
        self.data_fd = int(values["--data-fd"])
        self.cancel_fd = int(values["--cancel-fd"])
        self.ref = values["--ref"]
        self.mode = values.get("--mode", "predict")
        self.concurrency = int(values.get("--concurrency", "1"))
        self.stdout_pipe = values.get("--stdout-pipe", "")
        self.stderr_pipe = values.get("--stderr-pipe", "")


_ARG_NAMES = ("data-fd", "cancel-fd", "ref", "mode", "concurrency", "stdout-pipe", "stderr-pipe")


def main(argv: list[str] | None = None) -> None:
    args = ChildArgs(sys.argv[1:] if argv is None else argv)
    for fd in (args.data_fd, args.cancel_fd):
        os.set_inheritable(fd, False)  # user subprocesses must not hold our channels open
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path.insert(0, compat_path())
    if os.getcwd() not in sys.path:
        sys.path.insert(1, os.getcwd())
    child = Child(args)
    setup_error: str | None = None
    predictor = None
    try:
        predictor = child.load()
    except BaseException as exc:  # noqa: BLE001 - import errors, sys.exit at import, bad refs
        report_load_error(exc, args.ref)
        setup_error = f"failed to load predictor {args.ref}: {_error_text(exc)}"
    if predictor is not None and predictor.is_async:
        import asyncio

        asyncio.run(serve_async(child, setup_error))
        return
    if setup_error is None and predictor is not None and predictor.setup is not None:
        try:
            result = predictor.setup(**child.setup_args())
            if inspect.isawaitable(result):
                import asyncio

                async def _await(awaitable: Any) -> Any:
                    return await awaitable

                asyncio.run(_await(result))
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            setup_error = f"setup() failed: {_error_text(exc)}"
    serve_sync(child, setup_error)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, ConnectionResetError):
        os._exit(0)
    except msgspec.DecodeError as exc:
        sys.__stderr__.write(f"cogkit worker: protocol error: {exc}\n")
        os._exit(2)
