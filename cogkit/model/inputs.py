"""Turn `-i name=value` flags and `--json` into a prediction's input, checked against the model's schema.

Cog users type every value as a string; the model's OpenAPI schema says what each input really is.
Coercing and validating here, before a container starts, means a typo costs milliseconds, not a
model load, and the message names the input and what it expects.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from cogkit.errors import InputError
from cogkit.schema.refs import input_schema
from cogkit.schema.validation import compile_validator

RawInputs = dict[str, str | list[str]]


def parse_input_flags(flags: Iterable[str]) -> RawInputs:
    """`["a=1", "b=@x.png", "a=2"]` → `{"a": ["1", "2"], "b": "@x.png"}` (repeats build a list)."""
    raw: RawInputs = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(
                f"cannot parse input {flag!r}: expected name=value",
                hint="write -i name=value, or -i name=@path/to/file for a file",
            )
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name in raw:
            previous = raw[name]
            raw[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            raw[name] = value
    return raw


def load_json_inputs(spec: str, stdin: TextIO | None = None, base_dir: Path | None = None) -> dict[str, Any]:
    """`--json '{...}'`, `--json @file.json`, `--json @-` or `--json -` (stdin, as Cog); `@path` strings
    inside become data URLs.

    Accepts either the bare input object or a whole prediction request (`{"input": {...}}`).
    """
    if spec in ("@-", "-"):
        text = (stdin or sys.stdin).read()
        where = "stdin"
    elif spec.startswith("@"):
        path = Path(spec[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(
                f"cannot read --json file {path}: {exc.strerror}", hint="check the path"
            ) from None
        where = str(path)
    else:
        text, where = spec, "--json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            hint="""pass an object, e.g. --json '{"prompt": "hi"}'""",
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{where} must be a JSON object of inputs, got {type(data).__name__}",
            hint="""pass an object, e.g. --json '{"prompt": "hi"}'""",
        )
    if set(data) >= {"input"} and isinstance(data.get("input"), dict):
        data = data["input"]
    return {name: _expand_at_paths(value, base_dir) for name, value in data.items()}


def _expand_at_paths(value: Any, base_dir: Path | None) -> Any:
    if isinstance(value, str) and value.startswith("@") and len(value) > 1:
        return file_to_data_url(value[1:], base_dir)
    if isinstance(value, list):
        return [_expand_at_paths(v, base_dir) for v in value]
    if isinstance(value, dict):
        return {k: _expand_at_paths(v, base_dir) for k, v in value.items()}
    return value


def file_to_data_url(path_text: str, base_dir: Path | None = None) -> str:
    """Read a file into a `data:<mime>;base64,...` URL, the form every Cog server accepts for Path inputs."""
    path = Path(path_text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"file not found: {path_text}", hint="paths after @ are relative to the current directory"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read {path_text}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ----------------------------------------------------------------------------- schema access


def input_properties(
    schema: Mapping[str, Any] | None, mode: str = "predict"
) -> dict[str, dict[str, Any]] | None:
    """The model's inputs, `$ref`/`allOf` already resolved (cogkit.schema.refs), or None without a schema."""
    inputs = input_schema(schema, mode)
    return None if inputs is None else inputs.properties


def _variants(prop: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A property's alternatives: anyOf/oneOf members (Optional, Union), or the property itself."""
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(alternatives, list) and alternatives:
        members = [dict(a) for a in alternatives if isinstance(a, Mapping)]
        return [a for a in members if a.get("type") != "null"] or [dict(prop)]
    return [dict(prop)]


def _is_file(prop: Mapping[str, Any]) -> bool:
    return prop.get("type") == "string" and prop.get("format") == "uri"


def describe_type(prop: Mapping[str, Any]) -> str:
    parts = []
    for variant in _variants(prop):
        kind = variant.get("type", "any")
        if _is_file(variant):
            kind = "file"
        elif kind == "array":
            kind = f"list of {describe_type(variant.get('items', {}))}"
        parts.append(str(kind))
    return " or ".join(dict.fromkeys(parts))


# ----------------------------------------------------------------------------- coercion

_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}


