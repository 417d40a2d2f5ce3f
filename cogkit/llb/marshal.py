"""marshal(): walk a state's graph and serialise it into a Definition (Go's State.Marshal).

Post-order DFS over each vertex's inputs in Go's order, so every op follows its inputs; ops with
identical bytes are emitted once (metadata merged); the return op comes last with metadata caps
{constraints, platform, meta.description} as Go sets them. When the engine's caps are known, a
vertex needing a cap the engine lacks is a GraphError before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from cogkit.llb.definition import Definition
from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.platform import Platform, host_platform
from cogkit.llb.state import State
from cogkit.llb.vertex import CUSTOM_NAME_KEY, MarshalContext, Vertex, digest_of, serialize

RETURN_OP_CAPS = ("constraints", "platform", "meta.description")


def _merge_metadata(into: ops_pb2.OpMetadata, new: ops_pb2.OpMetadata) -> None:
    """Go's mergeMetadata: ignore_cache ORed, description keys overwritten, caps unioned."""
    into.ignore_cache = into.ignore_cache or new.ignore_cache
    for k, v in new.description.items():
        into.description[k] = v
    for k, v in new.caps.items():
        into.caps[k] = into.caps.get(k, False) or v


def _check_caps(vertex: Vertex, needed: set[str], ctx: MarshalContext) -> None:
    if ctx.caps is None:
        return
    missing = sorted(needed - ctx.caps)
    if missing:
        raise GraphError(
            f"step {vertex.name!r} needs BuildKit features this engine lacks: {', '.join(missing)}",
            hint="use a newer BuildKit (standalone buildkitd or a newer Docker), or avoid that option",
        )


def marshal(
    state: State,
    *,
    caps: Iterable[str] | None = None,
    platform: Platform | str | None = None,
) -> Definition:
    """Serialise the graph ending at state. caps: the engine's LLB caps (LLBBridge.Ping), or None."""
    if state.output is None:
        raise GraphError("nothing to build: the state is empty (scratch)", hint="start from llb.image(...)")
    ctx = MarshalContext(
        caps=frozenset(caps) if caps is not None else None,
        platform=Platform.parse(platform) if platform is not None else host_platform(),
    )
    ops: list[bytes] = []
    emitted: set[str] = set()
    metadata: dict[str, ops_pb2.OpMetadata] = {}

    def lowered(vertex: Vertex) -> Vertex:
        if vertex not in ctx.lowered:
            ctx.lowered[vertex] = vertex.lower(ctx)
        return ctx.lowered[vertex]

    def emit(vertex: Vertex) -> None:
        op, needed = vertex.to_op(ctx)
        _check_caps(vertex, needed, ctx)
        data = serialize(op)
        dgst = digest_of(data)
        ctx.digests[vertex] = dgst
        meta = ops_pb2.OpMetadata()
        meta.description[CUSTOM_NAME_KEY] = vertex.name
        for cap in sorted(needed):
            meta.caps[cap] = True
        if dgst in metadata:
            _merge_metadata(metadata[dgst], meta)
        else:
            metadata[dgst] = meta
        if dgst not in emitted:
            emitted.add(dgst)
            ops.append(data)

    # Iterative post-order DFS: a frame is (vertex, iterator over its inputs' vertices).
    root = state.output.vertex
    stack: list[tuple[Vertex, list[Vertex]]] = []
    visiting: set[Vertex] = set()

    def push(vertex: Vertex) -> None:
        target = lowered(vertex)
        stack.append((vertex, [out.vertex for out in target.inputs()]))
        visiting.add(vertex)

    push(root)
    while stack:
        vertex, pending = stack[-1]
        while pending and pending[0] in ctx.digests:
            pending.pop(0)
        if pending:
            nxt = pending.pop(0)
            if nxt in visiting:
                raise GraphError(f"the build graph has a cycle through {nxt.name!r}")
            push(nxt)
            continue
        stack.pop()
        visiting.discard(vertex)
        target = lowered(vertex)
        if target is not vertex:
            if target not in ctx.digests:
                emit(target)
            ctx.digests[vertex] = ctx.digests[target]
        elif vertex not in ctx.digests:
            emit(vertex)

    result = ops_pb2.Op()
    result.inputs.append(ctx.to_input(state.output))
    data = serialize(result)
    dgst = digest_of(data)
    ret_meta = ops_pb2.OpMetadata()
    for cap in RETURN_OP_CAPS:
        ret_meta.caps[cap] = True
    metadata[dgst] = ret_meta
    ops.append(data)
    return Definition(ops, metadata)
