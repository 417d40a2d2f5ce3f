"""Thin, typed wrappers over BuildKit's Control service (one place for RPC error mapping)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import grpc

from cogkit.buildkit.pb import control_pb2, control_pb2_grpc, worker_pb2
from cogkit.errors import EngineError
from cogkit.llb.pb import ops_pb2


def _engine_error(err: grpc.RpcError, what: str) -> EngineError:
    details = err.details() if hasattr(err, "details") else str(err)  # type: ignore[attr-defined]
    return EngineError(f"{what} failed: {details}", "check that the engine is running and reachable")


class ControlClient:
    """Control RPCs: workers, disk usage, prune, and the pieces of a solve."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = control_pb2_grpc.ControlStub(channel)

    def list_workers(self, timeout: float = 30) -> list[worker_pb2.WorkerRecord]:
        try:
            return list(self.stub.ListWorkers(control_pb2.ListWorkersRequest(), timeout=timeout).record)
        except grpc.RpcError as err:
            raise _engine_error(err, "ListWorkers") from None

    def disk_usage(self, filters: Sequence[str] = ()) -> list[control_pb2.UsageRecord]:
        try:
            return list(self.stub.DiskUsage(control_pb2.DiskUsageRequest(filter=list(filters))).record)
        except grpc.RpcError as err:
            raise _engine_error(err, "DiskUsage") from None

    def prune(
        self, filters: Sequence[str] = (), all: bool = False, keep_duration_s: float = 0, keep_bytes: int = 0
    ) -> list[control_pb2.UsageRecord]:
        """Remove unused build cache (filters like `id==...`, `type==exec.cachemount`)."""
        request = control_pb2.PruneRequest(
            filter=list(filters), all=all, keepDuration=int(keep_duration_s * 1e9), keepBytes=keep_bytes
        )
        try:
            return list(self.stub.Prune(request))
        except grpc.RpcError as err:
            raise _engine_error(err, "Prune") from None

    def solve_future(
        self,
        ref: str,
        session_id: str,
        exporter: str,
        exporter_attrs: Mapping[str, str],
        cache_imports: Sequence[tuple[str, Mapping[str, str]]] = (),
        cache_exports: Sequence[tuple[str, Mapping[str, str]]] = (),
        entitlements: Sequence[str] = (),
        definition: ops_pb2.Definition | None = None,
        internal: bool = False,
    ) -> grpc.Future:
        """Start a Solve. Without `definition` it is frontend-less: the daemon then waits for our
        LLBBridge calls; with one, the daemon solves and exports that graph by itself.

        The exporter goes in fields 3/4 (what v0.8 reads; newer daemons still honour them).
        `internal` keeps the solve out of the engine's build history (BuildKit >= v0.11 records
        every other solve, which costs a code-edit rebuild ~80 ms on dockerd 28.5; older engines
        ignore the field).
        """
        request = control_pb2.SolveRequest(
            Ref=ref,
            Session=session_id,
            Exporter=exporter,
            ExporterAttrs=dict(exporter_attrs),
            Entitlements=list(entitlements),
            Internal=internal,
        )
        if definition is not None:
            request.Definition.CopyFrom(definition)
        for kind, attrs in cache_imports:
            request.Cache.Imports.add(Type=kind, Attrs=dict(attrs))
        for kind, attrs in cache_exports:
            request.Cache.Exports.add(Type=kind, Attrs=dict(attrs))
        return self.stub.Solve.future(request)

    def status(self, ref: str) -> Iterator[control_pb2.StatusResponse]:
        """The Status stream of a solve (a cancellable call that is also an iterator)."""
        return self.stub.Status(control_pb2.StatusRequest(Ref=ref))
