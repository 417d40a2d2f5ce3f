"""Graphs from the builder, solved by the real dockerd/BuildKit v0.8 through the gateway API.

The results are read back with LLBBridge.ReadFile/StatFile, so these tests check what the daemon
actually did with our ops (modes, timestamps, mounts, network, env), not just our bytes.
Transport here is the test-only /grpc upgrade proxy; the production client is tested elsewhere.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest
from docker_grpc_proxy import DockerGrpcProxy

from cogkit import llb
from cogkit.buildkit.pb import control_pb2, control_pb2_grpc, gateway_pb2, gateway_pb2_grpc

GO_MODE_DIR = 1 << 31


@dataclass
class Gateway:
    bridge: gateway_pb2_grpc.LLBBridgeStub
    metadata: list[tuple[str, str]]
    caps: frozenset[str]

    def solve(self, state: llb.State) -> str:
        definition = state.marshal(caps=self.caps)
        request = gateway_pb2.SolveRequest(Definition=definition.to_pb(), allowResultReturn=True)
        response = self.bridge.Solve(request, metadata=self.metadata, timeout=300)
        return response.result.refDeprecated or response.ref

    def read(self, ref: str, path: str) -> bytes:
        request = gateway_pb2.ReadFileRequest(Ref=ref, FilePath=path)
        return self.bridge.ReadFile(request, metadata=self.metadata, timeout=60).Data

    def stat(self, ref: str, path: str) -> gateway_pb2.StatFileResponse:
        return self.bridge.StatFile(
            gateway_pb2.StatFileRequest(Ref=ref, Path=path), metadata=self.metadata, timeout=60
        )

    def image_config(self, ref: str) -> bytes:
        request = gateway_pb2.ResolveImageConfigRequest(Ref=llb.normalize_image_ref(ref))
        return self.bridge.ResolveImageConfig(request, metadata=self.metadata, timeout=60).Config


@contextmanager
def gateway_build(socket: str) -> Iterator[Gateway]:
    """A client-side gateway build: Control.Solve waits while we drive LLBBridge, Return ends it."""
    with DockerGrpcProxy(socket) as proxy:
        channel = grpc.insecure_channel(proxy.target)
        ref = uuid.uuid4().hex
        failure: list[BaseException] = []

        def control_solve() -> None:
            try:
                control_pb2_grpc.ControlStub(channel).Solve(control_pb2.SolveRequest(Ref=ref), timeout=600)
            except grpc.RpcError as err:
                failure.append(err)

        thread = threading.Thread(target=control_solve, daemon=True)
        thread.start()
        metadata = [("buildkit-controlapi-buildid", ref)]
        bridge = gateway_pb2_grpc.LLBBridgeStub(channel)
        try:
            pong = bridge.Ping(gateway_pb2.PingRequest(), metadata=metadata, timeout=30)
            yield Gateway(bridge, metadata, frozenset(c.ID for c in pong.LLBCaps if c.Enabled))
        finally:
            bridge.Return(
                gateway_pb2.ReturnRequest(result=gateway_pb2.Result()), metadata=metadata, timeout=30
            )
            thread.join(60)
            channel.close()
        assert not failure, failure


@pytest.fixture
def gw(docker_engine: str, base_image: str) -> Iterator[Gateway]:
    with gateway_build(docker_engine) as gateway:
        yield gateway


def test_engine_caps_accept_our_graph(gw: Gateway, base_image: str) -> None:
    """Every cap our ops declare exists in the engine's cap list (else marshal would raise); a merge
    is a MergeOp where the engine has one (dockerd 28.5's v0.25) and a copy chain where not (20.10's v0.8)."""
    base = llb.image(base_image)
    state = base.run(
        ["true"],
        mounts=[
            llb.cache("/c", id="x", sharing="locked"),
            llb.tmpfs("/t"),
            llb.secret("/s", optional=True),
            llb.bind(
                llb.local("ctx", include=["a"], exclude=["b"], shared_key_hint="k", unique="u"),
                "/m",
                readonly=True,
                selector="/sub",
            ),
        ],
        network="none",
    ).file(llb.rm("/x*", allow_wildcard=True, allow_not_found=True))
    definition = llb.merge([state, llb.scratch().file(llb.mkdir("/y", 0o755))]).marshal(caps=gw.caps)
    merges = [v for v in definition.vertices if v.kind == "merge"]
    assert len(merges) == (1 if "mergeop" in gw.caps else 0)


def test_exec_env_cwd_cache_tmpfs_network(gw: Gateway, base_image: str) -> None:
    cache_id = f"cogkit-test-{uuid.uuid4().hex[:8]}"
    base = llb.image(base_image).with_image_config(gw.image_config(base_image))
    script = (
        'mkdir -p /out && echo "$GREETING $(pwd) $(id -u)" > /out/meta && echo $PATH > /out/path'
        " && echo run >> /cache/runs && wc -l < /cache/runs > /out/runs"
        " && stat -c %a /tmp > /out/tmpmode && grep -c tmpfs /proc/mounts > /out/tmpfs"
        " && ls /sys/class/net > /out/net"
    )

    def graph(nonce: str) -> llb.State:
        return (
            base.with_env("GREETING", "hello")
            .with_cwd("/srv")
            .run(
                ["sh", "-c", f"{script} # {nonce}"],
                mounts=[llb.cache("/cache", id=cache_id, sharing="locked"), llb.tmpfs("/tmp")],
                network="none",
                name="probe",
            )
        )

    first = gw.solve(graph("one"))
    assert gw.read(first, "/out/meta") == b"hello /srv 0\n"
    assert gw.read(first, "/out/path").startswith(b"/usr/local/sbin:/usr/local/bin")
    assert gw.read(first, "/out/runs") == b"1\n"
    assert gw.read(first, "/out/tmpmode") == b"1777\n"
    assert int(gw.read(first, "/out/tmpfs")) >= 1
    assert gw.read(first, "/out/net").split() == [b"lo"]
    second = gw.solve(graph("two"))  # a different command: re-runs, sees the same cache mount
    assert gw.read(second, "/out/runs") == b"2\n"


def test_file_ops_modes_times_and_copy_semantics(gw: Gateway, base_image: str) -> None:
    started = time.time()
    src = llb.image(base_image).run(
        [
            "sh",
            "-c",
            "mkdir -p /data/sub && echo a > /data/a.py && echo b > /data/b.txt && echo c > /data/sub/c.py"
            " && chmod 0751 /data/a.py && ln -s a.py /data/link.py",
        ],
        name="make sources",
    )
    # A per-run nonce keeps the solve from being a cache hit of an earlier run (whose mkfile time is old).
    out = llb.scratch().file(
        llb.mkdir("/d", 0o750)
        .mkfile("/d/nonce", 0o644, uuid.uuid4().hex.encode())
        .mkfile("/d/f", 0o640, b"hello")
        .copy(src, "/data/*.py", "/d/py/")
        .copy(src, "/data/sub", "/d/tree")
        .copy(src, "/data/none-*", "/d/empty/")
        .copy(src, "/data/b.txt", "/d/b.txt", mode=0o600)
        .rm("/d/py/link.py"),
        name="assemble",
    )
    ref = gw.solve(out)
    assert gw.read(ref, "/d/f") == b"hello"
    assert gw.stat(ref, "/d").stat.mode == GO_MODE_DIR | 0o750
    assert gw.stat(ref, "/d/f").stat.mode == 0o640
    assert gw.read(ref, "/d/py/a.py") == b"a\n"
    assert gw.stat(ref, "/d/py/a.py").stat.mode == 0o751  # mode -1: the source's mode is kept
    assert gw.stat(ref, "/d/py/a.py").stat.modTime > 1_600_000_000 * 10**9  # timestamp -1: not 1970
    assert gw.read(ref, "/d/tree/c.py") == b"c\n"  # dirCopyContents: the dir's contents, not the dir
    assert gw.stat(ref, "/d/b.txt").stat.mode == 0o600
    assert gw.stat(ref, "/d/f").stat.modTime >= int((started - 60) * 10**9)
    with pytest.raises(grpc.RpcError):
        gw.stat(ref, "/d/py/link.py")
    with pytest.raises(grpc.RpcError):
        gw.stat(ref, "/d/py/b.txt")


def test_merge_fallback_and_writable_mount_output(gw: Gateway, base_image: str) -> None:
    base = llb.image(base_image)
    producer = base.run(["sh", "-c", "echo made > /out/artifact"], mounts=[llb.bind(llb.scratch(), "/out")])
    artifact = producer.get_mount("/out")
    assert gw.read(gw.solve(artifact), "/artifact") == b"made\n"
    weights = llb.scratch().file(
        llb.mkdir("/weights", 0o755).mkfile("/weights/w.bin", 0o644, b"W"), name="weights"
    )
    code = llb.scratch().file(llb.mkdir("/src", 0o755).mkfile("/src/predict.py", 0o644, b"P"), name="code")
    patch = llb.scratch().file(llb.mkdir("/src", 0o755).mkfile("/src/predict.py", 0o644, b"P2"), name="patch")
    merged = llb.merge([base, weights, code, patch])
    ref = gw.solve(merged)
    assert gw.read(ref, "/weights/w.bin") == b"W"
    assert gw.read(ref, "/src/predict.py") == b"P2"  # later layers win
    assert b"bookworm" in gw.read(ref, "/etc/os-release")
