"""Find cog.yaml, parse it with positions, type-check it, apply Cog's rules, resolve CUDA/torch.

The result (`Config`) is everything the layer compiler needs, already validated: the compiler never
sees raw YAML and never has to report config mistakes itself.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from cogkit.config import rules
from cogkit.config.compat import CudaChoice, cudnn_versions_for, select_cuda
from cogkit.config.model import (
    IGNORED_BUILD_KEYS,
    UNSUPPORTED_KEYS,
    CogYaml,
    SecretMount,
    mapping_fields,
    validate,
)
from cogkit.config.requirements import (
    PythonRequirements,
    from_packages,
    read_requirements_file,
)
from cogkit.config.yamlpos import LoadedYaml, load_yaml
from cogkit.config.yamlpos import Path as YamlPath
from cogkit.errors import ConfigError

CONFIG_NAME = "cog.yaml"
_VERSION_KEYS: tuple[YamlPath, ...] = (("build", "python_version"), ("build", "cuda"), ("build", "cudnn"))


@dataclass(frozen=True)
class RunStep:
    """One build.run (or pre_install) command and the secrets it mounts."""

    command: str
    mounts: tuple[SecretMount, ...] = ()


@dataclass
class Config:
    path: Path
    project_dir: Path
    raw: dict[str, Any]  # the YAML as parsed, for the run.cog.config label
    model: CogYaml
    python_version: str  # major.minor
    environment: dict[str, str]
    cuda: CudaChoice
    # The user's, as written (local paths pointed at their mount); the layer plan points torch at
    # its wheel index (cogkit/config/torch_index.py), since that choice may need the network.
    requirements: PythonRequirements
    pre_install: list[RunStep]
    run: list[RunStep]
    warnings: list[str] = field(default_factory=list)

    @property
    def gpu(self) -> bool:
        return self.model.build.gpu

    @property
    def system_packages(self) -> list[str]:
        """Deduplicated and sorted, so reordering the YAML list does not invalidate the apt layer."""
        return sorted({p.strip() for p in self.model.build.system_packages or [] if p.strip()})

    @property
    def secret_ids(self) -> list[str]:
        return sorted({m.id for step in self.pre_install + self.run for m in step.mounts})


def find_config(start: Path | None = None, explicit: str | os.PathLike[str] | None = None) -> Path:
    """`-f FILE` if given, else the nearest cog.yaml walking up from `start` (the cwd)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_absolute():
            path = (start or Path.cwd()) / path
        if not path.is_file():
            raise ConfigError(f"config file {explicit} does not exist", "check the path given to -f")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{CONFIG_NAME} does not exist in {here} or any parent directory",
        "run cogkit inside your project, pass -f path/to/cog.yaml, or create one with `cogkit init`",
    )