def _coerce_scalar(name: str, value: str, prop: Mapping[str, Any], base_dir: Path | None) -> Any:
    kind = prop.get("type")
    if _is_file(prop):
        return file_to_data_url(value[1:], base_dir) if value.startswith("@") else value
    if kind == "integer":
        try:
            return int(value.strip())
        except ValueError:
            raise InputError(
                f"input {name!r} must be an integer, got {value!r}", hint=f"e.g. -i {name}=3"
            ) from None
    if kind == "number":
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise InputError(
                f"input {name!r} must be a number, got {value!r}", hint=f"e.g. -i {name}=0.5"
            ) from None
        if not math.isfinite(number):
            raise InputError(
                f"input {name!r} must be a finite number, got {value!r}", hint=f"e.g. -i {name}=0.5"
            )
        return number
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InputError(f"input {name!r} must be true or false, got {value!r}", hint=f"e.g. -i {name}=true")
    if kind == "object":
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise InputError(
                f"input {name!r} must be a JSON object, got {value!r}",
                hint=f"""e.g. -i '{name}={{"key": "value"}}'""",
            ) from None
        if not isinstance(parsed, dict):
            raise InputError(
                f"input {name!r} must be a JSON object, got {value!r}",
                hint=f"""e.g. -i '{name}={{"key": "value"}}'""",
            )
        return parsed
    if kind == "array":  # a single -i for a list input
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return [value]
    if kind == "string" and value.startswith("@") and len(value) > 1:
        return _read_text_file(name, value[1:], base_dir)
    return value


def _read_text_file(name: str, path_text: str, base_dir: Path | None) -> str:
    """`-i text=@notes.txt` for a str input: the file's text (a missing file is an error, not a literal)."""
    path = Path(path_text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"input {name!r}: file not found: {path_text}",
                         hint="a value starting with @ names a file (relative to the current directory)",
                         ) from None
    except UnicodeDecodeError:
        raise InputError(f"input {name!r} is text, but {path_text} is not UTF-8 text",
                         hint="pass a text file, or the text itself without @") from None
    except OSError as exc:
        raise InputError(f"cannot read {path_text}: {exc.strerror}",
                         hint="check the file's permissions") from None


def _coerce_value(
    name: str,
    value: str | list[str],
    prop: Mapping[str, Any],
    base_dir: Path | None,
) -> Any:
    variants = _variants(prop)
    array_variant = next((v for v in variants if v.get("type") == "array"), None)
    if isinstance(value, list):
        if array_variant is None:
            if variants and any(v.get("type") for v in variants):
                raise InputError(
                    f"input {name!r} takes one value ({describe_type(prop)}), "
                    f"but -i {name} was given {len(value)} times",
                    hint=f"pass -i {name}=... once",
                )
            return value
        items = array_variant.get("items", {})
        return [_coerce_value(f"{name}[{i}]", v, items, base_dir) for i, v in enumerate(value)]
    errors: list[InputError] = []
    # Try scalar variants first so `Union[int, List[int]]` with `-i x=3` sends 3, not [3].
    for variant in sorted(variants, key=lambda v: v.get("type") == "array"):
        try:
            coerced = _coerce_scalar(name, value, variant, base_dir)
        except InputError as exc:
            errors.append(exc)
            continue
        if variant.get("type") == "array" and isinstance(coerced, list):
            items = variant.get("items", {})
            if not any(isinstance(v, str) for v in coerced):
                return coerced
            return [
                _coerce_value(f"{name}[{i}]", v, items, base_dir) if isinstance(v, str) else v
                for i, v in enumerate(coerced)
            ]
        return coerced
    if len(errors) == 1:
        raise errors[0]
    raise InputError(
        f"input {name!r} must be {describe_type(prop)}, got {value!r}",
        hint="run `cogkit predict --help`; the model's inputs are listed in its schema",
    )


def coerce_inputs(
    raw: RawInputs, schema: Mapping[str, Any] | None, *, mode: str = "predict", base_dir: Path | None = None
) -> dict[str, Any]:
    """Typed values for the request body. Without a schema: strings, with `@file` read as data URLs."""
    props = input_properties(schema, mode)
    result: dict[str, Any] = {}
    for name, value in raw.items():
        if props is None or name not in props:
            # Unknown names are reported by validate_inputs; without a schema keep Cog's behaviour.
            if isinstance(value, list):
                result[name] = [file_to_data_url(v[1:], base_dir) if v.startswith("@") else v for v in value]
            else:
                result[name] = file_to_data_url(value[1:], base_dir) if value.startswith("@") else value
            continue
        result[name] = _coerce_value(name, value, props[name], base_dir)
    return result


# ----------------------------------------------------------------------------- validation


_TYPE_ERRORS = frozenset(
    (
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "dict_type",
        "list_type",
        "union",
    )
)


