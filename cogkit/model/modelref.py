"""The model reference a push or `cogkit weights` command targets: cog.yaml `model:` plus Cog's
COG_MODEL* environment overrides (Cog 0.20+, pkg/model/resolve.go `ResolveModelRef`,
docs/environment.md).

1. `COG_MODEL` (a full `registry/repo[:tag]` or `registry/repo@digest`) wins outright; without a
   tag a timestamp tag is generated.
2. Otherwise `model:` is the base and `COG_MODEL_REGISTRY`, `COG_MODEL_REPO` and `COG_MODEL_TAG`
   each replace one part; the tag defaults to a UTC timestamp (`20260508T153042Z`).
3. No repository from either → None (the caller says what is missing).
4. A reference that resolves while cog.yaml has `image:` is an error (image and model are exclusive).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cogkit.errors import CogkitError

RESERVED_TAG_PREFIX = "cog-"
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")  # the OCI distribution-spec tag grammar
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9A-Fa-f:]+\](?::[0-9]+)?$")
IMAGE_CONFLICT = (
    "'image' in cog.yaml cannot be combined with COG_MODEL* env vars",
    "remove 'image' from cog.yaml (use 'model' instead), or unset COG_MODEL, COG_MODEL_REGISTRY, "
    "COG_MODEL_REPO, COG_MODEL_TAG",
)


@dataclass(frozen=True)
class ModelRef:
    registry: str
    repo: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """`registry/repo`, the base for the image, weight and index tags."""
        return f"{self.registry}/{self.repo}"

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


def timestamp_tag(now: float | None = None) -> str:
    """ISO 8601 basic form in UTC, a valid OCI tag as it is (Cog's GenerateTimestampTag)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _default_registry(env: Mapping[str, str]) -> str:
    return env.get("COG_REGISTRY_HOST") or "r8.im"


def _split_host(ref: str) -> tuple[str, str]:
    """(host, rest) as docker parses a name: the first part is a host when it looks like one."""
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", ref


def _fail(message: str, hint: str) -> CogkitError:
    return CogkitError(message, hint)


def _parse_full(value: str, env: Mapping[str, str]) -> ModelRef:
    name, at, digest = value.partition("@")
    host, rest = _split_host(name)
    tag = ""
    if ":" in rest.rsplit("/", 1)[-1]:
        rest, _, tag = rest.rpartition(":")
    ok = bool(rest) and _REPO.match(rest) and (not tag or _TAG.match(tag))
    ok = ok and (not at or re.match(r"^sha256:[0-9a-f]{64}$", digest))
    if not ok:
        raise _fail(
            f"invalid COG_MODEL value: {value!r} is not a registry/repo[:tag] or registry/repo@digest "
            "reference",
            "e.g. COG_MODEL=registry.example.com/acme/my-model:v1",
        )
    if tag and tag.startswith(RESERVED_TAG_PREFIX) and not at:
        raise _fail(
            f'invalid COG_MODEL {value!r}: "{RESERVED_TAG_PREFIX}" is a reserved tag prefix',
            "choose a different tag",
        )
    registry = host or _default_registry(env)
    if at:
        return ModelRef(registry, rest, "", digest)
    return ModelRef(registry, rest, tag or timestamp_tag())


def resolve(config_image: str, config_model: str, env: Mapping[str, str] | None = None) -> ModelRef | None:
    """The resolved model ref, or None when neither cog.yaml nor the environment names a repository."""
    env = os.environ if env is None else env
    ref = _resolve(config_model, env)
    if ref is not None and config_image:
        raise _fail(*IMAGE_CONFLICT)
    return ref


def _resolve(config_model: str, env: Mapping[str, str]) -> ModelRef | None:
    full = env.get("COG_MODEL", "")
    if full:
        return _parse_full(full, env)
    registry = env.get("COG_MODEL_REGISTRY", "")
    repo = env.get("COG_MODEL_REPO", "")
    tag = env.get("COG_MODEL_TAG", "")
    if registry and ("/" in registry or "@" in registry or not _HOST.match(registry)):
        raise _fail(
            f'invalid COG_MODEL_REGISTRY "{registry}": must be a bare host (no path, tag, or digest)',
            "e.g. COG_MODEL_REGISTRY=registry.example.com",
        )
    if repo and (":" in repo or "@" in repo or not _REPO.match(repo)):
        raise _fail(
            f'invalid COG_MODEL_REPO "{repo}": must be a bare repository path (no host, tag, or digest)',
            "e.g. COG_MODEL_REPO=acme/my-model",
        )
    if tag and tag.startswith(RESERVED_TAG_PREFIX):
        raise _fail(
            f'invalid COG_MODEL_TAG "{tag}": "{RESERVED_TAG_PREFIX}" is a reserved prefix — choose a '
            "different tag",
            "tags starting with cog- are the ones Cog and cogkit generate",
        )
    if tag and not _TAG.match(tag):
        raise _fail(
            f'invalid COG_MODEL_TAG "{tag}": must match OCI tag regex {_TAG.pattern}',
            "letters, digits, _ . - (up to 128)",
        )
    base_registry = base_repo = ""
    if config_model:
        base_registry, base_repo = _split_host(config_model)
        if not base_registry:
            base_registry = "docker.io"
    repo = repo or base_repo
    if not repo:
        return None
    return ModelRef(registry or base_registry or _default_registry(env), repo, tag or timestamp_tag())
