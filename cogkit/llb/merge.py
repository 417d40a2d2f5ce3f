"""merge([...]): stack several states' filesystems into one.

With an engine that has cap "mergeop" (BuildKit >= v0.10) this is a MergeOp, whose inputs stay
independent layers. Otherwise (e.g. dockerd 20.10's BuildKit v0.8), or when the caps are unknown,
it lowers at marshal time to a linear chain: the first input, then one FileOp per further input
copying its "/" onto the result, so each step is cached on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cogkit.llb.fileop import copy
from cogkit.llb.pb import ops_pb2
from cogkit.llb.state import State, scratch
from cogkit.llb.vertex import MarshalContext, Output, Vertex, op_without_platform

MERGE_CAP = "mergeop"

# A layer copy: the tree as-is (no wildcard, no symlink resolution of "/"), modes/owners preserved.
_LAYER_COPY = {
    "follow_symlinks": False,
    "dir_copy_contents": True,
    "create_dest_path": True,
    "allow_wildcard": False,
    "allow_empty_wildcard": False,
}


@dataclass(eq=False)
class MergeVertex(Vertex):
    kind = "merge"
    layers: tuple[Output, ...]
    name: str

    def inputs(self) -> list[Output]:
        return list(self.layers)

    def lower(self, ctx: MarshalContext) -> Vertex:
        if ctx.has_cap(MERGE_CAP):
            return self
        state = State(output=self.layers[0])
        total = len(self.layers) - 1
        for i, layer in enumerate(self.layers[1:], start=1):
            step = f"{self.name} [{i}/{total}: {layer.vertex.name}]"
            state = state.file(copy(State(output=layer), "/", "/", **_LAYER_COPY), name=step)
        assert state.output is not None
        return state.output.vertex

    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        op = op_without_platform()
        for layer in self.layers:  # Go does not fold duplicate merge inputs
            op.merge.inputs.add(input=len(op.inputs))
            op.inputs.append(ctx.to_input(layer))
        return op, {MERGE_CAP}


def merge(states: Sequence[State], *, name: str | None = None) -> State:
    """Stack states bottom to top. Scratch inputs are dropped; one input is returned unchanged.

    The result keeps the first input's env, cwd, user and platform (Go starts from a blank state).
    """
    layers = [s for s in states if s.output is not None]
    if not layers:
        return scratch()
    if len(layers) == 1:
        return layers[0]
    outputs = tuple(s.output for s in layers if s.output is not None)
    vertex = MergeVertex(outputs, name or "merge (" + ", ".join(s.name for s in layers) + ")")
    return layers[0].with_output(Output(vertex))


DIFF_CAP = "diffop"


@dataclass(eq=False)
class DiffVertex(Vertex):
    kind = "diff"
    bottom: Output  # DiffOp.lower (Vertex.lower is the marshal-time lowering)
    top: Output  # DiffOp.upper
    name: str

    def inputs(self) -> list[Output]:
        return [self.bottom, self.top]

    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        op = op_without_platform()
        op.inputs.append(ctx.to_input(self.bottom))
        op.inputs.append(ctx.to_input(self.top))
        op.diff.lower.input = 0
        op.diff.upper.input = 1
        return op, {DIFF_CAP}


def diff(lower: State, upper: State, *, name: str | None = None) -> State:
    """What `upper` adds on top of `lower` (a DiffOp, cap "diffop": BuildKit >= v0.10).

    When `upper` was built on `lower`, BuildKit keeps the layers in between as they are (their
    blobs and diff IDs), so merge([other, diff(base, chain)]) restacks a chain's layers on `other`
    without rebuilding or re-exporting them. There is no lowering: check the cap first.
    """
    if lower.output is None or upper.output is None:
        raise ValueError("diff() needs two non-scratch states")
    vertex = DiffVertex(lower.output, upper.output, name or f"diff ({lower.name} → {upper.name})")
    return upper.with_output(Output(vertex))
