"""The shape of cog.yaml as pydantic models: types only, Cog's semantic rules live in rules.py.

Strict mode on purpose: Cog validates against a JSON schema, so `gpu: "yes"` is an error there and
must be one here too rather than being coerced into True.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SecretMount(_Strict):
    """A BuildKit secret made available to one `run` command (never stored in a layer)."""

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
    # Cog keys that cogkit accepts so existing projects load, but does not act on (a warning says so).
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


def mapping_fields(path: tuple[str | int, ...]) -> list[str] | None:
    """The keys a mapping at this cog.yaml path may contain, or None when it is not a known mapping."""
    named = [p for p in path if isinstance(p, str)]
    if not path:
        return sorted(CogYaml.model_fields)
    if path == ("build",):
        return sorted(Build.model_fields)
    if path == ("concurrency",):
        return sorted(Concurrency.model_fields)
    if len(path) == 3 and path[:2] == ("build", "run") and isinstance(path[2], int):
        return sorted(RunCommand.model_fields)
    if len(path) == 5 and named == ["build", "run", "mounts"]:
        return sorted(SecretMount.model_fields)
    return None
