"""Input validation from an OpenAPI document: check and coerce like Cog's pydantic input model.

Works from the schema alone (build-time label or the worker's runtime document, its properties
resolved once by refs.input_schema), so the server never imports user code. Every bad field is
reported, in the `detail` shape of Cog's 422 response. Unknown keys are dropped and listed (Cog
ignores them; the server logs them). Defaults are not filled in here: the predictor process
applies the real Python defaults, which keeps Secret defaults out of the server and the response.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cogkit.schema.refs import input_schema

Checker = Callable[[Any, list[Any], list[dict[str, Any]]], Any]
_INVALID = object()
_TRUE = frozenset(("true", "1", "yes", "on", "t", "y"))
_FALSE = frozenset(("false", "0", "no", "off", "f", "n"))


@dataclass
class InputValidation:
    """Outcome of validate_input: coerced values, per-field errors, ignored unknown keys."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _error(errors: list[dict[str, Any]], kind: str, loc: list[Any], msg: str, value: Any, **ctx: Any) -> Any:
    entry: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": msg, "input": value}
    if ctx:
        entry["ctx"] = ctx
    errors.append(entry)
    return _INVALID


def _check_string(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    if isinstance(value, str):
        return value
    return _error(errors, "string_type", loc, "Input should be a valid string", value)


def _check_int(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return _error(errors, "int_from_float", loc,
                      "Input should be a valid integer, got a number with a fractional part", value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
            return _error(errors, "int_parsing", loc,
                          "Input should be a valid integer, unable to parse string as an integer", value)
    return _error(errors, "int_type", loc, "Input should be a valid integer", value)


def _check_number(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return _error(errors, "float_parsing", loc,
                          "Input should be a valid number, unable to parse string as a number", value)
    return _error(errors, "float_type", loc, "Input should be a valid number", value)


def _check_bool(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    if isinstance(value, (int, str, float)):
        return _error(errors, "bool_parsing", loc,
                      "Input should be a valid boolean, unable to interpret input", value)
    return _error(errors, "bool_type", loc, "Input should be a valid boolean", value)


def _any(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    return value


_SCALARS: dict[str, Checker] = {
    "string": _check_string,
    "integer": _check_int,
    "number": _check_number,
    "boolean": _check_bool,
    "object": lambda value, loc, errors: value if isinstance(value, dict) else _error(
        errors, "dict_type", loc, "Input should be a valid dictionary", value),
}


def _strict(kind: str, accepts: Callable[[Any], bool], message: str) -> Checker:
    def check(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
        if accepts(value):
            return value
        return _error(errors, kind, loc, message, value)

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_STRICT: dict[str, Checker] = {
    "string": _check_string,
    "integer": _strict("int_type", lambda v: isinstance(v, int) and not isinstance(v, bool),
                       "Input should be a valid integer"),
    "number": _strict("float_type", _is_number, "Input should be a valid number"),
    "boolean": _strict("bool_type", lambda v: isinstance(v, bool), "Input should be a valid boolean"),
    "object": _strict("dict_type", lambda v: isinstance(v, dict), "Input should be a valid dictionary"),
}


def _describe_choices(values: list[Any]) -> str:
    shown = [repr(v) if isinstance(v, str) else str(v) for v in values]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


SECRET_MASK = "**********"


def _is_secret(prop: dict[str, Any]) -> bool:
    if prop.get("x-cog-secret"):
        return True
    if prop.get("type") == "array":
        return _is_secret(prop.get("items", {}))
    return any(_is_secret(option) for option in prop.get("anyOf", ()))


def _constraint(limit: Any, test: Callable[[Any, Any], bool], kind: str,
                template: str) -> Callable[[Any, list[Any], list[dict[str, Any]]], bool]:
    unit = "character" if limit == 1 else "characters"
    message = template.format(limit=limit, unit=unit)
    ctx_key = {"greater_than_equal": "ge", "less_than_equal": "le", "string_too_short": "min_length",
               "string_too_long": "max_length", "string_pattern_mismatch": "pattern"}[kind]
    if kind == "string_pattern_mismatch":
        regex = re.compile(limit)
        test = lambda value, _limit: regex.search(value) is not None  # noqa: E731

    def check(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> bool:
        if test(value, limit):
            return True
        _error(errors, kind, loc, message, value, **{ctx_key: limit})
        return False

    return check


_CONSTRAINTS: tuple[tuple[str, Callable[[Any, Any], bool], str, str], ...] = (
    ("minimum", lambda v, lim: v >= lim, "greater_than_equal",
     "Input should be greater than or equal to {limit}"),
    ("maximum", lambda v, lim: v <= lim, "less_than_equal",
     "Input should be less than or equal to {limit}"),
    ("minLength", lambda v, lim: len(v) >= lim, "string_too_short",
     "String should have at least {limit} {unit}"),
    ("maxLength", lambda v, lim: len(v) <= lim, "string_too_long",
     "String should have at most {limit} {unit}"),
    ("pattern", lambda v, lim: True, "string_pattern_mismatch",
     "String should match pattern '{limit}'"),
)


def _compile(prop: dict[str, Any], scalars: dict[str, Checker]) -> Checker:
    """A checker for one resolved property (see refs.resolve)."""
    nullable = bool(prop.get("nullable"))
    if "anyOf" in prop:
        # Cog 0.21 passes a union's JSON value through as it is: "3" stays a str for int | str, and a
        # value no member takes as it is (1.5 for int | str) is refused, never converted
        options = [_compile(option, _STRICT) for option in prop["anyOf"]]

        def check_union(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
            attempts: list[dict[str, Any]] = []
            for option in options:
                scratch: list[dict[str, Any]] = []
                result = option(value, loc, scratch)
                if result is not _INVALID:
                    return result
                attempts.extend(scratch)
            fallback = {"type": "union", "loc": list(loc), "msg": "Invalid value", "input": value}
            errors.extend(attempts[:1] or [fallback])
            return _INVALID

        base: Checker = check_union
    elif prop.get("type") == "array":
        item = _compile(prop.get("items", {}), scalars)

        sequence = list if scalars is _STRICT else (list, tuple)

        def check_list(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
            if not isinstance(value, sequence):
                return _error(errors, "list_type", loc, "Input should be a valid list", value)
            out = []
            failed = False
            for index, element in enumerate(value):
                result = item(element, [*loc, index], errors)
                failed = failed or result is _INVALID
                out.append(result)
            return _INVALID if failed else out

        base = check_list
    else:
        base = scalars.get(prop.get("type", ""), _any)
    checks: list[Callable[[Any, list[Any], list[dict[str, Any]]], bool]] = []
    if "enum" in prop:
        allowed = list(prop["enum"])
        allowed_set = set(allowed)
        message = f"Input should be {_describe_choices(allowed)}"

        def check_enum(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> bool:
            if value in allowed_set and type(value) is not bool or value in allowed:
                return True
            _error(errors, "enum", loc, message, value, expected=_describe_choices(allowed))
            return False

        checks.append(check_enum)
    for key, test, kind, template in _CONSTRAINTS:
        if key in prop:
            checks.append(_constraint(prop[key], test, kind, template))

    if not checks and not nullable:
        return base

    def check(value: Any, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
        if value is None and nullable:
            return None
        result = base(value, loc, errors)
        if result is _INVALID:
            return _INVALID
        for extra in checks:
            if not extra(result, loc, errors):
                return _INVALID
        return result

    return check


class CompiledValidator:
    """A validator for one mode's inputs, compiled once and reused for every request.

    `strict` (the CLI's check of typed values) takes no string for a number or a boolean and no
    number for a boolean; the server coerces like Cog's pydantic model.
    """

    def __init__(self, schema: dict[str, Any], mode: str = "predict", strict: bool = False) -> None:
        inputs = input_schema(schema, mode)
        props = inputs.properties if inputs is not None else {}
        scalars = _STRICT if strict else _SCALARS
        self.required = inputs.required if inputs is not None else ()
        self.fields: dict[str, Checker] = {name: _compile(prop, scalars) for name, prop in props.items()}
        self.secret_fields = frozenset(name for name, prop in props.items() if _is_secret(prop))

    def redact(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` with Secret inputs masked as Cog shows them ("**********"), for echoing the
        input in responses, webhooks and logs; the same dict when the model has no secrets."""
        if not self.secret_fields or not isinstance(values, dict):
            return values
        masked = dict(values)
        for name in self.secret_fields & masked.keys():
            value = masked[name]
            if isinstance(value, list):
                masked[name] = [SECRET_MASK if v is not None else None for v in value]
            elif value is not None:
                masked[name] = SECRET_MASK
        return masked

    def __call__(self, payload: Any) -> InputValidation:
        result = InputValidation()
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            result.errors.append({
                "type": "model_attributes_type",
                "loc": ["body", "input"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": payload,
            })
            return result
        fields = self.fields
        values = result.values
        errors = result.errors
        for name, value in payload.items():
            checker = fields.get(name)
            if checker is None:
                result.ignored.append(name)
                continue
            coerced = checker(value, ["body", "input", name], errors)
            if coerced is not _INVALID:
                values[name] = coerced
        for name in self.required:
            if name not in payload:
                errors.append({"type": "missing", "loc": ["body", "input", name], "msg": "Field required",
                               "input": payload})
        return result


_cache: dict[tuple[int, str, bool], tuple[dict[str, Any], CompiledValidator]] = {}


def compile_validator(schema: dict[str, Any], mode: str = "predict",
                      strict: bool = False) -> CompiledValidator:
    """The validator for a document's Input (mode "predict") or TrainingInput (mode "train")."""
    key = (id(schema), mode, strict)
    hit = _cache.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = CompiledValidator(schema, mode, strict)
    _cache[key] = (schema, validator)
    return validator


def validate_input(schema: dict[str, Any], payload: Any, mode: str = "predict",
                   strict: bool = False) -> InputValidation:
    """Validate and coerce a request's `input` against the schema; see InputValidation."""
    return compile_validator(schema, mode, strict)(payload)
