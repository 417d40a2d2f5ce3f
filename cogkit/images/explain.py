"""Build failures reworded to name the culprit: the missing apt package, Python package or Python.

The engine's text stays as the hint; only failures whose cause is certain are reworded.
"""

from __future__ import annotations

import re

from cogkit.buildkit.errors import StepFailed
from cogkit.errors import BuildError
from cogkit.layers.steps import UNKNOWN_APT_PACKAGE, python_step_version

_UNKNOWN_APT = re.compile(re.escape(UNKNOWN_APT_PACKAGE) + r"(\S+)")
# uv's resolver output (uv's wording, not ours)
_UV_MISSING = re.compile(r"Because ([A-Za-z0-9._\-\[\]]+)(?:==\S+)? was not found in the package registry")
_UV_NO_VERSION = re.compile(r"Because there is no version of ([A-Za-z0-9._\-\[\]]+(?:[=<>!~]=?\S+)?)")
_UV_CAUSE = re.compile(r"(Failed to (?:download|install) [^\n]+)")


def explain(err: BuildError) -> BuildError:
    """Lead with the package name when apt or uv failed on one; keep the engine's detail as the hint."""
    text = f"{err.message}\n{err.hint or ''}"
    step = err.step if isinstance(err, StepFailed) else StepFailed.step_in(err.message)
    python = python_step_version(step) if step else None
    if python:
        cause = _UV_CAUSE.search(text)
        return BuildError(
            f"the base image has no Python {python} and it could not be installed"
            + (f": {cause.group(1)}" if cause else ""),
            f"use a base image with Python {python} (--base-image or COGKIT_BASE_IMAGE), set "
            "build.python_version to the base's version, or let the build reach github.com (uv's Pythons)",
        )
    for pattern, what in (
        (_UNKNOWN_APT, "system package {!r} does not exist in the base image's apt sources"),
        (_UV_MISSING, "Python package {!r} was not found on the package index"),
        (_UV_NO_VERSION, "no version of Python package {!r} matches the requirement"),
    ):
        found = pattern.findall(text)
        if found:
            names = ", ".join(dict.fromkeys(found))
            return BuildError(what.format(names), err.message)
    return err
