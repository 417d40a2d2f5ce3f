"""Find model weights the way Cog's --separate-weights does, so projects split the same way.

A weight is a file of at least 10 MiB that is neither code nor media (Cog's
pkg/weights FindWeights rule), outside .git/.cog/__pycache__, and not excluded by .dockerignore
(an ignored file is in no layer at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cogkit.context.ignore import PatternMatcher

SIZE_THRESHOLD = 10 * 1024 * 1024
SKIPPED_PREFIXES = (".cog", ".git", "__pycache__")
NOT_WEIGHTS = (
    ".py", ".ipynb", ".whl",
    ".jpg", ".jpeg", ".png", ".webp", ".svg", ".gif", ".avif", ".heic",
    ".mp4", ".mov", ".avi", ".wmv", ".mkv", ".webm",
    ".mp3", ".wav", ".ogg", ".flac", ".aac", ".m4a",
    ".log",
)  # fmt: skip
_GLOB_CHARS = set("*?[]\\!")


@dataclass(frozen=True)
class WeightFile:
    path: str  # relative, slash-separated
    size: int


def find_weights(project_dir: Path, ignore_patterns: list[str]) -> list[WeightFile]:
    """Weight files under project_dir, sorted by path (the order is part of the layer's identity)."""
    ignored = PatternMatcher(ignore_patterns)
    found: list[WeightFile] = []
    for root, dirs, files in os.walk(project_dir):
        rel_root = os.path.relpath(root, project_dir)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        dirs[:] = sorted(
            d
            for d in dirs
            if not (not rel_root and d.startswith(SKIPPED_PREFIXES))
            and not (
                ignored and ignored.matches(f"{rel_root}/{d}".lstrip("/")) and not ignored.has_exclusions
            )
        )
        for name in files:
            rel = f"{rel_root}/{name}".lstrip("/")
            if rel.startswith(SKIPPED_PREFIXES) or name.lower().endswith(NOT_WEIGHTS):
                continue
            if _GLOB_CHARS & set(rel):
                continue  # cannot be named exactly in an include pattern; stays with the code
            full = os.path.join(root, name)
            if os.path.islink(full):
                continue
            size = os.path.getsize(full)
            if size < SIZE_THRESHOLD or (ignored and ignored.matches(rel)):
                continue
            found.append(WeightFile(rel, size))
    return sorted(found, key=lambda w: w.path)
