"""Loading a predictor (`file.py:Name`, class or function) in the child, and adapting values.

Inputs arrive validated, with files as local paths; they are wrapped into the types the
predictor declared (cog.Path, an open File, cog.Secret). Outputs are flattened into
msgpack-able values, with files as pathlib.Path (File objects are spilled to disk first).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import inspect
import io
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from cogkit.errors import CogkitError
from cogkit.schema.signature import MISSING, SchemaError, Signature, TypeSpec, signature_from_callable


class PredictorLoadError(CogkitError):
    """The predictor reference cannot be imported or does not describe a predictor."""


def parse_ref(ref: str) -> tuple[str, str]:
    """'predict.py:Predictor' -> ('predict.py', 'Predictor')."""
    path, sep, name = ref.rpartition(":")
    if not sep or not path or not name:
        raise PredictorLoadError(
            f"invalid predictor reference {ref!r}", hint="use the form `predict.py:Predictor`"
        )
    return path, name


def import_module_from_file(path: str) -> Any:
    """Import a user module by file path, registered under its stem (as Cog does)."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise PredictorLoadError(f"predictor file {path} does not exist", hint="check `predict:` in cog.yaml")
    directory = os.path.dirname(full)
    if directory not in sys.path:  # `src/predict.py` may import its neighbours (`from utils import x`)
        sys.path.append(directory)
    module_name = os.path.splitext(os.path.basename(full))[0]
    spec = importlib.util.spec_from_file_location(module_name, full)
    if spec is None or spec.loader is None:
        raise PredictorLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class LoadedPredictor:
    """The callables of an instantiated predictor plus what the worker needs to drive them."""

    entry: Callable[..., Any]
    setup: Callable[..., Any] | None
    mode: str
    signature: Signature | None
    signature_error: str | None
    defaults: dict[str, Any]
    converters: dict[str, Callable[[Any], Any]]
    output_type: TypeSpec | None
    accepted: frozenset[str] | None = None  # parameter names; None when predict takes **kwargs
    healthcheck: Callable[[], Any] | None = None  # the user's healthcheck() (sync or async), if any

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.entry) or inspect.isasyncgenfunction(self.entry)

    @property
    def setup_is_async(self) -> bool:
        return self.setup is not None and inspect.iscoroutinefunction(self.setup)

    @property
    def setup_takes_weights(self) -> bool:
        if self.setup is None:
            return False
        return "weights" in inspect.signature(self.setup).parameters

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validated wire values -> the objects predict() expects; missing ones get defaults.

        A value that cannot be converted raises InputConversionError (one line, no traceback:
        the frames would be cogkit's, not the model's).
        """
        values: dict[str, Any] = {}
        converters = self.converters
        accepted = self.accepted
        for name, value in raw.items():
            if accepted is not None and name not in accepted:
                continue  # unknown inputs are ignored, as Cog does (validation normally drops them)
            conv = converters.get(name)
            values[name] = _convert(name, conv, value) if conv is not None and value is not None else value
        for name, default in self.defaults.items():
            if name not in values:
                conv = converters.get(name)
                values[name] = _convert(name, conv, default) if conv is not None and default is not None \
                    else default
        return values


class InputConversionError(Exception):
    """An input value could not become the object predict() expects (e.g. a file that cannot be opened)."""


def _convert(name: str, conv: Callable[[Any], Any], value: Any) -> Any:
    try:
        return conv(value)
    except OSError as exc:
        raise InputConversionError(f"input {name!r}: cannot open the file ({exc.strerror or exc})") from None
    except Exception as exc:
        raise InputConversionError(f"input {name!r}: {type(exc).__name__}: {exc}") from None


def load_predictor(ref: str, mode: str = "predict") -> LoadedPredictor:
    """Import and instantiate the predictor named by `ref` (relative to the current directory)."""
    path, name = parse_ref(ref)
    module = import_module_from_file(path)
    if not hasattr(module, name):
        raise PredictorLoadError(f"{path} does not define {name}", hint="check `predict:` in cog.yaml")
    target = getattr(module, name)
    method = "predict" if mode == "predict" else "train"
    setup = None
    healthcheck = None
    if inspect.isclass(target):
        instance = target()
        user_check = getattr(instance, "healthcheck", None)
        healthcheck = user_check if callable(user_check) else None
        entry = getattr(instance, method, None)
        setup = getattr(instance, "setup", None)
        base_method = None
        for klass in type(instance).__mro__:
            if klass.__name__ in ("BasePredictor", "BaseRunner") and method in klass.__dict__:
                base_method = klass.__dict__[method]
        run_attr = getattr(type(instance), "run", None)
        user_run = callable(getattr(instance, "run", None)) and run_attr is not _base_run()
        if mode == "predict" and user_run and getattr(type(instance), method, None) is not base_method:
            raise PredictorLoadError(f"{name} must define either run() or predict(), not both",
                                     hint="rename predict() to run() (Cog 0.20's name) and keep only one")
        if entry is None or getattr(type(instance), method, None) is base_method:
            runner_method = getattr(instance, "run", None) if mode == "predict" else None
            if not callable(runner_method) or getattr(type(instance), "run", None) is _base_run():
                raise PredictorLoadError(f"{name} in {path} has no {method}() method")
            entry = runner_method  # newer Cog's BaseRunner.run()
        if setup is not None and _is_noop_setup(type(instance)):
            setup = None
    elif callable(target):
        entry = target
    else:
        raise PredictorLoadError(f"{name} in {path} is neither a class nor a function")
    signature = None
    signature_error = None
    try:
        signature = signature_from_callable(entry, mode)
    except SchemaError as exc:
        signature_error = exc.message
    defaults = _defaults_of(entry)
    for item in signature.inputs if signature is not None else ():
        if item.default is MISSING and item.type.nullable:
            defaults.setdefault(item.name, None)  # an omitted Optional input is None (Cog 0.21)
    return LoadedPredictor(
        entry=entry,
        setup=setup,
        mode=mode,
        signature=signature,
        signature_error=signature_error,
        defaults=defaults,
        accepted=_accepted_names(entry),
        converters=_converters_of(signature),
        output_type=signature.output if signature else None,
        healthcheck=healthcheck,
    )


def _base_run() -> Any:
    """BaseRunner.run of the compat package (the not-implemented placeholder), if loaded."""
    module = sys.modules.get("cog.base_predictor")
    runner = getattr(module, "BaseRunner", None)
    return runner.__dict__.get("run") if runner is not None else None


def _is_noop_setup(cls: type) -> bool:
    for klass in cls.__mro__:
        if "setup" in klass.__dict__:
            return klass.__name__ in ("BasePredictor", "BaseRunner") and klass.__module__.startswith("cog")
    return False


def _accepted_names(fn: Callable[..., Any]) -> frozenset[str] | None:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def _defaults_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameter defaults with Input(...) unwrapped; required parameters are left out."""
    defaults: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        default = param.default
        if default is inspect.Parameter.empty:
            continue
        if type(default).__name__ == "FieldInfo" and hasattr(default, "default"):
            default = default.default
        if default is MISSING:
            continue
        defaults[param.name] = default
    return defaults


