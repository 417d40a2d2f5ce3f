"""Framing of the worker's msgpack messages (pure logic: any chunking yields the same frames)."""

from __future__ import annotations

import pathlib
import random
import socket

import pytest

from cogkit.runtime import ipc


def test_frames_survive_any_chunking() -> None:
    encoder = ipc.FrameEncoder()
    messages = [
        ipc.LogFrame("a", "x" * n, "stderr" if n % 2 else "stdout") for n in (0, 1, 5, 70_000, 3)
    ] + [
        ipc.DoneFrame("a", "succeeded", {"file": pathlib.Path("/tmp/out.png"), "n": [1, 2]}, True),
        ipc.ChunkFrame("b", [pathlib.Path("/a"), "text", 1.5, None]),
        ipc.SetupFrame("succeeded", schema={"openapi": "3.0.2"}, is_async=True),
    ]
    stream = b"".join(encoder.encode(m) for m in messages)
    decoder = ipc.parent_decoder()
    rng = random.Random(4)
    for _ in range(50):
        reader = ipc.FrameBuffer()
        frames: list[bytes] = []
        pos = 0
        while pos < len(stream):
            step = rng.choice((1, 3, 4, 5, 100, 4096, 100_000))
            frames += reader.feed(stream[pos : pos + step])
            pos += step
        assert [decoder.decode(f) for f in frames] == messages


def test_paths_travel_as_extension_values() -> None:
    frame = ipc.FrameEncoder().encode(ipc.ChunkFrame("p", pathlib.Path("/tmp/ünïcode name.txt")))
    decoded = ipc.parent_decoder().decode(ipc.FrameBuffer().feed(frame)[0])
    assert decoded.value == pathlib.Path("/tmp/ünïcode name.txt")
    assert isinstance(decoded.value, pathlib.Path)
    predict = ipc.FrameEncoder().encode(ipc.Predict("p", {"image": pathlib.Path("/in.png")}, None, 7))
    msg = ipc.child_decoder().decode(ipc.FrameBuffer().feed(predict)[0])
    assert msg.input == {"image": pathlib.Path("/in.png")} and msg.seq == 7


def test_unencodable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        ipc.FrameEncoder().encode(ipc.ChunkFrame("p", object()))


def test_blocking_reads_of_frames() -> None:
    left, right = socket.socketpair()
    with left, right:
        encoder = ipc.FrameEncoder()
        left.sendall(encoder.encode(ipc.Cancel("a", 3)) + encoder.encode(ipc.Shutdown()))
        left.shutdown(socket.SHUT_WR)
        assert ipc.cancel_decoder().decode(ipc.recv_frame(right)) == ipc.Cancel("a", 3)
        assert isinstance(ipc.child_decoder().decode(ipc.recv_frame(right)), ipc.Shutdown)
        assert ipc.recv_frame(right) is None
