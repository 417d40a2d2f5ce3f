"""What probe_python found in a base image, remembered on disk so a rebuild skips the probe.

The probe (a solve of the base and a few stats through the gateway) answers the same for the same
image every time, so its answer is kept per image: keyed by the sha256 of the base's image config
(which names every layer by its diff ID, on every engine, whether or not the engine knows a
registry digest) and the Python version asked for. One small JSON file per answer under
$COGKIT_CACHE_DIR (default $XDG_CACHE_HOME/cogkit, else ~/.cache/cogkit), written to a temporary
file and renamed into place, so concurrent builds never read half a file. A file that cannot be
read or written is treated as absent: the probe runs, and the build never fails because of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

SUBDIR = "base-python"


def cache_dir() -> Path:
    base = os.environ.get("COGKIT_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "cogkit") if xdg else os.path.expanduser("~/.cache/cogkit")
    return Path(base) / SUBDIR


def image_key(image_config: dict[str, Any]) -> str:
    """The image's identity: its config, canonically encoded (rootfs.diff_ids pin the content)."""
    canonical = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def _path(key: str, python_version: str) -> Path:
    return cache_dir() / f"{key}-py{python_version}.json"


def lookup(key: str, python_version: str) -> bool | None:
    """The remembered has_python for this image and version; None when not known."""
    try:
        data = json.loads(_path(key, python_version).read_text())
    except (OSError, ValueError):
        return None
    found = data.get("has_python") if isinstance(data, dict) else None
    return found if isinstance(found, bool) else None


def remember(key: str, python_version: str, has_python: bool) -> None:
    """Store the answer (temporary file + rename: readers see the old file or the new, never half)."""
    target = _path(key, python_version)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({"has_python": has_python}, fh)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only or full cache dir: the next build probes again

