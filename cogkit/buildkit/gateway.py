"""The gateway side of a build: LLBBridge calls made while Control.Solve waits for our result.

Why a gateway build at all: dockerd 20.10's moby exporter drops exporter attributes, so the image
config (Env, Cmd, Entrypoint, ...) only lands when it comes back as `containerimage.config`
metadata in LLBBridge.Return. The same path serves standalone buildkitd, keeping one code path.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.rpc import status_pb2

from cogkit.buildkit.pb import gateway_pb2, gateway_pb2_grpc
from cogkit.errors import BuildError, EngineError
from cogkit.llb.pb import ops_pb2

BUILD_ID_METADATA = "buildkit-controlapi-buildid"


class SolveFailed(Exception):
    """The Control.Solve behind this gateway ended with an error (its text is the message)."""


class _Marshalled(Protocol):
    def to_pb(self) -> ops_pb2.Definition: ...


DefinitionLike = ops_pb2.Definition | _Marshalled


def definition_pb(definition: DefinitionLike) -> ops_pb2.Definition:
    """Accept the graph builder's Definition or a raw protobuf one."""
    if isinstance(definition, ops_pb2.Definition):
        return definition
    return definition.to_pb()


@dataclass
class BuildResult:
    """What a build function returns: the graph to build and the image config to stamp on it.

    `early_layers`: lower parts of `definition` (each a graph whose head is one of its layers) that
    a moby exporter may turn into Docker layers while the rest still builds (see early_export.py).
    `before_return`: reads facts from the built graph into the image config (e.g. a label) before
    Return. It runs in a thread beside the main solve, so its own step starts as soon as the part
    of the graph it needs is built (BuildKit builds shared steps once) instead of after the whole
    image; Return waits for it.
    """

    definition: DefinitionLike
    image_config: Mapping[str, Any] | None = None
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    early_layers: Sequence[DefinitionLike] = ()
    before_return: Callable[[Gateway], None] | None = None

    def result_metadata(self) -> dict[str, bytes]:
        out = dict(self.metadata)
        if self.image_config is not None:
            out["containerimage.config"] = json.dumps(self.image_config, sort_keys=True).encode()
        return out


def ops_by_digest(definition: ops_pb2.Definition) -> dict[str, ops_pb2.Op]:
    """Decode every op keyed by the digest the daemon computes for it."""
    out: dict[str, ops_pb2.Op] = {}
    for raw in getattr(definition, "def"):
        out["sha256:" + hashlib.sha256(raw).hexdigest()] = ops_pb2.Op.FromString(raw)
    return out


def local_source_names(definition: ops_pb2.Definition) -> set[str]:
    """Names of the local:// sources a graph reads (each needs a directory in the session)."""
    names = set()
    for op in ops_by_digest(definition).values():
        if op.HasField("source") and op.source.identifier.startswith("local://"):
            names.add(op.source.identifier.removeprefix("local://"))
    return names


def without_cache(definition: ops_pb2.Definition) -> ops_pb2.Definition:
    """A copy with every vertex marked ignore_cache (what --no-cache means to the solver)."""
    marked = ops_pb2.Definition()
    marked.CopyFrom(definition)
    for digest in ops_by_digest(definition):
        marked.metadata[digest].ignore_cache = True
    return marked


def rpc_message(err: BaseException | None) -> str:
    details = err.details() if hasattr(err, "details") else None
    return details or str(err)


