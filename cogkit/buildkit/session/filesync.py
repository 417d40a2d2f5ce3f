"""FileSync.DiffCopy (our fsutil sender) and FileSend.DiffCopy (exporter output receiver).

The daemon pulls local contexts through DiffCopy: we stream STATs in walk order, then answer its
REQs with DATA chunks. DATA packets are framed by hand: it saves a 1 MiB copy per chunk compared
to building a protobuf message around each chunk, which matters for the throughput target.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from cogkit.buildkit.pb import filesync_pb2, stat_pb2, wire_pb2
from cogkit.buildkit.session.fswalk import Entry, walk
from cogkit.buildkit.session.h2grpc import INTERNAL, NOT_FOUND, RpcError, ServerStream
from cogkit.errors import CogkitError

CHUNK_SIZE = 1 << 20  # well under grpc-go's 4 MiB receive limit on the daemon side

PACKET_STAT = wire_pb2.Packet.PACKET_STAT
PACKET_REQ = wire_pb2.Packet.PACKET_REQ
PACKET_DATA = wire_pb2.Packet.PACKET_DATA
PACKET_FIN = wire_pb2.Packet.PACKET_FIN
PACKET_ERR = wire_pb2.Packet.PACKET_ERR

_END_OF_STATS = b""  # a PACKET_STAT with no stat: every field is a proto3 default
_FIN = wire_pb2.Packet(type=PACKET_FIN).SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def data_packet_header(file_id: int, length: int) -> bytes:
    """Wire bytes of Packet{type=DATA, ID=file_id, data=<length bytes follow>}."""
    head = b"\x08\x02" + (b"\x18" + _varint(file_id) if file_id else b"")  # proto3 omits zeros
    if length:
        head += b"\x22" + _varint(length)
    return head


def stat_packet(entry: Entry) -> bytes:
    stat = stat_pb2.Stat(
        path=entry.path,
        mode=entry.mode,
        size=entry.size,
        modTime=entry.mtime_ns,
        linkname=entry.linkname,
        devmajor=entry.devmajor,
        devminor=entry.devminor,
    )
    return wire_pb2.Packet(type=PACKET_STAT, stat=stat).SerializeToString(deterministic=True)


def error_packet(message: str) -> bytes:
    return wire_pb2.Packet(type=PACKET_ERR, data=message.encode()).SerializeToString()


@dataclass
class SyncStats:
    """What crossed the session for one local dir: the proof that rebuilds send only changes."""

    stats_sent: int = 0
    files_sent: list[str] = field(default_factory=list)
    bytes_sent: int = 0


def _metadata_values(metadata: tuple[tuple[str, str | bytes], ...], key: str) -> list[str]:
    values = [v.decode() if isinstance(v, bytes) else v for k, v in metadata if k == key]
    encoded = any(k == key + "-encoded" for k, _ in metadata)
    return [urllib.parse.unquote(v) for v in values] if encoded else values


class FileSyncService:
    """Serves `local://` sources from the directories registered for this session."""

    def __init__(self, local_dirs: Mapping[str, str]) -> None:
        self.local_dirs = dict(local_dirs)
        self.stats: dict[str, SyncStats] = {name: SyncStats() for name in local_dirs}
        self._lock = threading.Lock()

    def diff_copy(self, stream: ServerStream) -> None:
        """One DiffCopy call: stream STATs and DATA, answer REQs, finish on FIN."""
        metadata = tuple(stream.metadata)
        names = _metadata_values(metadata, "dir-name")
        name = names[0] if names else ""
        root = self.local_dirs.get(name)
        if root is None:
            raise RpcError(NOT_FOUND, f"no access allowed to dir {name!r}")
        include = _metadata_values(metadata, "include-patterns")
        exclude = _metadata_values(metadata, "exclude-patterns")
        follow = _metadata_values(metadata, "followpaths")
        with self._lock:
            stats = self.stats.setdefault(name, SyncStats())
        events: queue.Queue[tuple[str, object]] = queue.Queue()
        reader = threading.Thread(target=_read_requests, args=(stream, events), daemon=True)
        reader.start()
        for packet in _send(root, include, exclude, follow, events, stats, flush=stream.flush):
            stream.send(packet)


def _read_requests(stream: ServerStream, events: queue.Queue[tuple[str, object]]) -> None:
    """Turn the receiver's packets into events; its only job is to wake the sender."""
    while True:
        message = stream.recv()
        if message is None:
            events.put(("closed", None))
            return
        packet = wire_pb2.Packet.FromString(message)
        if packet.type == PACKET_REQ:
            events.put(("req", packet.ID))
        elif packet.type == PACKET_FIN:
            events.put(("fin", None))
            return
        elif packet.type == PACKET_ERR:
            events.put(("err", packet.data.decode(errors="replace")))
            return


