"""A predictor's interface as plain data: its inputs (types, defaults, constraints) and output type.

Both schema producers build this same description, one from the imported predictor (here) and
one from the source text (signature_ast), and the OpenAPI document is rendered from it, which is
what makes the build-time and runtime schemas agree. Standard library only: the predictor child
imports this module.
"""

from __future__ import annotations

import collections.abc
import inspect
import io
import pathlib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from cogkit.errors import CogkitError

MISSING: Any = ...  # Cog's "required" marker (Input() without default)

PRIMITIVES = {"str": str, "int": int, "float": float, "bool": bool}
INPUT_KINDS = frozenset(("str", "int", "float", "bool", "path", "file", "secret", "dict", "any"))
INPUT_TYPES_HINT = (
    "inputs may be str, int, float, bool, Path, File, Secret, dict, a TypedDict, list[...] and "
    "Optional/Union/Literal of those"
)
# union members must be JSON-native (Cog 0.21): no files or secrets inside a union
_UNION_MEMBERS = frozenset(("str", "int", "float", "bool", "dict", "any", "list"))


class SchemaError(CogkitError):
    """The predictor's signature uses something Cog's API cannot describe."""


@dataclass(frozen=True)
class TypeSpec:
    """A type in Cog's vocabulary.

    kind: str|int|float|bool|path|file|secret|any|list|union|literal|dict|object|iterator.
    """

    kind: str
    args: tuple[TypeSpec, ...] = ()
    nullable: bool = False
    values: tuple[Any, ...] = ()  # literal values
    name: str | None = None  # object (BaseModel) name
    fields: tuple[tuple[str, TypeSpec, bool], ...] = ()  # object: (name, type, required)
    concatenate: bool = False  # iterator rendered as joined text


@dataclass
class InputField:
    """One predict()/train() parameter with its Input(...) settings."""

    name: str
    type: TypeSpec
    order: int
    default: Any = MISSING
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    choices: list[Any] | None = None
    deprecated: bool | None = None
    accept: str | None = None

    @property
    def required(self) -> bool:
        """Required unless it has a default or is Optional (Cog 0.21 passes None for an omitted one)."""
        return self.default is MISSING and not self.type.nullable


@dataclass
class Signature:
    """Inputs and output of one entry point (mode "predict" or "train")."""

    mode: str
    inputs: list[InputField] = field(default_factory=list)
    output: TypeSpec = TypeSpec("any")
    streaming: bool = False  # @cog.streaming: SSE allowed (x-cog-streaming)


STREAMING_NEEDS_ITERATOR = (
    "@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] or "
    "AsyncConcatenateIterator[...] return type"
)


def check_streaming(sig: Signature) -> Signature:
    """Cog refuses @streaming on a method that does not return an iterator."""
    if sig.streaming and sig.output.kind != "iterator":
        raise SchemaError(STREAMING_NEEDS_ITERATOR, hint="return an Iterator[...] or drop @streaming")
    return sig


# ---------------------------------------------------------------------------------------------
# runtime introspection


def _cog_type_name(tp: Any) -> str | None:
    """'Path', 'File', 'Secret', ... when `tp` is one of cog's special classes (cogkit's or Cog's)."""
    module = getattr(tp, "__module__", "") or ""
    if module == "cog" or module.startswith("cog."):
        return getattr(tp, "__name__", None)
    return None


def _is_model_class(tp: Any) -> bool:
    if not _is_class(tp):
        return False
    if hasattr(tp, "__cog_fields__"):
        return True
    return any(base.__name__ == "BaseModel" for base in tp.__mro__[1:])


def _is_class(tp: Any) -> bool:
    """A real class: on 3.10 `list[int]` passes isinstance(..., type) yet breaks issubclass()."""
    return isinstance(tp, type) and not isinstance(tp, types.GenericAlias)


def _is_typeddict(tp: Any) -> bool:
    return _is_class(tp) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _typeddict_spec(tp: type, where: str) -> TypeSpec:
    try:
        hints = typing.get_type_hints(tp)
    except Exception as exc:  # noqa: BLE001
        raise SchemaError(f"cannot resolve the fields of {tp.__name__} ({where}): {exc}") from None
    required_keys = getattr(tp, "__required_keys__", frozenset())
    fields = []
    for name, hint in hints.items():
        spec = type_from_annotation(hint, f"{where}.{name}", allow_output=True)
        fields.append((name, spec, name in required_keys and not spec.nullable))
    return TypeSpec("object", name=tp.__name__, fields=tuple(fields))


def _is_opaque(meta: Any) -> bool:
    return getattr(meta, "__name__", None) == "Opaque" and _cog_type_name(meta) is not None


