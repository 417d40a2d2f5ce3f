"""The shape of cog.yaml as msgspec Structs: types only, Cog's semantic rules live in rules.py.

Strict on purpose: Cog validates against a JSON schema, so `gpu: "yes"` is an error there and
must be one here too rather than being coerced into True. msgspec rather than pydantic because
this module is on every build's start-up path: msgspec imports and builds these types in a few
milliseconds, pydantic took ~0.15 s (README, Dependencies).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

NonEmpty = Annotated[str, Meta(min_length=1)]


class _Strict(Struct, forbid_unknown_fields=True, frozen=True):
    pass


class SecretMount(_Strict):
    """A BuildKit secret made available to one `run` command (never stored in a layer)."""

    type: Literal["secret"]
    id: NonEmpty
    target: NonEmpty


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
    # Cog keys that cogkit accepts so existing projects load, but does not act on (a warning says so).
    fast: bool | None = None
    cog_runtime: bool | None = None
    python_overrides: str | None = None
    sdk_version: str | None = None


class Concurrency(_Strict):
    max: int
    default_target: int | None = None


class CogYaml(_Strict):
    build: Build = field(default_factory=Build)
    image: str | None = None
    run: str | None = None  # Cog 0.20's name for `predict:` (run.py:Runner); loading folds it into predict
    predict: str | None = None
    train: str | None = None
    concurrency: Concurrency | None = None
    environment: list[str] | None = None
    # Also accepted by Cog's schema; kept so projects carrying them still load.
    tests: list[dict] | None = None
    # Cog 0.20+: the model repository (weights and image go there) and managed weights; the entries are
    # checked by cogkit.model.weights, which `cogkit weights` and the runs that mount them use.
    model: str | None = None
    weights: list[dict] | None = None


IGNORED_BUILD_KEYS = ("fast", "cog_runtime", "python_overrides", "sdk_version")

# Keys of newer Cog releases that cogkit deliberately does not implement: a clear error, not "unknown".
UNSUPPORTED_KEYS: dict[tuple[str, ...], str] = {}


def validate(data: Any) -> CogYaml:
    """Type-check parsed YAML into a CogYaml (strict: no coercion); raises msgspec.ValidationError."""
    return msgspec.convert(data, CogYaml, strict=True)


def mapping_fields(path: tuple[str | int, ...]) -> list[str] | None:
    """The keys a mapping at this cog.yaml path may contain, or None when it is not a known mapping."""
    named = [p for p in path if isinstance(p, str)]
    if not path:
        return sorted(CogYaml.__struct_fields__)
    if path == ("build",):
        return sorted(Build.__struct_fields__)
    if path == ("concurrency",):
        return sorted(Concurrency.__struct_fields__)
    if len(path) == 3 and path[:2] == ("build", "run") and isinstance(path[2], int):
        return sorted(RunCommand.__struct_fields__)
    if len(path) == 5 and named == ["build", "run", "mounts"]:
        return sorted(SecretMount.__struct_fields__)
    return None
