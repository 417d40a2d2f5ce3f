"""The client-side session: a gRPC server the daemon calls back into during a build.

The daemon dials *us* (h2c, prior knowledge) over a byte pipe: dockerd's `POST /session` upgrade,
or `Control.Session` (BytesMessage frames) on a standalone buildkitd. We serve on a private
abstract unix socket and splice that pipe into it. The thread pool is far larger than the number
of concurrent streams, so Health checks (1 s interval, one miss kills the session on v0.8) are
never starved by big transfers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import grpc

from cogkit.llb.address import BuilderAddress
from cogkit.llb.pb import (
    auth_pb2,
    control_pb2,
    control_pb2_grpc,
    filesync_pb2,
    health_pb2,
    secrets_pb2,
    wire_pb2,
)
from cogkit.llb.session.auth import AuthService
from cogkit.llb.session.filesync import FileSendService, FileSyncService, SyncStats
from cogkit.llb.session.secrets import SecretSource, SecretsService
from cogkit.llb.transport import Splice, upgraded_docker_socket

_SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.so_reuseport", 0),
]


def shared_key_for(paths: list[str]) -> str:
    """A stable key per project location: the daemon keys its synced-context cache on it."""
    if not paths:
        return "cogkit"
    common = os.path.commonpath([os.path.realpath(p) for p in paths])
    return hashlib.sha256(common.encode()).hexdigest()[:32]


def _identity(data: bytes) -> bytes:
    return data


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
        self._abstract = f"cogkit-session-{os.getpid()}-{self.id[:16]}"
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=64, thread_name_prefix="cogkit-session"),
            options=SERVER_OPTIONS,
            maximum_concurrent_rpcs=None,
        )
        self._server.add_generic_rpc_handlers(self._handlers())
        self._server.add_insecure_port(f"unix-abstract:{self._abstract}")
        self._pipes: list[Splice] = []
        self._calls: list[grpc.Future] = []
        self._started = False
        self._closed = False

    @property
    def sync_stats(self) -> dict[str, SyncStats]:
        return self.filesync.stats

    def _health(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> object:
        self.health_checks += 1
        return _SERVING

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        uu, ss = grpc.unary_unary_rpc_method_handler, grpc.stream_stream_rpc_method_handler
        handlers = [
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {
                    "Check": uu(
                        self._health,
                        request_deserializer=health_pb2.HealthCheckRequest.FromString,
                        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "moby.filesync.v1.FileSync",
                {
                    "DiffCopy": ss(
                        self.filesync.diff_copy,
                        request_deserializer=wire_pb2.Packet.FromString,
                        response_serializer=_identity,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "moby.buildkit.secrets.v1.Secrets",
                {
                    "GetSecret": uu(
                        self.secrets.get_secret,
                        request_deserializer=secrets_pb2.GetSecretRequest.FromString,
                        response_serializer=secrets_pb2.GetSecretResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "moby.filesync.v1.Auth",
                {
                    "Credentials": uu(
                        self.auth.credentials,
                        request_deserializer=auth_pb2.CredentialsRequest.FromString,
                        response_serializer=auth_pb2.CredentialsResponse.SerializeToString,
                    ),
                    **{
                        name: uu(self.auth.unimplemented, request_deserializer=_identity)
                        for name in ("FetchToken", "GetTokenAuthority", "VerifyTokenAuthority")
                    },
                },
            ),
        ]
        if self.filesend is not None:
            handlers.append(
                grpc.method_handlers_generic_handler(
                    "moby.filesync.v1.FileSend",
                    {
                        "DiffCopy": ss(
                            self.filesend.diff_copy,
                            request_deserializer=filesync_pb2.BytesMessage.FromString,
                            response_serializer=filesync_pb2.BytesMessage.SerializeToString,
                        )
                    },
                )
            )
        return handlers

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

    def _local_socket(self) -> socket.socket:
        if not self._started:
            self._server.start()
            self._started = True
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect("\0" + self._abstract)
        return sock

    def attach_docker(self, address: BuilderAddress) -> None:
        """Carry the session over dockerd's `POST /session` upgrade: a raw byte splice, the fast path."""
        remote, leftover = upgraded_docker_socket(address, "/session", self.headers())
        local = self._local_socket()
        if leftover:
            local.sendall(leftover)
        self._pipes.append(Splice(remote, local, name="session"))

    def attach_control(self, channel: grpc.Channel) -> None:
        """Carry the session over Control.Session: BytesMessage frames on a bidi stream."""
        local = self._local_socket()
        stub = control_pb2_grpc.ControlStub(channel)
        metadata = [(k.lower(), v) for k, v in self.headers()]

        def outgoing() -> Iterator[control_pb2.BytesMessage]:
            while True:
                try:
                    data = local.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                yield control_pb2.BytesMessage(data=data)

        call = stub.Session(outgoing(), metadata=metadata)
        self._calls.append(call)

        def incoming() -> None:
            try:
                for message in call:
                    local.sendall(message.data)
            except (grpc.RpcError, OSError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    local.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    local.close()

        threading.Thread(target=incoming, name="session-control", daemon=True).start()

    def close(self) -> None:
        """Drop the pipe (the daemon then forgets the session) and stop the server."""
        if self._closed:
            return
        self._closed = True
        for call in self._calls:
            call.cancel()
        for pipe in self._pipes:
            pipe.close()
        if self._started:
            self._server.stop(grace=None).wait(5)
