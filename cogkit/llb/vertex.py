"""The graph's building blocks: vertices (one per op), their outputs, and the marshal context.

A vertex knows its inputs and how to turn itself into a pb.Op once its inputs' digests are known.
Building stays pure: nothing is serialised until marshal() walks the graph with a MarshalContext.
"""

from __future__ import annotations

import hashlib
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.platform import Platform

# solver/pb/const.go: an input index meaning "no input" (scratch) and an output index meaning "no output".
EMPTY_INPUT = -1
SKIP_OUTPUT = -1
CUSTOM_NAME_KEY = "llb.customname"


def digest_of(op_bytes: bytes) -> str:
    """The digest BuildKit recomputes for every Definition entry: sha256 over the op bytes."""
    return "sha256:" + hashlib.sha256(op_bytes).hexdigest()


def serialize(message: object) -> bytes:
    """Deterministic protobuf bytes (sorted map keys), so equal graphs give equal digests."""
    return message.SerializeToString(deterministic=True)  # type: ignore[attr-defined]


def clean_path(p: str) -> str:
    """Go's path.Clean (posixpath.normpath keeps a leading '//', Go does not)."""
    cleaned = posixpath.normpath(p)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def join_path(parent: str, p: str) -> str:
    """Resolve p against parent the way Go's llb does (path.Join("/", parent, p), cleaned)."""
    p = clean_path(p)
    if posixpath.isabs(p):
        return p
    return clean_path(posixpath.join("/", parent, p))


@dataclass(frozen=True)
class Output:
    """One output of a vertex: what an edge points at (Input{digest, index})."""

    vertex: Vertex
    index: int = 0


@dataclass
class MarshalContext:
    """Marshal-time facts: the engine's LLB caps (None = unknown), the default platform, digests so far."""

    caps: frozenset[str] | None
    platform: Platform
    digests: dict[Vertex, str] = field(default_factory=dict)
    lowered: dict[Vertex, Vertex] = field(default_factory=dict)

    def has_cap(self, cap: str) -> bool:
        return self.caps is not None and cap in self.caps

    def to_input(self, output: Output) -> ops_pb2.Input:
        try:
            dgst = self.digests[output.vertex]
        except KeyError:  # the walk marshals inputs first; reaching here is a bug in a vertex
            raise RuntimeError(f"input {output.vertex.name!r} marshalled out of order") from None
        return ops_pb2.Input(digest=dgst, index=output.index)


class Vertex(ABC):
    """A node of the LLB graph. Identity semantics: each builder call makes a distinct vertex."""

    kind: ClassVar[str]
    name: str

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    @abstractmethod
    def inputs(self) -> list[Output]:
        """Input outputs in Go's walk order (unique); the marshal walk visits them first."""

    @abstractmethod
    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        """The pb.Op (inputs resolved via ctx) and the LLB caps it requires."""

    def lower(self, ctx: MarshalContext) -> Vertex:
        """The vertex actually marshalled; a merge replaces itself when the engine lacks MergeOp."""
        return self


def base_op(platform: Platform | None, ctx: MarshalContext) -> ops_pb2.Op:
    """An Op with Go's MarshalConstraints defaults: the op's platform (else the marshal default) and
    an empty WorkerConstraints (Go always emits it, so byte-for-byte parity needs it too)."""
    op = ops_pb2.Op()
    op.platform.CopyFrom((platform or ctx.platform).to_pb())
    op.constraints.SetInParent()
    return op


def op_without_platform() -> ops_pb2.Op:
    """File, merge and non-image source ops are not platform specific (Go sets Platform = nil)."""
    op = ops_pb2.Op()
    op.constraints.SetInParent()
    return op


def dedupe_outputs(outputs: Iterable[Output]) -> list[Output]:
    seen: set[Output] = set()
    unique = []
    for out in outputs:
        if out not in seen:
            seen.add(out)
            unique.append(out)
    return unique


def require_absolute(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise GraphError(f"{what} {path!r} must be an absolute path", hint="start it with '/'")
    return path
