"""Describe a compiled graph for `cogkit debug`: every vertex, its inputs, and the layer it serves.

Side vertices (sources, the uv tool chain, the requirements file, runtime dependencies) are
attributed to the first image layer that consumes them, so each line answers "why is this here".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cogkit.layers.compile import MERGE_CAP, Compiled
from cogkit.llb.definition import Definition
from cogkit.llb.state import State

BUILD_ONLY = "(not in the image)"


@dataclass(frozen=True)
class DescribedVertex:
    digest: str
    kind: str
    name: str
    inputs: list[str]
    layer: str


def _marshal(compiled: Compiled, state: State) -> Definition:
    definition: Definition = state.marshal()
    if compiled.uses_merge:  # offline: claim every cap the graph uses, plus MergeOp, so merge stays merge
        used = {cap for meta in definition.metadata.values() for cap in meta.caps}
        definition = state.marshal(caps=frozenset(used | {MERGE_CAP}))
    return definition


def describe(compiled: Compiled) -> list[DescribedVertex]:
    """The image's vertices, then those of the side chains solved beside it (Compiled.beside)."""
    vertices = {v.digest: v for v in _marshal(compiled, compiled.state).walk()}
    for state in compiled.beside:
        for v in _marshal(compiled, state).walk():
            vertices.setdefault(v.digest, v)
    by_name = {v.name: v.digest for v in vertices.values()}
    owner: dict[str, str] = {}
    base = next((d for d, v in vertices.items() if v.name.startswith("base: ")), None)
    if base:
        owner[base] = "base"
    chain = {by_name[name] for name in compiled.layers if name in by_name}
    for layer_name in compiled.layers:
        digest = by_name.get(layer_name)
        if digest is None:
            continue
        owner[digest] = layer_name
        stack = [d for d, _ in vertices[digest].inputs]
        while stack:
            current = stack.pop()
            if current in owner or current in chain or current not in vertices:
                continue
            owner[current] = layer_name
            stack.extend(d for d, _ in vertices[current].inputs)
    return [
        DescribedVertex(
            digest=d,
            kind=v.kind,
            name=v.name,
            inputs=[i for i, _ in v.inputs],
            layer="image" if v.kind == "merge" else owner.get(d, BUILD_ONLY),
        )
        for d, v in vertices.items()
    ]


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def render_text(vertices: list[DescribedVertex]) -> str:
    lines = []
    for v in vertices:
        inputs = ", ".join(_short(i) for i in v.inputs) or "-"
        lines.append(f"{_short(v.digest)}  {v.kind:<6} {v.name}  <- {inputs}  [layer: {v.layer}]")
    return "\n".join(lines)


def render_json(vertices: list[DescribedVertex]) -> str:
    return json.dumps([v.__dict__ for v in vertices], indent=2)


def render_dot(vertices: list[DescribedVertex]) -> str:
    lines = ["digraph cogkit {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    for v in vertices:
        label = f"{v.name}\\n[{v.layer}]".replace('"', '\\"')
        lines.append(f'  "{_short(v.digest)}" [label="{label}"];')
        for i in v.inputs:
            lines.append(f'  "{_short(v.digest)}" -> "{_short(i)}";')
    lines.append("}")
    return "\n".join(lines)
