"""The msgspec type check of cog.yaml accepts, rejects and words errors exactly as the pydantic models did.

The pydantic models and their error-to-message mapping below are cogkit's own previous implementation
(before model.py moved to msgspec for start-up time), kept here only as the oracle. Hypothesis builds
cog.yaml-shaped data, mostly well-typed with wrong types, missing keys, empty strings and YAML oddities
(!!set, !!binary, dates, huge integers) mixed in; both must agree on every input.
"""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any, Literal, NoReturn

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cogkit.config import loader
from cogkit.config.model import mapping_fields


# --------------------------------------------------------------------------- the oracle (pydantic)
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SecretMount(_Strict):
    type: Literal["secret"]
    id: str = Field(min_length=1)
    target: str = Field(min_length=1)


class RunCommand(_Strict):
    command: str
    mounts: list[SecretMount] | None = None


class Build(_Strict):
    gpu: bool = False
    cuda: str | None = None
    cudnn: str | None = None
    python_version: str = "3.11"
    python_packages: list[str] | None = None
    python_requirements: str | None = None
    system_packages: list[str] | None = None
    pre_install: list[str] | None = None
    run: list[str | RunCommand] | None = None
    fast: bool | None = None
    cog_runtime: bool | None = None
    python_overrides: str | None = None
    sdk_version: str | None = None


class Concurrency(_Strict):
    max: int
    default_target: int | None = None


class CogYaml(_Strict):
    build: Build = Field(default_factory=Build)
    image: str | None = None
    run: str | None = None
    predict: str | None = None
    train: str | None = None
    concurrency: Concurrency | None = None
    environment: list[str] | None = None
    tests: list[dict] | None = None
    model: str | None = None
    weights: list[dict] | None = None


_TYPE_NAMES = {
    "bool_type": "true or false",
    "string_type": "a string",
    "int_type": "an integer",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "literal_error": "one of the allowed values",
}


def _oracle_error(exc: ValidationError, fail: Any) -> NoReturn:
    errors = exc.errors()
    error = max(errors, key=lambda e: len([p for p in e["loc"] if not _is_union_tag(p)]))
    loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
    field_name = loader._dotted(loc)
    kind = error["type"]
    got = error.get("input")
    if kind == "missing":
        fail(
            loc[:-1],
            f"{field_name} is required",
            f"add {loc[-1]}: to {loader._dotted(loc[:-1]) or 'the top level'}",
        )
    if kind == "literal_error":
        fail(
            loc,
            f"{field_name} must be {error['ctx']['expected']}, got {got!r}",
            "secret is the only mount type",
        )
    if kind == "string_too_short":
        fail(loc, f"{field_name} must not be empty", f"give {field_name} a value")
    expected = _TYPE_NAMES.get(kind, error["msg"].lower())
    hint = f"change {field_name} to {expected}"
    if len(loc) == 3 and loc[:2] == ("build", "run"):
        expected = "a command string, or a mapping with command: and mounts:"
        hint = "write each item as - echo hello, or as - command: ... with mounts: [...]"
    elif expected == "a string" and isinstance(got, int | float | bool):
        hint = f'quote the value: "{got}"'
    fail(loc, f"{field_name} must be {expected}, got {loader._show(got)}", hint)


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part in ("str", "RunCommand") or part.startswith(("list[", "function-"))
    )


# --------------------------------------------------------------------------- comparing the two
class Failed(Exception):
    pass


def _fail(where: Any, message: str, hint: str) -> NoReturn:
    raise Failed(where, message, hint)


def _keys(data: Any) -> tuple[str, Any] | None:
    """Unknown keys are rejected before the type check (loader._check_keys), in both versions."""
    try:
        loader._check_keys(data, (), None, _fail)
    except Failed as failed:
        return "unknown key", failed.args
    return None


def _old(data: Any) -> tuple[str, Any]:
    if rejected := _keys(data):
        return rejected
    try:
        return "ok", CogYaml.model_validate(data).model_dump()
    except ValidationError as exc:
        try:
            _oracle_error(exc, _fail)
        except Failed as failed:
            return "error", failed.args
    raise AssertionError("unreachable")


def _dump(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return {name: _dump(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _new(data: Any) -> tuple[str, Any]:
    if rejected := _keys(data):
        return rejected
    try:
        return "ok", _dump(loader.check_types(data, _fail))
    except Failed as failed:
        return "error", failed.args


# --------------------------------------------------------------------------- cog.yaml-shaped data
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["", "secret", "3.11", "yes", "/run/secrets/x"]),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=3),
)
_wild = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), inner, max_size=3),
        st.frozensets(st.one_of(st.text(max_size=3), st.integers()), max_size=3).map(set),
    ),
    max_leaves=6,
)


