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
INPUT_KINDS = frozenset(("str", "int", "float", "bool", "path", "file", "secret"))
INPUT_TYPES_HINT = (
    "inputs may be str, int, float, bool, Path, File, Secret, list[...] and Optional/Union/Literal of those"
)


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

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass
class Signature:
    """Inputs and output of one entry point (mode "predict" or "train")."""

    mode: str
    inputs: list[InputField] = field(default_factory=list)
    output: TypeSpec = TypeSpec("any")


# ---------------------------------------------------------------------------------------------
# runtime introspection


def _cog_type_name(tp: Any) -> str | None:
    """'Path', 'File', 'Secret', ... when `tp` is one of cog's special classes (cogkit's or Cog's)."""
    module = getattr(tp, "__module__", "") or ""
    if module == "cog" or module.startswith("cog."):
        return getattr(tp, "__name__", None)
    return None


def _is_model_class(tp: Any) -> bool:
    if not isinstance(tp, type):
        return False
    if hasattr(tp, "__cog_fields__"):
        return True
    return any(base.__name__ == "BaseModel" for base in tp.__mro__[1:])


def _model_spec(tp: type, where: str) -> TypeSpec:
    try:
        hints = typing.get_type_hints(tp)
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
    if isinstance(tp, type) and issubclass(tp, pathlib.PurePath):
        return TypeSpec("path")
    if isinstance(tp, type) and issubclass(tp, io.IOBase):
        return TypeSpec("file")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        specs = [type_from_annotation(a, where, allow_output=allow_output) for a in members]
        if len(specs) == 1:
            return _with_nullable(specs[0], nullable)
        return TypeSpec("union", args=tuple(specs), nullable=nullable)
    if origin is typing.Literal:
        return _literal(args, where)
    if tp in (list, typing.List) or origin is list:  # noqa: UP006 - bare typing.List is user input
        item = type_from_annotation(args[0], where, allow_output=allow_output) if args else TypeSpec("any")
        return TypeSpec("list", args=(item,))
    if allow_output:
        if tp in (dict, typing.Dict) or origin is dict:  # noqa: UP006
            return TypeSpec("dict")
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
    """Cog allows only primitives, files, secrets, lists and unions of those as inputs."""
    if spec.kind in INPUT_KINDS or spec.kind == "literal":
        return
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
        }
    if default is inspect.Parameter.empty:
        return {"default": MISSING}
    return {"default": default}


def signature_from_callable(fn: Any, mode: str, *, strict_inputs: bool = True) -> Signature:
    """The Signature of an imported predict/train callable (a bound method or a function)."""
    what = "predict" if mode == "predict" else "train"
    try:
        hints = typing.get_type_hints(fn)
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
        if settings["default"] is None:
            spec = _with_nullable(spec, True)
        inputs.append(InputField(name=param.name, type=spec, order=order, **settings))
    if "return" in hints:
        output = type_from_annotation(hints["return"], f"the return type of {what}()", allow_output=True)
    else:
        output = TypeSpec("any")
    return Signature(mode=mode, inputs=inputs, output=output)
