"""The session's HTTP/2 gRPC server against a real grpcio client over a real unix socket."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import grpc
import pytest

from cogkit.buildkit.session.h2grpc import NOT_FOUND, H2GrpcConnection, RpcError, ServerStream
from cogkit.buildkit.session.server import MessagePipe


def _echo_upper(request: bytes, metadata: list[tuple[str, str]]) -> bytes:
    if request == b"missing":
        raise RpcError(NOT_FOUND, "no such thing: missing")
    tag = dict(metadata).get("x-tag", "")
    return request.upper() + tag.encode()


def _stream(stream: ServerStream) -> None:
    """Echo every request; a request b"big:N" answers with N bytes (forces flow control)."""
    while (message := stream.recv()) is not None:
        if message.startswith(b"big:"):
            stream.send(b"z" * int(message[4:]))
        else:
            stream.send(message)
    stream.send(b"done")


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    name = f"cogkit-test-h2-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind("\0" + name)
    listener.listen(1)
    connections: list[H2GrpcConnection] = []

    def accept() -> None:
        sock, _ = listener.accept()
        connections.append(H2GrpcConnection(sock, {"/t.S/Unary": _echo_upper}, {"/t.S/Stream": _stream}))

    threading.Thread(target=accept, daemon=True).start()
    ch = grpc.insecure_channel(
        f"unix-abstract:{name}", options=[("grpc.max_receive_message_length", 64 << 20)]
    )
    yield ch
    ch.close()
    for c in connections:
        c.close()
    listener.close()


def _ident(b: bytes) -> bytes:
    return b


def test_unary_ok_error_and_unknown_method(channel: grpc.Channel) -> None:
    unary = channel.unary_unary("/t.S/Unary", request_serializer=_ident, response_deserializer=_ident)
    assert unary(b"abc", metadata=[("x-tag", "!")]) == b"ABC!"
    with pytest.raises(grpc.RpcError) as info:
        unary(b"missing")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "missing" in info.value.details()
    other = channel.unary_unary("/t.S/Nope", request_serializer=_ident, response_deserializer=_ident)
    with pytest.raises(grpc.RpcError) as info:
        other(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_bidi_stream_many_small_messages_and_one_beyond_every_window(channel: grpc.Channel) -> None:
    stream = channel.stream_stream("/t.S/Stream", request_serializer=_ident, response_deserializer=_ident)
    requests = [f"m{i}".encode() for i in range(5000)] + [b"big:20971520", b"", b"tail"]
    responses = list(stream(iter(requests)))
    assert responses[:5000] == requests[:5000]
    assert responses[5000] == b"z" * (20 << 20)  # 20 MiB: far beyond the 64 KiB default window
    assert responses[5001:] == [b"", b"tail", b"done"]


def test_control_session_pipe_joins_small_writes_and_splits_big_ones() -> None:
    """Control.Session's pipe: queued writes go out joined and in order, no message over 1 MiB."""
    pipe = MessagePipe()
    sent = [bytes([i]) * 1000 for i in range(100)] + [b"y" * (2 << 20) + b"z"]
    for data in sent:
        pipe.sendall(data)
    pipe.feed(b"from the daemon")
    pipe.close()
    messages = [m.data for m in pipe.outgoing()]
    assert [len(m) for m in messages] == [1 << 20, 1 << 20, 100_000 + 1]
    assert b"".join(messages) == b"".join(sent)
    with pytest.raises(OSError):
        pipe.sendall(b"after close")
    assert pipe.recv(1 << 20) == b"from the daemon"
    assert pipe.recv(1 << 20) == b"" and pipe.recv(1 << 20) == b""  # the end, every time