def _send(
    root: str,
    include: list[str],
    exclude: list[str],
    follow: list[str],
    events: queue.Queue[tuple[str, object]],
    stats: SyncStats,
    flush: Callable[[], None] = lambda: None,
) -> Iterator[bytes]:
    """The sender's whole conversation; any local failure becomes one PACKET_ERR, then the end.

    `flush` is called whenever the sender is about to wait for the receiver, so packets never
    sit in a buffer while the daemon waits for them.
    """
    try:
        yield from _conversation(root, include, exclude, follow, events, stats, flush)
    except (OSError, CogkitError, _BadRequest) as exc:
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield error_packet(f"cogkit: sending {root}: {reason}")


class _BadRequest(Exception):
    """The receiver asked for an ID that is not a regular file we sent."""


def _conversation(
    root: str,
    include: list[str],
    exclude: list[str],
    follow: list[str],
    events: queue.Queue[tuple[str, object]],
    stats: SyncStats,
    flush: Callable[[], None],
) -> Iterator[bytes]:
    files: dict[int, Entry] = {}
    count = 0
    for entry in walk(root, include, exclude, follow):
        if entry.is_regular:  # IDs are the 0-based STAT index, as fsutil's receiver counts
            files[count] = entry
        count += 1
        yield stat_packet(entry)
        while True:  # interleave data for requests that arrived meanwhile
            try:
                kind, value = events.get_nowait()
            except queue.Empty:
                break
            if kind != "req":
                events.put((kind, value))
                break
            yield from _send_file(int(value), files, stats)  # type: ignore[call-overload]
    stats.stats_sent += count
    yield _END_OF_STATS
    while True:
        try:
            kind, value = events.get_nowait()
        except queue.Empty:
            flush()
            kind, value = events.get()
        if kind == "req":
            yield from _send_file(int(value), files, stats)  # type: ignore[call-overload]
        elif kind == "fin":
            yield _FIN
            return
        else:
            return


def _send_file(file_id: int, files: dict[int, Entry], stats: SyncStats) -> Iterator[bytes]:
    entry = files.get(file_id)
    if entry is None:
        raise _BadRequest(f"invalid file request {file_id}")
    stats.files_sent.append(entry.path)
    with open(entry.abspath, "rb", buffering=0) as fh:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            if not chunk:
                break
            stats.bytes_sent += len(chunk)
            yield data_packet_header(file_id, len(chunk)) + chunk
    yield data_packet_header(file_id, 0)


class FileSendService:
    """Receives exporter output (docker/tar) into a file on the client."""

    def __init__(self, output_path: str) -> None:
        self.output_path = output_path

    def diff_copy(self, stream: ServerStream) -> None:
        tmp = self.output_path + ".partial"
        try:
            with open(tmp, "wb") as fh:
                while (message := stream.recv()) is not None:
                    fh.write(filesync_pb2.BytesMessage.FromString(message).data)
            os.replace(tmp, self.output_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise RpcError(INTERNAL, f"cannot write {self.output_path}: {exc.strerror}") from None