def load_config(path: Path | str) -> Config:
    """Parse and validate one cog.yaml; every problem is a ConfigError pointing at its line."""
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions"
        ) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    name = path.name
    loaded = load_yaml(text, name)
    warnings: list[str] = []

    def fail(where: YamlPath, message: str, hint: str) -> NoReturn:
        pos = loaded.where(where)
        prefix = f"{name}:{pos.line}:{pos.column}: " if pos else f"{name}: "
        raise ConfigError(prefix + message, hint)

    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        fail(
            (),
            f"{name} must be a mapping of keys such as build: and predict:",
            "see `cogkit init` for an example",
        )
    _check_keys(data, (), loaded, fail)
    if "build" in data and data["build"] is None:  # a bare `build:` line means "defaults", as in Cog
        data = {k: v for k, v in data.items() if k != "build"}
    data = _versions_as_text(data, loaded)
    model = check_types(data, fail)
    for key in IGNORED_BUILD_KEYS:
        if getattr(model.build, key) is not None:
            warnings.append(f"build.{key} is a Cog option that cogkit ignores")
    if model.build.python_packages is not None:
        warnings.append("build.python_packages is deprecated; list packages in a requirements file instead")
    if model.build.pre_install is not None:
        warnings.append("build.pre_install is deprecated; use build.run instead")

    project_dir = path.parent
    rules.check_requirements_exclusive(model, fail)
    rules.check_python_version(model, fail)
    rules.check_concurrency(model, fail)
    rules.check_cuda(model, fail, warnings.append)
    rules.check_run_commands(model, fail)
    rules.check_system_packages(model, fail)
    environment = rules.check_environment(model, fail)
    rules.check_model(model, fail)
    rules.check_predictor_refs(model, project_dir, fail)
    if model.run is not None:  # one name from here on; the label keeps it under "predict", as Cog's does
        model = msgspec.structs.replace(model, predict=model.run)
        data = {("predict" if k == "run" else k): v for k, v in data.items()}

    if model.build.python_requirements is not None:
        try:
            requirements = read_requirements_file(project_dir / model.build.python_requirements, project_dir)
        except ConfigError as exc:
            fail(("build", "python_requirements"), exc.message, exc.hint or "")
    else:
        requirements = from_packages(model.build.python_packages or [])
    choice = select_cuda(
        model.build.gpu,
        model.build.cuda,
        model.build.cudnn,
        requirements.pinned("torch"),
        requirements.pinned("tensorflow"),
    )
    if model.build.gpu and model.build.cudnn is not None and choice.cuda is not None:
        compatible = cudnn_versions_for(choice.cuda)
        if model.build.cudnn.split(".")[0] not in compatible:
            fail(
                ("build", "cudnn"),
                f"CUDA {choice.cuda} is not compatible with cuDNN {model.build.cudnn}",
                f"compatible cuDNN versions are: {', '.join(compatible) or 'none'}; or remove build.cudnn",
            )
    warnings += choice.warnings + requirements.warnings

    return Config(
        path=path,
        project_dir=project_dir,
        raw=data,
        model=model,
        python_version=".".join(model.build.python_version.split(".")[:2]),
        environment=environment,
        cuda=choice,
        requirements=requirements,
        pre_install=[RunStep(c.strip()) for c in model.build.pre_install or []],
        run=[
            RunStep(item.strip())
            if isinstance(item, str)
            else RunStep(item.command.strip(), tuple(item.mounts or ()))
            for item in model.build.run or []
        ],
        warnings=warnings,
    )


def _check_keys(value: Any, path: YamlPath, loaded: LoadedYaml, fail: Any) -> None:
    """Reject unknown keys anywhere, naming the key, its position and the valid keys."""
    if isinstance(value, dict):
        allowed = mapping_fields(path)
        for key, child in value.items():
            key_path = path + (str(key),)
            if allowed is not None and str(key) not in allowed:
                if key_path in UNSUPPORTED_KEYS:
                    fail(key_path, f"'{key}' is not supported by cogkit", UNSUPPORTED_KEYS[key_path])
                where = ".".join(str(p) for p in path if isinstance(p, str)) or "the top level"
                close = difflib.get_close_matches(str(key), allowed, n=1)
                guess = f"did you mean '{close[0]}'? " if close else ""
                fail(key_path, f"unknown key '{key}' in {where}", f"{guess}valid keys: {', '.join(allowed)}")
            _check_keys(child, key_path, loaded, fail)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys(item, path + (index,), loaded, fail)


def _versions_as_text(data: dict[str, Any], loaded: LoadedYaml) -> dict[str, Any]:
    """Use the source text of version scalars: YAML reads `python_version: 3.10` as the float 3.1."""
    build = data.get("build")
    if not isinstance(build, dict):
        return data
    build = dict(build)
    for where in _VERSION_KEYS:
        value = build.get(where[1])
        if isinstance(value, int | float) and not isinstance(value, bool):
            pos = loaded.values.get(where)
            build[where[1]] = pos.raw if pos and pos.raw is not None else str(value)
    return {**data, "build": build}


def check_types(data: dict[str, Any], fail: Any) -> CogYaml:
    """The parsed YAML as a CogYaml, or `fail` naming the most specific field of the wrong type."""
    try:
        model = validate(data)
    except msgspec.ValidationError as exc:
        _raise_type_error(data, str(exc), fail)
    # msgspec takes a YAML !!set where a list is wanted; the strict check (Cog's schema) does not.
    if _has_set(data) and any(_type_errors(data, CogYaml, ())):
        _raise_type_error(data, None, fail)
    return model


_TYPE_NAMES = {
    "bool_type": "true or false",
    "string_type": "a string",
    "int_type": "an integer",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "literal_error": "one of the allowed values",
}

# (kind, path, the value found there, the allowed values for literal_error)
_TypeError = tuple[str, YamlPath, Any, str]