# --- input adaptation -----------------------------------------------------------------------


def _cog() -> Any:
    import cog  # the compat package, first on sys.path in the child

    return cog


def _converter(spec: TypeSpec) -> Callable[[Any], Any] | None:
    kind = spec.kind
    if kind == "path":
        path_cls = _cog().Path
        return lambda v: v if isinstance(v, path_cls) else path_cls(v)
    if kind == "file":
        return lambda v: v if isinstance(v, io.IOBase) else open(v, "rb")  # noqa: SIM115 - predictor owns it
    if kind == "secret":
        secret_cls = _cog().Secret
        return lambda v: v if isinstance(v, secret_cls) else secret_cls(v)
    if kind == "list":
        inner = _converter(spec.args[0])
        if inner is None:
            return None
        return lambda v: [inner(x) if x is not None else x for x in v] if isinstance(v, list) else inner(v)
    if kind == "union":
        pairs = [(arg, _converter(arg)) for arg in spec.args]
        if all(conv is None for _, conv in pairs):
            return None

        def convert_union(v: Any) -> Any:
            for arg, conv in pairs:
                if (arg.kind == "list") == isinstance(v, list):
                    return conv(v) if conv is not None else v
            return v

        return convert_union
    return None


def _converters_of(signature: Signature | None) -> dict[str, Callable[[Any], Any]]:
    if signature is None:
        return {}
    converters = {}
    for field in signature.inputs:
        conv = _converter(field.type)
        if conv is not None:
            converters[field.name] = conv
    return converters


# --- output adaptation ----------------------------------------------------------------------


class OutputError(Exception):
    """predict() returned something that does not match its declared output type."""


