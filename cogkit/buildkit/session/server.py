"""The client-side session: the gRPC services the daemon calls back into during a build.

The daemon dials *us* (h2c, prior knowledge) over a byte pipe: dockerd's `POST /session` upgrade,
or `Control.Session` (BytesMessage frames) on a standalone buildkitd. Our small HTTP/2 gRPC
server (h2grpc) serves that pipe directly: on dockerd the upgraded socket itself, on buildkitd
the Control.Session stream's messages (MessagePipe). Every call runs on
its own thread, so Health checks (1 s interval, one miss kills the session on v0.8) are never
starved by big transfers.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import uuid
from collections.abc import Iterator, Mapping

import grpc

from cogkit.buildkit.address import BuilderAddress
from cogkit.buildkit.pb import control_pb2, control_pb2_grpc, health_pb2
from cogkit.buildkit.session.auth import AuthService
from cogkit.buildkit.session.filesync import FileSendService, FileSyncService, SyncStats
from cogkit.buildkit.session.h2grpc import BytePipe, H2GrpcConnection, StreamHandler, UnaryHandler
from cogkit.buildkit.session.secrets import SecretSource, SecretsService
from cogkit.buildkit.transport import upgraded_docker_socket

_SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING).SerializeToString()


def shared_key_for(paths: list[str]) -> str:
    """A stable key per project location: the daemon keys its synced-context cache on it."""
    if not paths:
        return "cogkit"
    common = os.path.commonpath([os.path.realpath(p) for p in paths])
    return hashlib.sha256(common.encode()).hexdigest()[:32]


class MessagePipe:
    """The byte pipe of Control.Session, with the socket methods H2GrpcConnection uses.

    `sendall` queues bytes for the request stream, where `outgoing` joins whatever is queued
    into BytesMessages of up to 1 MiB; `feed` hands the response stream's bytes to `recv`.
    Bounded without a limit of its own: the session's HTTP/2 flow control caps the bytes in flight.
    """

    _MESSAGE_SIZE = 1 << 20

    def __init__(self) -> None:
        self._out: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._in: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._closed = False

    def sendall(self, data: bytes) -> None:
        if self._closed:
            raise OSError("session pipe closed")
        self._out.put(data)

    def recv(self, _size: int) -> bytes:
        """The next bytes the daemon sent; b"" once the stream ended."""
        data = self._in.get()
        if not data:
            self._in.put(b"")  # every later recv sees the end too
        return data

    def feed(self, data: bytes) -> None:
        self._in.put(data)

    def outgoing(self) -> Iterator[control_pb2.BytesMessage]:
        while True:
            data = self._out.get()
            if data is None:
                return
            parts, size = [data], len(data)
            while size < self._MESSAGE_SIZE:
                try:
                    more = self._out.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._out.put(None)
                    break
                parts.append(more)
                size += len(more)
            joined = parts[0] if len(parts) == 1 else b"".join(parts)
            for start in range(0, len(joined), self._MESSAGE_SIZE):  # under gRPC's 4 MiB default limit
                yield control_pb2.BytesMessage(data=joined[start : start + self._MESSAGE_SIZE])

    def shutdown(self, _how: int) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._out.put(None)  # ends the request stream: the daemon sees the session go
            self._in.put(b"")


class Session:
    """One build session: the local server, its services and whatever pipe carries it."""

    def __init__(
        self,
        local_dirs: Mapping[str, str] | None = None,
        secrets: Mapping[str, SecretSource] | None = None,
        output_file: str | None = None,
        name: str = "cogkit",
        shared_key: str | None = None,
        docker_config: str | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.name = name
        self.local_dirs = dict(local_dirs or {})
        self.shared_key = shared_key or shared_key_for(list(self.local_dirs.values()))
        self.filesync = FileSyncService(self.local_dirs)
        self.secrets = SecretsService(secrets or {})
        self.auth = AuthService(docker_config)
        self.filesend = FileSendService(output_file) if output_file else None
        self.health_checks = 0
        self._connections: list[H2GrpcConnection] = []
        self._calls: list[grpc.Future] = []
        self._closed = False

    @property
    def sync_stats(self) -> dict[str, SyncStats]:
        return self.filesync.stats

    def _health(self, request: bytes, metadata: list[tuple[str, str]]) -> bytes:
        self.health_checks += 1
        return _SERVING

    def _handlers(self) -> tuple[dict[str, UnaryHandler], dict[str, StreamHandler]]:
        unary: dict[str, UnaryHandler] = {
            "/grpc.health.v1.Health/Check": self._health,
            "/moby.buildkit.secrets.v1.Secrets/GetSecret": self.secrets.get_secret,
            "/moby.filesync.v1.Auth/Credentials": self.auth.credentials,
            "/moby.filesync.v1.Auth/FetchToken": self.auth.unimplemented,
            "/moby.filesync.v1.Auth/GetTokenAuthority": self.auth.unimplemented,
            "/moby.filesync.v1.Auth/VerifyTokenAuthority": self.auth.unimplemented,
        }
        streams: dict[str, StreamHandler] = {"/moby.filesync.v1.FileSync/DiffCopy": self.filesync.diff_copy}
        if self.filesend is not None:
            streams["/moby.filesync.v1.FileSend/DiffCopy"] = self.filesend.diff_copy
        return unary, streams

    def methods(self) -> list[str]:
        """The gRPC methods we advertise: the daemon only calls what is listed here."""
        out = [
            "/grpc.health.v1.Health/Check",
            "/moby.filesync.v1.FileSync/DiffCopy",
            "/moby.buildkit.secrets.v1.Secrets/GetSecret",
            "/moby.filesync.v1.Auth/Credentials",
            "/moby.filesync.v1.Auth/FetchToken",
            "/moby.filesync.v1.Auth/GetTokenAuthority",
            "/moby.filesync.v1.Auth/VerifyTokenAuthority",
        ]
        if self.filesend is not None:
            out.append("/moby.filesync.v1.FileSend/DiffCopy")
        return out

    def headers(self) -> list[tuple[str, str]]:
        """Session headers (HTTP for /session, lower-cased as gRPC metadata for Control.Session)."""
        out = [
            ("X-Docker-Expose-Session-Uuid", self.id),
            ("X-Docker-Expose-Session-Name", self.name),
            ("X-Docker-Expose-Session-Sharedkey", self.shared_key),
        ]
        out += [("X-Docker-Expose-Session-Grpc-Method", m) for m in self.methods()]
        return out

    def _serve(self, sock: BytePipe, leftover: bytes = b"") -> None:
        unary, streams = self._handlers()
        self._connections.append(H2GrpcConnection(sock, unary, streams, leftover=leftover))

    def attach_docker(self, address: BuilderAddress) -> None:
        """Carry the session over dockerd's `POST /session` upgrade: served right on that socket."""
        remote, leftover = upgraded_docker_socket(address, "/session", self.headers())
        self._serve(remote, leftover)

    def attach_control(self, channel: grpc.Channel) -> None:
        """Carry the session over Control.Session: BytesMessage frames on a bidi stream.

        The HTTP/2 server reads and writes the stream's messages directly (a MessagePipe), with
        no socketpair in between: each byte is copied once less and costs no extra syscalls.
        """
        pipe = MessagePipe()
        self._serve(pipe)
        stub = control_pb2_grpc.ControlStub(channel)
        metadata = [(k.lower(), v) for k, v in self.headers()]
        call = stub.Session(pipe.outgoing(), metadata=metadata)
        self._calls.append(call)

        def incoming() -> None:
            try:
                for message in call:
                    pipe.feed(message.data)
            except grpc.RpcError:
                pass
            finally:
                pipe.feed(b"")

        threading.Thread(target=incoming, name="session-control", daemon=True).start()

    def close(self) -> None:
        """Drop the pipe (the daemon then forgets the session) and end every call."""
        if self._closed:
            return
        self._closed = True
        for call in self._calls:
            call.cancel()
        for connection in self._connections:
            connection.close()
