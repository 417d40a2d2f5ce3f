"""Build-time Signature from source text: `ast` only, the user's module is never imported.

Used for the `run.cog.openapi_schema` label, so a build needs neither the model's
dependencies nor a booted container. Names are resolved through the module's own imports
(`from cog import Path as P`, `import typing as t`, ...); module-level constants may feed
`Input(choices=...)`; output models may live in the same file or a sibling module. The result
must equal signature.signature_from_callable() on the imported code (tests assert it).
"""

from __future__ import annotations

import ast
import operator
import os
from typing import Any

from cogkit.schema.signature import (
    INPUT_TYPES_HINT,
    MISSING,
    InputField,
    SchemaError,
    Signature,
    TypeSpec,
    _literal,
    _with_nullable,
    check_input_type,
    check_streaming,
    checked_field,
    union_spec,
)

_PRIMITIVES = {"str", "int", "float", "bool"}
_ANY = {"typing.Any", "object"}
_PATHS = {"cog.Path", "cog.types.Path", "pathlib.Path", "pathlib.PosixPath"}
_FILES = {"cog.File", "cog.types.File", "io.IOBase"}
_SECRETS = {"cog.Secret", "cog.types.Secret"}
_LISTS = {"list", "typing.List"}
_DICTS = {"dict", "typing.Dict"}
_ITERATORS = {
    f"{module}.{name}"
    for module in ("typing", "collections.abc")
    for name in ("Iterator", "Generator", "Iterable", "AsyncIterator", "AsyncGenerator", "AsyncIterable")
}
_CONCAT = {
    "cog.ConcatenateIterator",
    "cog.types.ConcatenateIterator",
    "cog.AsyncConcatenateIterator",
    "cog.types.AsyncConcatenateIterator",
}
_INPUT_FUNCS = {"cog.Input", "cog.types.Input"}
_SECRET_FUNCS = _SECRETS
_INPUT_ARGS = (
    "default", "description", "ge", "le", "min_length", "max_length", "regex", "choices", "deprecated",
    "accept",
)
_ANNOTATED = {"typing.Annotated", "typing_extensions.Annotated"}
_STREAMING = {"cog.streaming", "cog.decorators.streaming"}
_OPAQUE = {"cog.Opaque", "cog.types.Opaque"}
_TYPEDDICT = {"typing.TypedDict", "typing_extensions.TypedDict"}
_REQUIRED_WRAPPERS = {
    f"{module}.{name}" for module in ("typing", "typing_extensions") for name in ("Required", "NotRequired")
}


_KNOWN = (
    _ANY | _PATHS | _FILES | _SECRETS | _LISTS | _DICTS | _ITERATORS | _CONCAT | _INPUT_FUNCS
    | _ANNOTATED | _OPAQUE | _TYPEDDICT | _STREAMING
    | {"typing.Optional", "typing.Union", "typing.Literal", "cog.BaseModel", "pydantic.BaseModel"}
)
_ARITHMETIC: dict[type[ast.operator], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


class _Module:
    """One parsed source file: its imports, top-level classes, functions and constants."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        try:
            with open(path, encoding="utf-8") as fh:
                source = fh.read()
        except OSError as exc:
            raise SchemaError(f"cannot read {path}: {exc.strerror}") from None
        try:
            self.tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            raise SchemaError(f"cannot parse {path}: {exc.msg} (line {exc.lineno})") from None
        self.aliases: dict[str, str] = {}
        self.imported_from: dict[str, tuple[str, int, str]] = {}  # local name -> (module, level, name)
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.constants: dict[str, ast.expr] = {}
        self.star_modules: list[str] = []  # `from cog import *` and friends
        for node in self.tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases[top] = top
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                for alias in node.names:
                    if alias.name == "*":
                        self.star_modules.append(module)
                        continue
                    local = alias.asname or alias.name
                    if node.level == 0:
                        self.aliases[local] = f"{module}.{alias.name}" if module else alias.name
                    self.imported_from[local] = (module, node.level, alias.name)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.constants[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.constants[node.target.id] = node.value

    def qualified(self, node: ast.expr) -> str | None:
        """'cog.Path' for `Path` (from cog import Path) or `cog.Path`; None if not a name."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id not in self.classes and node.id not in self.constants:
                for module in self.star_modules:
                    if f"{module}.{node.id}" in _KNOWN:
                        return f"{module}.{node.id}"
            return node.id
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def sibling(self, local: str) -> tuple[_Module, str] | None:
        """The module and class name a local name was imported from, if it is a file next to us."""
        if local not in self.imported_from:
            return None
        module, level, name = self.imported_from[local]
        base = self.dir
        for _ in range(max(level - 1, 0)):
            base = os.path.dirname(base)
        rel = module.replace(".", os.sep)
        for candidate in (os.path.join(base, rel + ".py"), os.path.join(base, rel, "__init__.py")):
            if module and os.path.isfile(candidate):
                return _Module(candidate), name
        return None

    # --- constant evaluation -------------------------------------------------------------------
    def evaluate(self, node: ast.expr, what: str, depth: int = 0) -> Any:
        if depth > 20:
            raise SchemaError(f"cannot evaluate {what} statically")
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.evaluate(self.constants[node.id], what, depth + 1)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [self.evaluate(e, what, depth + 1) for e in node.elts]
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {
                self.evaluate(k, what, depth + 1): self.evaluate(v, what, depth + 1)  # type: ignore[arg-type]
                for k, v in zip(node.keys, node.values, strict=True)
            }
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            left = self.evaluate(node.left, what, depth + 1)
            right = self.evaluate(node.right, what, depth + 1)
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
            if numbers and not (isinstance(node.op, ast.Pow) and abs(right) > 64):
                return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.evaluate(node.operand, what, depth + 1)
            if isinstance(value, (int, float)):
                return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call):
            func = self.qualified(node.func)
            if func in ("list", "tuple", "sorted") and len(node.args) == 1 and not node.keywords:
                inner = self.evaluate(node.args[0], what, depth + 1)
                return sorted(inner) if func == "sorted" else list(inner)
            if func in _SECRET_FUNCS and len(node.args) <= 1:
                return self.evaluate(node.args[0], what, depth + 1) if node.args else None
            attr = node.func.attr if isinstance(node.func, ast.Attribute) else None
            if attr in ("keys", "values") and not node.args:
                mapping = self.evaluate(node.func.value, what, depth + 1)  # type: ignore[attr-defined]
                if isinstance(mapping, dict):
                    return list(mapping.keys() if attr == "keys" else mapping.values())
        raise SchemaError(
            f"cannot evaluate {what} without importing the module ({ast.unparse(node)})",
            hint="use literals or module-level constants in Input(...)",
        )


