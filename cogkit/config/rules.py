"""Cog's semantic rules for cog.yaml, each failing with a message that says how to fix it.

Types are checked by the msgspec Structs (model.py) first; these rules see well-typed values. Every error
points at the offending key's line and column through the `fail` callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from cogkit.config.compat import known_cuda_versions, version_key
from cogkit.config.model import CogYaml
from cogkit.config.yamlpos import Path as YamlPath

Fail = Callable[[YamlPath, str, str], NoReturn]

MIN_PYTHON = (3, 10)
MAX_PYTHON = (3, 13)
MIN_PYTHON_CONCURRENCY = (3, 11)
MIN_CUDA = (11,)

# Cog's deny list (pkg/config/env_variables.go): the image or the platform owns these.
DENIED_ENV_EXACT = frozenset(
    {
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "PYTHONUNBUFFERED",
        "LIBRARY_PATH",
        "HF_ENDPOINT",
        "HF_HUB_ENABLE_HF_TRANSFER",
    }
)
DENIED_ENV_PREFIXES = ("R8_", "REPLICATE_", "CUDA_", "NVIDIA_", "NV_", "PGET_", "KUBERNETES_")

_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
_ENV_ENTRY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.DOTALL)
_REF = re.compile(r"^(?P<file>[^:]+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9\-]+)?(=[A-Za-z0-9.+~:\-]+)?$")

PYTHON_RANGE = f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} to {MAX_PYTHON[0]}.{MAX_PYTHON[1]}"


def python_version_tuple(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def check_python_version(cfg: CogYaml, fail: Fail) -> None:
    where = ("build", "python_version")
    version = cfg.build.python_version
    if not _VERSION.match(version):
        fail(
            where,
            f"build.python_version {version!r} is not a Python version",
            'write it as major.minor in quotes, e.g. python_version: "3.11"',
        )
    if python_version_tuple(version) < MIN_PYTHON:
        fail(  # Cog's wording (pkg/config/validate.go), which scripts grep for; the hint is cogkit's
            where,
            f'invalid build.python_version "{version}": minimum supported Python version is '
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}",
            f'pick a supported version (Python {PYTHON_RANGE}), e.g. python_version: "3.11"',
        )
    if python_version_tuple(version) > MAX_PYTHON:
        fail(
            where,
            f"build.python_version {version} is not supported (cogkit supports Python {PYTHON_RANGE})",
            'pick a supported version, e.g. python_version: "3.11"',
        )
    if cfg.concurrency is not None and python_version_tuple(version) < MIN_PYTHON_CONCURRENCY:
        fail(
            where,
            f"concurrency.max needs Python 3.11 or newer, but build.python_version is {version}",
            'set python_version: "3.11" (or newer), or remove concurrency',
        )


def check_concurrency(cfg: CogYaml, fail: Fail) -> None:
    if cfg.concurrency is not None and cfg.concurrency.max < 1:
        fail(
            ("concurrency", "max"),
            f"concurrency.max must be at least 1, got {cfg.concurrency.max}",
            "use 1 for one prediction at a time, or more for an async predict()",
        )


def check_cuda(cfg: CogYaml, fail: Fail, warn: Callable[[str], None]) -> None:
    build = cfg.build
    if build.cuda is not None:
        where = ("build", "cuda")
        if not _VERSION.match(build.cuda):
            fail(
                where,
                f"build.cuda {build.cuda!r} must include both major and minor versions",
                'write it like cuda: "12.1"',
            )
        if version_key(build.cuda) < MIN_CUDA:
            fail(
                where,
                f"build.cuda {build.cuda} is too old: the minimum supported CUDA version is 11",
                'use cuda: "11.8" or newer, or remove it and let cogkit pick one from your torch version',
            )
        minor = ".".join(build.cuda.split(".")[:2])
        known = known_cuda_versions()
        if minor not in known:
            fail(
                where,
                f"there is no nvidia/cuda base image for CUDA {build.cuda}",
                f"use one of: {', '.join(known)}",
            )
        if not build.gpu:
            warn("build.cuda is ignored because build.gpu is not true")
    if build.cudnn is not None:
        if not re.match(r"^\d+(\.\d+)*$", build.cudnn):
            fail(
                ("build", "cudnn"),
                f"build.cudnn {build.cudnn!r} is not a version",
                'write it like cudnn: "9"',
            )
        if not build.gpu:
            warn("build.cudnn is ignored because build.gpu is not true")


def check_requirements_exclusive(cfg: CogYaml, fail: Fail) -> None:
    if cfg.build.python_packages is not None and cfg.build.python_requirements is not None:
        fail(
            ("build", "python_packages"),
            "only one of build.python_packages and build.python_requirements can be set, not both",
            "move the packages into the requirements file and delete python_packages",
        )


def check_run_commands(cfg: CogYaml, fail: Fail) -> None:
    for index, item in enumerate(cfg.build.run or []):
        command = item if isinstance(item, str) else item.command
        where: YamlPath = (
            ("build", "run", index) if isinstance(item, str) else ("build", "run", index, "command")
        )
        if "\n" in command.rstrip("\n"):
            first = command.strip().splitlines()[0]
            fail(
                where,
                f"build.run[{index}] contains a newline, which won't work "
                f"(offending command starts: {first!r})",
                "split it into several list items, each prefixed with '-', or join the lines with &&",
            )
        if not command.strip():
            fail(where, f"build.run[{index}] is empty", "remove the empty item")
        seen_ids: set[str] = set()
        for m_index, mount in enumerate((item.mounts if not isinstance(item, str) else None) or []):
            mpath: YamlPath = ("build", "run", index, "mounts", m_index)
            if not mount.target.startswith("/"):
                fail(
                    mpath + ("target",),
                    f"secret mount target {mount.target!r} must be an absolute path",
                    "use a path like /run/secrets/<id>",
                )
            if mount.id in seen_ids:
                fail(
                    mpath + ("id",),
                    f"secret {mount.id!r} is mounted twice in one run command",
                    "mount it once",
                )
            seen_ids.add(mount.id)
    for index, command in enumerate(cfg.build.pre_install or []):
        if "\n" in command.rstrip("\n"):
            fail(
                ("build", "pre_install", index),
                f"build.pre_install[{index}] contains a newline, which won't work",
                "split it into several list items, each prefixed with '-'",
            )


def check_system_packages(cfg: CogYaml, fail: Fail) -> None:
    for index, name in enumerate(cfg.build.system_packages or []):
        if not _APT_NAME.match(name.strip()):
            fail(
                ("build", "system_packages", index),
                f"build.system_packages entry {name!r} is not an apt package name",
                "list one Debian/Ubuntu package per item, e.g. - ffmpeg",
            )


def check_environment(cfg: CogYaml, fail: Fail) -> dict[str, str]:
    env: dict[str, str] = {}
    for index, entry in enumerate(cfg.environment or []):
        where: YamlPath = ("environment", index)
        match = _ENV_ENTRY.match(entry)
        if not match:
            fail(
                where,
                f"environment variable {entry!r} is not in the KEY=VALUE format",
                "write it as NAME=value; NAME starts with a letter or _ and has only letters, digits and _",
            )
        key, value = match.group("key"), match.group("value")
        if key in DENIED_ENV_EXACT or key.startswith(DENIED_ENV_PREFIXES):
            fail(
                where,
                f"environment variable {key} is not allowed: the image or the platform sets it",
                "remove it; reserved are PATH, LD_LIBRARY_PATH, PYTHONPATH, VIRTUAL_ENV, PYTHONUNBUFFERED, "
                "LIBRARY_PATH, HF_ENDPOINT, HF_HUB_ENABLE_HF_TRANSFER and R8_*, REPLICATE_*, CUDA_*, "
                "NVIDIA_*, NV_*, PGET_*, KUBERNETES_*",
            )
        if key in env:
            fail(where, f"environment variable {key} is already defined", "keep only one definition of it")
        env[key] = value
    return env


def check_model(cfg: CogYaml, fail: Fail) -> None:
    """Cog's `model:` rules (pkg/config/validate.go): a bare repo, not beside `image:`; weights need it."""
    if cfg.model is not None:
        last = cfg.model.rsplit("/", 1)[-1]
        if ":" in last or "@" in cfg.model:
            fail(
                ("model",),
                f'invalid model "{cfg.model}": must be a bare repository — tags and digests are not allowed',
                "drop the :tag or @digest; `cogkit push` picks the tag",
            )
        if cfg.image is not None:
            fail(("model",), "invalid model: 'model' and 'image' cannot both be set", "keep one of them")
    if cfg.weights and cfg.model is None:
        if cfg.image is not None:
            fail(
                ("image",),
                "invalid image: weights require 'model', not 'image' — rename 'image' to 'model'",
                "model: HOST/owner/name is where the weights and the image are pushed",
            )
        fail(
            ("weights",),
            "invalid model: weights require 'model' in cog.yaml",
            "add model: HOST/owner/name, where the weights and the image are pushed",
        )


def check_predictor_refs(cfg: CogYaml, project_dir: Path, fail: Fail) -> None:
    if cfg.run is not None and cfg.predict is not None:
        fail(("predict",), "only one of run or predict can be set",
             "`predict:` is the older name of `run:`; keep `run:` and remove `predict:`")
    for key in ("run", "predict", "train"):
        ref = getattr(cfg, key)
        if ref is None:
            continue
        match = _REF.match(ref)
        if not match:
            example = {"run": "run.py:Runner", "predict": "predict.py:Predictor"}.get(key, "train.py:train")
            fail(
                (key,),
                f"{key!r} must be in the form 'file.py:Name', got {ref!r}",
                f'point it at a Python file and the class or function in it, e.g. {key}: "{example}"',
            )
        file = (project_dir / match.group("file")).resolve()
        if not file.is_relative_to(project_dir.resolve()):
            fail(
                (key,), f"{key} file {match.group('file')} is outside the project directory", "move it inside"
            )
        if not file.is_file():
            fail(
                (key,),
                f"{key} file {match.group('file')} does not exist",
                f"create it next to cog.yaml, or fix the path in '{key}'",
            )
