"""Connections to a builder: gRPC channels and raw upgraded sockets.

grpcio cannot adopt an already-connected (hijacked) socket, so for dockerd we run a tiny in-process
splice proxy on a private abstract unix socket: every connection grpcio opens to it is forwarded to
a fresh `POST /grpc` (Upgrade: h2c) on the docker socket. Abstract sockets vanish with the process,
so an interrupted build never leaves socket files behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import grpc

from cogkit.buildkit.address import BuilderAddress
from cogkit.buildkit.errors import EngineUnreachable
from cogkit.errors import EngineError

# Generous limits: Definitions and image configs can be big; dockerd itself caps at 4 MiB.
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.enable_http_proxy", 0),
]

_PUMP_CHUNK = 1 << 20
_TRANSIENT = (ConnectionRefusedError, ConnectionResetError, TimeoutError, BlockingIOError)


def engine_unreachable(address: BuilderAddress, reason: str) -> EngineUnreachable:
    """The one error every failed connection turns into: where we tried and how to start an engine."""
    return EngineUnreachable(address, reason)


def _raw_dial(address: BuilderAddress, timeout: float) -> socket.socket:
    if address.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = address.path
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in (address.host or "") else socket.AF_INET)
        target = (address.host, address.port)
    sock.settimeout(timeout)
    try:
        sock.connect(target)  # type: ignore[arg-type]
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def dial(address: BuilderAddress, timeout: float = 5.0) -> socket.socket:
    """Connect a plain socket to the engine, retrying briefly on transient refusals.

    tenacity is imported only for a retry: a connection that works at once (every build dials
    two or three times) does not pay its import."""
    try:
        return _raw_dial(address, timeout)
    except _TRANSIENT:
        pass
    except OSError as exc:
        raise engine_unreachable(address, exc.strerror or str(exc) or type(exc).__name__) from None
    import tenacity

    time.sleep(0.1)  # then 0.2 s: three tries in all, as one Retrying with wait_exponential(0.1) had
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_TRANSIENT),
        stop=tenacity.stop_after_attempt(2),
        wait=tenacity.wait_exponential(multiplier=0.2, max=1.0),
        reraise=True,
    )
    try:
        return retrying(_raw_dial, address, timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise engine_unreachable(address, reason) from None


def _send_request(
    sock: socket.socket, method: str, path: str, headers: Iterable[tuple[str, str]], what: str
) -> tuple[str, bytes]:
    """Send a body-less HTTP/1.1 request; return the status line and the bytes after the head.

    `what` names the request in errors ("/session upgrade", "DELETE /images/…").
    """
    lines = [f"{method} {path} HTTP/1.1", "Host: docker", *(f"{k}: {v}" for k, v in headers)]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed during {what}")
        buf += chunk
        if len(buf) > 1 << 16:
            raise ConnectionError(f"oversized response to {what}")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("latin-1", "replace"), rest


def http_upgrade(
    sock: socket.socket, path: str, headers: Iterable[tuple[str, str]] = (), proto: str = "h2c"
) -> bytes:
    """Send `POST path` with Upgrade, wait for 101; return bytes that arrived after the header.

    Those leftover bytes matter: the server's HTTP/2 SETTINGS frame often shares the first read.
    """
    upgrade = [("Connection", "Upgrade"), ("Upgrade", proto), *headers]
    status, rest = _send_request(sock, "POST", path, upgrade, f"{path} upgrade")
    if " 101 " not in status + " ":
        raise ConnectionError(f"{path} upgrade refused: {status}")
    return rest


def docker_request(address: BuilderAddress, method: str, path: str, timeout: float = 10.0) -> int:
    """One body-less Docker Engine API call (e.g. DELETE /images/ID); returns the HTTP status."""
    sock = dial(address, timeout=timeout)
    try:
        sock.settimeout(timeout)
        status, _ = _send_request(sock, method, path, [("Connection", "close")], f"{method} {path}")
        return int(status.split(" ", 2)[1])
    finally:
        sock.close()


def _pump_one_way(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(_PUMP_CHUNK)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class Splice:
    """Two sockets joined both ways until either side closes; close() tears it down."""

    def __init__(self, a: socket.socket, b: socket.socket, name: str = "splice") -> None:
        self._a, self._b = a, b
        self._threads = [
            threading.Thread(target=_pump_one_way, args=(a, b), name=f"{name}-up", daemon=True),
            threading.Thread(target=_pump_one_way, args=(b, a), name=f"{name}-down", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._reaper = threading.Thread(target=self._reap, name=f"{name}-reap", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        for t in self._threads:
            t.join()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for s in (self._a, self._b):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        for s in (self._a, self._b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._close_sockets()

    def join(self, timeout: float | None = None) -> None:
        self._reaper.join(timeout)


class UpgradeProxy:
    """Listen on an abstract unix socket; splice each connection into an upgraded engine socket."""

    def __init__(
        self, connect_upstream: Callable[[], tuple[socket.socket, bytes]], name: str = "cogkit-proxy"
    ) -> None:
        self._connect_upstream = connect_upstream
        self.abstract_name = f"{name}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind("\0" + self.abstract_name)
        self._listener.listen(16)
        self._splices: list[Splice] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def grpc_target(self) -> str:
        return f"unix-abstract:{self.abstract_name}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            upstream, leftover = self._connect_upstream()
            # Bytes read past the 101 header (often the server's SETTINGS frame) go first.
            if leftover:
                client.sendall(leftover)
        except (OSError, ConnectionError, EngineError):
            with contextlib.suppress(OSError):
                client.close()
            return
        with self._lock:
            if self._closed:
                upstream.close()
                client.close()
                return
            self._splices.append(Splice(client, upstream, name="grpc-proxy"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            splices, self._splices = self._splices, []
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        for s in splices:
            s.close()


def upgraded_docker_socket(
    address: BuilderAddress, path: str, headers: Iterable[tuple[str, str]] = ()
) -> tuple[socket.socket, bytes]:
    """Dial dockerd and upgrade `path` (/grpc or /session); return the socket and leftover bytes."""
    sock = dial(address)
    try:
        leftover = http_upgrade(sock, path, headers)
    except (OSError, ConnectionError) as exc:
        sock.close()
        raise engine_unreachable(address, f"{path} upgrade failed: {exc}") from None
    return sock, leftover


def _docker_grpc_upstream(address: BuilderAddress) -> Callable[[], tuple[socket.socket, bytes]]:
    def connect() -> tuple[socket.socket, bytes]:
        return upgraded_docker_socket(address, "/grpc")

    return connect


class Connection:
    """An open gRPC channel to a builder plus whatever keeps it alive (the docker proxy)."""

    def __init__(self, address: BuilderAddress, channel: grpc.Channel, proxy: UpgradeProxy | None) -> None:
        self.address = address
        self.channel = channel
        self._proxy = proxy

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        if self._proxy is not None:
            self._proxy.close()


def _secure_channel(address: BuilderAddress) -> grpc.Channel:
    assert address.tls is not None
    ca, key, cert = address.tls.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    options = list(CHANNEL_OPTIONS)
    if address.tls.server_name:
        options.append(("grpc.ssl_target_name_override", address.tls.server_name))
        options.append(("grpc.default_authority", address.tls.server_name))
    return grpc.secure_channel(f"{address.host}:{address.port}", creds, options=options)


def open_connection(address: BuilderAddress, timeout: float = 10.0) -> Connection:
    """Open a ready gRPC channel to the builder, or raise EngineError naming the address."""
    proxy: UpgradeProxy | None = None
    if address.is_docker:
        # Fail fast with a clear message before grpcio would retry silently.
        probe, _ = upgraded_docker_socket(address, "/grpc")
        probe.close()
        proxy = UpgradeProxy(_docker_grpc_upstream(address))
        channel = grpc.insecure_channel(proxy.grpc_target, options=CHANNEL_OPTIONS)
    else:
        # A plain dial first: a refused or missing socket becomes a clear error at once,
        # instead of grpcio's silent reconnect loop running into the timeout.
        dial(address, timeout=timeout).close()
        if address.kind == "unix":
            channel = grpc.insecure_channel(f"unix://{address.path}", options=CHANNEL_OPTIONS)
        elif address.tls is not None:
            channel = _secure_channel(address)
        else:
            channel = grpc.insecure_channel(f"{address.host}:{address.port}", options=CHANNEL_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        if proxy is not None:
            proxy.close()
        raise engine_unreachable(address, f"no gRPC connection within {timeout:.0f}s") from None
    except BaseException:
        channel.close()
        if proxy is not None:
            proxy.close()
        raise
    return Connection(address, channel, proxy)