class Gateway:
    """LLBBridge for one build; handed to the user's build function."""

    def __init__(
        self,
        channel: grpc.Channel,
        build_id: str,
        cache_imports: Sequence[tuple[str, Mapping[str, str]]] = (),
        no_cache: bool = False,
        solve: grpc.Future | None = None,
    ) -> None:
        self._solve = solve
        self._stub = gateway_pb2_grpc.LLBBridgeStub(channel)
        self._metadata = [(BUILD_ID_METADATA, build_id)]
        self._cache_imports = list(cache_imports)
        self._no_cache = no_cache
        self._caps: frozenset[str] | None = None
        self.workers: list[Any] = []
        self.commands: dict[str, list[str]] = {}  # vertex digest -> argv, to explain failures
        self.step_digests: set[str] = set()  # exec/file ops: what "fully cached" is about
        # The same steps by vertex name: BuildKit >= v0.11 recomputes digests after normalising the
        # ops it loads, so its Status vertices no longer carry the digests we sent.
        self.step_names: dict[str, list[str] | None] = {}  # name -> argv (None for file ops)
        self.returned = False

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """One LLBBridge call that gives up as soon as the solve it belongs to has failed.

        Otherwise a refused solve (bad exporter, unknown cache type) would only show up as the
        bridge's "no such job" after its registration timeout.
        """
        call = method.future(request, metadata=self._metadata, timeout=timeout)
        if self._solve is not None:
            settled = threading.Event()
            call.add_done_callback(lambda _: settled.set())
            self._solve.add_done_callback(lambda _: settled.set())
            settled.wait()
            failure = None if call.done() or self._solve.cancelled() else self._solve.exception()
            if failure is not None:
                call.cancel()
                raise SolveFailed(rpc_message(failure))
        try:
            return call.result()
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):  # type: ignore[attr-defined]
                raise EngineError(f"lost the connection to the engine: {rpc_message(err)}", None) from None
            raise

    @property
    def caps(self) -> frozenset[str]:
        """The daemon's LLB capabilities (from Ping); gates MergeOp and friends."""
        if self._caps is None:
            self.ping()
        assert self._caps is not None
        return self._caps

    @property
    def known_caps(self) -> frozenset[str] | None:
        """The capabilities if a Ping already fetched them (None otherwise); never calls the daemon."""
        return self._caps

    def ping(self) -> frozenset[str]:
        pong = self._call(self._stub.Ping, gateway_pb2.PingRequest(), timeout=30)
        self._caps = frozenset(c.ID for c in pong.LLBCaps if c.Enabled)
        self.workers = list(pong.Workers)
        return self._caps

    def resolve_image_config(
        self, ref: str, platform: ops_pb2.Platform | None = None, resolve_mode: str = "default"
    ) -> tuple[str, dict[str, Any]]:
        """Resolve an image through the daemon (which prefers its local store on dockerd).

        Returns (ref pinned to its digest when the daemon knows one, OCI image config dict).
        """
        request = gateway_pb2.ResolveImageConfigRequest(
            Ref=ref, ResolveMode=resolve_mode, LogName=f"resolve {ref}"
        )
        if platform is not None:
            request.Platform.CopyFrom(platform)
        try:
            response = self._call(self._stub.ResolveImageConfig, request)
        except grpc.RpcError as err:
            raise BuildError(
                f"cannot resolve image {ref}: {rpc_message(err)}",
                "check the image name; on dockerd it must be in `docker images` or pullable",
            ) from None
        config = json.loads(response.Config) if response.Config else {}
        pinned = ref
        if response.Digest and "@" not in ref:
            pinned = f"{ref}@{response.Digest}"
        return pinned, config

    def solve(self, definition: DefinitionLike, evaluate: bool = False) -> str:
        """Solve a graph and keep the result for Return; returns the result ref id.

        The daemon may answer before anything is built (the exporter forces the work later);
        `evaluate` asks it to build the whole graph before answering.
        """
        pb = definition_pb(definition)
        if self._no_cache:
            pb = without_cache(pb)
        for digest, op in ops_by_digest(pb).items():
            if not (op.HasField("exec") or op.HasField("file")):
                continue
            self.step_digests.add(digest)
            command = list(op.exec.meta.args) if op.HasField("exec") else None
            if command is not None:
                self.commands[digest] = command
            # (protobuf maps insert on a missing key, so look before reading)
            description = pb.metadata[digest].description if digest in pb.metadata else None
            name = description.get("llb.customname") if description is not None else None
            if name is None and command is not None:
                # BuildKit's own name for an unnamed exec; set, so the vertex is ours by name too.
                name = pb.metadata[digest].description["llb.customname"] = " ".join(command)
            if name is not None:
                self.step_names[name] = command
        request = gateway_pb2.SolveRequest(Definition=pb, allowResultReturn=True, Evaluate=evaluate)
        for kind, attrs in self._cache_imports:
            request.CacheImports.add(Type=kind, Attrs=dict(attrs))
        response = self._call(self._stub.Solve, request)
        result = response.result
        which = result.WhichOneof("result")
        if which == "refDeprecated":
            return result.refDeprecated
        if which == "ref":
            return result.ref.id
        return response.ref

    def read_file(self, ref_id: str, path: str) -> bytes:
        """The contents of a file in a solved result (LLBBridge.ReadFile)."""
        request = gateway_pb2.ReadFileRequest(Ref=ref_id, FilePath=path)
        return bytes(self._call(self._stub.ReadFile, request, timeout=60).Data)

    def command_of(self, digest: str, name: str) -> list[str] | None:
        """The argv of the exec step behind a Status vertex (by digest, else by name)."""
        return self.commands.get(digest) or self.step_names.get(name)

    def path_exists(self, ref_id: str, path: str) -> bool:
        """Whether `path` exists in a solved result (LLBBridge.StatFile), without reading it."""
        try:
            self._call(self._stub.StatFile, gateway_pb2.StatFileRequest(Ref=ref_id, Path=path), timeout=60)
        except grpc.RpcError:
            return False
        return True

    def return_result(self, ref_id: str, metadata: Mapping[str, bytes]) -> None:
        result = gateway_pb2.Result(refDeprecated=ref_id, metadata=dict(metadata))
        self._call(self._stub.Return, gateway_pb2.ReturnRequest(result=result), timeout=60)
        self.returned = True

    def return_error(self, message: str, code: int = 2) -> None:
        """Tell the daemon the build function failed, so Control.Solve ends (best effort)."""
        if self.returned or (self._solve is not None and self._solve.done()):
            return  # nothing is waiting for a result any more
        self.returned = True
        try:
            self._stub.Return(
                gateway_pb2.ReturnRequest(error=status_pb2.Status(code=code, message=message)),
                metadata=self._metadata,
                timeout=10,
            )
        except grpc.RpcError:
            pass