def _string_annotation(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise SchemaError(f"invalid string annotation {node.value!r}") from None
    return node


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    return [node]


def _model_base_kind(mod: _Module, cls: ast.ClassDef, depth: int = 0) -> str | None:
    """'cog' or 'pydantic' when cls derives from a BaseModel, else None."""
    if depth > 10:
        return None
    for base in cls.bases:
        qual = mod.qualified(base) or ""
        if qual in _TYPEDDICT:
            return "typeddict"
        if qual.split(".")[-1] == "BaseModel":
            return "pydantic" if qual.startswith("pydantic") else "cog"
        if isinstance(base, ast.Name) and base.id in mod.classes:
            kind = _model_base_kind(mod, mod.classes[base.id], depth + 1)
            if kind:
                return kind
    return None


def _type(mod: _Module, node: ast.expr, where: str, allow_output: bool) -> TypeSpec:
    node = _string_annotation(node)
    members = _union_members(node)
    if len(members) > 1:
        return _union(mod, members, where, allow_output)
    qual = mod.qualified(node)
    if qual is not None:
        if qual in _PRIMITIVES:
            return TypeSpec(qual)
        if qual in _ANY:
            return TypeSpec("any")
        if qual in _PATHS:
            return TypeSpec("path")
        if qual in _FILES:
            return TypeSpec("file")
        if qual in _SECRETS:
            return TypeSpec("secret")
        if qual in _LISTS:
            return TypeSpec("list", args=(TypeSpec("any"),))
        if qual in _DICTS:
            return TypeSpec("dict")
        model = _model(mod, node, where)
        if model is not None:
            if model.kind == "typeddict":  # Cog: a TypedDict input is an opaque object
                return model.fields_spec if allow_output else TypeSpec("dict")
            if allow_output:
                return model.fields_spec
            raise SchemaError(f"unsupported input type ({model.fields_spec.name}) for {where}",
                              hint=INPUT_TYPES_HINT)
    if isinstance(node, ast.Subscript):
        outer = mod.qualified(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in _ANNOTATED:
            if any(mod.qualified(a) in _OPAQUE for a in args[1:]):
                return _opaque(mod, args[0])
            return _type(mod, args[0], where, allow_output)
        if outer == "typing.Optional":
            return _with_nullable(_type(mod, args[0], where, allow_output), True)
        if outer == "typing.Union":
            return _union(mod, args, where, allow_output)
        if outer == "typing.Literal":
            values = tuple(mod.evaluate(arg, f"the Literal of {where}") for arg in args)
            return _literal(values, where)
        if outer in _LISTS:
            return TypeSpec("list", args=(_type(mod, args[0], where, allow_output),))
        if outer in _DICTS:
            value = args[1] if len(args) == 2 else None
            if allow_output and value is not None and mod.qualified(value) not in _ANY:
                return TypeSpec("dict", args=(_type(mod, value, where, True),))
            return TypeSpec("dict")
        if allow_output:
            if outer in _CONCAT:
                return TypeSpec("iterator", args=(_type(mod, args[0], where, True),), concatenate=True)
            if outer in _ITERATORS:
                return TypeSpec("iterator", args=(_type(mod, args[0], where, True),))
    raise _unresolvable(mod, node, where)


def _unresolvable(mod: _Module, node: ast.expr, where: str) -> SchemaError:
    """Cog's static-schema wording for a type it cannot see into, with the Opaque way out."""
    text = ast.unparse(node)
    head = node.value if isinstance(node, ast.Subscript) else node
    local = head.id if isinstance(head, ast.Name) else None
    if isinstance(node, ast.Subscript):
        return SchemaError(f"unsupported type: {text} is not a supported type for {where}",
                           hint=INPUT_TYPES_HINT)
    if local is not None and local in mod.imported_from and mod.sibling(local) is None:
        module = mod.imported_from[local][0] or "."
        return SchemaError(
            f"cannot resolve type '{text}' (imported from '{module}') - external types cannot be statically "
            f"analyzed ({where})",
            hint=f"if it is a JSON-shaped type, mark it opaque: Annotated[{text}, cog.Opaque]",
        )
    return SchemaError(
        f"cannot resolve type '{text}' - it is not a primitive type (str, int, float, bool, Path) and no "
        f"BaseModel definition was found in the predict file ({where})",
        hint=INPUT_TYPES_HINT,
    )


def _opaque(mod: _Module, node: ast.expr) -> TypeSpec:
    """Annotated[T, Opaque]: T is never resolved; an object, a list of them, nullable if Optional."""
    node = _string_annotation(node)
    members = _union_members(node)
    nullable = False
    if isinstance(node, ast.Subscript) and mod.qualified(node.value) == "typing.Optional":
        members, nullable = [node.slice], True
    elif len(members) > 1:
        real = [m for m in members if not _is_none(m)]
        nullable = len(real) < len(members)
        members = real
    if len(members) == 1:
        inner = members[0]
        outer = mod.qualified(inner.value) if isinstance(inner, ast.Subscript) else mod.qualified(inner)
        if outer in _LISTS:
            return TypeSpec("list", args=(TypeSpec("dict"),), nullable=nullable)
    return TypeSpec("dict", nullable=nullable)


def _union(mod: _Module, members: list[ast.expr], where: str, allow_output: bool) -> TypeSpec:
    real = [m for m in members if not _is_none(_string_annotation(m))]
    nullable = len(real) < len(members)
    specs = [_type(mod, m, where, allow_output) for m in real]
    if len(specs) == 1:
        return _with_nullable(specs[0], nullable)
    return union_spec(specs, nullable, where, allow_output)


class _Found:
    """A model class found in source: its kind (cog/pydantic/typeddict) and its object TypeSpec."""

    def __init__(self, kind: str, fields_spec: TypeSpec) -> None:
        self.kind = kind
        self.fields_spec = fields_spec


def _model(mod: _Module, node: ast.expr, where: str) -> _Found | None:
    if isinstance(node, ast.Name) and node.id in mod.classes:
        cls = mod.classes[node.id]
        kind = _model_base_kind(mod, cls)
        if kind is None:
            return None
        return _Found(kind, _model_fields(mod, cls, kind, where))
    if isinstance(node, ast.Name):
        found = mod.sibling(node.id)
        if found is not None:
            other, name = found
            return _model(other, ast.Name(id=name, ctx=ast.Load()), where)
    return None


def _model_fields(mod: _Module, cls: ast.ClassDef, kind: str, where: str) -> TypeSpec:
    fields: dict[str, tuple[TypeSpec, bool]] = {}
    chain: list[ast.ClassDef] = []
    current: ast.ClassDef | None = cls
    while current is not None:
        chain.append(current)
        current = _local_base(mod, current)
    for klass in reversed(chain):
        for stmt in klass.body:
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            name = stmt.target.id
            if name.startswith("_") or (mod.qualified(stmt.annotation) or "").endswith("ClassVar"):
                continue
            annotation = _string_annotation(stmt.annotation)
            if kind == "typeddict":
                required = _total(mod, klass)
                wrapper = mod.qualified(annotation.value) if isinstance(annotation, ast.Subscript) else None
                if wrapper in _REQUIRED_WRAPPERS:
                    required = (wrapper or "").endswith(".Required")
                    annotation = annotation.slice
                spec = _type(mod, annotation, f"{where}.{name}", True)
                fields[name] = (spec, required and not spec.nullable)
                continue
            spec = _type(mod, annotation, f"{where}.{name}", True)
            if kind == "pydantic":
                required = stmt.value is None
            else:
                required = stmt.value is None and not spec.nullable
            fields[name] = (spec, required)
    return TypeSpec(
        "object", name=cls.name, fields=tuple((n, s, r) for n, (s, r) in fields.items())
    )


def _total(mod: _Module, cls: ast.ClassDef) -> bool:
    for keyword in cls.keywords:
        if keyword.arg == "total":
            return bool(mod.evaluate(keyword.value, f"total= of {cls.name}"))
    return True


def _local_base(mod: _Module, cls: ast.ClassDef) -> ast.ClassDef | None:
    """The first base class of `cls` that is defined in the same module."""
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in mod.classes and base.id != cls.name:
            return mod.classes[base.id]
    return None


def _find_entry(
    mod: _Module, name: str, method: str
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]:
    """The predict/train function node and whether it is a method (has self)."""
    if name in mod.functions:
        return mod.functions[name], False
    if name not in mod.classes:
        raise SchemaError(f"{mod.path} does not define {name}", hint="check `predict:`/`train:` in cog.yaml")
    # newer Cog spells predict() as BaseRunner.run()
    for wanted in ("run", method) if method == "predict" else (method,):
        cls: ast.ClassDef | None = mod.classes[name]
        seen = set()
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            for stmt in cls.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == wanted:
                    return stmt, True
            cls = _local_base(mod, cls)
    raise SchemaError(f"{name} in {mod.path} has no {method}() method")


def _field_settings(mod: _Module, default: ast.expr | None, param: str) -> dict[str, Any]:
    if default is None:
        return {"default": MISSING}
    if isinstance(default, ast.Call) and mod.qualified(default.func) in _INPUT_FUNCS:
        settings: dict[str, Any] = {"default": MISSING}
        for index, arg in enumerate(default.args):
            settings[_INPUT_ARGS[index]] = mod.evaluate(arg, f"Input() of parameter `{param}`")
        for keyword in default.keywords:
            if keyword.arg == "default_factory":
                raise SchemaError(f"parameter '{param}': default_factory is not supported in static schema "
                                  "generation", hint="use a literal default value")
            if keyword.arg not in _INPUT_ARGS:
                raise SchemaError(f"unknown Input() argument {keyword.arg!r} for parameter `{param}`")
            settings[keyword.arg] = mod.evaluate(keyword.value, f"`{keyword.arg}` of parameter `{param}`")
        if settings.get("choices") is not None:
            settings["choices"] = list(settings["choices"])
        return settings
    if isinstance(default, ast.Constant) and default.value is Ellipsis:
        return {"default": MISSING}
    return {"default": mod.evaluate(default, f"the default of parameter `{param}`")}


def signature_from_source(path: str, name: str, mode: str = "predict") -> Signature:
    """Parse `path` and describe `name` (class with predict()/train(), or a function)."""
    mod = _Module(path)
    method = "predict" if mode == "predict" else "train"
    fn, is_method = _find_entry(mod, name, method)
    what = method
    args = fn.args
    if args.vararg is not None:
        raise SchemaError(f"Unsupported variadic positional parameter *{args.vararg.arg} in {what}()")
    if args.kwarg is not None:
        raise SchemaError(f"Unsupported variadic keyword parameter **{args.kwarg.arg} in {what}()")
    positional = list(args.posonlyargs) + list(args.args)
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = list(zip(positional, defaults, strict=True))
    params += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    if is_method and params:
        params = params[1:]
    inputs: list[InputField] = []
    for order, (arg, default) in enumerate(params):
        where = f"parameter `{arg.arg}` of {what}()"
        if arg.annotation is None:
            raise SchemaError(
                f"No input type provided for {where}",
                hint=f"annotate it, e.g. `{arg.arg}: str = Input(description=...)`",
            )
        spec = _type(mod, arg.annotation, where, allow_output=False)
        check_input_type(spec, where)
        settings = _field_settings(mod, default, arg.arg)
        inputs.append(checked_field(arg.arg, spec, order, settings))
    if fn.returns is not None:
        output = _type(mod, fn.returns, f"the return type of {what}()", allow_output=True)
    else:
        output = TypeSpec("any")
    streaming = any(_decorator_name(mod, d) in _STREAMING for d in fn.decorator_list)
    return check_streaming(Signature(mode=mode, inputs=inputs, output=output, streaming=streaming))


def _decorator_name(mod: _Module, node: ast.expr) -> str | None:
    """'cog.streaming' for `@streaming`, `@streaming()`, `@cog.streaming` and `@cog.streaming()`."""
    return mod.qualified(node.func if isinstance(node, ast.Call) else node)
