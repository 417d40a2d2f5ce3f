"""Framed msgspec messages between the server process and the predictor child.

Each frame is a 4-byte big-endian length followed by one msgpack-encoded tagged Struct.
Two channels exist: the data channel (predict requests, logs, outputs, results) and the
cancel channel, which carries only Cancel frames and is read by a dedicated thread in the
child, so a backlog of logs on the data channel can never delay a cancellation.

File outputs travel as msgpack extension values holding a local path; the parent decodes
them to `pathlib.Path`, which is how the runner recognises files to upload.
"""

from __future__ import annotations

import os
import pathlib
import socket
import struct
from typing import Any

import msgspec

HEADER = struct.Struct("!I")
MAX_FRAME = 1 << 31
PATH_EXT = 1


# --- parent -> child (data channel) ---------------------------------------------------------
class Predict(msgspec.Struct, tag="predict", array_like=True):
    id: str
    input: dict[str, Any]
    context: dict[str, str] | None = None
    seq: int = 0  # increases per Predict; a Cancel names it, so a late cancel never hits a reused id


class Shutdown(msgspec.Struct, tag="shutdown", array_like=True):
    pass


# --- parent -> child (cancel channel) -------------------------------------------------------
class Cancel(msgspec.Struct, tag="cancel", array_like=True):
    id: str
    seq: int = 0


class Healthcheck(msgspec.Struct, tag="healthcheck", array_like=True):
    """Run the predictor's healthcheck(); on the cancel channel, so it is answered while busy."""

    seq: int = 0


# --- child -> parent ------------------------------------------------------------------------
class LogFrame(msgspec.Struct, tag="log", array_like=True):
    id: str | None  # None: setup, or output no prediction can be blamed for
    text: str
    source: str = "stdout"


class ChunkFrame(msgspec.Struct, tag="chunk", array_like=True):
    id: str
    value: Any


class DoneFrame(msgspec.Struct, tag="done", array_like=True):
    id: str
    status: str
    output: Any = None
    has_output: bool = False
    error: str | None = None
    predict_time: float = 0.0
    metrics: dict[str, Any] | None = None


class SetupFrame(msgspec.Struct, tag="setup", array_like=True):
    status: str
    error: str | None = None
    schema: dict[str, Any] | None = None
    is_async: bool = False
    schema_error: str | None = None
    has_healthcheck: bool = False


class HealthFrame(msgspec.Struct, tag="health", array_like=True):
    seq: int
    error: str | None = None  # None: healthy


ToChild = Predict | Shutdown
ToParent = LogFrame | ChunkFrame | DoneFrame | SetupFrame | HealthFrame


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return msgspec.msgpack.Ext(PATH_EXT, os.fsencode(obj))
    raise TypeError(f"cannot send a {type(obj).__name__} between processes")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == PATH_EXT:
        return pathlib.Path(os.fsdecode(bytes(data)))
    raise msgspec.DecodeError(f"unknown msgpack extension {code}")


class FrameEncoder:
    """Encodes a Struct into one frame, reusing a buffer (one allocation for the result)."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
        self._buf = bytearray(64)

    def encode_view(self, msg: Any) -> bytearray:
        """The frame in the encoder's own buffer: valid until the next call (send it right away)."""
        buf = self._buf
        self._encoder.encode_into(msg, buf, HEADER.size)
        HEADER.pack_into(buf, 0, len(buf) - HEADER.size)
        return buf

    def encode(self, msg: Any) -> bytes:
        """The frame as an independent bytes object (for transports that keep it queued)."""
        return bytes(self.encode_view(msg))


def parent_decoder() -> msgspec.msgpack.Decoder:
    return msgspec.msgpack.Decoder(ToParent, ext_hook=_ext_hook)


def child_decoder() -> msgspec.msgpack.Decoder:
    return msgspec.msgpack.Decoder(ToChild, ext_hook=_ext_hook)


def cancel_decoder() -> msgspec.msgpack.Decoder:
    return msgspec.msgpack.Decoder(Cancel | Healthcheck)


class FrameBuffer:
    """Accumulates bytes from a stream and yields complete frame payloads."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if not buf and len(data) >= HEADER.size and HEADER.unpack_from(data)[0] + HEADER.size == len(data):
            return [data[HEADER.size :]]  # the common case: exactly one whole frame per read
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        with memoryview(buf) as view:
            while end - pos >= HEADER.size:
                (size,) = HEADER.unpack_from(view, pos)
                if end - pos - HEADER.size < size:
                    break
                start = pos + HEADER.size
                frames.append(view[start : start + size].tobytes())
                pos = start + size
        if pos:
            del buf[:pos]
        return frames


def recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Blocking read of exactly `size` bytes; None on EOF."""
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            return None
        chunks += data
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> bytes | None:
    """Blocking read of one frame payload; None when the peer closed the channel."""
    header = recv_exact(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size == 0:
        return b""
    return recv_exact(sock, size)
