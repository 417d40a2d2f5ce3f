"""Source vertices: container images and local directories synced from the client session.

Identifiers and attrs follow Go's client/llb/source.go: docker-image://<normalised ref> with
image.resolvemode only when non-default; local://<name> with local.* attrs (patterns as JSON arrays).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.platform import Platform
from cogkit.llb.reference import normalize_image_ref
from cogkit.llb.state import State
from cogkit.llb.vertex import MarshalContext, Output, Vertex, base_op, op_without_platform

RESOLVE_MODES = ("default", "pull", "local")


def go_json(values: Sequence[str]) -> str:
    """json.Marshal of a []string: compact, UTF-8, with Go's HTML-safe escapes (digest parity)."""
    text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


@dataclass(eq=False)
class SourceVertex(Vertex):
    """A SourceOp: no inputs, an identifier, string attrs and the caps they need."""

    kind = "source"
    identifier: str
    attrs: dict[str, str]
    name: str
    platform: Platform | None
    caps: frozenset[str]
    platform_specific: bool

    def inputs(self) -> list[Output]:
        return []

    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        op = base_op(self.platform, ctx) if self.platform_specific else op_without_platform()
        op.source.identifier = self.identifier
        op.source.attrs.update(self.attrs)
        return op, set(self.caps)


def image(
    ref: str,
    platform: Platform | str | None = None,
    resolve_mode: str = "default",
    *,
    name: str | None = None,
) -> State:
    """A container image as the root filesystem (docker-image://). Env/cwd come via with_image_config."""
    if resolve_mode not in RESOLVE_MODES:
        raise GraphError(
            f"unknown image resolve mode {resolve_mode!r}", hint=f"use one of {', '.join(RESOLVE_MODES)}"
        )
    identifier = "docker-image://" + normalize_image_ref(ref)
    attrs: dict[str, str] = {}
    caps = {"source.image"}
    if resolve_mode != "default":
        attrs["image.resolvemode"] = resolve_mode
        if resolve_mode == "pull":  # Go requires the cap only for the security-relevant forced pull
            caps.add("source.image.resolvemode")
    plat = Platform.parse(platform) if platform is not None else None
    vertex = SourceVertex(
        identifier, attrs, name or identifier, plat, frozenset(caps), platform_specific=True
    )
    return State(output=Output(vertex), platform=plat)


def local(
    dir_name: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    shared_key_hint: str | None = None,
    follow_paths: Sequence[str] | None = None,
    unique: str | None = None,
    name: str | None = None,
) -> State:
    """A directory the client sends through the session's FileSync (local://dir_name).

    dir_name is the key the client's session serves (Solve's local dirs map); include/exclude are
    .dockerignore-style patterns the sender applies; shared_key_hint keys the daemon's incremental
    sync cache; unique (local.unique) forces a distinct vertex per client directory.
    """
    if not dir_name:
        raise GraphError("a local source needs a name", hint='for example llb.local("context")')
    attrs: dict[str, str] = {}
    caps = {"source.local"}
    if include:
        attrs["local.includepattern"] = go_json(include)
        caps.add("source.local.includepatterns")
    if exclude:
        attrs["local.excludepatterns"] = go_json(exclude)
        caps.add("source.local.excludepatterns")
    if follow_paths:
        attrs["local.followpaths"] = go_json(follow_paths)
        caps.add("source.local.followpaths")
    if shared_key_hint:
        attrs["local.sharedkeyhint"] = shared_key_hint
        caps.add("source.local.sharedkeyhint")
    if unique:
        attrs["local.unique"] = unique
        caps.add("source.local.unique")
    identifier = "local://" + dir_name
    vertex = SourceVertex(
        identifier, attrs, name or identifier, None, frozenset(caps), platform_specific=False
    )
    return State(output=Output(vertex))