def _raise_type_error(data: dict[str, Any], reported: str | None, fail: Any) -> NoReturn:
    """Name the field that fails the type check and the type it should have, in one line.

    msgspec stops at the first mismatch, in the input's key order; the message picks the deepest one
    in field order (the most specific, e.g. build.run[0].command rather than "not a string"), so the
    data is walked again here against the Structs' field types to find every mismatch.
    """
    errors = list(_type_errors(data, CogYaml, ()))
    if not errors:  # the walk disagrees with msgspec: still one line, at msgspec's path
        text, _, where = (reported or "invalid value").partition(" - at `")
        loc = _msgspec_path(where.rstrip("`"))
        fail(loc, f"{_dotted(loc) or 'cog.yaml'} is not valid: {text}", "see `cogkit init` for an example")
    kind, loc, got, allowed = max(errors, key=lambda e: len(e[1]))
    field_name = _dotted(loc)
    if kind == "missing":
        fail(
            loc[:-1], f"{field_name} is required", f"add {loc[-1]}: to {_dotted(loc[:-1]) or 'the top level'}"
        )
    if kind == "literal_error":
        fail(loc, f"{field_name} must be {allowed}, got {got!r}", "secret is the only mount type")
    if kind == "string_too_short":
        fail(loc, f"{field_name} must not be empty", f"give {field_name} a value")
    expected = _TYPE_NAMES[kind]
    hint = f"change {field_name} to {expected}"
    if len(loc) == 3 and loc[:2] == ("build", "run"):
        expected = "a command string, or a mapping with command: and mounts:"
        hint = "write each item as - echo hello, or as - command: ... with mounts: [...]"
    elif expected == "a string" and isinstance(got, int | float | bool):
        hint = f'quote the value: "{got}"'
    fail(loc, f"{field_name} must be {expected}, got {_show(got)}", hint)


def _type_errors(value: Any, tp: Any, loc: YamlPath) -> Iterator[_TypeError]:
    """Every strict type mismatch of value against tp, fields in declaration order."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *metas = typing.get_args(tp)
        found = list(_type_errors(value, base, loc))
        yield from found
        shortest = max((m.min_length or 0 for m in metas if isinstance(m, msgspec.Meta)), default=0)
        if not found and len(value) < shortest:
            yield ("string_too_short", loc, value, "")
    elif origin is typing.Union or origin is types.UnionType:
        choices = [c for c in typing.get_args(tp) if c is not type(None)]
        if value is None and len(choices) < len(typing.get_args(tp)):
            return
        branches = [list(_type_errors(value, c, loc)) for c in choices]
        if all(branches):
            for found in branches:
                yield from found
    elif origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or not any(type(value) is type(a) for a in allowed):
            names = [repr(a) for a in allowed]
            text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
            yield ("literal_error", loc, value, text)
    elif origin is list:
        if not isinstance(value, list):
            yield ("list_type", loc, value, "")
            return
        (item_type,) = typing.get_args(tp)
        for index, item in enumerate(value):
            yield from _type_errors(item, item_type, loc + (index,))
    elif tp is dict or origin is dict:
        if not isinstance(value, dict):
            yield ("dict_type", loc, value, "")
    elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, dict):
            yield ("model_type", loc, value, "")
            return
        for info in msgspec.structs.fields(tp):
            if info.name in value:
                yield from _type_errors(value[info.name], info.type, loc + (info.name,))
            elif info.required:
                yield ("missing", loc + (info.name,), value, "")
    elif tp is bool:
        if not isinstance(value, bool):
            yield ("bool_type", loc, value, "")
    elif tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            yield ("int_type", loc, value, "")
    elif tp is str:
        if not isinstance(value, str):
            yield ("string_type", loc, value, "")
    else:  # a type model.py gained without a rule here: msgspec's verdict stands
        raise TypeError(f"no strict check for {tp!r}")


def _has_set(value: Any) -> bool:
    if isinstance(value, set | frozenset):
        return True
    if isinstance(value, dict):
        return any(_has_set(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_set(v) for v in value)
    return False


def _msgspec_path(where: str) -> YamlPath:
    """`$.build.run[0].command` -> ("build", "run", 0, "command")."""
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", where.removeprefix("$")):
        parts.append(name if name else int(index))
    return tuple(parts)


def _dotted(loc: YamlPath) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)