def _shaped(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the oracle's type tp, built from its annotations; a wild value in one case out of ~4."""
    return st.one_of(_good(tp), _good(tp), _good(tp), _wild)


def _good(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*[_good(c) for c in typing.get_args(tp)])
    if origin is typing.Literal:
        return st.one_of(st.sampled_from(typing.get_args(tp)), st.text(max_size=4))
    if origin is list:
        return st.lists(_shaped(typing.get_args(tp)[0]), max_size=3)
    if tp is dict:
        return st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), _wild, max_size=3)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = {name: st.deferred(lambda f=f: _shaped(f.annotation)) for name, f in tp.model_fields.items()}
        return st.fixed_dictionaries({}, optional=fields)
    if tp is type(None):
        return st.none()
    return {bool: st.booleans(), int: st.integers(), str: st.text(max_size=5)}[tp]


_SET = {"a"}
TRICKY: list[Any] = [
    {},
    {"build": None},
    {"build": []},
    {"build": {"gpu": "yes"}},
    {"build": {"gpu": 1}},
    {"build": {"gpu": None}},
    {"build": {"system_packages": "ffmpeg"}},
    {"build": {"system_packages": _SET}},
    {"build": {"system_packages": set()}},
    {"tests": set()},
    {"tests": [{"a": {1, 2}}]},
    {"build": {"run": [42]}},
    {"build": {"run": [{"command": 42}]}},
    {"build": {"run": [{"mounts": []}]}},
    {"build": {"run": [("a", "b")]}},
    {"build": {"run": [{"command": "x", "mounts": [{"type": "ssh", "id": "k", "target": "/t"}]}]}},
    {"build": {"run": [{"command": "x", "mounts": [{"type": 1, "id": "", "target": ""}]}]}},
    {"build": {"run": [{"command": "x", "mounts": [{"type": "secret", "id": ""}]}]}},
    {"build": {"run": [{"command": "x", "mounts": [{"id": "k"}]}]}},
    {"build": {"gpu": "yes", "run": [{"command": 1}]}},  # two errors: the deeper one is named
    {"build": {"run": [{"command": 1}], "gpu": "yes"}},
    {"concurrency": {"max": True}},
    {"concurrency": {"max": 2.0}},
    {"concurrency": {"max": 10**30}},
    {"concurrency": {}},
    {"concurrency": {"max": float("inf")}},
    {"build": {"python_version": datetime.date(2020, 1, 1)}},
    {"build": {"python_version": b"3"}},
    {"weights": ["x"]},
    {"environment": [1], "build": {"cuda": 12}},
]


@pytest.mark.parametrize("data", TRICKY, ids=[str(i) for i in range(len(TRICKY))])
def test_tricky_cases_agree(data: Any) -> None:
    assert _new(data) == _old(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_good(CogYaml))
@example(
    data={
        "build": {
            "run": [
                "echo hi",
                {"command": "cat t", "mounts": [{"type": "secret", "id": "t", "target": "/t"}]},
            ]
        }
    }
)
def test_generated_cog_yaml_agrees(data: dict[str, Any]) -> None:
    assert _new(data) == _old(data)


def test_mapping_fields_match_the_oracle() -> None:
    for path, model in [
        ((), CogYaml),
        (("build",), Build),
        (("concurrency",), Concurrency),
        (("build", "run", 0), RunCommand),
        (("build", "run", 0, "mounts", 1), SecretMount),
    ]:
        assert mapping_fields(path) == sorted(model.model_fields)
    assert mapping_fields(("environment",)) is None


def test_the_generator_reaches_both_outcomes_and_every_kind() -> None:
    """Guard against a generator that only ever produces valid (or only invalid) data."""
    seen: set[str] = set()

    @settings(max_examples=600, deadline=None, database=None)
    @given(data=_good(CogYaml))
    def collect(data: dict[str, Any]) -> None:
        outcome, detail = _old(data)
        if outcome == "error":
            message = detail[1]
            seen.add(message.split(" must be ")[-1].split(", got")[0] if " must be " in message else message)
        else:
            seen.add(outcome)

    collect()
    assert {"ok", "unknown key", "true or false", "a string", "a list", "a mapping", "an integer"} <= seen, (
        seen
    )
    assert any(s.endswith(" is required") for s in seen), seen  # empty strings and sets: TRICKY
