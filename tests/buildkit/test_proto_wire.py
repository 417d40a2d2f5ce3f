"""The hand-written protos against the real dockerd/BuildKit v0.8: method paths, packages, numbers.

Unit checks pin the wire-visible names; the engine checks call real RPCs through a test-only
/grpc upgrade proxy (production transport is cogkit/buildkit/transport.py).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import grpc
import pytest
from docker_grpc_proxy import DockerGrpcProxy  # tests/ is on sys.path (its conftest.py, rootdir import mode)

from cogkit.buildkit.pb import (
    auth_pb2,
    control_pb2,
    control_pb2_grpc,
    filesync_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    health_pb2,
    secrets_pb2,
    wire_pb2,
)
from cogkit.llb.pb import ops_pb2


def _method_paths(module: object) -> set[str]:
    paths = set()
    for service in module.DESCRIPTOR.services_by_name.values():  # type: ignore[attr-defined]
        for method in service.methods:
            paths.add(f"/{service.full_name}/{method.name}")
    return paths


def test_session_method_paths_match_upstream() -> None:
    assert "/moby.filesync.v1.FileSync/DiffCopy" in _method_paths(filesync_pb2)
    assert "/moby.filesync.v1.FileSend/DiffCopy" in _method_paths(filesync_pb2)
    assert "/moby.filesync.v1.Auth/Credentials" in _method_paths(auth_pb2)
    assert "/moby.buildkit.secrets.v1.Secrets/GetSecret" in _method_paths(secrets_pb2)
    assert "/grpc.health.v1.Health/Check" in _method_paths(health_pb2)
    assert {
        "/moby.buildkit.v1.Control/Solve",
        "/moby.buildkit.v1.Control/Status",
        "/moby.buildkit.v1.Control/Session",
        "/moby.buildkit.v1.Control/ListWorkers",
        "/moby.buildkit.v1.Control/DiskUsage",
        "/moby.buildkit.v1.Control/Prune",
    } <= _method_paths(control_pb2)
    assert {
        "/moby.buildkit.v1.frontend.LLBBridge/Solve",
        "/moby.buildkit.v1.frontend.LLBBridge/Return",
        "/moby.buildkit.v1.frontend.LLBBridge/Ping",
        "/moby.buildkit.v1.frontend.LLBBridge/ResolveImageConfig",
    } <= _method_paths(gateway_pb2)


def test_known_wire_bytes() -> None:
    # Hand-encoded from the upstream field numbers: Input{digest=1, index=2}, Packet{type=1, ID=3}.
    assert ops_pb2.Input(digest="sha256:ab", index=1).SerializeToString() == b"\n\tsha256:ab\x10\x01"
    req = wire_pb2.Packet(type=wire_pb2.Packet.PACKET_REQ, ID=7)
    assert req.SerializeToString() == b"\x08\x01\x18\x07"
    assert health_pb2.HealthCheckResponse(status=1).SerializeToString() == b"\x08\x01"
    copy = ops_pb2.FileActionCopy(mode=-1, timestamp=-1)
    assert ops_pb2.FileActionCopy.FromString(copy.SerializeToString()).mode == -1
    fields = control_pb2.SolveRequest.DESCRIPTOR.fields_by_name
    assert (fields["Exporter"].number, fields["ExporterAttrs"].number, fields["Session"].number) == (3, 4, 5)


@pytest.fixture
def bk_channel(docker_engine: str) -> Iterator[grpc.Channel]:
    with DockerGrpcProxy(docker_engine) as proxy:
        channel = grpc.insecure_channel(proxy.target)
        try:
            yield channel
        finally:
            channel.close()


def test_list_workers_against_dockerd(bk_channel: grpc.Channel) -> None:
    control = control_pb2_grpc.ControlStub(bk_channel)
    workers = control.ListWorkers(control_pb2.ListWorkersRequest(), timeout=20).record
    assert workers, "dockerd reported no BuildKit worker"
    platforms = {(p.OS, p.Architecture) for w in workers for p in w.platforms}
    assert ("linux", "amd64") in platforms


def test_gateway_ping_and_return_against_dockerd(bk_channel: grpc.Channel) -> None:
    """A gateway build with an empty result: Ping returns LLB caps, Return completes the solve."""
    control = control_pb2_grpc.ControlStub(bk_channel)
    bridge = gateway_pb2_grpc.LLBBridgeStub(bk_channel)
    ref = uuid.uuid4().hex
    outcome: dict[str, object] = {}

    def solve() -> None:
        try:
            outcome["response"] = control.Solve(control_pb2.SolveRequest(Ref=ref), timeout=60)
        except grpc.RpcError as err:
            outcome["error"] = err

    thread = threading.Thread(target=solve)
    thread.start()
    metadata = [("buildkit-controlapi-buildid", ref)]
    try:
        pong = bridge.Ping(gateway_pb2.PingRequest(), metadata=metadata, timeout=20)
        caps = {c.ID for c in pong.LLBCaps if c.Enabled}
        assert {"source.image", "source.local", "file.base", "exec.mount.cache"} <= caps
    finally:
        bridge.Return(gateway_pb2.ReturnRequest(result=gateway_pb2.Result()), metadata=metadata, timeout=20)
        thread.join(60)
    assert "error" not in outcome, outcome.get("error")
