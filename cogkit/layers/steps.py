"""Names and markers the build's steps show, defined once: the compiler writes them, the explainer reads them.

A failed step reaches the user as `step 'NAME' failed`; cogkit/images/explain.py turns the known
ones into plain language, so both sides must agree on these strings.
"""

from __future__ import annotations

import re

PYTHON_STEP = "python {version}"  # installs the requested Python when the base lacks it
# The apt download step prints this before each package apt cannot find, then fails.
UNKNOWN_APT_PACKAGE = "cogkit: unknown system package: "

_PYTHON_STEP = re.compile(re.escape(PYTHON_STEP).replace(re.escape("{version}"), r"(\d+\.\d+)"))


def python_step(version: str) -> str:
    return PYTHON_STEP.format(version=version)


def python_step_version(step: str) -> str | None:
    """The Python version a step named by python_step() installs; None for any other step."""
    found = _PYTHON_STEP.fullmatch(step)
    return found.group(1) if found else None
