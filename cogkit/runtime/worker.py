"""Worker: runs one predictor in an isolated child process and streams prediction events.

The child (`python -m cogkit.runtime.child`) owns everything the user's code can break: a
sys.exit, a segfault or a SIGKILL ends only the child. In-flight predictions then finish with a
clear error and the worker goes DEFUNCT for good (it is not respawned: the server reports
DEFUNCT on /health-check and exits unless told to await an explicit shutdown, as Cog does).

Two socket pairs connect the processes: the data channel (framed msgpack, see ipc.py) and a
cancel channel read by a dedicated thread in the child, so cancellation never queues behind
logs. A sync prediction costs one frame each way (Predict in, Done with the output back).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from cogkit.runtime import ipc
from cogkit.runtime.events import (
    Done,
    Event,
    Log,
    Metric,
    Output,
    OutputChunk,
    SetupResult,
    WorkerState,
)
from cogkit.runtime.pyversions import ASYNC_TIMEOUT
from cogkit.runtime.slots import Busy, Slots

log = logging.getLogger("cogkit.worker")


class WorkerError(Exception):
    """A prediction could not be handed to the worker."""


class WorkerUnavailable(WorkerError):
    """The worker is not READY (still starting, setup failed, defunct or stopped)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()  # noqa: UP017 - the image's Python may be 3.10


def describe_exit(returncode: int | None) -> str:
    """One line saying how the predictor process ended."""
    if returncode is None:
        return "the predictor process closed its channel unexpectedly"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        text = f"the predictor process was killed by {name}"
        if -returncode == signal.SIGKILL:
            text += " (it may have run out of memory)"
        return text
    return f"the predictor process exited unexpectedly with code {returncode}"


MERGE_LIMIT = 1 << 16  # merge unconsumed log text up to ~64 KiB per event: few events, small joins
PARTIAL_LINE_WAIT = 0.05  # seconds an unfinished log line waits for its end before it is handed on


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _PendingLog:
    """Log text not yet handed to the consumer; parts are joined once, when it is consumed."""

    __slots__ = ("source", "parts", "size")

    def __init__(self, source: str, parts: list[str]) -> None:
        self.source = source
        self.parts = parts
        self.size = sum(len(part) for part in parts)