# Item kinds whose values check_output passes through unchanged when their type is exactly one of these.
_EXACT_ITEM_TYPES: dict[str, frozenset[type]] = {
    "float": frozenset({float, int}),
    "int": frozenset({int}),
    "str": frozenset({str}),
    "bool": frozenset({bool}),
}
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def check_output(value: Any, spec: TypeSpec | None, where: str = "output") -> Any:
    """Verify/coerce a return value against its annotation, as Cog's output model does.

    Primitives are checked strictly (an int is accepted for float), a str returned for a
    Path/File output becomes a path (so it is uploaded), lists and optional values recurse;
    models, dicts and Any pass through. Raises OutputError naming where the mismatch is.
    """
    if spec is None:
        return value
    kind = spec.kind
    if value is None:
        # Cog 0.2x answers `"output": null` (succeeded) for None from `-> int`/`-> str`; inside a
        # list or a yielded item a None is still a mismatch
        if spec.nullable or kind in ("any", "object", "dict") or where == "output":
            return None
        raise OutputError(f"{where}: expected {kind}, got None")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind in ("str", "secret"):
        if isinstance(value, str) or (kind == "secret" and hasattr(value, "get_secret_value")):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind in ("path", "file"):
        if isinstance(value, (os.PathLike, io.IOBase)):
            return value
        if isinstance(value, str):
            return pathlib.Path(value)
    elif kind == "list":
        if isinstance(value, (list, tuple)):
            item = spec.args[0] if spec.args else None
            # A list of plain scalars (an embedding: thousands of floats) in one pass, no per-item call
            # or `where` string; anything else, or a mismatch to name, takes the item-by-item path.
            exact = _EXACT_ITEM_TYPES.get(item.kind) if item is not None and not item.nullable else None
            if exact is not None and exact.issuperset(map(type, value)):
                return value if type(value) is list else list(value)
            return [check_output(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif kind == "literal":
        if value in spec.values:
            return value
    elif kind == "union":
        for option in spec.args:
            try:
                return check_output(value, option, where)
            except OutputError:
                continue
    else:  # any, dict, object, iterator items handled by the caller
        return value
    raise OutputError(f"{where}: expected {kind}, got {type(value).__name__}")


class OutputEncoder:
    """Turns predictor return values into msgpack-able trees; file objects are written to `outdir`."""

    def __init__(self, outdir: str | None = None) -> None:
        self._outdir = outdir

    def _spill(self, fileobj: io.IOBase) -> pathlib.Path:
        import shutil
        import tempfile  # only File outputs need these; keep them off the start-up path

        if self._outdir is None:
            self._outdir = tempfile.mkdtemp(prefix="cogkit-out-")
        name = os.path.basename(str(getattr(fileobj, "name", "") or "")) or "output"
        target_dir = tempfile.mkdtemp(dir=self._outdir)
        target = os.path.join(target_dir, name)
        if hasattr(fileobj, "seek") and fileobj.seekable():
            fileobj.seek(0)
        with open(target, "wb") as out:
            if isinstance(fileobj, io.TextIOBase):
                out.write(fileobj.read().encode())
            else:
                shutil.copyfileobj(fileobj, out)  # type: ignore[misc]
        return pathlib.Path(target)

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, os.PathLike):
            return pathlib.Path(os.path.abspath(os.fspath(value)))
        if isinstance(value, io.IOBase):
            return self._spill(value)
        if isinstance(value, dict):
            return {str(k): self.encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            if _JSON_SCALARS.issuperset(map(type, value)):  # vectors: nothing to convert, one C-level pass
                return value if type(value) is list else list(value)
            return [self.encode(v) for v in value]
        if hasattr(value, "__cog_fields__"):
            return {name: self.encode(getattr(value, name)) for name in value.__cog_fields__}
        if type(value).__name__ == "Secret" and hasattr(value, "get_secret_value"):
            return str(value)
        if hasattr(value, "model_dump"):  # pydantic v2 model
            return self.encode(value.model_dump())
        if hasattr(value, "dict") and hasattr(value, "__fields__"):  # pydantic v1 model
            return self.encode(value.dict())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.encode(dataclasses.asdict(value))
        if isinstance(value, enum.Enum):
            return self.encode(value.value)
        if hasattr(value, "tolist"):  # numpy arrays and scalars
            return self.encode(value.tolist())
        if hasattr(value, "isoformat"):
            return value.isoformat()
        raise OutputError(f"cannot encode a {type(value).__name__} as output")
