"""`$ref` and `allOf` resolution, done once per document: the one place that follows references.

Cog's documents point at enum components with `allOf: [{$ref: ...}]` (or a bare `$ref`); every
reader (validation, file detection, the CLI's coercion and help) works on properties with those
references already inlined, from `input_schema(document, mode)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MAX_DEPTH = 32  # a self-referencing document must not loop forever


def _target(document: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        return {}
    node: Any = document
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def resolve(node: Mapping[str, Any], document: Mapping[str, Any], _depth: int = 0) -> dict[str, Any]:
    """`node` with its `$ref` and `allOf` members merged in (the node's own keys win), recursively
    for `anyOf`/`oneOf` members and array `items`."""
    out: dict[str, Any] = {}
    if _depth > _MAX_DEPTH:
        return dict(node)
    for key, value in node.items():
        if key in ("$ref", "allOf"):
            continue
        if key in ("anyOf", "oneOf") and isinstance(value, list):
            value = [resolve(v, document, _depth + 1) if isinstance(v, Mapping) else v for v in value]
        elif key == "items" and isinstance(value, Mapping):
            value = resolve(value, document, _depth + 1)
        out[key] = value
    members: list[Mapping[str, Any]] = []
    ref = node.get("$ref")
    if isinstance(ref, str):
        members.append(_target(document, ref))
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        members.extend(m for m in all_of if isinstance(m, Mapping))
    for member in members:
        for key, value in resolve(member, document, _depth + 1).items():
            out.setdefault(key, value)
    return out


@dataclass(frozen=True)
class InputSchema:
    """One mode's input object with every property resolved: what validation, file handling and
    the CLI read. `properties` keeps the document's order."""

    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]

    def ordered_names(self) -> list[str]:
        """Input names by `x-order` (the predict() argument order), then by name."""
        props = self.properties
        return sorted(props, key=lambda n: (props[n].get("x-order", 1 << 30), n))


def component_name(mode: str) -> str:
    # Training inputs are only ever `TrainingInput`: never check them against the predict `Input`.
    return "TrainingInput" if mode == "train" else "Input"


_cache: dict[tuple[int, str], tuple[Mapping[str, Any], InputSchema | None]] = {}


def input_schema(document: Mapping[str, Any] | None, mode: str = "predict") -> InputSchema | None:
    """The resolved `Input` (or `TrainingInput`) of a document, or None when it has none.

    Cached per document object, so a server resolves its schema once, not per request.
    """
    if not isinstance(document, Mapping) or not document:
        return None
    key = (id(document), mode)
    hit = _cache.get(key)
    if hit is not None and hit[0] is document:
        return hit[1]
    components = document.get("components", {})
    schemas = components.get("schemas", {}) if isinstance(components, Mapping) else {}
    node = schemas.get(component_name(mode)) if isinstance(schemas, Mapping) else None
    result = None
    if isinstance(node, Mapping):
        model = resolve(node, document)
        props = model.get("properties", {})
        result = InputSchema(
            properties={name: resolve(p, document) for name, p in props.items() if isinstance(p, Mapping)},
            required=tuple(model.get("required", ())),
        )
    _cache[key] = (document, result)
    return result


def _is_uri(prop: Mapping[str, Any]) -> bool:
    return prop.get("format") == "uri"


def file_fields(document: Mapping[str, Any] | None,
                mode: str = "predict") -> tuple[frozenset[str], frozenset[str]]:
    """Names of the inputs that hold one file, and of those that hold a list of files."""
    schema = input_schema(document, mode)
    if schema is None:
        return frozenset(), frozenset()
    single: set[str] = set()
    many: set[str] = set()
    for name, prop in schema.properties.items():
        for variant in (prop, *prop.get("anyOf", ()), *prop.get("oneOf", ())):
            if _is_uri(variant):
                single.add(name)
            items = variant.get("items")
            if isinstance(items, Mapping) and any(_is_uri(i) for i in (items, *items.get("anyOf", ()))):
                many.add(name)
    return frozenset(single), frozenset(many)
