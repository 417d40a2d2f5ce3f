"""The sender's conversation without a daemon: IDs, framing, FIN and error packets (pure)."""

from __future__ import annotations

import queue
from pathlib import Path

from cogkit.buildkit.pb import wire_pb2
from cogkit.buildkit.session.filesync import SyncStats, _send, data_packet_header


def _run(
    root: Path, requests: list[tuple[str, object]], before_requests: object = None
) -> list[wire_pb2.Packet]:
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    out = []
    gen = _send(str(root), [], [], [], events, SyncStats())
    for raw in gen:
        packet = wire_pb2.Packet.FromString(raw)
        out.append(packet)
        if packet.type == wire_pb2.Packet.PACKET_STAT and not packet.HasField("stat"):
            if callable(before_requests):
                before_requests()
            for item in requests:
                events.put(item)
    return out


def test_ids_are_stat_indexes_and_data_ends_with_an_empty_packet(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f.bin").write_bytes(b"x" * 10)
    (tmp_path / "z").write_text("")
    packets = _run(tmp_path, [("req", 1), ("req", 2), ("fin", None)])
    stats = [p.stat.path for p in packets if p.type == wire_pb2.Packet.PACKET_STAT and p.HasField("stat")]
    assert stats == ["dir", "dir/f.bin", "z"]
    data = [(p.ID, p.data) for p in packets if p.type == wire_pb2.Packet.PACKET_DATA]
    assert data == [(1, b"x" * 10), (1, b""), (2, b"")]
    assert packets[-1].type == wire_pb2.Packet.PACKET_FIN


def test_requests_for_directories_or_vanished_files_become_one_error_packet(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert _run(tmp_path, [("req", 0)])[-1].type == wire_pb2.Packet.PACKET_ERR
    (tmp_path / "gone.txt").write_text("soon gone")
    packets = _run(tmp_path, [("req", 1)], before_requests=(tmp_path / "gone.txt").unlink)
    assert packets[-1].type == wire_pb2.Packet.PACKET_ERR
    assert b"gone.txt" in packets[-1].data


def test_hand_framed_data_header_matches_protobuf() -> None:
    for file_id, payload in [(0, b""), (5, b"abc"), (300, b"y" * 200)]:
        expected = wire_pb2.Packet(
            type=wire_pb2.Packet.PACKET_DATA, ID=file_id, data=payload
        ).SerializeToString()
        assert data_packet_header(file_id, len(payload)) + payload == expected