def _opaque(tp: Any) -> TypeSpec:
    """Annotated[T, Opaque]: T is never resolved; a plain object, a list of them, nullable if Optional."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    nullable = False
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        if len(members) == 1:
            tp = members[0]
            origin = typing.get_origin(tp)
    if tp in (list, typing.List) or origin is list:  # noqa: UP006
        return TypeSpec("list", args=(TypeSpec("dict"),), nullable=nullable)
    return TypeSpec("dict", nullable=nullable)


def _model_spec(tp: type, where: str) -> TypeSpec:
    try:
        hints = typing.get_type_hints(tp, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - user annotations can fail in many ways
        raise SchemaError(f"cannot resolve the fields of {tp.__name__} ({where}): {exc}") from None
    defaults = getattr(tp, "__cog_defaults__", None)
    pyd_fields = getattr(tp, "model_fields", None)
    fields = []
    for name, hint in hints.items():
        if name.startswith("_") or typing.get_origin(hint) is typing.ClassVar:
            continue
        spec = type_from_annotation(hint, f"{where}.{name}", allow_output=True)
        if defaults is not None:
            required = name not in defaults
        elif isinstance(pyd_fields, dict) and name in pyd_fields:
            required = bool(pyd_fields[name].is_required())
        else:
            required = not hasattr(tp, name) and not spec.nullable
        fields.append((name, spec, required))
    return TypeSpec("object", name=tp.__name__, fields=tuple(fields))


_ITERATORS = (
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.Iterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterable,
)


def type_from_annotation(tp: Any, where: str, *, allow_output: bool = False) -> TypeSpec:
    """Translate a Python annotation into a TypeSpec; `where` names the parameter for errors."""
    if tp in (str, int, float, bool):
        return TypeSpec(tp.__name__)
    if tp is Any or tp is object:
        return TypeSpec("any")
    cog_name = _cog_type_name(tp)
    if cog_name in ("Path", "File", "Secret"):
        return TypeSpec(cog_name.lower())
    if _is_class(tp) and issubclass(tp, pathlib.PurePath):
        return TypeSpec("path")
    if _is_class(tp) and issubclass(tp, io.IOBase):
        return TypeSpec("file")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        if any(map(_is_opaque, args[1:])):
            return _opaque(args[0])
        return type_from_annotation(args[0], where, allow_output=allow_output)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        specs = [type_from_annotation(a, where, allow_output=allow_output) for a in members]
        if len(specs) == 1:
            return _with_nullable(specs[0], nullable)
        return union_spec(specs, nullable, where, allow_output)
    if tp is dict or tp is typing.Dict or origin is dict:  # noqa: UP006 - bare typing.Dict is user input
        value = args[1] if len(args) == 2 else None
        if allow_output and value is not None and value is not Any:
            return TypeSpec("dict", args=(type_from_annotation(value, where, allow_output=True),))
        return TypeSpec("dict")
    if _is_typeddict(tp):
        return _typeddict_spec(tp, where) if allow_output else TypeSpec("dict")
    if origin is typing.Literal:
        return _literal(args, where)
    if tp in (list, typing.List) or origin is list:  # noqa: UP006 - bare typing.List is user input
        item = type_from_annotation(args[0], where, allow_output=allow_output) if args else TypeSpec("any")
        return TypeSpec("list", args=(item,))
    if allow_output:
        if _cog_type_name(origin) in ("ConcatenateIterator", "AsyncConcatenateIterator"):
            item = type_from_annotation(args[0], where, allow_output=True) if args else TypeSpec("any")
            return TypeSpec("iterator", args=(item,), concatenate=True)
        if origin in _ITERATORS:
            item = type_from_annotation(args[0], where, allow_output=True) if args else TypeSpec("any")
            return TypeSpec("iterator", args=(item,))
        if _is_model_class(tp):
            return _model_spec(tp, where)
    described = getattr(tp, "__name__", None) or repr(tp)
    raise SchemaError(
        f"unsupported type {described} for {where}",
        hint=INPUT_TYPES_HINT,
    )


def union_spec(specs: list[TypeSpec], nullable: bool, where: str, allow_output: bool) -> TypeSpec:
    """A union as Cog 0.21 allows it as an input: JSON-native members, no nesting."""
    if allow_output:  # Cog refuses union outputs; cogkit keeps rendering them (anyOf) as before
        return TypeSpec("union", args=tuple(specs), nullable=nullable)
    for spec in specs:
        if spec.kind not in _UNION_MEMBERS:
            name = {"path": "Path", "file": "File", "secret": "Secret"}.get(spec.kind, spec.name or spec.kind)
            raise SchemaError(f"unsupported type: {name} is not supported in union inputs ({where})",
                              hint="use a separate input for files and secrets")
        if spec.kind == "union" or spec.nullable:
            raise SchemaError(f"unsupported type: nested unions are not supported ({where})")
    return TypeSpec("union", args=tuple(specs), nullable=nullable)


def _with_nullable(spec: TypeSpec, nullable: bool) -> TypeSpec:
    if not nullable or spec.nullable:
        return spec
    return TypeSpec(spec.kind, spec.args, True, spec.values, spec.name, spec.fields, spec.concatenate)


def _literal(values: tuple[Any, ...], where: str) -> TypeSpec:
    kinds = {type(v).__name__ for v in values}
    if len(kinds) != 1 or next(iter(kinds)) not in PRIMITIVES:
        raise SchemaError(f"Literal values for {where} must all be str, int, float or bool")
    return TypeSpec("literal", args=(TypeSpec(next(iter(kinds))),), values=tuple(values))


def check_input_type(spec: TypeSpec, where: str) -> None:
    """Cog allows only primitives, files, secrets, dicts, lists and unions of those as inputs."""
    if spec.kind in INPUT_KINDS or spec.kind == "literal":
        return
    if spec.kind == "list" and spec.args and spec.args[0].kind == "list":
        raise SchemaError(f"unsupported type: nested generics like List[List[X]] are not supported ({where})")
    if spec.kind in ("list", "union"):
        for arg in spec.args:
            check_input_type(arg, where)
        return
    raise SchemaError(
        f"unsupported input type ({spec.name or spec.kind}) for {where}",
        hint=INPUT_TYPES_HINT,
    )


def _field_settings(default: Any) -> dict[str, Any]:
    """Input(...) settings from a parameter default (cog FieldInfo, pydantic FieldInfo, or a value)."""
    if type(default).__name__ == "FieldInfo" and hasattr(default, "choices"):
        return {
            "default": default.default,
            "description": default.description,
            "ge": default.ge,
            "le": default.le,
            "min_length": default.min_length,
            "max_length": default.max_length,
            "regex": default.regex,
            "choices": list(default.choices) if default.choices is not None else None,
            "deprecated": default.deprecated,
            "accept": getattr(default, "accept", None),
        }
    if default is inspect.Parameter.empty:
        return {"default": MISSING}
    return {"default": default}


def signature_from_callable(fn: Any, mode: str, *, strict_inputs: bool = True) -> Signature:
    """The Signature of an imported predict/train callable (a bound method or a function)."""
    what = "predict" if mode == "predict" else "train"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # noqa: BLE001
        raise SchemaError(f"cannot resolve the type annotations of {what}(): {exc}") from None
    sig = inspect.signature(fn)
    inputs: list[InputField] = []
    for order, param in enumerate(p for p in sig.parameters.values() if p.name != "self"):
        where = f"parameter `{param.name}` of {what}()"
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise SchemaError(f"Unsupported variadic positional parameter *{param.name} in {what}()")
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise SchemaError(f"Unsupported variadic keyword parameter **{param.name} in {what}()")
        if param.name not in hints:
            raise SchemaError(
                f"No input type provided for {where}",
                hint=f"annotate it, e.g. `{param.name}: str = Input(description=...)`",
            )
        spec = type_from_annotation(hints[param.name], where)
        check_input_type(spec, where)
        settings = _field_settings(param.default)
        inputs.append(checked_field(param.name, spec, order, settings))
    if "return" in hints:
        output = type_from_annotation(hints["return"], f"the return type of {what}()", allow_output=True)
    else:
        output = TypeSpec("any")
    streaming = bool(getattr(fn, "__cog_streaming__", False))
    return check_streaming(Signature(mode=mode, inputs=inputs, output=output, streaming=streaming))


def _is_file_type(spec: TypeSpec) -> bool:
    if spec.kind == "list" and spec.args:
        return _is_file_type(spec.args[0])
    return spec.kind in ("path", "file")


def checked_field(name: str, spec: TypeSpec, order: int, settings: dict[str, Any]) -> InputField:
    """An InputField after Cog's build-time checks of its Input() settings (both producers use it)."""
    if settings.get("default") is None:
        spec = _with_nullable(spec, True)
    field = InputField(name=name, type=spec, order=order, **settings)
    if field.accept is not None and not _is_file_type(spec):
        raise SchemaError(f"accept is only valid on Path or File inputs (parameter '{name}')",
                          hint="remove accept=, or make the input a Path")
    limits = ("ge", "le", "min_length", "max_length", "regex", "choices")
    if spec.kind == "union" and any(getattr(field, a) is not None for a in limits):
        raise SchemaError(f"unsupported type: constraints and choices are not supported on union inputs "
                          f"(parameter '{name}')")
    _check_default(field)
    return field


def _check_default(field: InputField) -> None:
    """A default must satisfy its own constraints (Cog's schema validation refuses it otherwise)."""
    value = field.default
    if value is MISSING or value is None:
        return
    values = value if isinstance(value, (list, tuple)) and field.type.kind == "list" else [value]
    for item in values:
        problem = None
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if field.ge is not None and item < field.ge:
                problem = f"is less than the minimum of {field.ge}"
            elif field.le is not None and item > field.le:
                problem = f"is greater than the maximum of {field.le}"
        if isinstance(item, str):
            if field.min_length is not None and len(item) < field.min_length:
                problem = f"is shorter than min_length {field.min_length}"
            elif field.max_length is not None and len(item) > field.max_length:
                problem = f"is longer than max_length {field.max_length}"
        if field.choices is not None and item not in field.choices:
            problem = f"is not one of the choices {field.choices!r}"
        if problem:
            raise SchemaError(f"parameter '{field.name}': default {item!r} {problem}",
                              hint="change the default, or the constraint, so the default is a valid input")
