"""Definition: the marshalled graph (pb.Definition) plus a read side for debugging and tests.

def[] holds each op's deterministic bytes in topological order, ending with the "return" op
(an Op with only inputs, pointing at the result); metadata maps op digests to OpMetadata.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.vertex import CUSTOM_NAME_KEY, digest_of, serialize


@dataclass(frozen=True)
class GraphVertex:
    """One vertex as `cogkit debug` prints it: digest, op kind, name and input edges."""

    digest: str
    kind: str
    name: str
    inputs: tuple[tuple[str, int], ...]
    op: ops_pb2.Op

    def __str__(self) -> str:
        edges = ", ".join(f"{d[7:19]}[{i}]" for d, i in self.inputs) or "-"
        return f"{self.digest[7:19]}  {self.kind:<6}  {self.name}  <- {edges}"


class Definition:
    """An immutable marshalled LLB graph."""

    def __init__(self, ops: Sequence[bytes], metadata: Mapping[str, ops_pb2.OpMetadata]) -> None:
        if len(ops) < 2:
            raise GraphError("an LLB definition needs at least one vertex and the return op")
        self._ops = tuple(bytes(o) for o in ops)
        self._digests = tuple(digest_of(o) for o in self._ops)
        self._metadata = {k: _copy_meta(v) for k, v in metadata.items()}
        self._decoded = tuple(ops_pb2.Op.FromString(o) for o in self._ops)
        ret = self._decoded[-1]
        if ret.WhichOneof("op") is not None or len(ret.inputs) != 1:
            raise GraphError("invalid LLB: the last op must only point at the result")
        known = set(self._digests)
        for dgst, op in zip(self._digests, self._decoded, strict=True):
            for edge in op.inputs:
                if edge.digest not in known:
                    raise GraphError(f"invalid LLB: {dgst} refers to missing input {edge.digest}")

    # -- construction from the wire -------------------------------------------------------------
    @classmethod
    def from_pb(cls, definition: ops_pb2.Definition) -> Definition:
        return cls(list(getattr(definition, "def")), dict(definition.metadata))

    @classmethod
    def from_bytes(cls, data: bytes) -> Definition:
        return cls.from_pb(ops_pb2.Definition.FromString(data))

    # -- the wire form --------------------------------------------------------------------------
    def to_pb(self) -> ops_pb2.Definition:
        pb = ops_pb2.Definition(**{"def": list(self._ops)})
        for dgst, meta in self._metadata.items():
            pb.metadata[dgst].CopyFrom(meta)
        return pb

    def to_bytes(self) -> bytes:
        """Deterministic bytes of the whole Definition (map keys sorted)."""
        return serialize(self.to_pb())

    # -- inspection -----------------------------------------------------------------------------
    @property
    def ops(self) -> tuple[bytes, ...]:
        """Every def[] entry, the return op last."""
        return self._ops

    @property
    def digests(self) -> tuple[str, ...]:
        """sha256 digests of def[] entries, in order (the return op's last)."""
        return self._digests

    @property
    def head(self) -> str:
        """Digest of the result vertex (what the return op points at)."""
        return self._decoded[-1].inputs[0].digest

    @property
    def head_output(self) -> int:
        return self._decoded[-1].inputs[0].index

    @property
    def metadata(self) -> dict[str, ops_pb2.OpMetadata]:
        return {k: _copy_meta(v) for k, v in self._metadata.items()}

    def name_of(self, dgst: str) -> str:
        meta = self._metadata.get(dgst)
        return meta.description.get(CUSTOM_NAME_KEY, "") if meta is not None else ""

    @property
    def vertices(self) -> tuple[GraphVertex, ...]:
        """The real vertices in def order (topological: inputs first), without the return op."""
        return tuple(self.walk())

    def walk(self) -> Iterator[GraphVertex]:
        for dgst, op in zip(self._digests[:-1], self._decoded[:-1], strict=True):
            yield GraphVertex(
                digest=dgst,
                kind=op.WhichOneof("op") or "unknown",
                name=self.name_of(dgst),
                inputs=tuple((e.digest, e.index) for e in op.inputs),
                op=op,
            )

    def __len__(self) -> int:
        return len(self._ops) - 1

    def __repr__(self) -> str:
        return f"<Definition {len(self)} vertices head={self.head[:19]}>"


def _copy_meta(meta: ops_pb2.OpMetadata) -> ops_pb2.OpMetadata:
    fresh = ops_pb2.OpMetadata()
    fresh.CopyFrom(meta)
    return fresh
