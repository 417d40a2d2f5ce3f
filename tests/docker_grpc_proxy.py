"""Test-only: expose dockerd's embedded BuildKit gRPC API on a local unix socket.

grpcio cannot adopt an already-upgraded socket, so each grpcio connection to the local socket is
spliced onto a fresh `POST /grpc` + `Upgrade: h2c` connection to the docker socket. Production
transport lives in cogkit/buildkit/transport.py; this helper only lets the proto tests reach a real daemon.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading

UPGRADE_REQUEST = (
    b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n"
)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _upgrade(docker_sock: str) -> tuple[socket.socket, bytes]:
    """Open /grpc on dockerd; return the socket and any bytes that arrived after the 101 header."""
    upstream = socket.socket(socket.AF_UNIX)
    upstream.connect(docker_sock)
    upstream.sendall(UPGRADE_REQUEST)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = upstream.recv(4096)
        if not chunk:
            raise ConnectionError("dockerd closed the /grpc upgrade")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"dockerd refused the /grpc upgrade: {head[:200]!r}")
    return upstream, rest


class DockerGrpcProxy:
    """A unix socket whose every connection is an upgraded dockerd /grpc stream."""

    def __init__(self, docker_sock: str = "/var/run/docker.sock") -> None:
        self.docker_sock = docker_sock
        self._dir = tempfile.mkdtemp(prefix="cogkit-test-grpc-")
        self.path = os.path.join(self._dir, "buildkit.sock")
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream, early = _upgrade(self.docker_sock)
            except OSError:
                client.close()
                continue
            self._open += [client, upstream]
            if early:
                client.sendall(early)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass

    def __enter__(self) -> DockerGrpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
