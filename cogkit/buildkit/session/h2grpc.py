"""A minimal gRPC server over one HTTP/2 connection (h2c, prior knowledge), for the session.

Why not grpcio's server: its synchronous streaming waits for every single message's write to
complete before the handler may produce the next (~130 µs each here), and a context sync is
three messages per file. Here handlers write into a buffer that goes out in full HTTP/2 frames,
so thousands of small packets cost a few syscalls. It also serves the daemon directly on the
upgraded socket, with no local listener and no extra splice hop.

Only what the daemon's session client uses: unary calls and bidi streams, identity encoding.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

# grpc status codes used here
OK, CANCELLED, UNKNOWN, NOT_FOUND, UNIMPLEMENTED, INTERNAL = 0, 1, 2, 5, 12, 13

_WINDOW = 16 << 20  # our receive window: the daemon streams exporter output at full speed
_FLUSH_AT = 256 << 10


class BytePipe(Protocol):
    """What the connection needs of its transport: a connected socket, or any stand-in for one."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...
    def shutdown(self, how: int, /) -> None: ...
    def close(self) -> None: ...


class RpcError(Exception):
    """Raised by a handler to end its call with a gRPC status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamClosed(Exception):
    """The peer reset the stream or the connection went away."""


@dataclass
class _Call:
    stream_id: int
    path: str
    metadata: list[tuple[str, str]]
    inbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    pending: bytearray = field(default_factory=bytearray)
    headers_sent: bool = False
    closed: bool = False


class ServerStream:
    """A bidi call as its handler sees it: blocking recv, buffered send, explicit flush."""

    def __init__(self, conn: H2GrpcConnection, call: _Call) -> None:
        self._conn = conn
        self._call = call
        self._out = bytearray()

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return self._call.metadata

    def recv(self) -> bytes | None:
        """The next request message; None once the peer finished sending or the call ended."""
        return self._call.inbox.get()

    def send(self, message: bytes) -> None:
        prefix = b"\x00" + len(message).to_bytes(4, "big")
        if not self._out and len(message) >= _FLUSH_AT:
            self._conn.write(self._call, prefix + message)
            return
        self._out += prefix
        self._out += message
        if len(self._out) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._out:
            data, self._out = bytes(self._out), bytearray()
            self._conn.write(self._call, data)


UnaryHandler = Callable[[bytes, list[tuple[str, str]]], bytes]
StreamHandler = Callable[[ServerStream], None]


class H2GrpcConnection:
    """Serve gRPC calls arriving on one connected socket (or pipe) until either side closes it."""

    def __init__(
        self,
        sock: BytePipe,
        unary: dict[str, UnaryHandler],
        streams: dict[str, StreamHandler],
        leftover: bytes = b"",
        name: str = "session",
    ) -> None:
        self._sock = sock
        self._unary = unary
        self._streams = streams
        self._leftover = leftover
        self._calls: dict[int, _Call] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._outq: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"{name}-unary")
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW}
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_WINDOW - 65535)
        self._emit()
        self.done = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name=f"{name}-write", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-read", daemon=True)
        self._writer.start()
        self._reader.start()

    # -- socket side --------------------------------------------------------------------------
    def _emit(self) -> None:
        """Queue whatever h2 produced; call with the lock held so bytes keep their order."""
        data = self._h2.data_to_send()
        if data:
            self._outq.put(data)

    def _write_loop(self) -> None:
        while True:
            data = self._outq.get()
            if data is None:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self._shutdown()
                return

    def _read_loop(self) -> None:
        try:
            if self._leftover:
                self._receive(self._leftover)
            while True:
                try:
                    data = self._sock.recv(1 << 20)
                except OSError:
                    break
                if not data or not self._receive(data):
                    break
        finally:
            self._shutdown()

    def _receive(self, data: bytes) -> bool:
        with self._lock:
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError:
                self._emit()
                return False
            keep_going = True
            for event in events:
                keep_going = self._on_event(event) and keep_going
            self._emit()
            self._lock.notify_all()  # window updates may unblock writers
            return keep_going

    def _shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for call in self._calls.values():
                call.closed = True
                call.inbox.put(None)
            self._calls.clear()
            self._lock.notify_all()
        self._outq.put(None)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.done.set()

    def close(self) -> None:
        self._shutdown()

    # -- HTTP/2 events (lock held) ------------------------------------------------------------
    def _on_event(self, event: h2.events.Event) -> bool:
        if isinstance(event, h2.events.RequestReceived):
            self._start_call(event)
        elif isinstance(event, h2.events.DataReceived):
            call = self._calls.get(event.stream_id)
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if call is not None:
                self._take_messages(call, event.data)
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call.inbox.put(None)
                if call.path in self._unary:
                    self._pool.submit(self._run_unary, call)
        elif isinstance(event, h2.events.StreamReset):
            call = self._calls.pop(event.stream_id, None)
            if call is not None:
                call.closed = True
                call.inbox.put(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            return False
        return True

    def _start_call(self, event: h2.events.RequestReceived) -> None:
        headers = [(str(k), str(v)) for k, v in event.headers]
        path = next((v for k, v in headers if k == ":path"), "")
        metadata = [(k, v) for k, v in headers if not k.startswith(":")]
        call = _Call(event.stream_id, path, metadata)
        if path not in self._unary and path not in self._streams:
            self._trailers(call, UNIMPLEMENTED, f"method {path} not implemented by cogkit")
            return
        self._calls[event.stream_id] = call
        if path in self._streams:
            handler = self._streams[path]
            threading.Thread(target=self._run_stream, args=(handler, call), daemon=True).start()

    @staticmethod
    def _take_messages(call: _Call, data: bytes) -> None:
        buf = call.pending
        buf += data
        while len(buf) >= 5:
            size = int.from_bytes(buf[1:5], "big")
            if len(buf) < 5 + size:
                break
            message = bytes(buf[5 : 5 + size])
            del buf[: 5 + size]
            call.inbox.put(message)

    def _trailers(self, call: _Call, code: int, message: str = "") -> None:
        headers: list[tuple[str, str]] = []
        if not call.headers_sent:
            headers += [(":status", "200"), ("content-type", "application/grpc")]
            call.headers_sent = True
        headers.append(("grpc-status", str(code)))
        if message:
            headers.append(("grpc-message", urllib.parse.quote(message, safe=" :/=,.-_'\"()")))
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._h2.send_headers(call.stream_id, headers, end_stream=True)
        self._calls.pop(call.stream_id, None)
        call.closed = True

    # -- handler side -------------------------------------------------------------------------
    def write(self, call: _Call, data: bytes) -> None:
        """Send bytes on a call's stream, honouring HTTP/2 flow control (blocks while no window)."""
        view = memoryview(data)
        pos = 0
        with self._lock:
            while pos < len(view):
                if self._closed or call.closed:
                    raise StreamClosed()
                if not call.headers_sent:
                    self._h2.send_headers(
                        call.stream_id, [(":status", "200"), ("content-type", "application/grpc")]
                    )
                    call.headers_sent = True
                try:
                    window = self._h2.local_flow_control_window(call.stream_id)
                except h2.exceptions.StreamClosedError:
                    raise StreamClosed() from None
                if window <= 0:
                    self._lock.wait(1.0)
                    continue
                frame = self._h2.max_outbound_frame_size
                end = pos + min(window, len(view) - pos)
                while pos < end:
                    step = min(frame, end - pos)
                    self._h2.send_data(call.stream_id, view[pos : pos + step])
                    pos += step
                self._emit()

    def finish(self, call: _Call, code: int = OK, message: str = "") -> None:
        with self._lock:
            if not call.closed and not self._closed:
                self._trailers(call, code, message)
                self._emit()

    def _run_stream(self, handler: StreamHandler, call: _Call) -> None:
        stream = ServerStream(self, call)
        try:
            handler(stream)
            stream.flush()
            self.finish(call)
        except StreamClosed:
            pass
        except RpcError as err:
            with contextlib.suppress(StreamClosed):
                stream.flush()
            self.finish(call, err.code, err.message)
        except Exception as exc:  # noqa: BLE001 - becomes the call's status, as grpcio would do
            self.finish(call, UNKNOWN, f"{type(exc).__name__}: {exc}")

    def _run_unary(self, call: _Call) -> None:
        request = b""
        while True:  # the single request message, already in the inbox
            item = call.inbox.get()
            if item is None:
                break
            request = item
        try:
            response = self._unary[call.path](request, call.metadata)
            self.write(call, b"\x00" + len(response).to_bytes(4, "big") + response)
            self.finish(call)
        except StreamClosed:
            pass
        except RpcError as err:
            self.finish(call, err.code, err.message)
        except Exception as exc:  # noqa: BLE001
            self.finish(call, UNKNOWN, f"{type(exc).__name__}: {exc}")
