"""File snapshots: the expected text lives in tests/config/snapshots/<name>.txt, committed.

Set COGKIT_UPDATE_SNAPSHOTS=1 to (re)write them after an intended message change; review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOT_DIR / f"{name}.txt"
    text = actual.rstrip("\n") + "\n"
    if os.environ.get("COGKIT_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"missing snapshot {path}; run with COGKIT_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"message changed for {name}"


@pytest.fixture
def snapshot() -> Callable[[str, str], None]:
    """Compare text with a committed snapshot file (see module docstring)."""
    return assert_snapshot