def _prop_at(props: Mapping[str, Mapping[str, Any]], loc: list[Any]) -> Mapping[str, Any]:
    """The (resolved) property an error's `loc` points at: list indexes step into `items`."""
    prop: Mapping[str, Any] = props.get(loc[2], {})
    for _ in loc[3:]:
        array = next((v for v in _variants(prop) if v.get("type") == "array"), {})
        prop = array.get("items", {})
    return prop


def _as_input_error(
    error: dict[str, Any], payload: Mapping[str, Any], props: Mapping[str, Mapping[str, Any]]
) -> InputError:
    """One of the validator's 422 `detail` items as the CLI's message: the input's name, what it
    expects, and a hint for the flag."""
    loc = error["loc"]
    top = loc[2]
    name = top + "".join(f"[{i}]" for i in loc[3:])
    kind, value, prop = error["type"], error["input"], _prop_at(props, loc)
    if kind in _TYPE_ERRORS:
        described = describe_type(props[top])
        return InputError(
            f"input {top!r} must be {described}, got {json.dumps(payload[top])[:80]}",
            hint=f"e.g. -i {top}=... with a {described}",
        )
    if kind == "enum":
        choices = ", ".join(json.dumps(c) for c in prop.get("enum", ()))
        return InputError(
            f"input {name!r} must be one of {choices}; got {json.dumps(value)}",
            hint=f"pick one of the listed values for {name}",
        )
    low, high = prop.get("minimum"), prop.get("maximum")
    if kind == "greater_than_equal":
        return InputError(
            f"input {name!r} must be at least {low}, got {value}",
            hint=f"pass a value between {low} and {high if high is not None else 'any'}",
        )
    if kind == "less_than_equal":
        return InputError(
            f"input {name!r} must be at most {high}, got {value}",
            hint=f"pass a value between {low if low is not None else 'any'} and {high}",
        )
    if kind in ("string_too_short", "string_too_long"):
        bound = "least" if kind == "string_too_short" else "most"
        limit = prop.get("minLength" if kind == "string_too_short" else "maxLength")
        return InputError(
            f"input {name!r} must be at {bound} {limit} characters long", hint=f"got {len(value)} characters"
        )
    if kind == "string_pattern_mismatch":
        return InputError(
            f"input {name!r} does not match the pattern {prop.get('pattern')!r}", hint=f"got {value!r}"
        )
    return InputError(f"input {name!r}: {error['msg']}", hint=f"got {json.dumps(value)[:80]}")


def validate_inputs(
    payload: Mapping[str, Any], schema: Mapping[str, Any] | None, *, mode: str = "predict"
) -> None:
    """Reject unknown names, missing required inputs, wrong types and violated constraints, readably.

    The check is the server's own validator (cogkit.schema.validation) in strict mode, since the
    values here are already typed; its first finding becomes one line with a hint.
    """
    inputs = input_schema(schema, mode)
    if inputs is None or schema is None:
        return
    props = inputs.properties
    result = compile_validator(dict(schema), mode, strict=True)(dict(payload))
    if result.ignored:
        # Cog's wording (pkg/predict/input_validation.go), which scripts grep for; the hint is cogkit's.
        names = inputs.ordered_names()
        unknown = ", ".join(f'"{n}"' for n in result.ignored)
        plural = "s" if len(result.ignored) > 1 else ""
        valid = f"valid inputs are: {', '.join(names)}" if names else "model does not accept inputs"
        raise InputError(
            f"unknown input{plural} {unknown}; {valid}",
            hint="check the spelling; inputs are the predict() arguments",
        )
    missing = [e["loc"][2] for e in result.errors if e["type"] == "missing"]
    if missing:
        flags = " ".join(f"-i {n}=..." for n in missing)
        raise InputError(
            f"missing required input{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            hint=f"pass {flags}",
        )
    if result.errors:
        raise _as_input_error(result.errors[0], payload, props)


def describe_inputs(schema: Mapping[str, Any] | None, mode: str = "predict") -> str:
    """One line per input: `name: type (default ...) - description`, for help and error hints."""
    props = input_properties(schema, mode)
    if not props:
        return "(no inputs)"
    lines = []
    for name in input_schema(schema, mode).ordered_names():  # type: ignore[union-attr]
        prop = props[name]
        line = f"  {name}: {describe_type(prop)}"
        if "default" in prop:
            line += f" (default {json.dumps(prop['default'])})"
        if prop.get("description"):
            line += f" - {prop['description']}"
        lines.append(line)
    return "\n".join(lines)