class PredictionEvents:
    """Async iterator over one prediction's events; ends after Done.

    Consecutive Log events that have not been consumed yet are merged, so a slow consumer
    facing a log flood holds a few big strings instead of millions of events.

    A Log is handed on in whole lines, as Cog's are: with PYTHONUNBUFFERED (set in every image)
    print() is several writes, the words and then the newline, and the child's pump may forward
    them as separate frames. Log text whose last line is unfinished waits for the rest, at most
    PARTIAL_LINE_WAIT seconds (a prompt without a newline still shows), and never past the next
    other event (an output, Done): order is kept, and nothing waits once the child is gone. The
    waiting happens here, in the parent, so text the child has sent survives the child's death.
    """

    __slots__ = ("id", "seq", "owns_slot", "_events", "_waiter", "_finished")

    def __init__(self, prediction_id: str, seq: int = 0, owns_slot: bool = False) -> None:
        self.id = prediction_id
        self.seq = seq
        self.owns_slot = owns_slot  # predict() took the slot itself, so the worker releases it
        self._events: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False

    def _push(self, event: Event) -> None:
        events = self._events
        if type(event) is Log:
            last = events[-1] if events else None
            if type(last) is _PendingLog and last.source == event.source and last.size < MERGE_LIMIT:
                last.parts.append(event.text)  # a consumer holding back an unfinished line is woken too
                last.size += len(event.text)
            else:
                events.append(_PendingLog(event.source, [event.text]))  # type: ignore[arg-type]
        else:
            events.append(event)
        if self._waiter is not None:
            _wake(self._waiter)

    def __aiter__(self) -> PredictionEvents:
        return self

    async def __anext__(self) -> Event:
        deadline: float | None = None
        while True:
            while not self._events:
                if self._finished:
                    raise StopAsyncIteration
                await self._wait(None)
            head = self._events[0]
            if type(head) is not _PendingLog or len(self._events) > 1 or head.size >= MERGE_LIMIT:
                break  # not a log, or another event follows it, or too much text to hold back
            text = "".join(head.parts)
            cut = max(text.rfind("\n"), text.rfind("\r")) + 1
            if cut == len(text):  # ends with its line: the usual case
                self._events.popleft()
                return Log(text, head.source)
            if cut:  # hand on the whole lines; the unfinished end waits for the rest
                head.parts, head.size = [text[cut:]], len(text) - cut
                return Log(text[:cut], head.source)
            head.parts = [text]  # joined once, however many pieces come while it waits
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + PARTIAL_LINE_WAIT
            if loop.time() >= deadline:
                break
            await self._wait(deadline - loop.time())
        event = self._events.popleft()
        if type(event) is _PendingLog:
            return Log("".join(event.parts), event.source)  # type: ignore[attr-defined]
        if type(event) is Done:
            self._finished = True
        return event

    async def _wait(self, timeout: float | None) -> None:
        """Until the next push, or `timeout` seconds."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


class _DataProtocol(asyncio.Protocol):
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def data_received(self, data: bytes) -> None:
        self._worker._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker._on_channel_closed()


class Worker:
    """One predictor child process; see docs/contracts.md for the contract."""

    def __init__(
        self,
        predictor_ref: str,
        mode: str = "predict",
        concurrency: int = 1,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        python: str | None = None,
        setup_timeout: float | None = None,
    ) -> None:
        """`setup_timeout` (seconds; default $COG_SETUP_TIMEOUT, else none) kills a setup that hangs."""
        if mode not in ("predict", "train"):
            raise ValueError(f"mode must be 'predict' or 'train', not {mode!r}")
        self.predictor_ref = predictor_ref
        self.mode = mode
        self.concurrency = max(1, int(concurrency))
        self.slots = Slots(self.concurrency)  # the one count of capacity (see cogkit.runtime.slots)
        self.cwd = cwd
        self.env = env
        self.python = python or sys.executable
        if setup_timeout is None and os.environ.get("COG_SETUP_TIMEOUT"):
            setup_timeout = float(os.environ["COG_SETUP_TIMEOUT"])
        self.setup_timeout = setup_timeout
        self._timed_out = False
        self.setup: SetupResult | None = None
        self.schema: dict[str, Any] | None = None  # runtime OpenAPI document (from the child)
        self.schema_error: str | None = None
        self.is_async = False
        self.has_healthcheck = False  # the predictor defines healthcheck() (sync or async)
        self._health: asyncio.Future[str | None] | None = None  # the one healthcheck in flight
        self._health_seq = 0
        self.returncode: int | None = None
        self._state: str = WorkerState.STARTING
        self._proc: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._cancel_sock: socket.socket | None = None
        self._streams: dict[str, PredictionEvents] = {}
        self._frames = ipc.FrameBuffer()
        self._decoder = ipc.parent_decoder()
        self._encoder = ipc.FrameEncoder()
        self._setup_logs: list[str] = []
        self._setup_started = ""
        self._setup_done: asyncio.Future[SetupResult] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._channel_closed = False
        self._stopping = False
        self._finalized = False
        self._leftover_fds: dict[int, str] = {}
        self._seq = 0
        self.output_dir: str | None = None  # where File outputs are spilled (see stop())

    # --- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        if self._state == WorkerState.READY and self.slots.full:
            return WorkerState.BUSY
        return self._state

    @property
    def setup_snapshot(self) -> SetupResult | None:
        """The setup result, or while setup still runs its logs so far (status "starting"), so
        /health-check can show a long setup's progress; None before start()."""
        if self.setup is not None or not self._setup_started:
            return self.setup
        return SetupResult(status="starting", logs="".join(self._setup_logs), started_at=self._setup_started,
                           completed_at=None)

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    @property
    def has_capacity(self) -> bool:
        return self._state == WorkerState.READY and not self.slots.full

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> SetupResult:
        """Spawn the child and wait until setup() succeeded or failed."""
        if self._proc is not None:
            raise RuntimeError("worker already started")
        loop = asyncio.get_running_loop()
        data_parent, data_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cancel_parent, cancel_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The child reads these pipes itself (ordered with its frames); we keep the read ends
        # only to recover output that was still in flight when the child died.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._leftover_fds = {out_r: "stdout", err_r: "stderr"}
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        # File-object outputs are written here by the child; removed by stop().
        self.output_dir = tempfile.mkdtemp(prefix="cogkit-out-")
        env["COGKIT_OUTPUT_DIR"] = self.output_dir
        argv = [
            self.python, "-m", "cogkit.runtime.child",
            "--data-fd", str(data_child.fileno()),
            "--cancel-fd", str(cancel_child.fileno()),
            "--ref", self.predictor_ref,
            "--mode", self.mode,
            "--concurrency", str(self.concurrency),
            "--stdout-pipe", f"{out_r},{out_w}",
            "--stderr-pipe", f"{err_r},{err_w}",
        ]  # fmt: skip
        self._setup_started = _now()
        self._setup_done = loop.create_future()
        self._exited = loop.create_future()
        try:
            self._proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                pass_fds=(data_child.fileno(), cancel_child.fileno(), out_r, out_w, err_r, err_w),
                start_new_session=True,  # its own process group: stop() reaps user subprocesses too
            )
        finally:
            data_child.close()
            cancel_child.close()
            os.close(out_w)
            os.close(err_w)
            for fd in (out_r, err_r):
                os.set_blocking(fd, False)
        self._cancel_sock = cancel_parent
        transport, _ = await loop.create_unix_connection(lambda: _DataProtocol(self), sock=data_parent)
        self._transport = transport
        self._watch_exit(loop)
        if self.setup_timeout is None:
            return await asyncio.shield(self._setup_done)
        try:
            return await asyncio.wait_for(asyncio.shield(self._setup_done), self.setup_timeout)
        except ASYNC_TIMEOUT:
            self._timed_out = True
            self._kill()
            return await asyncio.shield(self._setup_done)

    def _watch_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        proc = self._proc
        assert proc is not None
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            waiter = loop.run_in_executor(None, proc.wait)
            waiter.add_done_callback(lambda f: self._on_exit(f.result()))
            return

        def on_pidfd() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._on_exit(proc.wait())

        loop.add_reader(pidfd, on_pidfd)

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to finish its work and exit; kill it (and its subprocesses) after `timeout`."""
        proc = self._proc
        if proc is None or self._exited is None:
            return
        self._stopping = True
        if not self._exited.done():
            if self._transport is not None and not self._channel_closed:
                self._transport.write(self._encoder.encode(ipc.Shutdown()))
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), timeout)
            except ASYNC_TIMEOUT:
                self._kill()
                await self._exited
        if self._transport is not None:
            self._transport.close()
        if self._cancel_sock is not None:
            self._cancel_sock.close()
        self._close_leftover_fds()
        if self.output_dir:
            shutil.rmtree(self.output_dir, ignore_errors=True)

    def _close_leftover_fds(self) -> None:
        fds, self._leftover_fds = self._leftover_fds, {}
        for fd in fds:
            os.close(fd)

    def _last_words(self) -> list[Log]:
        """Output the dead child wrote but could not forward (e.g. a print right before SIGKILL)."""
        logs = []
        for fd, source in self._leftover_fds.items():
            chunks = []
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                chunks.append(data)
            if chunks:
                logs.append(Log(b"".join(chunks).decode("utf-8", "replace"), source))
        self._close_leftover_fds()
        return logs

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), lambda: proc.kill()):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass

    # --- predictions ---------------------------------------------------------------------------
    def predict(
        self,
        prediction_id: str,
        inputs: dict[str, Any],
        context: dict[str, str] | None = None,
        *,
        slot_held: bool = False,
    ) -> AsyncIterator[Event]:
        """Start a prediction now and return its events (Log*, Output|OutputChunk*, Metric*, Done).

        Takes one of `self.slots` (Busy when none is free) and frees it before Done is delivered,
        so the caller may submit the next prediction right away. With `slot_held=True` the caller
        took the slot already (the runner does, at admission) and releases it itself. Raises
        WorkerUnavailable unless READY.
        """
        if not isinstance(prediction_id, str) or not isinstance(inputs, dict):
            raise TypeError("predict() takes a str prediction id and a dict of inputs")
        if self._stopping:
            raise WorkerUnavailable("the worker is stopping")
        if self._state != WorkerState.READY or self._transport is None:
            raise WorkerUnavailable(f"the worker is {self._state}")
        if not slot_held and self.slots.full:
            raise Busy()
        if prediction_id in self._streams:
            raise WorkerError(f"prediction {prediction_id} is already running")
        if context:
            context = {str(key): str(value) for key, value in context.items()}
        seq = self._seq + 1
        frame = self._encoder.encode(ipc.Predict(prediction_id, inputs, context, seq))  # may raise: no slot
        self._seq = seq
        if not slot_held:
            self.slots.take()
        stream = PredictionEvents(prediction_id, seq, owns_slot=not slot_held)
        self._streams[prediction_id] = stream
        self._transport.write(frame)
        return stream

    async def healthcheck(self, timeout: float = 10.0) -> str | None:
        """Run the predictor's healthcheck(): None when healthy, else the message for
        user_healthcheck_error. Concurrent callers share one call, as coglet coalesces them."""
        if not self.has_healthcheck or self._cancel_sock is None:
            return None
        if self._health is None or self._health.done():
            self._health_seq += 1
            self._health = asyncio.get_running_loop().create_future()
            try:
                self._cancel_sock.sendall(self._encoder.encode(ipc.Healthcheck(self._health_seq)))
            except OSError as exc:
                self._health.set_result(f"Healthcheck error: {exc}")
        pending = self._health
        try:
            return await asyncio.wait_for(asyncio.shield(pending), timeout)
        except ASYNC_TIMEOUT:
            if self._health is pending:
                self._health = None
            return "healthcheck timed out"

    def cancel(self, prediction_id: str) -> bool:
        """Ask the child to cancel a running prediction (own channel); False if it is not running."""
        stream = self._streams.get(prediction_id)
        if stream is None or self._cancel_sock is None:
            return False
        try:
            self._cancel_sock.sendall(self._encoder.encode(ipc.Cancel(prediction_id, stream.seq)))
        except OSError:
            return False
        return True

    # --- incoming frames -----------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        decode = self._decoder.decode
        for payload in self._frames.feed(data):
            msg = decode(payload)
            kind = type(msg)
            if kind is ipc.DoneFrame:
                self._on_done(msg)
            elif kind is ipc.LogFrame:
                self._on_log(msg)
            elif kind is ipc.ChunkFrame:
                stream = self._streams.get(msg.id)
                if stream is not None:
                    stream._push(OutputChunk(msg.value))
            elif kind is ipc.SetupFrame:
                self._on_setup(msg)
            elif kind is ipc.HealthFrame:
                pending = self._health
                if pending is not None and not pending.done() and msg.seq == self._health_seq:
                    pending.set_result(msg.error)

    def _on_done(self, msg: ipc.DoneFrame) -> None:
        stream = self._streams.pop(msg.id, None)
        if stream is None:
            return
        if stream.owns_slot:
            self.slots.release()  # free the slot before anyone sees Done
        if msg.has_output:
            stream._push(Output(msg.output))
        if msg.metrics:
            for name, value in msg.metrics.items():
                stream._push(Metric(name, value))
        stream._push(Done(status=msg.status, error=msg.error, predict_time=msg.predict_time))

    def _on_log(self, msg: ipc.LogFrame) -> None:
        if msg.id is not None:
            stream = self._streams.get(msg.id)
            if stream is not None:
                stream._push(Log(msg.text, msg.source))
                return
        if self.setup is None:
            self._setup_logs.append(msg.text)
            return
        log.info("predictor output outside a prediction: %s", msg.text.rstrip("\n"))

    def _on_setup(self, msg: ipc.SetupFrame) -> None:
        self.schema = msg.schema
        self.schema_error = msg.schema_error
        self.is_async = msg.is_async
        self.has_healthcheck = msg.has_healthcheck
        self._finish_setup(msg.status, msg.error)

    def _finish_setup(self, status: str, error: str | None) -> None:
        if self.setup is not None:
            return
        logs = "".join(self._setup_logs)
        self._setup_logs = []
        self.setup = SetupResult(
            status=status, logs=logs, started_at=self._setup_started, completed_at=_now(), error=error
        )
        self._state = WorkerState.READY if status == "succeeded" else WorkerState.SETUP_FAILED
        if self._setup_done is not None and not self._setup_done.done():
            self._setup_done.set_result(self.setup)

    # --- the child going away ------------------------------------------------------------------
    def _on_channel_closed(self) -> None:
        self._channel_closed = True
        self._transport = None
        if self._exited is not None and self._exited.done():
            self._finalize()
        else:  # the exit is imminent; make sure a child that lingers without its channel dies
            asyncio.get_running_loop().call_later(2.0, self._kill_if_alive)

    def _kill_if_alive(self) -> None:
        if self._exited is not None and not self._exited.done():
            self._kill()

    def _on_exit(self, returncode: int) -> None:
        self.returncode = returncode
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(returncode)
        if self._channel_closed:
            self._finalize()
        else:  # read what the child wrote before dying, then finalize
            asyncio.get_running_loop().call_later(1.0, self._finalize)

    def _finalize(self) -> None:
        if self._finalized:
            return
        self._finalized = True
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)  # leftover user subprocesses
            except (ProcessLookupError, PermissionError):
                pass
        reason = describe_exit(self.returncode)
        last_words = self._last_words()
        if self.setup is None:
            if self._timed_out:
                reason = f"setup did not finish within {self.setup_timeout:g}s and was stopped"
            self._setup_logs.extend(entry.text for entry in last_words)
            self._setup_logs.append(f"{reason}\n")
            self._finish_setup("failed", f"setup did not complete: {reason}")
            return
        if self._state == WorkerState.SETUP_FAILED:
            return
        if not self._stopping or self._streams:
            self._state = WorkerState.DEFUNCT
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            if stream.owns_slot:
                self.slots.release()
            for entry in last_words:
                stream._push(entry)
            stream._push(Done(status="failed", error=f"Prediction failed: {reason}; the worker is defunct"))
        if not self._stopping:
            log.error("%s; worker is DEFUNCT", reason)
